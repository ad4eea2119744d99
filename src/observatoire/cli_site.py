"""``observatoire serve`` and ``observatoire site build``: the web observatory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from observatoire.cli_options import ProjectOption


def register_site(app: typer.Typer, console: Console) -> None:
    """Add ``serve`` and the ``site`` group to the CLI."""
    site_app = typer.Typer(
        help="Observatoire web publiable : site statique complet (pages, API JSON, rapports)."
        "\n\nExemple : observatoire site build -p ./demo-artois",
        no_args_is_help=True,
    )
    app.add_typer(site_app, name="site")

    @site_app.command("build")
    def site_build(
        sortie: Annotated[
            Path | None,
            typer.Option("--sortie", "-o", help="Dossier du site (défaut : sorties/site)."),
        ] = None,
        projet: ProjectOption = None,
    ) -> None:
        """Écrire l'observatoire en fichiers statiques, à déposer sur n'importe quel hébergement
        (ou à ouvrir directement : sorties/site/index.html). Les jeux à diffusion restreinte
        n'y figurent jamais.

        Exemple : observatoire site build -p ./demo-artois -o ./site-artois
        """
        from observatoire.project import open_project
        from observatoire.publish.fmt import fr_number
        from observatoire.publish.site.static_site import build_site

        project = open_project(projet)
        report = build_site(project, sortie)
        console.print(
            f"Site écrit dans {report.folder} : {fr_number(report.files)} fichiers, "
            f"{fr_number(report.bytes / 1e6, 1)} Mo de données, "
            f"{fr_number(report.reports)} rapport(s) PDF."
        )
        console.print(f"Ouvrir : {report.folder / 'index.html'}")

    @app.command("serve")
    def serve_cmd(
        port: Annotated[int, typer.Option("--port", help="Port d'écoute.")] = 8000,
        hote: Annotated[
            str,
            typer.Option("--hote", help="Adresse d'écoute (défaut : cette machine seulement)."),
        ] = "127.0.0.1",
        jeton: Annotated[
            str | None,
            typer.Option(
                "--jeton",
                help="Jeton d'accès aux jeux à diffusion restreinte (ou variable "
                "OBSERVATOIRE_JETON) ; sans jeton, ils ne sont jamais servis.",
            ),
        ] = None,
        projet: ProjectOption = None,
    ) -> None:
        """Servir l'observatoire web (pages, API JSON documentée en OpenAPI, rapports) en
        lecture seule.

        Exemple : observatoire serve -p ./demo-artois --port 8000
        """
        from observatoire.errors import InputError
        from observatoire.project import open_project
        from observatoire.publish.site.server import serve

        token = jeton or os.environ.get("OBSERVATOIRE_JETON") or None
        if token is not None and len(token) < 16:
            raise InputError("jeton d'accès trop court : 16 caractères au moins")
        project = open_project(projet)
        console.print(
            f"Observatoire servi sur http://{hote}:{port}/ "
            f"(API : http://{hote}:{port}/api/openapi.json) — Ctrl+C pour arrêter."
        )
        serve(project, host=hote, port=port, token=token)
