"""Command line for the indicator stage: ``build``, ``indicators`` and the indicator part of
``catalogue list|show|check`` (registered on the main application by :mod:`cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from observatoire.cli_options import ProjectOption
from observatoire.errors import InputError

KIND_FR = {
    "count": "effectif",
    "ratio": "ratio",
    "growth": "évolution",
    "derived": "dérivé",
    "non_additive": "non additif",
}


def _fr_number(value: float, decimals: int = 0) -> str:
    text = f"{value:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")
    return text


def register(app: typer.Typer, catalogue_app: typer.Typer, console: Console) -> None:
    """Add the indicator commands to the CLI."""

    @app.command("build")
    def build_cmd(
        projet: ProjectOption = None,
        force: Annotated[
            bool, typer.Option("--force", help="Tout recalculer, même ce qui n'a pas changé.")
        ] = False,
    ) -> None:
        """Recalculer les indicateurs après des chargements (seulement ce qui a changé).

        Exemple : observatoire build -p ./demo-artois
        """
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from observatoire.indicators.build import build
        from observatoire.project import open_project

        project = open_project(projet)
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("Indicateurs", total=None)
            report = build(
                project, force=force, progress=lambda m: progress.update(task, description=m)
            )
        console.print(
            f"Indicateurs : {len(report.recomputed)} recalculé(s), "
            f"{len(report.unchanged)} inchangé(s) ; {_fr_number(report.rows)} valeurs pour "
            f"{_fr_number(report.territories)} territoires en {_fr_number(report.seconds, 1)} s."
        )

    @app.command("indicators")
    def indicators_cmd(
        territoire: Annotated[
            list[str] | None,
            typer.Option(
                "--territoire",
                "-t",
                help="Territoire (identifiant de territoires.yaml, code INSEE, SIREN, dep:62, "
                "reg:32, FR) ; répétable.",
            ),
        ] = None,
        niveau: Annotated[
            str | None,
            typer.Option(
                "--niveau",
                help="Tous les territoires d'un niveau : commune, epci, departement, region, "
                "france, custom.",
            ),
        ] = None,
        tous: Annotated[
            bool,
            typer.Option(
                "--tous",
                help="Les territoires du projet, leurs EPCI membres et leurs parents jusqu'à "
                "la France (défaut sans --territoire ni --niveau).",
            ),
        ] = False,
        indicateur: Annotated[
            list[str] | None,
            typer.Option("--indicateur", "-i", help="Identifiant d'indicateur ; répétable."),
        ] = None,
        theme: Annotated[
            str | None, typer.Option("--theme", help="Tous les indicateurs d'un thème.")
        ] = None,
        format_: Annotated[
            str,
            typer.Option("--format", "-f", help="csv, xlsx, json, parquet ou gpkg (QGIS)."),
        ] = "csv",
        sortie: Annotated[
            Path | None,
            typer.Option("--sortie", "-o", help="Fichier à écrire (défaut : dans sorties/)."),
        ] = None,
        excel: Annotated[
            bool,
            typer.Option(
                "--excel",
                help="CSV à la française (point-virgule, virgule décimale, UTF-8 avec BOM).",
            ),
        ] = False,
        projet: ProjectOption = None,
    ) -> None:
        """Exporter la table des indicateurs (valeurs, statuts, sources, millésimes).

        Exemple : observatoire indicators --territoire pm-artois --territoire 200072460
        --format xlsx --sortie chiffres-cles.xlsx -p ./demo-artois
        """
        from observatoire.indicators.build import build
        from observatoire.indicators.catalogue import indicator_catalogue
        from observatoire.indicators.export import FORMATS, export
        from observatoire.indicators.select import (
            indicator_ids_for,
            read_values,
            selected_territories,
        )
        from observatoire.project import open_project
        from observatoire.warehouse import Warehouse

        if format_ not in FORMATS:
            raise InputError(f"format « {format_} » inconnu ; formats : {', '.join(FORMATS)}")
        project = open_project(projet)
        catalogue = indicator_catalogue()
        ids = indicator_ids_for(catalogue, indicateur, theme)
        territories, level = selected_territories(project, territoire, niveau, tous)
        report = build(project)  # incremental: nothing to do when up to date
        if report.recomputed:
            console.print(f"{len(report.recomputed)} indicateur(s) recalculé(s) au préalable.")
        with Warehouse(project.settings.warehouse_path) as warehouse:
            table = read_values(warehouse, territories, level, ids)
            lineage = warehouse.lineage()
            members = warehouse.query(
                "SELECT territory_id, commune AS code FROM territory_communes "
                "WHERE level = 'custom'"
            )
        if table.empty:
            raise InputError("aucune valeur pour cette sélection de territoires et d'indicateurs")
        path = sortie or project.settings.output_dir / f"indicateurs.{format_}"
        export(
            table, path, format_, catalogue=catalogue, excel=excel, lineage=lineage, members=members
        )
        n_territories = len(table[["territory_id", "level"]].drop_duplicates())
        console.print(
            f"{_fr_number(len(table))} valeurs ({_fr_number(n_territories)} territoires, "
            f"{table['indicator_id'].nunique()} indicateurs) écrites dans [bold]{path}[/]."
        )
        if (table["origin"] == "simulated").any():
            console.print(
                "[bold red]Attention : certaines valeurs viennent de données SIMULÉES.[/]"
            )

    @catalogue_app.command("list")
    def catalogue_list(
        theme: Annotated[
            str | None, typer.Option("--theme", help="Seulement les indicateurs d'un thème.")
        ] = None,
        sources: Annotated[
            bool, typer.Option("--sources", help="Lister les sources officielles.")
        ] = False,
    ) -> None:
        """Lister les indicateurs du catalogue par thème (ou les sources avec --sources).

        Exemple : observatoire catalogue list --theme logement
        """
        from observatoire import catalogue as sources_catalogue
        from observatoire.indicators.catalogue import indicator_catalogue

        if sources:
            table = Table(title="Sources officielles")
            for column in ("Identifiant", "Titre", "Éditeur", "Licence", "Millésimes", "Diffusion"):
                table.add_column(column, overflow="fold")
            for entry in sources_catalogue.sources().values():
                table.add_row(
                    entry.id,
                    entry.titre,
                    entry.editeur,
                    entry.licence,
                    ", ".join(entry.vintages) or "dernier publié",
                    "diffusion restreinte" if entry.restreint else "",
                )
            console.print(table)
            return
        catalogue = indicator_catalogue()
        if theme and theme not in catalogue.themes:
            raise InputError(
                f"thème « {theme} » inconnu ; thèmes : {', '.join(sorted(catalogue.themes))}"
            )
        for th, indicators in catalogue.by_theme():
            if theme and th.id != theme:
                continue
            table = Table(title=f"{th.label} ({th.id})")
            for column in ("Identifiant", "Libellé", "Unité", "Nature", "Source", "Diffusion"):
                table.add_column(column, overflow="fold")
            for ind in indicators:
                diffusion = "diffusion restreinte" if ind.restricted else ""
                table.add_row(ind.id, ind.label, ind.unit, KIND_FR[ind.kind], ind.source, diffusion)
            console.print(table)
        console.print(f"{len(catalogue.indicators)} indicateurs, {len(catalogue.themes)} thèmes.")

    @catalogue_app.command("show")
    def catalogue_show(
        identifiant: Annotated[
            str, typer.Argument(help="Identifiant d'un indicateur ou d'une source.")
        ],
    ) -> None:
        """Détailler un indicateur (définition, formule, secret) ou une source.

        Exemple : observatoire catalogue show taux_chomage_1564
        """
        from observatoire import catalogue as sources_catalogue
        from observatoire.indicators.catalogue import indicator_catalogue
        from observatoire.indicators.docs import (
            KIND_LABELS,
            POLARITY_LABELS,
            SOURCE_LABELS,
            _formula,
        )

        catalogue = indicator_catalogue()
        if identifiant in catalogue.indicators:
            ind = catalogue.indicators[identifiant]
            console.print(f"[bold]{ind.label}[/] ({ind.id}) — thème {ind.theme}")
            console.print(ind.definition, highlight=False)
            console.print(f"Unité : {ind.unit} ; polarité : {POLARITY_LABELS[ind.polarity]}")
            console.print(f"Nature : {KIND_LABELS[ind.kind]}", highlight=False)
            console.print(f"Formule : {_formula(ind).replace('`', '')}", highlight=False)
            console.print(f"Source : {SOURCE_LABELS[ind.source]}")
            console.print(f"Secret et précautions : {ind.secrecy}", highlight=False)
            if ind.restricted:
                console.print(
                    f"Diffusion restreinte : {ind.restriction} — hors du site statique, servi "
                    "avec un jeton d'accès.",
                    highlight=False,
                )
            return
        entry = sources_catalogue.source(identifiant)
        console.print(f"[bold]{entry.titre}[/] ({entry.id})")
        console.print(f"Éditeur : {entry.editeur} — licence : {entry.licence}")
        console.print(f"Niveau : {entry.niveau} — format : {entry.format}")
        if entry.restreint:
            console.print("Diffusion restreinte : hors du site statique, servie avec un jeton.")
        if entry.page:
            console.print(f"Page : {entry.page}")
        for vintage, url in entry.urls.items():
            console.print(f"  {vintage} : {url}")
        if entry.url:
            console.print(f"  modèle : {entry.url} (millésimes : {', '.join(entry.millesimes)})")

    @catalogue_app.command("check")
    def catalogue_check() -> None:
        """Vérifier les catalogues : clés, formules, variables produites par les lecteurs.

        Exemple : observatoire catalogue check
        """
        from observatoire import catalogue as sources_catalogue
        from observatoire.indicators.catalogue import indicator_catalogue
        from observatoire.indicators.variables import unknown_variables

        entries = sources_catalogue.sources()
        catalogue = indicator_catalogue()
        problems = unknown_variables(catalogue)
        if problems:
            listed = ", ".join(f"{iid} → {pattern}" for iid, pattern in problems[:10])
            raise InputError(
                f"{len(problems)} variable(s) du catalogue d'indicateurs ne sont produites par "
                f"aucun lecteur : {listed}"
            )
        console.print(
            f"[green]Catalogues valides[/] : {len(entries)} sources, "
            f"{len(catalogue.indicators)} indicateurs en {len(catalogue.themes)} thèmes."
        )


def register_report(app: typer.Typer, console: Console) -> None:
    """Add ``observatoire report`` to the CLI."""

    @app.command("report")
    def report_cmd(
        territoires: Annotated[
            list[str] | None,
            typer.Argument(
                help="Territoires (identifiant de territoires.yaml, code INSEE, SIREN, dep:62, "
                "reg:32, FR)."
            ),
        ] = None,
        format_: Annotated[
            str, typer.Option("--format", "-f", help="pdf (défaut) ou html.")
        ] = "pdf",
        sortie: Annotated[
            Path | None,
            typer.Option(
                "--sortie", "-o", help="Dossier des rapports (défaut : sorties/rapports)."
            ),
        ] = None,
        tous: Annotated[
            bool,
            typer.Option(
                "--tous",
                help="Un rapport pour chaque territoire du projet, ses EPCI membres et ses "
                "parents.",
            ),
        ] = False,
        projet: ProjectOption = None,
    ) -> None:
        """Produire le rapport « chiffres clés » (PDF ou HTML) d'un ou plusieurs territoires.

        Exemple : observatoire report pm-artois 200072460 --format pdf -p ./demo-artois
        """
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from observatoire.indicators.build import build
        from observatoire.project import open_project
        from observatoire.publish.report import make_reports
        from observatoire.territories.publish import territories_in_scope

        project = open_project(projet)
        chosen = [project.territories.get(t) for t in territoires or []]
        if tous:
            keys = {t.key for t in chosen}
            chosen += [t for t in territories_in_scope(project) if t.key not in keys]
        if not chosen:
            raise InputError(
                "indiquez au moins un territoire (ex. observatoire report pm-artois) ou --tous"
            )
        build(project)  # incremental: nothing to do when the indicators are up to date
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("Rapports chiffres clés", total=len(chosen))
            paths = make_reports(
                project,
                chosen,
                fmt=format_,
                out_dir=sortie,
                progress=lambda t: progress.advance(task),
            )
        for path in paths:
            console.print(f"  {path}")
        console.print(f"{len(paths)} rapport(s) écrit(s).")
