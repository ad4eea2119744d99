"""``observatoire demo``: build the Artois demonstration project with every stage available.

Stages run today: embedded referential (COG 2025) → warehouse → the agency's territories →
real legal populations of every embedded vintage, recoded to COG 2025 → the other sources,
SIMULATED in their official formats for the agency's départements (marked as such in the
lineage and every output) → the indicator catalogue computed for every territory (``build``)
→ exports (CSV in the indicator-table layout, XLSX by theme, GeoPackage for QGIS), the HTML
report of the Pôle métropolitain, its OPAH-RU pre-diagnostic, the DVF market workbook, the
bourgs-centres diagnostic of the PETR Ternois / 7 Vallées, and the static web observatory
(``sorties/site``).
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
from observatoire.indicators.build import BuildReport, build
from observatoire.indicators.catalogue import indicator_catalogue
from observatoire.indicators.export import export
from observatoire.indicators.select import read_values
from observatoire.project import Project, init_project, open_project
from observatoire.publish.report import make_reports
from observatoire.publish.site.static_site import build_site
from observatoire.settings import SETTINGS_FILE, TERRITORIES_FILE
from observatoire.territories import referential
from observatoire.territories.perimeters import Territory
from observatoire.territories.publish import (
    load_populations,
    publish_territories,
    territories_in_scope,
)
from observatoire.warehouse import LoadResult, Warehouse

POPULATION_INDICATOR = "population_legale"


@dataclass
class DemoSummary:
    """What the demo produced, for printing and for tests."""

    root: Path
    warehouse: Path
    outputs: list[tuple[Path, str]] = field(default_factory=list)
    loads: list[LoadResult] = field(default_factory=list)
    populations: pd.DataFrame | None = None  # indicator-table rows of the legal population
    indicators: pd.DataFrame | None = None  # every indicator of the territories in scope
    build: BuildReport | None = None
    scope: list[Territory] = field(default_factory=list)
    method: str = "referentiel"
    unresolved: dict[int, int] = field(default_factory=dict)
    simulated: list = field(default_factory=list)  # FileLoad of the simulated sources


# --------------------------------------------------------------------------- territories


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
        task = progress.add_task("Démonstration Artois", total=7)
        with Warehouse(settings.warehouse_path) as warehouse:
            progress.update(task, description="Référentiel et territoires → entrepôt")
            publish_territories(warehouse, project)
            progress.advance(task)

            progress.update(task, description="Populations légales réelles → COG 2025")
            loads, method, unresolved = load_populations(warehouse, events_path)
            summary.loads, summary.method, summary.unresolved = loads, method, unresolved
            progress.advance(task)

        progress.update(task, description="Sources SIMULÉES (formats officiels) → entrepôt")
        summary.simulated = simulate_and_load(project, events_path)
        progress.advance(task)

        progress.update(task, description="Indicateurs de chaque territoire")
        summary.build = build(project)
        summary.scope = territories_in_scope(project)
        with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
            table = read_values(warehouse, summary.scope)
            lineage = warehouse.lineage()
        summary.indicators = table
        populations = table[table["indicator_id"] == POPULATION_INDICATOR].copy()
        populations["period"] = populations["period"].astype(int)
        summary.populations = populations.reset_index(drop=True)
        progress.advance(task)

        progress.update(task, description="Exports (CSV, GeoPackage, Excel, rapport)")
        catalogue = indicator_catalogue()
        csv_path = settings.output_dir / "indicateurs.csv"
        export(table, csv_path, "csv", catalogue=catalogue)
        summary.outputs.append(
            (csv_path, "table des indicateurs des territoires de l'agence (format machine)")
        )
        gpkg_path = settings.output_dir / "territoires.gpkg"
        write_geopackage(gpkg_path, project, summary.populations)
        summary.outputs.append((gpkg_path, "communes et territoires de l'agence, pour QGIS"))
        xlsx_path = settings.output_dir / "chiffres-cles.xlsx"
        export(table, xlsx_path, "xlsx", catalogue=catalogue, lineage=lineage)
        summary.outputs.append((xlsx_path, "chiffres clés par thème, définitions et sources"))
        (report_path,) = make_reports(
            project,
            [project.territories.get("pm-artois")],
            fmt="html",
            out_dir=settings.output_dir / "rapports",
        )
        summary.outputs.append(
            (
                report_path,
                "rapport « chiffres clés » du Pôle métropolitain (HTML ; PDF : "
                "observatoire report pm-artois)",
            )
        )
        progress.advance(task)

        progress.update(task, description="Diagnostics (OPAH-RU, marché, bourgs-centres)")
        from observatoire.analyses.habitat import run as run_habitat
        from observatoire.analyses.marche import write_market_xlsx
        from observatoire.publish.habitat import write_outputs as write_habitat

        habitat = write_habitat(project, run_habitat(project, "pm-artois", "ru"), formats=("html",))
        summary.outputs.append(
            (
                habitat.folder / "diagnostic.html",
                "pré-diagnostic OPAH-RU du Pôle métropolitain (classement, carte, fiches ; "
                "PDF : observatoire diagnose habitat -t pm-artois)",
            )
        )
        market_path, _ = write_market_xlsx(project, settings.output_dir / "marche.xlsx", None)
        summary.outputs.append(
            (market_path, "marché immobilier DVF : rapport de nettoyage, chiffres par territoire")
        )
        from observatoire.analyses.centralites import run as run_centralities
        from observatoire.publish.centralites import write_outputs as write_centralities

        armature = write_centralities(
            project, run_centralities(project, "petr-ternois-7-vallees"), formats=("html",)
        )
        summary.outputs.append(
            (
                armature.folder / "diagnostic.html",
                "bourgs-centres et armature du PETR Ternois / 7 Vallées (niveaux, fonctions, "
                "complémentarité, commerce ; PDF : observatoire diagnose centralites "
                "-t petr-ternois-7-vallees)",
            )
        )
        progress.advance(task)

        progress.update(task, description="Observatoire web (site statique)")
        site = build_site(project, quiet=True)
        summary.outputs.append(
            (
                site.folder / "index.html",
                "observatoire web statique (s'ouvre dans un navigateur ; en serveur : "
                "observatoire serve)",
            )
        )
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
    if summary.build is not None and summary.indicators is not None:
        console.print(
            f"Indicateurs : {len(summary.build.recomputed)} recalculé(s), "
            f"{len(summary.build.unchanged)} inchangé(s) ; {_fr_int(summary.build.rows)} valeurs "
            f"pour {_fr_int(summary.build.territories)} territoires (dont "
            f"{_fr_int(len(summary.indicators))} pour les territoires de l'agence)."
        )
    console.print(f"\n[bold]Projet[/] : {summary.root}")
    console.print(f"  entrepôt DuckDB : {summary.warehouse}")
    for path, what in summary.outputs:
        console.print(f"  {path} — {what}")
    console.print(
        "\nPour l'ouvrir :\n"
        f"  observatoire territoires liste -p {summary.root}\n"
        f"  observatoire entrepot info -p {summary.root}\n"
        f"  observatoire indicators --tous --format xlsx -p {summary.root}\n"
        f"  observatoire serve -p {summary.root}  (puis http://127.0.0.1:8000/)\n"
        f"  QGIS : glisser {summary.outputs[1][0]} dans la carte\n"
        '  Python : duckdb.connect("' + str(summary.warehouse) + '").sql("FROM indicator_values")'
    )
