"""``observatoire demo``: build the Artois demonstration project with every stage available.

Stages run today: embedded referential (COG 2025) → warehouse → the agency's territories →
real legal populations of every embedded vintage, recoded to COG 2025 → population of every
territory by vintage (ratio-free counts: sums over member communes, with statuses) → exports
(CSV in the indicator-table layout, GeoPackage for QGIS). Population figures are real; no
simulated source is used yet, so no output carries the "données simulées" mention.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from observatoire.errors import InputError
from observatoire.project import Project, init_project, open_project
from observatoire.settings import SETTINGS_FILE, TERRITORIES_FILE
from observatoire.territories import referential
from observatoire.territories.perimeters import Territory
from observatoire.territories.publish import (
    load_populations,
    publish_territories,
    territories_in_scope,
)
from observatoire.warehouse import LoadResult, Warehouse

POPULATION_INDICATOR = "population_municipale"
INDICATOR_COLUMNS = [
    "territory_id",
    "territory_label",
    "level",
    "indicator_id",
    "period",
    "value",
    "unit",
    "numerator",
    "denominator",
    "status",
    "source",
    "cog_vintage",
    "origin",
]


@dataclass
class DemoSummary:
    """What the demo produced, for printing and for tests."""

    root: Path
    warehouse: Path
    outputs: list[tuple[Path, str]] = field(default_factory=list)
    loads: list[LoadResult] = field(default_factory=list)
    populations: pd.DataFrame | None = None  # indicator-table rows
    scope: list[Territory] = field(default_factory=list)
    method: str = "referentiel"
    unresolved: dict[int, int] = field(default_factory=dict)
    simulated: list = field(default_factory=list)  # FileLoad of the simulated sources


# --------------------------------------------------------------------------- territories


POPULATION_SQL = """
WITH scope AS (
    SELECT * FROM (VALUES {values}) AS s(territory_id, level, label)
),
members AS (
    SELECT s.territory_id, s.level, s.label, tc.commune
    FROM scope s JOIN territory_communes tc USING (territory_id, level)
),
years AS (
    SELECT DISTINCT CAST(vintage AS INTEGER) AS annee FROM population_legale
)
SELECT m.territory_id, m.label AS territory_label, m.level, y.annee AS period,
       count(*) AS n_members,
       count(p.population) AS n_values,
       sum(p.population) AS total,
       coalesce(bool_or(p.cog_status = 'incomplete'), false) AS any_incomplete,
       string_agg(DISTINCT p.source, ' ; ' ORDER BY p.source) AS source
FROM members m
CROSS JOIN years y
LEFT JOIN population_legale p
       ON p.code = m.commune AND CAST(p.vintage AS INTEGER) = y.annee
GROUP BY ALL
ORDER BY m.level, m.territory_id, period
"""


def population_by_territory(warehouse: Warehouse, scope: list[Territory]) -> pd.DataFrame:
    """Population of each territory by vintage, as indicator-table rows.

    A count is summed over member communes; when a member has no value (unresolved code at
    that vintage) or an uncertain one (split commune), the status is ``incomplete`` and the
    value is left empty rather than under-counted; a vintage that covers none of the
    members is ``missing``.
    """
    params: list[str] = []
    for t in scope:
        params += [t.id, t.level, t.nom]
    values = ", ".join("(?, ?, ?)" for _ in scope)
    raw = warehouse.query(POPULATION_SQL.format(values=values), params)
    complete = (raw["n_values"] == raw["n_members"]) & ~raw["any_incomplete"]
    status = complete.map({True: "ok", False: "incomplete"}).where(raw["n_values"] > 0, "missing")
    out = pd.DataFrame(
        {
            "territory_id": raw["territory_id"],
            "territory_label": raw["territory_label"],
            "level": raw["level"],
            "indicator_id": POPULATION_INDICATOR,
            "period": raw["period"].astype("int64"),
            "value": raw["total"].where(raw["n_values"] == raw["n_members"]).astype("Int64"),
            "unit": "habitants",
            "status": status,
            "source": raw["source"],
            "cog_vintage": referential.REFERENTIAL_COG,
            "origin": "real",
        }
    )
    out["numerator"] = out["value"]
    out["denominator"] = pd.array([pd.NA] * len(out), dtype="Int64")
    return out[INDICATOR_COLUMNS]


# --------------------------------------------------------------------------- simulated sources

SIMULATED_VINTAGES = (2020, 2021)


def simulate_and_load(project: Project, events_path: Path | None = None) -> list:
    """Every other source, simulated in the official formats for the agency's départements.

    The files go to ``donnees/simulees`` with their ``SIMULATION.json`` manifest, so the
    lineage marks them ``simulated``; the INSEE events file, when given, is loaded first so
    that the simulated tables are recoded with it.
    """
    from observatoire.loading import load_paths
    from observatoire.sources.synthetic import simulate

    communes = referential.communes()
    perimeter = {c for t in project.territories for c in t.communes}
    departements = set(communes.loc[communes["code"].isin(perimeter), "dep"])
    codes = communes.loc[communes["dep"].isin(departements), "code"].tolist()
    folder = project.settings.data_dir / "simulees"
    manifest = simulate(folder, communes=codes, vintages=list(SIMULATED_VINTAGES), seed=2025)
    paths = [f.path for f in manifest.files]
    if events_path is not None:
        paths.insert(0, events_path)
    return load_paths(project, paths)


# --------------------------------------------------------------------------- exports


def write_geopackage(path: Path, project: Project, populations: pd.DataFrame) -> None:
    """Communes of the agency's territories and the dissolved territories, for QGIS."""
    perimeter = sorted({c for t in project.territories for c in t.communes})
    communes = referential.geometries("commune")
    communes = communes[communes["code"].isin(perimeter)].copy()
    info = referential.communes().set_index("code")
    communes["epci"] = communes["code"].map(info["epci"])
    communes["superficie_km2"] = communes["code"].map(info["superficie_km2"])
    latest_year = int(populations["period"].max())
    pops = referential.populations()
    latest = pops[pops["annee"] == latest_year].set_index("code")["population"]
    communes[f"population_{latest_year}"] = communes["code"].map(latest).astype("Int64")
    if path.exists():
        path.unlink()
    communes.to_file(path, layer="communes", driver="GPKG")
    shapes = communes.set_index("code")["geometry"]
    rows = []
    latest_pop = populations[populations["period"] == latest_year].set_index(
        ["territory_id", "level"]
    )
    for t in territories_in_scope(project):
        if t.level not in ("custom", "epci"):
            continue
        geometry = shapely.union_all(shapes.loc[list(t.communes)].to_numpy())
        value = latest_pop["value"].get((t.id, t.level))
        rows.append(
            {
                "territory_id": t.id,
                "level": t.level,
                "nom": t.nom,
                "categorie": t.categorie,
                "n_communes": t.size,
                f"population_{latest_year}": None if pd.isna(value) else int(value),
                "geometry": geometry,
            }
        )
    gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").to_file(
        path, layer="territoires", driver="GPKG"
    )


# --------------------------------------------------------------------------- entry point


def _reset(folder: Path) -> None:
    """Remove what a previous demo wrote (and nothing else)."""
    for name in (SETTINGS_FILE, TERRITORIES_FILE, "entrepot.duckdb", "entrepot.duckdb.wal"):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "sorties", ignore_errors=True)


def run_demo(
    folder: Path,
    *,
    force: bool = False,
    console: Console | None = None,
    events_path: Path | None = None,
) -> DemoSummary:
    """Build (or refresh) the Artois demonstration project in ``folder``."""
    console = console or Console(quiet=True)
    folder = folder.resolve()
    if force:
        _reset(folder)
    if (folder / SETTINGS_FILE).exists():
        project = open_project(folder)
    else:
        if folder.exists() and any(folder.iterdir()):
            raise InputError(
                f"le dossier {folder} n'est pas vide et ne contient pas de projet : choisissez "
                "un dossier vide ou nouveau"
            )
        init_project(folder, example="artois")
        project = open_project(folder)
    settings = project.settings
    summary = DemoSummary(root=folder, warehouse=settings.warehouse_path)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("Démonstration Artois", total=5)
        with Warehouse(settings.warehouse_path) as warehouse:
            progress.update(task, description="Référentiel et territoires → entrepôt")
            publish_territories(warehouse, project)
            progress.advance(task)

            progress.update(task, description="Populations légales réelles → COG 2025")
            loads, method, unresolved = load_populations(warehouse, events_path)
            summary.loads, summary.method, summary.unresolved = loads, method, unresolved
            progress.advance(task)

            progress.update(task, description="Population de chaque territoire")
            summary.scope = territories_in_scope(project)
            summary.populations = population_by_territory(warehouse, summary.scope)
            warehouse.replace_table("indicator_values", summary.populations)
            progress.advance(task)

        progress.update(task, description="Sources SIMULÉES (formats officiels) → entrepôt")
        summary.simulated = simulate_and_load(project, events_path)
        progress.advance(task)

        progress.update(task, description="Exports (CSV, GeoPackage)")
        csv_path = settings.output_dir / "populations_territoires.csv"
        summary.populations.to_csv(csv_path, index=False)
        summary.outputs.append(
            (csv_path, "population légale de chaque territoire, par millésime (format machine)")
        )
        gpkg_path = settings.output_dir / "territoires.gpkg"
        write_geopackage(gpkg_path, project, summary.populations)
        summary.outputs.append((gpkg_path, "communes et territoires de l'agence, pour QGIS"))
        progress.advance(task)
    return summary


def _fr_int(value: object) -> str:
    if value is None or pd.isna(value):
        return "—"
    return f"{int(value):,}".replace(",", "\u202f")


def _fr_rate(p0: float, p1: float, years: int) -> str:
    """Annual average change rate (geometric, exact number of years), French format."""
    rate = ((p1 / p0) ** (1 / years) - 1) * 100
    return f"{rate:+.2f}".replace(".", ",").replace("-", "−") + " %"


MIN_EVOLUTION_YEARS = 5  # census vintages closer than 5 years share most of their surveys


def _evolution(series: pd.Series) -> tuple[str, str, str]:
    """(latest value, its vintage, annual change from the earliest vintage ≥ 5 years before)."""
    known = series.dropna()
    if known.empty:
        return "—", "—", "—"
    last_year = int(known.index.max())
    earlier = known[known.index <= last_year - MIN_EVOLUTION_YEARS]
    latest = _fr_int(known[last_year])
    if earlier.empty:
        return latest, str(last_year), "—"
    first_year = int(earlier.index.min())
    rate = _fr_rate(float(earlier[first_year]), float(known[last_year]), last_year - first_year)
    return latest, str(last_year), f"{rate} ({first_year}-{last_year})"


def print_summary(summary: DemoSummary, console: Console) -> None:
    """What was produced, the key figures, and how to open them — in French."""
    pops = summary.populations
    assert pops is not None
    table = Table(title="Population municipale légale (COG 2025)")
    for column in (
        "Territoire",
        "Niveau",
        "Communes",
        "Population",
        "Millésime",
        "Évolution annuelle moyenne",
    ):
        table.add_column(
            column, justify="right" if column in ("Communes", "Population") else "left"
        )
    levels = {
        "custom": "personnalisé",
        "epci": "EPCI",
        "departement": "département",
        "region": "région",
        "france": "France",
        "commune": "commune",
    }
    values = pops.set_index(["territory_id", "level", "period"])["value"].sort_index()
    for t in summary.scope:
        series = values.loc[(t.id, t.level)]
        latest, year, evolution = _evolution(series)
        table.add_row(t.nom, levels[t.level], _fr_int(t.size), latest, year, evolution)
    console.print(table)
    console.print(
        "« — » : valeur non publiée car incomplète (commune sans chiffre à ce millésime) ; "
        "évolution sur au moins cinq ans d'écart."
    )
    loaded = sum(1 for r in summary.loads if not r.skipped)
    console.print(
        f"Populations légales chargées : {len(summary.loads)} millésimes "
        f"({loaded} nouveaux, {len(summary.loads) - loaded} déjà présents), données réelles "
        f"INSEE ; recodage au COG 2025 par "
        + (
            "les événements communaux INSEE."
            if summary.method == "insee"
            else "la table de passage du référentiel embarqué."
        )
    )
    gaps = {y: n for y, n in summary.unresolved.items() if n}
    if gaps:
        console.print(
            "Codes anciens non rattachés (territoires concernés au statut « incomplete ») : "
            + ", ".join(f"{y} : {n}" for y, n in sorted(gaps.items()))
        )
    if summary.simulated:
        from collections import Counter

        counts = Counter(x.dataset for x in summary.simulated if x.origin == "simulated")
        listed = ", ".join(f"{name} ×{n}" for name, n in sorted(counts.items()))
        console.print(
            f"\n[bold red]Données simulées[/] : {sum(counts.values())} fichiers aux formats "
            "officiels chargés avec l'origine « simulated » — à ne pas publier comme des chiffres "
            f"réels ({listed})."
        )
    console.print(f"\n[bold]Projet[/] : {summary.root}")
    console.print(f"  entrepôt DuckDB : {summary.warehouse}")
    for path, what in summary.outputs:
        console.print(f"  {path} — {what}")
    console.print(
        "\nPour l'ouvrir :\n"
        f"  observatoire territoires liste -p {summary.root}\n"
        f"  observatoire entrepot info -p {summary.root}\n"
        f"  QGIS : glisser {summary.outputs[-1][0]} dans la carte\n"
        '  Python : duckdb.connect("' + str(summary.warehouse) + '").sql("FROM indicator_values")'
    )
