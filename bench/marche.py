"""Market benchmark: DVF cleaning and market figures, against a pandas baseline.

    python bench/marche.py                            # national scale (15 M lignes DVF)
    python bench/marche.py --echelle 0.01             # smoke size (CI, < 1 min)
    python bench/marche.py --garder /tmp/banc-marche  # keep the prepared warehouse

Setup (not timed): a project (Artois example) in a temporary folder, its territories published
(referential; every commune, EPCI, département, région, France and the example's territories),
then a ``dvf`` table of 15 M × ``--echelle`` rows generated with numpy / pyarrow (fixed seed)
and inserted straight into the warehouse — no CSV: reading the files is measured by
``bench/load.py``. The table has the reader's schema (``sources.dvf.SCHEMA`` plus
``code_commune_cog, cog_status, dataset, vintage, part``), one lineage row per year ×
département (``origin = simulated``), and rows shaped for the cleaning rules:

- mutations of 1 to 6 rows over every commune that DVF covers (not Alsace-Moselle nor Mayotte),
  drawn in proportion to the legal population; years 2019 to 2024, dates over the year, the
  last one ending on 2024-06-30 (like the October release); rows grouped by year and
  département (one file each), ``id_mutation`` ``YYYY-k`` unique within a year;
- natures: « Vente » 93 %, then VEFA, « Vente terrain à bâtir », « Echange »,
  « Adjudication », « Expropriation »;
- a house (with outbuildings and land parcels) or an apartment (with cellars and parking
  lots) — apartments more frequent in populous communes — land only, a shop or outbuilding
  only, two dwellings, a dwelling and a shop, several dispositions, two communes, the same
  local repeated on another parcel (two dwellings for the rules) or twice on the same parcel
  (deduplicated);
- prices log-normal around a €/m² level of the département and commune, with a yearly trend;
  0.5 % absurd prices (1 €, 1 000 000 000 €), a few without price; built areas 9 to 400 m²,
  1 % of dwellings without area.

Two measures, each in its own subprocess (its peak memory, ``peak_mb``, belongs to that run):

- ``observatoire``: ``indicators.market.refresh(con, params, "bench", force=True)`` with the
  default parameters (``marche`` of ``catalogue/diagnostics.yaml``): cleaning report,
  ``dvf_mutations`` and ``dvf_marche`` for every territory × type × year;
- ``pandas``: a straightforward pandas implementation of the same rules in the same order
  (file family, grouping by mutation, deduplication of locals, rules 1 to 5, IQR trimming of
  log(€/m²) per département × type × year for groups of at least 30 sales), then per commune
  × type × year the kept sales, median price, median and quartiles of the €/m²; reading the
  rows from the warehouse is timed.

For every commune × type × year both compute, the number of kept sales and the median €/m²
(where ``dvf_marche`` publishes it: at least 11 sales) must agree (relative tolerance 1e-9),
and so must the totals of mutations and kept sales; a mismatch, like any error, gives a
non-zero exit code. Missing the target does not (it is a measure). Target on the 2-core
machine (issue 7): under 60 s for 15 M rows; the ratio against the baseline is printed (the
baseline computes communes only and writes nothing, the observatoire every territory and its
tables).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import fr, measure, peak_mb  # bench/_common.py (scripts run from bench/)

TARGET_SECONDS = 60.0
ROWS = 15_000_000
SEED = 1
READY = "PRET.json"
SETUP_VERSION = 1
TOLERANCE = 1e-9

# Volume weights of the years (2024: first semester only) and price trend.
YEARS = {2019: 1.10, 2020: 0.98, 2021: 1.15, 2022: 1.08, 2023: 0.88, 2024: 0.39}
PRICE_TREND = {2019: 0.89, 2020: 0.93, 2021: 1.0, 2022: 1.05, 2023: 1.03, 2024: 0.99}
LAST_DAY = "2024-06-30"
NATURES = {
    "Vente": 0.93,
    "Vente en l'état futur d'achèvement": 0.035,
    "Vente terrain à bâtir": 0.01,
    "Echange": 0.01,
    "Adjudication": 0.008,
    "Expropriation": 0.007,
}
# Row types: index into LOCAL_TYPES (None: a land row without local).
MAISON, APPART, DEPENDANCE, LOCAL, TERRAIN = range(5)
LOCAL_TYPES = ("Maison", "Appartement", "Dépendance", "Local industriel. commercial ou assimilé")
CODE_TYPES = ("1", "2", "3", "4")
CULTURES = (
    ("S", "sols"),
    ("J", "jardins"),
    ("T", "terres"),
    ("P", "prés"),
    ("AB", "terrains a bâtir"),
)
# Kinds of mutation: (share, minimum rows).
SIMPLE, LAND_ONLY, OTHER_ONLY, TWO_DWELLINGS, DWELLING_SHOP = range(5)
MULTI_DISPO, DUP_OTHER_PARCEL, DUP_SAME_PARCEL, MULTI_COMMUNES = range(5, 9)
KINDS = (
    (0.66, 1),  # a house or an apartment, with outbuildings / land rows
    (0.12, 1),  # land only
    (0.06, 1),  # a shop or an outbuilding only
    (0.04, 2),  # two dwellings
    (0.025, 2),  # a dwelling and a shop
    (0.03, 2),  # several dispositions
    (0.025, 2),  # the dwelling repeated on another parcel
    (0.035, 2),  # the dwelling repeated on the same parcel (deduplicated)
    (0.005, 2),  # two communes
)
ROWS_PER_MUTATION = (0.42, 0.25, 0.14, 0.09, 0.06, 0.04)  # 1 to 6 rows
DEP_PRICES = {  # €/m² level of a few départements (others drawn around 2 200)
    "75": 10500,
    "92": 7000,
    "94": 5000,
    "93": 3900,
    "78": 4300,
    "06": 5200,
    "74": 5000,
    "83": 4300,
    "2A": 4000,
    "2B": 3300,
    "69": 3900,
    "33": 3700,
    "64": 3700,
    "13": 3500,
    "34": 3400,
    "44": 3300,
    "31": 3000,
    "35": 3000,
    "974": 2700,
    "971": 2600,
    "972": 2600,
    "973": 2400,
    "23": 1000,
    "52": 1000,
    "58": 1100,
    "55": 1100,
    "36": 1150,
    "03": 1200,
    "08": 1200,
}
DOM_CENTRES = {
    "971": (-61.55, 16.25),
    "972": (-61.02, 14.65),
    "973": (-52.9, 4.4),
    "974": (55.5, -21.1),
}
MUTATION_KEY = ["dataset", "vintage", "part", "id_mutation"]


# --------------------------------------------------------------------------- setup


@dataclass
class _World:
    """The communes DVF covers, sorted by département, with what the draws need."""

    codes: object  # pyarrow string array
    names: object
    deps: object  # pyarrow string array of the départements
    dep_of: np.ndarray  # commune → index into deps
    dep_start: np.ndarray  # département → first commune
    dep_size: np.ndarray
    rank: np.ndarray  # commune → rank within its département
    weight: np.ndarray  # probability of a mutation
    p_apartment: np.ndarray
    price: np.ndarray  # €/m² level of a house (commune × département)
    lon: np.ndarray
    lat: np.ndarray


def _world(rng: np.random.Generator) -> _World:
    import pyarrow as pa

    from observatoire.indicators.market import NO_DVF_DEPARTEMENTS
    from observatoire.territories import referential

    com = referential.communes()
    com = com[~com["dep"].isin(NO_DVF_DEPARTEMENTS)].sort_values(["dep", "code"])
    com = com.reset_index(drop=True)
    pop = referential.populations()
    pop = pop[pop["annee"] == pop["annee"].max()].set_index("code")["population"]
    population = com["code"].map(pop).astype(float).fillna(100.0).clip(lower=20.0).to_numpy()
    deps, dep_of = np.unique(com["dep"].to_numpy(str), return_inverse=True)
    dep_size = np.bincount(dep_of)
    dep_start = np.concatenate([[0], np.cumsum(dep_size)[:-1]])
    rank = np.arange(len(com)) - dep_start[dep_of]
    dep_price = np.array(
        [DEP_PRICES.get(d, float(np.exp(rng.normal(np.log(2200), 0.25)))) for d in deps]
    )
    size = np.log10(population)
    commune_effect = np.exp(rng.normal(0.0, 0.18, len(com))) * (1 + 0.07 * (size - 3))
    centres = np.column_stack(
        [rng.uniform(-1.5, 6.5, len(deps)), rng.uniform(43.3, 50.3, len(deps))]
    )
    for i, d in enumerate(deps):
        if d in DOM_CENTRES:
            centres[i] = DOM_CENTRES[d]
    return _World(
        codes=pa.array(com["code"].to_numpy(str)),
        names=pa.array(com["nom"].to_numpy(str)),
        deps=pa.array(deps),
        dep_of=dep_of,
        dep_start=dep_start,
        dep_size=dep_size,
        rank=rank,
        weight=population / population.sum(),
        p_apartment=np.clip((size - 2.6) / 3.2, 0.02, 0.92),
        price=dep_price[dep_of] * np.clip(commune_effect, 0.4, None),
        lon=centres[dep_of, 0] + rng.normal(0, 0.25, len(com)),
        lat=centres[dep_of, 1] + rng.normal(0, 0.2, len(com)),
    )


def _surfaces(rng: np.random.Generator, apartment: np.ndarray) -> np.ndarray:
    """Built areas in m² (integers, 9 to 400)."""
    median = np.where(apartment, 52.0, 95.0)
    sigma = np.where(apartment, 0.45, 0.33)
    return np.clip(np.round(np.exp(rng.normal(np.log(median), sigma))), 9, 400)


def _rooms(rng: np.random.Generator, surface: np.ndarray) -> np.ndarray:
    area = np.nan_to_num(surface, nan=70.0)
    return np.clip(np.round(area / 23 + rng.normal(0, 0.6, len(area))), 1, 10)


def _year_table(rng: np.random.Generator, world: _World, year: int, rows: int):
    """The DVF rows of one year (``rows`` of them), grouped by département."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # Mutations: a kind and a number of rows each, cut at ``rows`` rows.
    shares = np.array([s for s, _ in KINDS])
    minimum = np.array([m for _, m in KINDS])
    n = int(rows / 2.2) + 64
    while True:
        kind = rng.choice(len(KINDS), n, p=shares / shares.sum())
        count = rng.choice(6, n, p=ROWS_PER_MUTATION) + 1
        count = np.maximum(count, minimum[kind])
        cumul = np.cumsum(count)
        if cumul[-1] >= rows:
            break
        n = int(n * 1.3)
    n = int(np.searchsorted(cumul, rows)) + 1
    kind, count = kind[:n], count[:n].copy()
    count[-1] -= int(cumul[n - 1] - rows)

    com = rng.choice(len(world.weight), n, p=world.weight)
    days = (np.datetime64(LAST_DAY) if year == 2024 else np.datetime64(f"{year}-12-31")) - (
        np.datetime64(f"{year}-01-01")
    )
    day = rng.integers(0, int(days.astype(int)) + 1, n)
    order = np.lexsort((day, world.dep_of[com]))  # one file per département, by date
    kind, count, com, day = kind[order], count[order], com[order], day[order]
    apartment = rng.random(n) < world.p_apartment[com]
    primary = np.where(apartment, APPART, MAISON)
    primary[kind == LAND_ONLY] = TERRAIN
    alone = kind == OTHER_ONLY
    primary[alone] = np.where(rng.random(int(alone.sum())) < 0.6, LOCAL, DEPENDANCE)
    dwelling = primary <= APPART
    second_apartment = np.where(rng.random(n) < 0.75, apartment, ~apartment)
    nature = rng.choice(len(NATURES), n, p=np.array(list(NATURES.values())))
    surface1 = _surfaces(rng, apartment)
    surface1[rng.random(n) < 0.01] = np.nan
    surface2 = _surfaces(rng, second_apartment)
    shop = np.clip(np.round(np.exp(rng.normal(np.log(80), 0.7, n))), 9, 2000)
    rooms1, rooms2 = _rooms(rng, surface1), _rooms(rng, surface2)

    # Prices: €/m² of the commune, the year and the type, log-normal noise.
    pxm2 = world.price[com] * PRICE_TREND[year] * np.where(apartment, 1.12, 1.0)
    pxm2 = pxm2 * np.exp(rng.normal(0.0, 0.28, n))
    area = np.nan_to_num(surface1, nan=80.0)
    area = area + np.where(kind == TWO_DWELLINGS, surface2, 0)
    area = area + np.where(kind == DWELLING_SHOP, 0.6 * shop, 0)
    land = np.exp(rng.normal(np.log(45000 * world.price[com] / 2500), 0.9))
    premises = np.exp(rng.normal(np.log(110000), 0.9, n))
    value = np.select([primary == TERRAIN, primary >= DEPENDANCE], [land, premises], pxm2 * area)
    value = np.maximum(np.round(value, -2), 100.0)
    u = rng.random(n)
    value[u < 0.0025] = 1.0
    value[(u >= 0.0025) & (u < 0.005)] = 1e9
    value[(u >= 0.005) & (u < 0.006)] = np.nan
    section = rng.integers(0, 26 * 26, n)
    plan = rng.integers(1, 9000, n)
    # Another commune of the same département (two-commune mutations).
    span = world.dep_size[world.dep_of[com]]
    shift = rng.integers(0, 1 << 30, n) % np.maximum(span - 1, 1) + 1
    other = world.dep_start[world.dep_of[com]] + (world.rank[com] + shift) % span

    # Rows: the first is the main local, the second depends on the kind, the others are
    # outbuildings and land parcels.
    mut = np.repeat(np.arange(n), count)
    pos = np.arange(rows) - np.repeat(np.cumsum(count) - count, count)
    k, p = kind[mut], primary[mut]
    first, second = pos == 0, pos == 1
    u = rng.random(rows)
    extra = np.select(
        [p == MAISON, p == APPART, p == TERRAIN],
        [np.where(u < 0.55, TERRAIN, DEPENDANCE), np.where(u < 0.9, DEPENDANCE, TERRAIN), TERRAIN],
        np.where(u < 0.5, DEPENDANCE, TERRAIN),
    )
    rtype = np.where(first, p, extra)
    copy = second & ((k == DUP_OTHER_PARCEL) | (k == DUP_SAME_PARCEL))
    two = second & (k == TWO_DWELLINGS)
    rtype[copy] = p[copy]
    rtype[two] = np.where(second_apartment[mut[two]], APPART, MAISON)
    rtype[second & (k == DWELLING_SHOP)] = LOCAL
    main = (first | copy) & dwelling[mut]
    surface = np.full(rows, np.nan)
    surface[main] = surface1[mut[main]]
    surface[two] = surface2[mut[two]]
    surface[rtype == LOCAL] = shop[mut[rtype == LOCAL]]
    rooms = np.where(rtype == TERRAIN, np.nan, 0.0)  # 0 for outbuildings and shops
    rooms[main] = rooms1[mut[main]]
    rooms[two] = rooms2[mut[two]]
    disposition = np.where((k == MULTI_DISPO) & ~first, 2, 1)
    row_com = np.where((k == MULTI_COMMUNES) & ~first, other[mut], com[mut])
    row_plan = plan[mut] + np.where(p == APPART, 0, pos)  # a building: one parcel
    row_plan[second & (k == DUP_OTHER_PARCEL)] = plan[mut[second & (k == DUP_OTHER_PARCEL)]] + 1
    row_plan[second & (k == DUP_SAME_PARCEL)] = plan[mut[second & (k == DUP_SAME_PARCEL)]]
    drawn = rng.integers(0, len(CULTURES), rows)
    culture = np.select([rtype == MAISON, rtype == TERRAIN], [0, drawn], -1)  # -1: none
    garden = np.where(culture >= 0, np.round(np.exp(rng.normal(np.log(600), 1.0, rows))), np.nan)

    letters = [chr(ord("A") + i) for i in range(26)]
    sections = pa.array([a + b for a in letters for b in letters])
    ids = pc.binary_join_element_wise(
        str(year), pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), "-"
    )
    codes = world.codes.take(pa.array(row_com))
    row_mut = pa.array(mut)
    parcel = pc.binary_join_element_wise(
        codes,
        "000",
        sections.take(pa.array(section[mut])),
        pc.utf8_lpad(pc.cast(pa.array(row_plan % 10000), pa.string()), 4, "0"),
        "",
    )
    local = np.where(rtype == TERRAIN, -1, rtype)
    has_local = pa.array(local >= 0)
    type_index = pa.array(np.maximum(local, 0))
    apt_lot = rtype == APPART
    has_culture, culture_index = pa.array(culture >= 0), pa.array(np.maximum(culture, 0))
    culture_codes = pa.array([code for code, _ in CULTURES])
    culture_names = pa.array([name for _, name in CULTURES])
    return pa.table(
        {
            "id_mutation": ids.take(row_mut),
            "date_mutation": pa.array((np.datetime64(f"{year}-01-01") + day)[mut]),
            "numero_disposition": pa.array(disposition),
            "nature_mutation": pa.array(list(NATURES)).take(pa.array(nature[mut])),
            "valeur_fonciere": pa.array(value[mut], from_pandas=True),
            "code_commune": codes,
            "nom_commune": world.names.take(pa.array(row_com)),
            "code_departement": world.deps.take(pa.array(world.dep_of[row_com])),
            "id_parcelle": parcel,
            "lot1_numero": pc.if_else(
                pa.array(apt_lot), pc.cast(pa.array(rng.integers(1, 500, rows)), pa.string()), None
            ),
            "nombre_lots": pa.array(np.where(p == APPART, 1, 0)),
            "code_type_local": pc.if_else(has_local, pa.array(CODE_TYPES).take(type_index), None),
            "type_local": pc.if_else(has_local, pa.array(LOCAL_TYPES).take(type_index), None),
            "surface_reelle_bati": pa.array(surface, from_pandas=True),
            "nombre_pieces_principales": pa.array(rooms, from_pandas=True).cast(pa.int64()),
            "code_nature_culture": pc.if_else(has_culture, culture_codes.take(culture_index), None),
            "nature_culture": pc.if_else(has_culture, culture_names.take(culture_index), None),
            "surface_terrain": pa.array(garden, from_pandas=True),
            "longitude": pa.array(np.round(world.lon[row_com] + rng.normal(0, 0.02, rows), 6)),
            "latitude": pa.array(np.round(world.lat[row_com] + rng.normal(0, 0.015, rows), 6)),
            "source_format": pa.array(np.full(rows, "geo-dvf", dtype=object)),
        }
    )


def _fill_dvf(warehouse, rows: int) -> tuple[int, int]:
    """Create the ``dvf`` table and insert ``rows`` generated rows; (rows, mutations)."""
    from observatoire.sources.dvf import DATE, FLOAT, INTEGER, SCHEMA

    sql_types = {DATE: "DATE", FLOAT: "DOUBLE", INTEGER: "BIGINT"}
    columns = [f'"{name}" {sql_types.get(kind, "VARCHAR")}' for name, kind in SCHEMA.items()]
    columns += [
        f"{name} VARCHAR"
        for name in ("code_commune_cog", "cog_status", "dataset", "vintage", "part")
    ]
    con = warehouse.con
    con.execute("DROP TABLE IF EXISTS dvf")
    con.execute(f"CREATE TABLE dvf ({', '.join(columns)})")
    con.execute("SET preserve_insertion_order = false")
    rng = np.random.default_rng(SEED)
    world = _world(rng)
    weights = np.array(list(YEARS.values()))
    per_year = np.floor(rows * weights / weights.sum()).astype(int)
    per_year[-1] += rows - per_year.sum()
    for year, year_rows in zip(YEARS, per_year, strict=True):
        table = _year_table(rng, world, year, int(year_rows))
        con.register("_banc_dvf", table)
        con.execute(
            "INSERT INTO dvf BY NAME SELECT *, code_commune AS code_commune_cog, "
            f"'ok' AS cog_status, 'dvf_geo' AS dataset, '{year}' AS vintage, "
            "code_departement AS part FROM _banc_dvf"
        )
        con.unregister("_banc_dvf")
    con.execute("DELETE FROM lineage WHERE table_name = 'dvf'")
    con.execute(
        "INSERT INTO lineage SELECT sha256(concat_ws('|', dataset, vintage, part)), dataset, "
        "vintage, part, 2025, 'dvf', count(*), now()::TIMESTAMP, 'simulated', 'bench/marche.py' "
        "FROM dvf GROUP BY dataset, vintage, part"
    )
    return con.execute(
        "SELECT count(*), count(DISTINCT (vintage, part, id_mutation)) FROM dvf"
    ).fetchone()


def prepare(folder: Path, echelle: float) -> tuple[Path, int, int]:
    """The project folder, prepared (or reused when prepared with these settings); rows and
    mutations of its ``dvf`` table."""
    from observatoire.project import init_project, open_project
    from observatoire.territories.publish import publish_territories
    from observatoire.warehouse import Warehouse

    rows = max(1000, round(ROWS * echelle))
    key = {"lignes": rows, "graine": SEED, "version": SETUP_VERSION}
    project_dir = folder / "projet"
    ready = folder / READY
    if ready.exists():
        stored = json.loads(ready.read_text(encoding="utf-8"))
        if {k: stored.get(k) for k in key} == key:
            print(f"Projet préparé réutilisé : {project_dir}")
            return project_dir, stored["lignes"], stored["mutations"]
    ready.unlink(missing_ok=True)
    start = time.perf_counter()
    init_project(project_dir, example="artois", force=True)
    (project_dir / "entrepot.duckdb").unlink(missing_ok=True)
    project = open_project(project_dir)
    with Warehouse(project.settings.warehouse_path) as warehouse:
        publish_territories(warehouse, project)
        print(f"Territoires publiés en {fr(time.perf_counter() - start, 1)} s")
        start = time.perf_counter()
        rows, mutations = _fill_dvf(warehouse, rows)
        warehouse.con.execute("CHECKPOINT")
    print(
        f"Table dvf : {fr(rows)} lignes, {fr(mutations)} mutations générées et insérées en "
        f"{fr(time.perf_counter() - start, 1)} s"
    )
    ready.write_text(json.dumps({**key, "mutations": mutations}), encoding="utf-8")
    return project_dir, rows, mutations


# --------------------------------------------------------------------------- measures


def run_observatoire(project_dir: Path, out: Path) -> dict:
    from observatoire.catalogue.diagnostics import load_diagnostics
    from observatoire.indicators import market
    from observatoire.project import open_project
    from observatoire.warehouse import Warehouse

    project = open_project(project_dir)
    params = load_diagnostics().market
    with Warehouse(project.settings.warehouse_path) as warehouse:
        warehouse.con.execute("SET enable_progress_bar = false")
        start = time.perf_counter()
        report = market.refresh(warehouse.con, params, territory_hash="bench", force=True)
        seconds = time.perf_counter() - start
        peak = peak_mb()
        (rows,) = warehouse.con.execute(f"SELECT count(*) FROM {market.MARKET_TABLE}").fetchone()
    return {
        "seconds": seconds,
        "mutations": report.mutations,
        "kept": report.kept,
        "rows": int(rows),
        "peak_mb": peak,
    }


def run_baseline(project_dir: Path, out: Path) -> dict:
    """The cleaning rules and communal figures the way an analyst would write them in pandas."""
    import duckdb

    from observatoire.catalogue.diagnostics import load_diagnostics

    params = load_diagnostics().market
    start = time.perf_counter()

    # 1. The DVF rows (only the columns the rules read), through Arrow: DuckDB's ``.df()``
    #    builds the string columns about 4× slower, which would flatter the comparison.
    con = duckdb.connect(str(project_dir / "entrepot.duckdb"), read_only=True)
    df = (
        con.sql(
            "SELECT dataset, vintage, part, id_mutation, date_mutation, numero_disposition, "
            "nature_mutation, valeur_fonciere, code_commune, code_commune_cog, "
            "code_departement, id_parcelle, type_local, surface_reelle_bati, "
            "nombre_pieces_principales FROM dvf"
        )
        .to_arrow_table()
        .to_pandas(date_as_object=False)
    )
    con.close()
    read_seconds = time.perf_counter() - start
    rows_read = len(df)

    # 2. One file family per year × département: geo-DVF when loaded, else the DGFiP file.
    df = df[df["dataset"].isin(["dvf_geo", "dvf_dgfip"]) & df["date_mutation"].notna()]
    geo = df["dataset"].eq("dvf_geo")
    has_geo = geo.groupby([df["date_mutation"].dt.year, df["code_departement"]]).transform("any")
    df = df[geo | ~has_geo]
    df["commune"] = df["code_commune_cog"].fillna(df["code_commune"])
    df["part"] = df["part"].fillna("")
    df["mut"] = df.groupby(MUTATION_KEY, sort=False).ngroup()

    # 3. Locals other than outbuildings, deduplicated (rows repeat per parcel and lot).
    dwellings = ["Maison", "Appartement"]
    loc = df.loc[
        df["type_local"].notna() & df["type_local"].ne("Dépendance"),
        ["mut", "id_parcelle", "type_local", "surface_reelle_bati", "nombre_pieces_principales"],
    ].drop_duplicates()
    loc["maison"] = loc["type_local"].eq("Maison")
    loc["appart"] = loc["type_local"].eq("Appartement")
    counts = loc.groupby("mut").agg(
        n_locaux=("type_local", "size"), n_maisons=("maison", "sum"), n_appart=("appart", "sum")
    )
    dwelling = (
        loc[loc["type_local"].isin(dwellings)]
        .groupby("mut")
        .agg(type_local=("type_local", "first"), surface=("surface_reelle_bati", "first"))
    )

    # 4. One row per mutation (the price is repeated on every row: taken once).
    mut = df.groupby("mut").agg(
        date=("date_mutation", "min"),
        nature=("nature_mutation", "first"),
        valeur=("valeur_fonciere", "max"),
        n_dispositions=("numero_disposition", "nunique"),
        n_communes=("commune", "nunique"),
        commune=("commune", "first"),
    )
    mut = mut.join(counts).join(dwelling)
    for column in ("n_locaux", "n_maisons", "n_appart"):
        mut[column] = mut[column].fillna(0)
    n_dwellings = mut["n_maisons"] + mut["n_appart"]
    n_others = mut["n_locaux"] - n_dwellings

    # 5. The first rule each mutation fails, in the order of the methods.
    h_lo, h_hi = params.surface_house
    a_lo, a_hi = params.surface_apartment
    valeur, surface = mut["valeur"], mut["surface"]
    rules = [
        ("nature", ~mut["nature"].isin(list(params.natures))),
        ("multi_communes", (mut["n_communes"] > 1) & params.exclude_multi_communes),
        ("multi_dispositions", (mut["n_dispositions"] > 1) & params.exclude_multi_dispositions),
        ("sans_logement", n_dwellings == 0),
        ("plusieurs_logements", n_dwellings > 1),
        ("logement_et_local", n_others > 0),
        ("valeur_ou_surface", ~(valeur > 0) | ~(surface > 0)),
        ("prix_min", valeur < params.price_min),
        ("surface", mut["type_local"].eq("Maison") & ~surface.between(h_lo, h_hi)),
        ("surface", mut["type_local"].eq("Appartement") & ~surface.between(a_lo, a_hi)),
    ]
    mut["exclusion"] = np.select([c.to_numpy(bool) for _, c in rules], [r for r, _ in rules], "")
    mut["annee"] = mut["date"].dt.year
    mut["dep"] = (
        mut["commune"].str[:2].where(~mut["commune"].str.startswith("97"), mut["commune"].str[:3])
    )

    # 6. Trimming: log(€/m²) outside Q1 − k·IQR, Q3 + k·IQR of its département × type × year.
    kept = mut[mut["exclusion"].eq("")]
    lpx = np.log(kept["valeur"] / kept["surface"])
    groups = lpx.groupby([kept["dep"], kept["type_local"], kept["annee"]])
    q1, q3 = groups.transform("quantile", q=0.25), groups.transform("quantile", q=0.75)
    k = params.trim_coefficient
    trimmed = (groups.transform("size") >= params.trim_min_count) & ~lpx.between(
        q1 - k * (q3 - q1), q3 + k * (q3 - q1)
    )
    mut.loc[trimmed.index[trimmed.to_numpy()], "exclusion"] = "ecretage"

    # 7. Per commune × type × year: kept sales, median price, median and quartiles of €/m².
    sales = mut[mut["exclusion"].eq("")].assign(
        pxm2=lambda s: s["valeur"] / s["surface"],
        type=lambda s: s["type_local"].map({"Maison": "MAISON", "Appartement": "APPART"}),
    )
    by = sales.groupby(["commune", "type", "annee"])
    stats = by.agg(n=("valeur", "size"), prix_med=("valeur", "median"), pxm2_med=("pxm2", "median"))
    quartiles = by["pxm2"].quantile([0.25, 0.75]).unstack()
    stats["pxm2_q1"], stats["pxm2_q3"] = quartiles[0.25], quartiles[0.75]
    seconds = time.perf_counter() - start
    peak = peak_mb()
    stats.reset_index().to_parquet(out)
    return {
        "seconds": seconds,
        "read_seconds": read_seconds,
        "rows_read": rows_read,
        "mutations": len(mut),
        "kept": len(sales),
        "rows": len(stats),
        "peak_mb": peak,
    }


def _child(mode: str, project_dir: str, out: str) -> None:
    runner = run_observatoire if mode == "observatoire" else run_baseline
    print(json.dumps(runner(Path(project_dir), Path(out))))


def _measure(mode: str, project_dir: Path, out: Path) -> dict:
    return measure(__file__, mode, [str(project_dir), str(out)])


# --------------------------------------------------------------------------- check


def check(project_dir: Path, baseline_path: Path, ours: dict, base: dict, generated: int) -> bool:
    """Kept sales and median €/m² of every commune × type × year both compute must agree,
    and so must the totals (mutations: also with the generated ones)."""
    import duckdb

    con = duckdb.connect(str(project_dir / "entrepot.duckdb"), read_only=True)
    con.execute(
        f"""
        CREATE TEMP TABLE both_values AS
        WITH o AS (
            SELECT code AS commune, regexp_extract(variable, '(MAISON|APPART)$') AS type,
                   CAST(period AS INTEGER) AS annee,
                   -- the effectif column (kept sales) is stored even when the count of
                   -- an incomplete year is withheld
                   max(n) AS n,
                   max(value) AS med
            FROM dvf_marche
            WHERE level = 'commune' AND variable IN ('DVF_PXM2_MED_MAISON', 'DVF_PXM2_MED_APPART')
            GROUP BY ALL
        )
        SELECT commune, type, annee, o.n AS n_obs, b.n AS n_pandas, o.med AS med_obs,
               b.pxm2_med AS med_pandas,
               coalesce(o.n, 0) = coalesce(b.n, 0) AS same_n,
               CASE WHEN o.med IS NOT NULL AND b.pxm2_med IS NOT NULL
                    THEN abs(o.med - b.pxm2_med) <= {TOLERANCE} * abs(b.pxm2_med) END AS same_med,
               o.med IS NOT NULL AND b.pxm2_med IS NULL AS med_obs_only
        FROM o FULL JOIN read_parquet('{baseline_path}') b USING (commune, type, annee)
        WHERE coalesce(o.n, 0) > 0 OR b.n IS NOT NULL
        """
    )
    n_compared, n_bad, med_compared, med_bad, med_alone = con.execute(
        "SELECT count(*), count(*) FILTER (NOT same_n), count(same_med), "
        "count(*) FILTER (same_med = false), count(*) FILTER (med_obs_only) FROM both_values"
    ).fetchone()
    print(
        f"Contrôle : {fr(n_compared)} commune × type × année comparées — ventes retenues : "
        f"{fr(n_bad)} écart(s) ; médianes du prix au m² : {fr(med_compared)} comparées, "
        f"{fr(med_bad)} écart(s), {fr(med_alone)} de l'observatoire seul"
    )
    totals_ok = ours["mutations"] == base["mutations"] == generated
    totals_ok = totals_ok and ours["kept"] == base["kept"]
    print(
        f"  mutations : générées {fr(generated)}, observatoire {fr(ours['mutations'])}, "
        f"pandas {fr(base['mutations'])} ; "
        f"ventes retenues : observatoire {fr(ours['kept'])}, pandas {fr(base['kept'])}"
        f" → {'identiques' if totals_ok else 'DIFFÉRENTES'}"
    )
    for commune, label in (("75056", "Paris"), ("69123", "Lyon"), ("62041", "Arras")):
        row = con.execute(
            "SELECT type, annee, n_obs, n_pandas, med_obs, med_pandas FROM both_values "
            "WHERE commune = ? AND med_obs IS NOT NULL ORDER BY annee DESC, type DESC LIMIT 1",
            [commune],
        ).fetchone()
        if row is None:
            print(f"  {label} : pas de médiane publiée (effectif insuffisant à cette échelle)")
            continue
        kind, year, n_obs, n_base, med_obs, med_base = row
        print(
            f"  {label} {kind} {year} : {fr(n_obs)} ventes, médiane {fr(med_obs, 2)} €/m² "
            f"(pandas : {fr(n_base)} ventes, {fr(med_base, 2)} €/m²)"
        )
    ok = totals_ok and n_bad == 0 and med_bad == 0 and med_alone == 0
    ok = ok and n_compared > 0 and med_compared > 0
    if not ok:
        print("Premières différences :")
        print(
            con.execute(
                "SELECT * FROM both_values WHERE NOT same_n OR same_med = false OR med_obs_only "
                "ORDER BY commune, type, annee LIMIT 10"
            )
            .df()
            .to_string()
        )
    con.close()
    return ok


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Banc d'essai du marché immobilier (DVF simulées, 15 M lignes à l'échelle 1) :\n"
            "nettoyage des mutations et médianes de prix pour chaque territoire, comparés à\n"
            "une base pandas (groupby) appliquant les mêmes règles."
        ),
        epilog=(
            "Exemples :\n"
            "  python bench/marche.py --echelle 0.01   # taille réduite (CI)\n"
            "  python bench/marche.py --garder /tmp/banc-marche   # France entière, 15 M lignes"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--echelle",
        type=float,
        default=1.0,
        help="fraction des 15 M lignes DVF générées (toutes les communes ; 1 = 15 M)",
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

    with tempfile.TemporaryDirectory(prefix="bench-marche-") as tmp:
        folder = args.garder.resolve() if args.garder else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        project_dir, rows, mutations = prepare(folder, args.echelle)
        ours = _measure("observatoire", project_dir, Path(tmp) / "unused")
        base = _measure("pandas", project_dir, Path(tmp) / "baseline.parquet")
        if ours.get("failed") or base.get("failed"):
            return 1
        ok = check(project_dir, Path(tmp) / "baseline.parquet", ours, base, mutations)

    print()
    print(
        f"{'mesure':<14}{'lignes dvf':>13}{'mutations':>12}{'retenues':>12}{'lignes produites':>18}"
        f"{'s':>9}{'lignes/s':>13}{'Mo pic':>9}"
    )
    for name, result in (("observatoire", ours), ("pandas", base)):
        print(
            f"{name:<14}{fr(rows):>13}{fr(result['mutations']):>12}{fr(result['kept']):>12}"
            f"{fr(result['rows']):>18}{fr(result['seconds'], 2):>9}"
            f"{fr(rows / result['seconds']):>13}{fr(result['peak_mb']):>9}"
        )
    print(
        "lignes produites : dvf_marche (tous territoires × variables × années) pour "
        "l'observatoire ; commune × type × année pour pandas"
    )
    print(
        f"pandas : {fr(base['rows_read'])} lignes lues en {fr(base['read_seconds'], 2)} s "
        "(comptées) ; seulement les communes, pas les autres territoires"
    )
    ratio = base["seconds"] / ours["seconds"]
    print(f"ratio = durée pandas / durée observatoire = {fr(ratio, 2)} (plus grand = plus rapide)")
    met_time = ours["seconds"] < TARGET_SECONDS
    print(
        f"Objectif moins de {fr(TARGET_SECONDS)} s pour 15 M lignes : "
        f"{'atteint' if met_time else 'non atteint'} (le ratio est donné pour comparaison ; "
        "l'observatoire calcule aussi tous les territoires et écrit les tables)"
    )
    if args.echelle < 1:
        print(f"(échelle {fr(args.echelle, 2)} : les objectifs portent sur 15 M lignes)")
    if not ok:
        print(
            "Contrôle ÉCHOUÉ : les ventes retenues ou les médianes de pandas et de "
            "l'observatoire diffèrent."
        )
        return 1
    return 0


if __name__ == "__main__":
    Path(tempfile.gettempdir()).mkdir(exist_ok=True)
    sys.exit(main())
