"""Commerce of communes and town centres (methods §6): SIRENE retail counts, density,
evolution between two stocks, town-centre share (« polarité ») and commercial vacancy.

- **Establishments**: the ``sirene_etablissements`` table, active ones only
  (``etat_administratif = 'A'``) coded in NAF rév. 2 (``nomenclature_activite = 'NAFRev2'``,
  or unknown in files without the column). Each is classed in the first commerce type of
  ``centralites.commerce.types`` whose NAF prefixes match its activity (``47.2`` matches
  ``47.21Z``…), after the exclusions (fuel 47.30Z, markets 47.8, distance selling 47.9: home
  based micro-enterprises, not storefronts). SIRENE counts legal establishments, not shop
  fronts: the limits are printed with the results.
- **Stocks**: one per loaded SIRENE file date (``vintage``, ``AAAA-MM-JJ``; a stock without
  date cannot be placed in time and is left out, with a note); the evolution is between the
  two most recent stocks (count and %, total and by type). A stock covers the départements
  where it has establishments: a commune outside them has no count for that stock (never 0:
  géo-SIRENE is distributed per département).
- **Density**: per 1 000 inhabitants, population légale of the latest year not after the
  stock's year, recoded to the referential's COG (real, embedded).
- **Town centres**: with polygons of the centre perimeters, the geolocated establishments
  inside each perimeter (Lambert-93 of SIRENE, or géo-SIRENE longitude / latitude), by type,
  for both stocks, and their share of their commune's (« polarité »); the establishments
  without coordinates are counted apart.
- **Commercial vacancy** (``locaux_commerciaux``, a field survey loaded with ``observatoire
  load``): vacant cells / surveyed cells × 100 per commune and per perimeter, from the latest
  survey file covering the commune (all its rows, even when the survey spans two years),
  read on the grid favourable < 5 % ≤ intermediate ≤ 10 % < critical (configurable).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from observatoire.catalogue.diagnostics import CentralityParams
from observatoire.territories import referential
from observatoire.warehouse import Warehouse

_PERIMETER_CODE_FIELDS = ("code_commune", "insee_com", "code_insee", "codgeo", "insee", "depcom")
_DATED = re.compile(r"^\d{4}-\d{2}-\d{2}")
ALL = "_tous"  # pseudo-type: every active establishment


@dataclass
class CommerceResult:
    """Commerce of the communes studied."""

    stocks: list[str]  # SIRENE stock dates used, oldest first (at most two)
    counts: pd.DataFrame  # code, stock, type, n: establishments per commune, stock, type
    communes: pd.DataFrame  # index code: one row per commune (see :func:`commune_table`)
    perimeters: pd.DataFrame | None = None  # perimetre, code, n_<type>_<stock>, part_commune
    vacancy: pd.DataFrame | None = None  # niveau, code, nom, releve, locaux, vacants, taux
    population_year: int | None = None
    simulated: bool = False
    notes: list[str] = field(default_factory=list)


@cache
def _populations() -> pd.DataFrame:
    from observatoire.territories.harmonise import harmonised_populations

    table = harmonised_populations().table
    return table[["code", "annee", "population"]].copy()


def population_at(codes: list[str], year: int) -> tuple[pd.Series, int]:
    """Population légale of each commune (referential's COG, Mayotte included) at the latest
    embedded year ≤ ``year`` (the earliest when every year is later), and that year."""
    pops = _populations()
    years = sorted(int(y) for y in pops["annee"].unique())
    chosen = max((y for y in years if y <= year), default=years[0])
    pop = pops[pops["annee"] == chosen].drop_duplicates("code").set_index("code")["population"]
    return pop.reindex(codes).astype("float64"), chosen


def _dep(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


def classify_naf(naf: pd.Series, params: CentralityParams) -> pd.Series:
    """The commerce type of each NAF rév. 2 code (None outside the lists or excluded)."""
    text = naf.fillna("").astype(str).str.strip().str.upper()
    out = pd.Series([None] * len(text), index=text.index, dtype="object")
    excluded = np.zeros(len(text), dtype=bool)
    for prefix in params.excluded:
        excluded |= text.str.startswith(prefix.upper()).to_numpy()
    for kind in params.commerce_types:
        hit = np.zeros(len(text), dtype=bool)
        for prefix in kind.naf:
            hit |= text.str.startswith(prefix.upper()).to_numpy()
        out[hit & ~excluded & out.isna().to_numpy()] = kind.id
    return out


def _code_expression(con, table: str) -> str:
    columns = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    return (
        "coalesce(code_commune_cog, code_commune)"
        if "code_commune_cog" in columns
        else "code_commune"
    )


def _establishments(warehouse: Warehouse, codes: list[str]) -> pd.DataFrame:
    con = warehouse.con
    columns = {r[0] for r in con.execute("DESCRIBE sirene_etablissements").fetchall()}
    code = _code_expression(con, "sirene_etablissements")
    nomenclature = (
        "AND (nomenclature_activite = 'NAFRev2' OR nomenclature_activite IS NULL)"
        if "nomenclature_activite" in columns
        else ""
    )
    con.register("_com_codes", pd.DataFrame({"code": codes}))
    try:
        return con.execute(
            f"SELECT {code} AS code, CAST(vintage AS VARCHAR) AS stock, "
            "activite_principale AS naf, lambert_x, lambert_y, longitude, latitude "
            "FROM sirene_etablissements "
            f"WHERE etat_administratif = 'A' {nomenclature} "
            f"AND {code} IN (SELECT code FROM _com_codes)"
        ).df()
    finally:
        con.unregister("_com_codes")


def stock_coverage(warehouse: Warehouse) -> dict[str, set[str]]:
    """Départements where each SIRENE stock (vintage) has establishments."""
    con = warehouse.con
    code = _code_expression(con, "sirene_etablissements")
    rows = con.execute(
        f"SELECT DISTINCT CAST(vintage AS VARCHAR) AS stock, "
        f"left({code}, CASE WHEN {code} LIKE '97%' THEN 3 ELSE 2 END) AS dep "
        f"FROM sirene_etablissements WHERE {code} IS NOT NULL"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for stock, dep in rows:
        out.setdefault(stock, set()).add(dep)
    return out


def _read_perimeters(path: Path) -> gpd.GeoDataFrame:
    """``perimetre``, ``code`` (commune, when a field gives it) and Lambert-93 polygons."""
    from observatoire.analyses.marche import read_sectors

    shapes = read_sectors(path, keep={"code": _PERIMETER_CODE_FIELDS})
    shapes = shapes.rename(columns={"secteur": "perimetre"})
    if shapes["code"].notna().any():
        shapes["code"] = shapes["code"].str.zfill(5)
    return shapes.to_crs(2154)


def _points(frame: pd.DataFrame) -> gpd.GeoSeries:
    """Lambert-93 points of the establishments (géo-SIRENE longitude / latitude when the
    Lambert coordinates are missing); empty points when neither is known."""
    x = frame["lambert_x"].astype("float64").to_numpy().copy()
    y = frame["lambert_y"].astype("float64").to_numpy().copy()
    lon = frame["longitude"].astype("float64").to_numpy()
    lat = frame["latitude"].astype("float64").to_numpy()
    from_lonlat = np.isnan(x) & ~np.isnan(lon)
    if from_lonlat.any():
        converted = gpd.GeoSeries(
            gpd.points_from_xy(lon[from_lonlat], lat[from_lonlat]), crs=4326
        ).to_crs(2154)
        x[from_lonlat] = converted.x.to_numpy()
        y[from_lonlat] = converted.y.to_numpy()
    return gpd.GeoSeries(gpd.points_from_xy(x, y), crs=2154)


def _survey_year(value: str) -> int:
    match = re.match(r"(\d{4})", str(value))
    return int(match.group(1)) if match else -1


def vacancy(
    warehouse: Warehouse, codes: list[str], params: CentralityParams, names: pd.Series
) -> pd.DataFrame | None:
    """Commercial vacancy of the communes (and their perimeters) from the latest survey."""
    con = warehouse.con
    if "locaux_commerciaux" not in warehouse.tables():
        return None
    columns = {r[0] for r in con.execute("DESCRIBE locaux_commerciaux").fetchall()}
    code = _code_expression(con, "locaux_commerciaux")
    perimeter = "perimetre" if "perimetre" in columns else "NULL"
    year = "annee_releve" if "annee_releve" in columns else "NULL"
    part = "part" if "part" in columns else "''"
    cells = con.execute(
        f"SELECT {code} AS code, {perimeter} AS perimetre, vacant, {year} AS annee, "
        f"CAST(vintage AS VARCHAR) AS releve, {part} AS part "
        "FROM locaux_commerciaux WHERE vacant IS NOT NULL"
    ).df()
    cells = cells[cells["code"].isin(codes)]
    if cells.empty:
        return None
    # One survey = one loaded file (vintage, part); its year = its latest survey date, else
    # its vintage. Each commune is read from its latest survey, every row of it.
    cells["survey"] = cells["releve"] + "\x1f" + cells["part"].fillna("")
    years = cells.groupby("survey")["annee"].max()
    order = {
        s: (int(y) if pd.notna(y) else _survey_year(s.split("\x1f")[0])) for s, y in years.items()
    }
    cells["ordre"] = cells["survey"].map(order)
    latest = cells.groupby("code")["ordre"].transform("max")
    cells = cells[cells["ordre"] == latest]
    rows = []
    for keys, group in cells.groupby("code"):
        rows.append(("commune", keys, names.get(keys, keys), group))
    for (code_, perim), group in cells[cells["perimetre"].notna()].groupby(["code", "perimetre"]):
        rows.append(("perimetre", code_, f"{names.get(code_, code_)} — {perim}", group))
    table = pd.DataFrame(
        [
            {
                "niveau": level,
                "code": code_,
                "nom": name,
                "releve": ", ".join(sorted(group["releve"].unique())),
                "locaux": len(group),
                "vacants": int(group["vacant"].astype(bool).sum()),
            }
            for level, code_, name, group in rows
        ]
    )
    table["taux"] = table["vacants"] / table["locaux"] * 100
    table["lecture"] = np.select(
        [
            table["taux"] < params.vacancy_favourable,
            table["taux"] <= params.vacancy_critical,
        ],
        ["favorable", "intermédiaire"],
        "critique",
    )
    return table.sort_values(["niveau", "code", "nom"]).reset_index(drop=True)


def commerce(
    warehouse: Warehouse,
    codes: list[str],
    params: CentralityParams,
    *,
    perimeters: Path | None = None,
    simulated_datasets: set[str] | None = None,
) -> CommerceResult | None:
    """Commerce of ``codes`` (None when neither a SIRENE stock nor a survey is loaded)."""
    names = referential.communes().set_index("code")["nom"]
    surveyed = vacancy(warehouse, codes, params, names)
    if "sirene_etablissements" not in warehouse.tables():
        if surveyed is None:
            return None
        empty = pd.DataFrame(columns=["code", "stock", "type", "n"])
        return CommerceResult(
            [], empty, pd.DataFrame(index=pd.Index(codes, name="code")), vacancy=surveyed
        )
    notes = [
        "SIRENE compte des établissements juridiques actifs, pas des vitrines : sièges, "
        "domiciliations et établissements sans local commercial peuvent y figurer."
    ]
    coverage = stock_coverage(warehouse)
    undated = sorted(s for s in coverage if not _DATED.match(s))
    if undated:
        notes.append(
            "Stock SIRENE sans date de traitement (« " + ", ".join(undated) + " ») : écarté, "
            "il ne peut pas être placé dans le temps."
        )
    stocks = sorted(s for s in coverage if _DATED.match(s))[-2:]
    frame = _establishments(warehouse, codes)
    frame = frame[frame["stock"].isin(stocks)]
    frame["type"] = classify_naf(frame["naf"], params)
    everything = frame.groupby(["code", "stock"]).size().rename("n").reset_index()
    everything["type"] = ALL
    typed = frame[frame["type"].notna()]
    counts = pd.concat(
        [typed.groupby(["code", "stock", "type"]).size().rename("n").reset_index(), everything],
        ignore_index=True,
    )
    table, year = commune_table(counts, codes, stocks, params, coverage)
    result = CommerceResult(
        stocks=stocks,
        counts=counts,
        communes=table,
        vacancy=surveyed,
        population_year=year,
        simulated="sirene_etablissements" in (simulated_datasets or set()),
        notes=notes,
    )
    deps = {_dep(c) for c in codes}
    for stock in stocks:
        missing = sorted(deps - coverage.get(stock, set()))
        if missing:
            notes.append(
                f"Stock SIRENE du {stock[:10]} sans établissement dans le(s) département(s) "
                f"{', '.join(missing)} : leurs communes n'ont pas de chiffre pour ce stock."
            )
    if perimeters is not None and stocks:
        result.perimeters = _in_perimeters(typed, perimeters, table, stocks, params)
        latest = frame[frame["stock"] == stocks[-1]]
        lost = int((latest["lambert_x"].isna() & latest["longitude"].isna()).sum())
        if lost:
            notes.append(
                f"{lost} établissement(s) sans coordonnées (diffusion partielle ou non "
                "géolocalisés) : comptés dans leur commune, pas dans un périmètre."
            )
    return result


def commune_table(
    counts: pd.DataFrame,
    codes: list[str],
    stocks: list[str],
    params: CentralityParams,
    coverage: dict[str, set[str]] | None = None,
) -> tuple[pd.DataFrame, int | None]:
    """One row per commune and the population year used: ``n_<type>`` and
    ``<type>_pour_1000`` (latest stock), ``commerces`` (retail in shops) and
    ``commerces_pour_1000``, ``etablissements`` (every active establishment) and
    ``etablissements_pour_1000``; with two stocks ``commerces_avant``, ``evolution``,
    ``evolution_pct`` and ``evolution_<type>``. A commune of a département the stock does
    not cover has no value (``coverage``: stock → départements; None = all covered)."""
    table = pd.DataFrame(index=pd.Index(codes, name="code"))
    if not stocks:
        return table, None
    deps = pd.Series([_dep(c) for c in codes], index=codes)

    def wide(stock: str) -> pd.DataFrame:
        rows = counts[counts["stock"] == stock]
        out = rows.pivot_table(index="code", columns="type", values="n", aggfunc="sum")
        out = out.reindex(index=codes, columns=[k.id for k in params.commerce_types] + [ALL])
        out = out.fillna(0)
        if coverage is not None:
            out[~deps.isin(coverage.get(stock, set())).to_numpy()] = np.nan
        return out

    latest = wide(stocks[-1])
    population, year = population_at(codes, int(stocks[-1][:4]))
    per = population.where(population > 0)
    for kind in params.commerce_types:
        table[f"n_{kind.id}"] = latest[kind.id].to_numpy()
    retail = [k for k in params.retail]
    table["commerces"] = latest[retail].sum(axis=1, min_count=1).to_numpy()
    table["etablissements"] = latest[ALL].to_numpy()
    table["population"] = population.to_numpy()
    table["commerces_pour_1000"] = table["commerces"] / per * 1000
    table["etablissements_pour_1000"] = table["etablissements"] / per * 1000
    for kind in params.commerce_types:
        table[f"{kind.id}_pour_1000"] = table[f"n_{kind.id}"] / per * 1000
    if len(stocks) == 2:
        before = wide(stocks[0])
        table["commerces_avant"] = before[retail].sum(axis=1, min_count=1).to_numpy()
        table["evolution"] = table["commerces"] - table["commerces_avant"]
        table["evolution_pct"] = (
            table["evolution"] / table["commerces_avant"].where(table["commerces_avant"] > 0) * 100
        )
        for kind in params.commerce_types:
            table[f"evolution_{kind.id}"] = (latest[kind.id] - before[kind.id]).to_numpy()
    return table, year


def _in_perimeters(
    frame: pd.DataFrame,
    path: Path,
    table: pd.DataFrame,
    stocks: list[str],
    params: CentralityParams,
) -> pd.DataFrame:
    shapes = _read_perimeters(path)
    points = gpd.GeoDataFrame(frame.reset_index(drop=True), geometry=_points(frame))
    located = points[~points.geometry.is_empty & points.geometry.x.notna()]
    joined = gpd.sjoin(located, shapes, predicate="within", how="inner")
    kinds = [k.id for k in params.commerce_types]
    rows = []
    for i, shape in shapes.iterrows():
        inside = joined[joined["index_right"] == i]
        code = shape["code"]
        if code is None or pd.isna(code):
            code = inside["code_left"].mode().iloc[0] if len(inside) else None
        row: dict[str, object] = {"perimetre": shape["perimetre"], "code": code}
        for stock in stocks:
            now = inside[inside["stock"] == stock]["type"].value_counts()
            suffix = "" if stock == stocks[-1] else "_avant"
            for kind in kinds:
                row[f"n_{kind}{suffix}"] = int(now.get(kind, 0))
            row[f"commerces{suffix}"] = int(now.reindex(params.retail).fillna(0).sum())
        if len(stocks) == 2:
            row["evolution"] = row["commerces"] - row["commerces_avant"]
        commune_total = table["commerces"].get(code) if code in table.index else None
        row["part_commune"] = (
            row["commerces"] / commune_total * 100
            if commune_total is not None and commune_total > 0
            else float("nan")
        )
        rows.append(row)
    return pd.DataFrame(rows)
