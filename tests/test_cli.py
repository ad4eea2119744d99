"""Command line: French help with an example on every command, clean French errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from observatoire.cli import app


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "observatoire", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def _commands(command, prefix=()):
    """Every (path, command) of the CLI tree."""
    yield prefix, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*prefix, name))


def test_every_command_has_french_help_with_an_example() -> None:
    root = typer.main.get_command(app)
    paths = [path for path, _ in _commands(root)]
    assert ("init",) in paths and ("demo",) in paths and ("cog", "recoder") in paths
    for path, command in _commands(root):
        text = command.help or ""
        assert "Exemple" in text, f"« observatoire {' '.join(path)} » n'a pas d'exemple"
        assert "observatoire" in text.split("Exemple", 1)[1], path


def test_help_screen_lists_the_stages_in_french() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for word in ("init", "demo", "territoires", "entrepot", "cog", "Commandes"):
        assert word in result.stdout
    assert "Afficher cette aide" in result.stdout
    assert "Show this message" not in result.stdout


def test_missing_project_is_one_french_sentence_without_traceback(tmp_path: Path) -> None:
    result = _run("territoires", "liste", "--projet", str(tmp_path))
    assert result.returncode == 2
    assert "aucun projet d'observatoire" in result.stderr
    assert "Traceback" not in result.stderr
    debug = _run("--debug", "territoires", "liste", "--projet", str(tmp_path))
    assert "Traceback" in debug.stderr


def test_usage_errors_are_in_french(tmp_path: Path) -> None:
    unknown = _run("init", str(tmp_path / "x"), "--inconnue")
    assert unknown.returncode == 2
    assert "option inconnue « --inconnue »" in unknown.stderr
    missing = _run("init")
    assert missing.returncode == 2
    assert "paramètre obligatoire manquant" in missing.stderr
    command = _run("publier")
    assert "commande inconnue « publier »" in command.stderr


def test_invalid_territories_file_reports_file_and_line(tmp_path: Path) -> None:
    assert _run("init", str(tmp_path / "p")).returncode == 0
    (tmp_path / "p" / "territoires.yaml").write_text(
        'territoires:\n  - id: t\n    nom: T\n    communes: ["62119", "2119"]\n', encoding="utf-8"
    )
    result = _run("territoires", "verifier", "-p", str(tmp_path / "p"))
    assert result.returncode == 2
    assert "territoires.yaml, ligne 4" in result.stderr
    assert "« 2119 »" in result.stderr
    assert "Traceback" not in result.stderr


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("observatoire ")


@pytest.mark.parametrize("level", ["pm-artois", "epci:200072460", "62119"])
def test_init_example_then_show(tmp_path: Path, level: str) -> None:
    folder = tmp_path / "artois"
    assert _run("init", str(folder), "--exemple", "artois").returncode == 0
    shown = _run("territoires", "afficher", level, "-p", str(folder))
    assert shown.returncode == 0, shown.stderr
    assert "communes" in shown.stdout
    assert "Hauts-de-France" in shown.stdout
