"""``observatoire site build``: the whole observatory as static files.

Every API path is written twice: ``api/….json`` (read with ``fetch`` over HTTP) and
``api/….js`` (the same payload handed to ``OBS_DATA``, loaded with a ``<script>`` tag, so
that the site also opens from ``file://`` where browsers refuse ``fetch``). Pages, vendored
assets and the PDF reports already built (``sorties/rapports``) are copied beside them, with
the editorial sections of ``contenus/`` (pages, the studies' PDF, Atom feeds and
``reseaux.csv``: see :mod:`.editorial` and :mod:`.feeds`). The contents are validated before
anything is computed. Restricted datasets are never written. The folder is replaced only once
complete.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from observatoire.errors import InputError
from observatoire.project import Project
from observatoire.publish.contents import Contents
from observatoire.publish.site.api import SiteData, encode, openapi
from observatoire.publish.site.editorial import (
    attachments,
    load_site_contents,
    resolve_site_contents,
)
from observatoire.publish.site.feeds import render_feeds
from observatoire.publish.site.pages import STATIC, render_pages
from observatoire.warehouse import Warehouse

MARKER = ".observatoire-site"  # a folder holding it may be replaced by a new build
_SHARED: dict[str, object] = {}  # the SiteData inherited by forked workers


@dataclass
class SiteReport:
    """What a static build wrote."""

    folder: Path
    files: int
    bytes: int
    reports: int


def _render_chunk(paths: list[str]) -> list[tuple[str, bytes]]:
    data = _SHARED["data"]
    assert isinstance(data, SiteData)
    return [(path, encode(data.respond(path))) for path in paths]


def render_all(
    data: SiteData, paths: list[str], *, workers: int | None = None, quiet: bool = False
) -> Iterator[tuple[str, bytes]]:
    """Every ``(path, JSON bytes)`` of ``paths``, computed by forked workers (progress bar)."""
    workers = workers or min(os.cpu_count() or 1, 4)
    chunks = [paths[i : i + 40] for i in range(0, len(paths), 40)]
    with Progress(
        TextColumn("[bold]Réponses de l'API"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=quiet,
    ) as progress:
        task = progress.add_task("api", total=len(paths))
        _SHARED["data"] = data
        try:
            if workers > 1 and "fork" in get_all_start_methods():
                with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
                    for done in pool.map(_render_chunk, chunks):
                        yield from done
                        progress.advance(task, len(done))
            else:
                for chunk in chunks:
                    done = _render_chunk(chunk)
                    yield from done
                    progress.advance(task, len(done))
        finally:
            _SHARED.clear()


def _write(root: Path, path: str, body: bytes) -> int:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    script = b"OBS_DATA(" + json.dumps(path).encode() + b"," + body + b");\n"
    target.with_suffix(".js").write_bytes(script)
    return len(body) + len(script)


def write_pages(root: Path, data: SiteData, contents: Contents | None) -> int:
    """The pages, the editorial sections' feeds and attachments into ``root``; files written."""
    files = {
        **render_pages(data, contents),
        **render_feeds(data.project, contents, today=data.today),
    }
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    copied = attachments(contents)
    for name, source in copied.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return len(files) + len(copied)


def build_site(
    project: Project, folder: Path | None = None, *, workers: int | None = None, quiet: bool = False
) -> SiteReport:
    """Write the static observatory into ``folder`` (default ``sorties/site``)."""
    folder = (folder or project.settings.output_dir / "site").resolve()
    if folder.exists() and (
        not folder.is_dir() or (any(folder.iterdir()) and not (folder / MARKER).is_file())
    ):
        raise InputError(
            f"le dossier {folder} existe et n'est pas un site de l'observatoire (fichier "
            f"{MARKER} absent) : choisissez un dossier vide ou nouveau, il serait remplacé"
        )
    contents = load_site_contents(project)  # a content error stops here, before any work
    staging = folder.with_name(folder.name + ".partiel")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
            data = SiteData.load(warehouse, project)
        if contents is not None:
            contents = resolve_site_contents(project, contents)
        (staging / MARKER).write_text(
            "Site statique écrit par « observatoire site build » : ce dossier est remplacé à "
            "chaque construction.\n",
            encoding="utf-8",
        )
        write_pages(staging, data, contents)
        shutil.copytree(STATIC, staging / "static")
        (staging / "api").mkdir()
        (staging / "api" / "openapi.json").write_bytes(encode(openapi()))
        reports = project.settings.output_dir / "rapports"
        copied = 0
        if reports.is_dir():
            (staging / "rapports").mkdir()
            for pdf in sorted(reports.glob("*.pdf")):
                shutil.copy2(pdf, staging / "rapports" / pdf.name)
                copied += 1
        total = sum(
            _write(staging, path, body)
            for path, body in render_all(data, data.paths(), workers=workers, quiet=quiet)
        )
        files = sum(1 for p in staging.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SiteReport(folder, files, total, copied)
