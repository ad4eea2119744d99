"""OPAH pre-diagnostic on the demo warehouse: inputs read right, gates, known answers, outputs."""

from __future__ import annotations

import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from observatoire.analyses.habitat import run
from observatoire.errors import ConfigError, InputError
from observatoire.project import open_project
from observatoire.publish.habitat import write_outputs
from observatoire.territories import referential
from observatoire.warehouse import Warehouse


@pytest.fixture(scope="module")
def project(demo_summary):
    return open_project(demo_summary.root)


@pytest.fixture(scope="module")
def result(project):
    return run(project, "pm-artois", "ru", draws=200)


def _warehouse_values(project, indicator: str, period: str) -> pd.DataFrame:
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        return wh.query(
            "SELECT territory_id, value, status FROM indicator_values WHERE level = 'commune' "
            "AND indicator_id = ? AND period = ?",
            [indicator, period],
        ).set_index("territory_id")


def test_criteria_are_the_warehouse_values_and_secrets_stay_missing(project, result) -> None:
    relative = {c.indicator: c.relative for c in result.variant.criteria}
    epci_of = referential.communes().set_index("code")["epci"]
    checked_secret = checked_relative = 0
    for info in result.criteria:
        if info.period is None:
            assert info.id not in result.values.columns  # no value anywhere: left out
            continue
        stored = _warehouse_values(project, info.id, info.period).reindex(result.values.index)
        usable = stored["status"].eq("ok") & stored["value"].notna()
        expected = stored["value"]
        if relative[info.id] == "epci":  # price index against the commune's EPCI (= 100)
            with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
                epci = wh.query(
                    "SELECT territory_id, value FROM indicator_values WHERE level = 'epci' "
                    "AND indicator_id = ? AND period = ? AND status = 'ok'",
                    [info.id, info.period],
                ).set_index("territory_id")["value"]
            expected = expected / epci_of.reindex(expected.index).map(epci).to_numpy() * 100
            checked_relative += 1
        np.testing.assert_allclose(
            result.values.loc[usable, info.id].to_numpy(), expected[usable].to_numpy()
        )
        assert result.values.loc[~usable, info.id].isna().all()
        checked_secret += int((stored["status"] == "secret").sum())
    assert checked_secret > 0  # small communes: Filosofi poverty rates are secret
    assert checked_relative == 2
    # prices: the latest year without the incomplete semester
    prices = {i.id: i.period for i in result.criteria}
    assert prices["prix_m2_median_maison"] == "2020"


def test_size_gates_decide_who_is_ranked(project, result) -> None:
    population = _warehouse_values(project, "population_legale", result.gates[0][3])
    small = population["value"].reindex(result.index.index) < 2000
    assert not result.index.loc[small, "ranked"].any()
    assert (result.index.loc[small, "reason"] == "seuil de taille non atteint").all()
    ranked = result.index[result.index["ranked"]]
    # ties share the best rank: rank = 1 + number of strictly higher scores
    scores = ranked["score"].to_numpy()
    higher = (scores[None, :] > scores[:, None] + 1e-9).sum(axis=1)
    assert (ranked["rank"].astype(int).to_numpy() == higher + 1).all()
    assert (ranked.sort_values("rank")["score"].diff().dropna() <= 1e-12).all()


def test_one_criterion_ranks_by_that_indicator(project, tmp_path) -> None:
    """Known answer: with the vacancy rate as the only criterion (min-max, no gate), the
    ranking is the order of the communes' vacancy rates."""
    (project.root / "diagnostics.yaml").write_text(
        "habitat:\n  test:\n    libelle: Test\n    description: Vacance seule.\n"
        "    dimensions: {bati: {libelle: Bâti, poids: 1}}\n"
        "    criteres:\n      - {indicateur: part_logements_vacants, dimension: bati, sens: '+'}\n"
        "    normalisation: minmax\n    ecretage: null\n    classes: 3\n",
        encoding="utf-8",
    )
    try:
        res = run(project, "200072460", "test", draws=50)
    finally:
        (project.root / "diagnostics.yaml").unlink()
    info = res.criteria[0]
    stored = _warehouse_values(project, info.id, info.period).reindex(res.index.index)
    expected = stored["value"].rank(ascending=False, method="min")
    ranked = res.index["ranked"]
    assert ranked.all()
    assert (res.index["rank"].astype(int) == expected.astype(int)).all()
    top = stored["value"].idxmax()
    assert res.index.loc[top, "priority_class"] == 1


def test_variant_errors_are_french_and_name_the_problem(project) -> None:
    with pytest.raises(InputError, match="variante « xx » inconnue"):
        run(project, "pm-artois", "xx")
    with pytest.raises(InputError, match="est une commune"):
        run(project, "62498", "ru")
    (project.root / "diagnostics.yaml").write_text(
        "habitat:\n  ru:\n    criteres:\n"
        "      - {indicateur: part_logements_vacants, dimension: bati, sens: '+'}\n"
        "  zz:\n    libelle: Z\n    description: Z.\n"
        "    dimensions: {bati: {libelle: Bâti, poids: 1}}\n"
        "    criteres:\n      - {indicateur: inconnu, dimension: bati, sens: '+'}\n",
        encoding="utf-8",
    )
    try:
        # a list replaces the default one: the other dimensions lose their criteria
        with pytest.raises(ConfigError, match=r"diagnostics\.yaml : habitat\.ru\.dimensions"):
            run(project, "pm-artois", "ru")
        (project.root / "diagnostics.yaml").write_text(
            "habitat:\n  zz:\n    libelle: Z\n    description: Z.\n"
            "    dimensions: {bati: {libelle: Bâti, poids: 1}}\n"
            "    criteres:\n      - {indicateur: inconnu, dimension: bati, sens: '+'}\n",
            encoding="utf-8",
        )
        with pytest.raises(ConfigError, match="indicateur « inconnu » absent du catalogue"):
            run(project, "pm-artois", "zz")
    finally:
        (project.root / "diagnostics.yaml").unlink()


def test_outputs_hold_the_ranking_the_map_and_the_sheets(project, result, tmp_path) -> None:
    outputs = write_outputs(project, result, out_dir=tmp_path / "h")
    names = {p.name for p in outputs.files}
    assert names == {
        "classement.xlsx",
        "classement.gpkg",
        "carte.png",
        "diagnostic.html",
        "diagnostic.pdf",
    }
    book = load_workbook(tmp_path / "h" / "classement.xlsx", read_only=True)
    assert set(book.sheetnames) == {"Classement", "Méthode", "Sensibilité", "Monte Carlo"}
    rows = list(book["Classement"].iter_rows(min_row=3, values_only=True))
    header, body = rows[0], rows[1:]
    assert len(body) == len(result.communes)
    first = dict(zip(header, body[0], strict=True))
    top = result.top()
    assert (first["code"], first["rang"]) == (top.index[0], 1)
    assert "SIMULÉES" in book["Classement"].cell(1, 1).value
    layer = gpd.read_file(tmp_path / "h" / "classement.gpkg")
    assert len(layer) == len(result.communes) and layer.geometry.notna().all()
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "h" / "diagnostic.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in top["nom"]:
        assert name in text
    assert "Méthode" in text and "Robustesse du classement" in text
    html = (tmp_path / "h" / "diagnostic.html").read_text(encoding="utf-8")
    assert html.count('class="sheet"') == len(top)
    assert 'lang="fr"' in html and 'alt="' in html


def test_cli_diagnose_habitat(project, tmp_path) -> None:
    from typer.testing import CliRunner

    from observatoire.cli import app

    runner = CliRunner()
    out = tmp_path / "cli"
    done = runner.invoke(
        app,
        [
            "diagnose",
            "habitat",
            "-p",
            str(project.root),
            "-t",
            "200044030",
            "--variante",
            "rr",
            "-o",
            str(out),
            "--format",
            "html",
        ],
    )
    assert done.exit_code == 0, done.output
    assert (out / "diagnostic.html").is_file() and not (out / "diagnostic.pdf").exists()
    command = [sys.executable, "-m", "observatoire", "diagnose", "habitat"]
    bad = subprocess.run(
        [*command, "-p", str(project.root), "-t", "nulle-part"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "nulle-part" in bad.stderr
    assert "Traceback" not in bad.stderr
