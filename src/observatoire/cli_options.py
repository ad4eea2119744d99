"""Options shared by the command modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--projet",
        "-p",
        help="Dossier du projet (défaut : dossier courant ou variable OBSERVATOIRE_PROJET).",
    ),
]
