"""Indicator benchmark: the whole catalogue for every territory, against a pandas baseline.

    python bench/indicators.py                           # national scale (34 875 communes)
    python bench/indicators.py --echelle 0.02            # smoke size (CI, < 1 min)
    python bench/indicators.py --garder /tmp/banc-ind    # keep the prepared warehouse

Setup (not timed): an Artois project, simulated files for the communes of whole
départements (all of France at ``--echelle 1``) — every base-cc theme × 2 vintages, Filosofi,
BPE xy — loaded into its warehouse, the embedded legal populations, and 50 custom territories
(random groups of 5 to 300 communes, fixed seed) added to the Artois example's ones in
``territoires.yaml``. With ``--garder DIR`` the prepared project is kept in DIR and reused by
the next run with the same scale and seed (simulation and loading take minutes at full scale).

Two measures, each in its own subprocess (its peak memory, ``peak_mb``, belongs to that run):

- ``observatoire``: ``indicators.build.build(project, force=True)`` — every indicator of the
  catalogue (count, ratio, growth, derived, non-additive; census, Filosofi, BPE, legal
  populations) for every commune, EPCI, département, région, France and custom territory,
  every vintage the data allow, with statuses, peer ranks, written to ``indicator_values``;
- ``pandas``: a straightforward pandas implementation of the count and ratio indicators of the
  census and Filosofi (the long fact rows read from the warehouse, one edition per variable
  and period, pivoted to commune × variable per period, summed per EPCI, département, région,
  France and custom territory with ``groupby``, then divided); reading the rows is timed.

The baseline's values are compared with the engine's (every value both compute must agree);
a mismatch, like any error, gives a non-zero exit code. Missing the targets does not (it is a
measure). Targets on the 2-core machine: under 10 s and at least 5× the baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import fr, measure, peak_mb  # bench/_common.py (scripts run from bench/)

TARGET_SECONDS = 10.0
TARGET_RATIO = 5.0
N_CUSTOM = 50
SEED = 1
VINTAGES = [2020, 2021]
DATASETS = [
    "rp_evol_struct_pop",
    "rp_logement",
    "rp_emploi_pop_active",
    "rp_diplomes_formation",
    "rp_couples_familles_menages",
    "rp_serie_historique",
    "filosofi_com",
    "bpe_xy",
]
BASELINE_SOURCES = ("rp", "filosofi")
READY = "PRET.json"
SETUP_VERSION = 1


# --------------------------------------------------------------------------- setup


def _communes(echelle: float) -> list[str]:
    """All communes at scale 1; otherwise whole départements, evenly spread, plus the
    Pas-de-Calais (the Artois example's territories)."""
    from observatoire.territories import referential

    com = referential.communes()
    if echelle >= 1:
        return com["code"].tolist()
    deps = sorted(com["dep"].unique())
    step = max(1, round(1 / echelle))
    chosen = {"62", *deps[::step]}
    return com[com["dep"].isin(chosen)]["code"].tolist()


def _custom_yaml(communes: list[str]) -> str:
    import numpy as np

    rng = np.random.default_rng(2025)
    pool = np.array(sorted(communes))
    lines = []
    for n in range(1, N_CUSTOM + 1):
        size = int(rng.integers(5, 301))
        picked = sorted(rng.choice(pool, size=min(size, len(pool)), replace=False))
        codes = ", ".join(f'"{c}"' for c in picked)
        lines += [
            f"  - id: banc-{n:02d}",
            f"    nom: Territoire d'essai {n}",
            "    categorie: Banc d'essai",
            f"    communes: [{codes}]",
            "",
        ]
    return "\n".join(lines)


def prepare(folder: Path, echelle: float) -> Path:
    """The project folder, prepared (or reused when already prepared with these settings)."""
    from observatoire.loading import load_paths
    from observatoire.project import init_project, open_project
    from observatoire.settings import TERRITORIES_FILE
    from observatoire.sources.synthetic import simulate
    from observatoire.territories.publish import load_populations, publish_territories
    from observatoire.warehouse import Warehouse

    key = {"echelle": echelle, "graine": SEED, "version": SETUP_VERSION}
    project_dir = folder / "projet"
    ready = folder / READY
    if ready.exists() and json.loads(ready.read_text(encoding="utf-8")) == key:
        print(f"Projet préparé réutilisé : {project_dir}")
        return project_dir
    ready.unlink(missing_ok=True)
    start = time.perf_counter()
    communes = _communes(echelle)
    init_project(project_dir, example="artois", force=True)
    (project_dir / "entrepot.duckdb").unlink(missing_ok=True)
    territories = project_dir / TERRITORIES_FILE
    text = territories.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + _custom_yaml(communes)
    territories.write_text(text, encoding="utf-8")
    project = open_project(project_dir)
    manifest = simulate(
        folder / "fichiers", communes=communes, vintages=VINTAGES, seed=SEED, datasets=DATASETS
    )
    print(
        f"{len(manifest.files)} fichiers simulés pour {fr(len(communes))} communes "
        f"en {fr(time.perf_counter() - start, 1)} s"
    )
    start = time.perf_counter()
    loads = load_paths(project, manifest.paths)
    print(
        f"Chargés : {fr(sum(x.rows for x in loads))} lignes en "
        f"{fr(time.perf_counter() - start, 1)} s"
    )
    with Warehouse(project.settings.warehouse_path) as warehouse:
        publish_territories(warehouse, project)
        load_populations(warehouse)
    ready.write_text(json.dumps(key), encoding="utf-8")
    return project_dir


# --------------------------------------------------------------------------- measures


def run_observatoire(project_dir: Path, out: Path) -> dict:
    from observatoire.indicators.build import VALUE_TABLE, build
    from observatoire.project import open_project
    from observatoire.warehouse import Warehouse

    project = open_project(project_dir)
    start = time.perf_counter()
    report = build(project, force=True)
    seconds = time.perf_counter() - start
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        counts = warehouse.query(
            f"SELECT count(*) AS n, count(value) AS v, count(DISTINCT indicator_id) AS i, "
            f"count(DISTINCT (territory_id, level)) AS t FROM {VALUE_TABLE}"
        )
    return {
        "seconds": seconds,
        "rows": int(counts["n"][0]),
        "values": int(counts["v"][0]),
        "indicators": int(counts["i"][0]),
        "territories": int(counts["t"][0]),
        "recomputed": len(report.recomputed),
        "peak_mb": peak_mb(),
    }


def _baseline_indicators():
    from observatoire.indicators.catalogue import indicator_catalogue

    return [
        i
        for i in indicator_catalogue().indicators.values()
        if i.kind in ("count", "ratio") and i.source in BASELINE_SOURCES
    ]


def run_baseline(project_dir: Path, out: Path) -> dict:
    """Count and ratio indicators the way an analyst would write them with pandas."""
    import duckdb
    import numpy as np
    import pandas as pd

    from observatoire.project import open_project
    from observatoire.territories import referential

    project = open_project(project_dir)
    indicators = _baseline_indicators()
    variables = sorted(set().union(*(i.variables() for i in indicators)))
    start = time.perf_counter()

    # 1. The long fact rows (one per commune, variable, period and edition).
    con = duckdb.connect(str(project.settings.warehouse_path), read_only=True)
    wanted = "[" + ", ".join(f"'{v}'" for v in variables) + "]"
    columns = "code, variable, period, value, secret, vintage"
    facts = pd.concat(
        [
            con.execute(
                f"SELECT {columns} FROM insee_rp WHERE list_contains({wanted}, variable)"
            ).df(),
            con.execute(
                f"SELECT {columns} FROM filosofi WHERE dataset = 'filosofi_com' "
                f"AND list_contains({wanted}, variable)"
            ).df(),
        ],
        ignore_index=True,
    )
    con.close()
    read_seconds = time.perf_counter() - start
    rows_read = len(facts)

    # 2. One series per variable: the periods of its newest vintage (older vintages only for
    #    earlier periods), then one edition per variable and period: the most recent vintage.
    facts["vintage"] = facts["vintage"].astype(str)
    newest = facts.groupby("variable")["vintage"].transform("max")
    first = facts[facts["vintage"] == newest].groupby("variable")["period"].min()
    facts = facts[(facts["vintage"] == newest) | (facts["period"] < facts["variable"].map(first))]
    latest = facts.groupby(["variable", "period"])["vintage"].transform("max")
    facts = facts[facts["vintage"] == latest]
    facts.loc[facts["secret"].fillna(False).astype(bool), "value"] = np.nan

    # 3. Commune × variable, per period.
    wide = {
        period: group.pivot_table(
            index="code", columns="variable", values="value", aggfunc="first", dropna=False
        )
        for period, group in facts.groupby("period")
    }
    available = {(v, p) for p, frame in wide.items() for v in frame.columns}
    latest_period = {}
    for v, p in sorted(available, key=lambda vp: vp[1]):
        latest_period[v] = p

    def resolve(expression, period):
        cells = []
        for term in expression:
            at = latest_period.get(term.generic) if term.timing == "none" else period
            if (term.generic, at) not in available:
                return None
            cells.append((term, at))
        return cells

    def first(expressions, period):
        for expression in expressions:
            cells = resolve(expression, period)
            if cells is not None:
                return cells
        return None

    def candidates(expressions):
        found = set()
        for expression in expressions:
            timed = [t for t in expression if t.timing != "none"]
            if not timed:
                continue
            spans = timed[0].timing == "span"
            sets = [
                {p for v, p in available if v == t.generic and ("-" in p) == spans} for t in timed
            ]
            found |= set.intersection(*sets)
        return found

    def column(cells):
        total = None
        for term, at in cells:
            series = wide[at][term.generic] * term.sign
            total = series if total is None else total.add(series)  # NaN if one is unknown
        return total

    # 4. Per commune: numerator, denominator and threshold of each indicator and period,
    #    with the communes that miss a figure (secret, absent) left out of all of them.
    parts, specs = {}, []
    for ind in indicators:
        main = ind.value if ind.kind == "count" else ind.numerator
        for period in sorted(candidates(main)):
            num = first(main, period)
            den = first(ind.denominator, period) if ind.kind == "ratio" else None
            if num is None or (ind.kind == "ratio" and den is None):
                continue
            comps = {"v": column(num)}
            if den is not None:
                comps["d"] = column(den)
            if ind.threshold is not None:
                cells = resolve((ind.threshold[0],), period)
                if cells is not None:
                    comps["t"] = column(cells)
            frame = pd.DataFrame(comps)
            frame[frame.isna().any(axis=1)] = np.nan
            frame["n"] = frame["v"].notna().astype(float)
            for comp, series in frame.items():
                parts[(ind.id, period, comp)] = series
            specs.append((ind, period, "t" in comps))
    per_commune = pd.concat(parts, axis=1)

    # 5. Sums per territory: each official level by groupby, custom territories by membership;
    #    and the number of member communes of each (a count is published only when all have
    #    a figure: a partial sum would be an under-count).
    referential_communes = referential.communes()
    com = referential_communes.set_index("code").reindex(per_commune.index)
    sums = {"commune": per_commune}
    n_members = {"commune": pd.Series(1, index=per_commune.index)}
    for level, key in (("epci", "epci"), ("departement", "dep"), ("region", "reg")):
        sums[level] = per_commune.groupby(com[key]).sum(min_count=1)
        n_members[level] = referential_communes.groupby(key).size()
    sums["france"] = per_commune.groupby(pd.Series("FR", index=per_commune.index)).sum(min_count=1)
    n_members["france"] = pd.Series({"FR": len(referential_communes)})
    n_members["custom"] = pd.Series({t.id: len(t.communes) for t in project.territories})
    members = pd.DataFrame(
        [(t.id, code) for t in project.territories for code in t.communes],
        columns=["territory_id", "code"],
    )
    members = members[members["code"].isin(per_commune.index)]
    sums["custom"] = (
        per_commune.loc[members["code"]]
        .set_axis(members["territory_id"], axis=0)
        .groupby(level=0)
        .sum(min_count=1)
    )

    # 6. Values: ratio of sums × scale, counts; threshold below min → secret (no value).
    out_frames = []
    for level, table in sums.items():
        complete = n_members[level].reindex(table.index)
        values = {}
        for ind, period, has_threshold in specs:
            v = table[(ind.id, period, "v")]
            if ind.kind == "ratio":
                d = table[(ind.id, period, "d")]
                value = (v / d.where(d != 0)) * ind.scale
                # A partial rate only when at least 95 % of the members have a figure.
                value = value.where(table[(ind.id, period, "n")] >= 0.95 * complete)
            else:
                value = v.where(table[(ind.id, period, "n")] == complete)
            if has_threshold:
                value = value.where(table[(ind.id, period, "t")].fillna(0) >= ind.threshold[1])
            values[(ind.id, period)] = value
        frame = pd.DataFrame(values)
        frame.index.name = "territory_id"
        frame.columns.names = ["indicator_id", "period"]
        long = frame.stack(["indicator_id", "period"], future_stack=True).rename("value")
        long = long.reset_index()
        long["level"] = level
        out_frames.append(long)
    result = pd.concat(out_frames, ignore_index=True)
    seconds = time.perf_counter() - start
    peak = peak_mb()
    result.to_parquet(out)
    return {
        "seconds": seconds,
        "read_seconds": read_seconds,
        "rows_read": rows_read,
        "rows": len(result),
        "values": int(result["value"].notna().sum()),
        "indicators": len(indicators),
        "peak_mb": peak,
    }


def _child(mode: str, project_dir: str, out: str) -> None:
    runner = run_observatoire if mode == "observatoire" else run_baseline
    print(json.dumps(runner(Path(project_dir), Path(out))))


def _measure(mode: str, project_dir: Path, out: Path) -> dict:
    return measure(__file__, mode, [str(project_dir), str(out)])


# --------------------------------------------------------------------------- check


def check(project_dir: Path, baseline_path: Path) -> bool:
    """Every value both compute must agree; prints a few of them. True when they all do."""
    import duckdb

    con = duckdb.connect(str(project_dir / "entrepot.duckdb"), read_only=True)
    con.execute(
        f"""
        CREATE TEMP TABLE both_values AS
        SELECT territory_id, level, indicator_id, period, e.value AS engine, b.value AS base,
               abs(e.value - b.value) <= 1e-6 + 1e-9 * abs(b.value) AS same
        FROM (SELECT * FROM read_parquet('{baseline_path}') WHERE value IS NOT NULL) b
        FULL JOIN (
            SELECT territory_id, level, indicator_id, period, value FROM indicator_values
            WHERE value IS NOT NULL AND indicator_id IN
                (SELECT DISTINCT indicator_id FROM read_parquet('{baseline_path}'))
        ) e USING (territory_id, level, indicator_id, period)
        """
    )
    compared, bad, only_engine, only_base = con.execute(
        "SELECT count(same), count(*) FILTER (NOT same), count(*) FILTER (base IS NULL), "
        "count(*) FILTER (engine IS NULL) FROM both_values"
    ).fetchone()
    print(
        f"Contrôle : {fr(compared)} valeurs comparées (moteur / pandas), {fr(bad)} écart(s) ; "
        f"{fr(only_engine)} valeur(s) du moteur seul, {fr(only_base)} de pandas seul"
    )
    shown = [
        ("departement", "62", "population"),
        ("departement", "62", "part_logements_vacants"),
        ("custom", "banc-01", "taux_chomage_1564"),
        ("france", "FR", "part_residences_secondaires"),
    ]
    for level, tid, iid in shown:
        row = con.execute(
            "SELECT period, engine, base, same FROM both_values WHERE level = ? "
            "AND territory_id = ? AND indicator_id = ? ORDER BY period DESC LIMIT 1",
            [level, tid, iid],
        ).fetchone()
        if row is None:  # e.g. France at a small scale: too few communes for a partial rate
            print(f"  {iid} ({level} {tid}) : pas de valeur commune aux deux calculs")
            continue
        period, engine, base, same = row
        print(
            f"  {iid} {period} ({level} {tid}) : moteur {fr(engine, 6)}, pandas {fr(base, 6)}"
            f" → {'identiques' if same else 'DIFFÉRENTS'}"
        )
    if bad or only_engine or only_base:
        print(
            con.execute(
                "SELECT * FROM both_values WHERE same IS NOT true ORDER BY level, indicator_id "
                "LIMIT 10"
            )
            .df()
            .to_string()
        )
    con.close()
    return bad == 0 and compared > 0 and only_engine == 0 and only_base == 0


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Banc d'essai des indicateurs (données simulées) : tout le catalogue pour chaque\n"
            "commune, EPCI, département, région, la France et 50 territoires personnalisés,\n"
            "comparé à une base pandas (groupby) calculant les mêmes ratios."
        ),
        epilog=(
            "Exemples :\n"
            "  python bench/indicators.py --echelle 0.02   # taille réduite (CI)\n"
            "  python bench/indicators.py --garder /tmp/banc-indicateurs   # France entière"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--echelle",
        type=float,
        default=1.0,
        help="fraction des communes simulées (départements entiers ; 1 = France entière)",
    )
    parser.add_argument(
        "--garder",
        type=Path,
        metavar="DOSSIER",
        help="prépare le projet dans DOSSIER et l'y réutilise d'un passage à l'autre",
    )
    parser.add_argument("--enfant", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.enfant:
        _child(*args.enfant)
        return 0
    if not 0 < args.echelle <= 1:
        parser.error("--echelle attend un nombre dans ]0 ; 1]")

    with tempfile.TemporaryDirectory(prefix="bench-indicateurs-") as tmp:
        folder = args.garder.resolve() if args.garder else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        project_dir = prepare(folder, args.echelle)
        ours = _measure("observatoire", project_dir, Path(tmp) / "unused")
        base = _measure("pandas", project_dir, Path(tmp) / "baseline.parquet")
        if ours.get("failed") or base.get("failed"):
            return 1
        ok = check(project_dir, Path(tmp) / "baseline.parquet")

    print()
    print(
        f"{'mesure':<14}{'indicateurs':>12}{'territoires':>12}{'lignes':>14}{'valeurs':>14}"
        f"{'s':>8}{'valeurs/s':>13}{'Mo pic':>9}"
    )
    print(
        f"{'observatoire':<14}{ours['indicators']:>12}{fr(ours['territories']):>12}"
        f"{fr(ours['rows']):>14}{fr(ours['values']):>14}{fr(ours['seconds'], 2):>8}"
        f"{fr(ours['values'] / ours['seconds']):>13}{fr(ours['peak_mb']):>9}"
    )
    print(
        f"{'pandas':<14}{base['indicators']:>12}{'':>12}{fr(base['rows']):>14}"
        f"{fr(base['values']):>14}{fr(base['seconds'], 2):>8}"
        f"{fr(base['values'] / base['seconds']):>13}{fr(base['peak_mb']):>9}"
    )
    print(
        f"pandas : {fr(base['rows_read'])} lignes de faits lues en "
        f"{fr(base['read_seconds'], 2)} s (comptées) ; seulement les indicateurs count et ratio "
        "du recensement et de Filosofi"
    )
    ratio = base["seconds"] / ours["seconds"]
    print(f"ratio = durée pandas / durée observatoire = {fr(ratio, 2)} (plus grand = plus rapide)")
    met_time = ours["seconds"] < TARGET_SECONDS
    met_ratio = ratio >= TARGET_RATIO
    print(
        f"Objectif durée < {fr(TARGET_SECONDS)} s : {'atteint' if met_time else 'non atteint'} ; "
        f"objectif ratio ≥ {fr(TARGET_RATIO)} : {'atteint' if met_ratio else 'non atteint'}"
    )
    if args.echelle < 1:
        print(f"(échelle {fr(args.echelle, 2)} : les objectifs portent sur la France entière)")
    if not ok:
        print("Contrôle ÉCHOUÉ : les valeurs de pandas et du moteur diffèrent.")
        return 2
    return 0


if __name__ == "__main__":
    Path(tempfile.gettempdir()).mkdir(exist_ok=True)
    sys.exit(main())
