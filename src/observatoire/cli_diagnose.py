"""``observatoire diagnose``: the diagnostics (OPAH pre-diagnostic, real-estate market)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from observatoire.cli_options import ProjectOption


def register_diagnose(app: typer.Typer, console: Console) -> None:
    """Add the ``diagnose`` group to the CLI."""
    diagnose_app = typer.Typer(
        help="Diagnostics : pré-diagnostic OPAH-RU / OPAH-RR, marché immobilier (DVF), "
        "bourgs-centres et armature territoriale."
        "\n\nExemple : observatoire diagnose habitat --territoire pm-artois --variante ru",
        no_args_is_help=True,
    )
    app.add_typer(diagnose_app, name="diagnose")

    def _progress() -> Progress:
        return Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        )

    @diagnose_app.command("habitat")
    def habitat_cmd(
        territoire: Annotated[
            str,
            typer.Option(
                "--territoire", "-t", help="Territoire étudié (identifiant, SIREN, code INSEE)."
            ),
        ],
        variante: Annotated[
            str, typer.Option("--variante", help="ru (urbaine) ou rr (rurale).")
        ] = "ru",
        sortie: Annotated[
            Path | None,
            typer.Option(
                "--sortie",
                "-o",
                help="Dossier des résultats (défaut : sorties/diagnostics/habitat-…).",
            ),
        ] = None,
        format_: Annotated[
            str, typer.Option("--format", help="Chapitre : pdf, html ou les deux (pdf,html).")
        ] = "pdf,html",
        niveau: Annotated[
            str,
            typer.Option(
                "--niveau", help="Unités comparées : commune, ou iris (bases IRIS chargées)."
            ),
        ] = "commune",
        contours_iris: Annotated[
            Path | None,
            typer.Option(
                "--contours-iris", help="Contours des IRIS (IGN) pour la carte et le GeoPackage."
            ),
        ] = None,
        projet: ProjectOption = None,
    ) -> None:
        """Pré-diagnostic OPAH : indice composite de besoin sur les communes du territoire
        (critères, poids et seuils dans diagnostics.yaml), classement, classes de priorité,
        analyse de sensibilité ; écrit classement.xlsx, classement.gpkg, carte.png et le
        chapitre diagnostic.pdf / .html (méthode, classement, fiche des communes en tête).

        Avec --niveau iris, les unités sont les IRIS des communes du territoire (bases IRIS du
        recensement et Filosofi revenus disponibles chargées) ; un territoire peut alors être
        une seule commune.

        Exemple : observatoire diagnose habitat -p ./demo-artois -t pm-artois --variante ru
        """
        from observatoire.analyses.habitat import run
        from observatoire.errors import InputError
        from observatoire.project import open_project
        from observatoire.publish.habitat import FORMATS, write_outputs

        formats = tuple(f.strip() for f in format_.split(",") if f.strip())
        bad = [f for f in formats if f not in FORMATS]
        if bad or not formats:
            raise InputError(f"format « {format_} » inconnu ; formats : {', '.join(FORMATS)}")
        project = open_project(projet)
        with _progress() as progress:
            task = progress.add_task("Indice composite et sensibilité", total=None)
            result = run(project, territoire, variante, level=niveau, contours=contours_iris)
            progress.update(task, description="Classement, carte et chapitre")
            outputs = write_outputs(project, result, out_dir=sortie, formats=formats)
        ranked = int(result.index["ranked"].sum())
        console.print(
            f"{result.variant.label} — {result.territory.nom} : {ranked} "
            f"{'IRIS' if niveau == 'iris' else 'commune(s)'} classé(e)s sur {len(result.index)}."
        )
        from observatoire.publish.fmt import fr_number

        for row in result.top().head(5).itertuples():
            score = fr_number(float(row.score_100), 1)
            console.print(f"  {int(row.rank)}. {row.nom} ({row.Index}) : score {score}")
        if result.simulated:
            console.print("[bold red]Attention : données SIMULÉES, ne pas publier.[/]")
        console.print(f"Résultats dans {outputs.folder}")

    @diagnose_app.command("marche")
    def marche_cmd(
        secteurs: Annotated[
            Path | None,
            typer.Option(
                "--secteurs",
                help="Polygones des secteurs (GeoJSON, GeoPackage…) : QPV, site NPNRU, centre.",
            ),
        ] = None,
        champ: Annotated[
            str | None, typer.Option("--champ", help="Champ du nom des secteurs.")
        ] = None,
        sortie: Annotated[
            Path | None,
            typer.Option("--sortie", "-o", help="Classeur écrit (défaut : sorties/marche.xlsx)."),
        ] = None,
        projet: ProjectOption = None,
    ) -> None:
        """Marché immobilier (DVF) : rapport de nettoyage, chiffres des territoires du projet
        et, avec --secteurs, des ventes situées dans chaque polygone.

        Exemple : observatoire diagnose marche -p ./demo-artois --secteurs qpv.geojson
        """
        from observatoire.analyses.marche import read_sectors, write_market_xlsx
        from observatoire.project import open_project

        project = open_project(projet)
        polygons = read_sectors(secteurs, champ) if secteurs is not None else None
        out = sortie or project.settings.output_dir / "marche.xlsx"
        with _progress() as progress:
            progress.add_task("Marché immobilier", total=None)
            path, result = write_market_xlsx(project, out, polygons)
        if result is not None:
            console.print(
                f"{polygons['secteur'].nunique()} secteur(s) ; {len(result.figures)} ligne(s) "
                f"secteur × type × année ; {result.unplaced} vente(s) sans coordonnées."
            )
        console.print(f"Classeur écrit : {path}")

    @diagnose_app.command("centralites")
    def centralites_cmd(
        territoire: Annotated[
            str,
            typer.Option(
                "--territoire", "-t", help="Territoire étudié (identifiant, SIREN, code INSEE)."
            ),
        ],
        centres: Annotated[
            str | None,
            typer.Option(
                "--centres",
                help="Bourgs-centres notés, codes INSEE séparés par des virgules (défaut : "
                "toutes les communes du territoire).",
            ),
        ] = None,
        distancier: Annotated[
            Path | None,
            typer.Option(
                "--distancier",
                help="Temps de trajet routier (CSV origine;destination;minutes) : remplace "
                "la distance à vol d'oiseau.",
            ),
        ] = None,
        perimetres: Annotated[
            Path | None,
            typer.Option(
                "--perimetres",
                help="Polygones des centres-villes (GeoJSON, GeoPackage) : commerces du centre.",
            ),
        ] = None,
        sortie: Annotated[
            Path | None,
            typer.Option(
                "--sortie", "-o", help="Dossier des résultats (défaut : sorties/diagnostics/…)."
            ),
        ] = None,
        format_: Annotated[
            str, typer.Option("--format", help="Chapitre : pdf, html ou les deux (pdf,html).")
        ] = "pdf,html",
        projet: ProjectOption = None,
    ) -> None:
        """Bourgs-centres : quatre fonctions notées de 0 à 100 (économie, habitat,
        équipements et services, identité), niveau dans l'armature (gammes de la BPE, seuils
        dans diagnostics.yaml), centre le plus proche de chaque niveau et population desservie,
        complémentarité entre centres voisins, commerce (SIRENE) et vacance commerciale ;
        écrit centralites.xlsx, centralites.gpkg, carte.png, radars/ et le chapitre
        diagnostic.pdf / .html.

        Exemple : observatoire diagnose centralites -p ./demo-artois -t 200044030
        """
        from observatoire.analyses.centralites import run
        from observatoire.errors import InputError
        from observatoire.project import open_project
        from observatoire.publish.centralites import FORMATS, write_outputs
        from observatoire.publish.fmt import fr_number

        formats = tuple(f.strip() for f in format_.split(",") if f.strip())
        bad = [f for f in formats if f not in FORMATS]
        if bad or not formats:
            raise InputError(f"format « {format_} » inconnu ; formats : {', '.join(FORMATS)}")
        listed = [c.strip() for c in (centres or "").split(",") if c.strip()] or None
        project = open_project(projet)
        with _progress() as progress:
            task = progress.add_task("Fonctions, niveaux et complémentarité", total=None)
            result = run(
                project, territoire, centres=listed, times=distancier, perimeters=perimetres
            )
            progress.update(task, description="Tableaux, carte, radars et chapitre")
            outputs = write_outputs(project, result, out_dir=sortie, formats=formats)
        counts = result.in_territory["niveau"].value_counts()
        labels = result.level_labels
        console.print(
            f"{result.territory.nom} : {fr_number(len(result.in_territory))} communes, BPE "
            f"{result.period}."
        )
        for level, label in labels.items():
            if counts.get(level, 0):
                console.print(f"  {label} : {fr_number(int(counts[level]))}")
        if result.simulated:
            console.print("[bold red]Attention : données SIMULÉES, ne pas publier.[/]")
        console.print(f"Résultats dans {outputs.folder}")
