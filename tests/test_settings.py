"""Project settings (observatoire.toml): parsing, defaults and French errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from observatoire.errors import ConfigError, ProjectNotFoundError
from observatoire.settings import load_settings, parse_settings, render_settings


def test_rendered_settings_round_trip(tmp_path: Path) -> None:
    text = render_settings(
        nom='Observatoire "test"', titre="Chiffres clés", references=("dep:62", "FR")
    )
    settings = parse_settings(text, root=tmp_path)
    assert settings.nom == 'Observatoire "test"'
    assert settings.cog == 2025
    assert settings.charte.titre == "Chiffres clés"
    assert settings.references == ("dep:62", "FR")
    assert settings.warehouse_path == tmp_path / "entrepot.duckdb"
    assert settings.output_dir == tmp_path / "sorties"


def test_unsupported_cog_names_line(tmp_path: Path) -> None:
    text = '[projet]\nnom = "x"\ncog = 2019\n'
    with pytest.raises(ConfigError) as info:
        parse_settings(text, root=tmp_path)
    assert "ligne 3" in str(info.value)
    assert "2019" in str(info.value)


def test_unknown_key_and_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ligne 3.*projet\.couleur"):
        parse_settings('[projet]\nnom = "x"\ncouleur = "rouge"\n', root=tmp_path)
    with pytest.raises(ConfigError, match=r"ligne 3.*\[graphiques\]"):
        parse_settings('[projet]\nnom = "x"\n[graphiques]\n', root=tmp_path)


def test_bad_colour_and_references(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="hexadécimal"):
        parse_settings(
            '[projet]\nnom = "x"\n[charte]\ncouleur_principale = "bleu"\n', root=tmp_path
        )
    with pytest.raises(ConfigError, match="liste de codes"):
        parse_settings('[projet]\nnom = "x"\n[comparaisons]\nreferences = [62]\n', root=tmp_path)


def test_broken_toml_and_missing_project(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TOML illisible"):
        parse_settings("[projet\nnom=", root=tmp_path)
    with pytest.raises(ConfigError, match=r"\[projet\] est obligatoire"):
        parse_settings("[charte]\ntitre = 'x'\n", root=tmp_path)
    with pytest.raises(ProjectNotFoundError, match="observatoire init"):
        load_settings(tmp_path)
