"""OPAH pre-diagnostic at the IRIS level: catalogue definitions evaluated on IRIS source rows.

The IRIS census base and the Filosofi « disponible » IRIS file are generated here (small,
seeded); the real Filosofi « déclaré » IRIS file is loaded beside them when present, to check
that its poverty rate (another income concept) never enters the index."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import SHARED_DATA
from observatoire.analyses.habitat import run
from observatoire.errors import InputError
from observatoire.indicators.build import build
from observatoire.loading import load_paths
from observatoire.project import init_project, open_project
from observatoire.publish.habitat import write_outputs
from observatoire.warehouse import Warehouse

LENS = [f"62498{n:04d}" for n in range(101, 108)]
LIEVIN = [f"62510{n:04d}" for n in range(101, 105)]
SECRET_TP60 = LENS[3]
BASE_COLUMNS = ["IRIS", "COM", "TYP_IRIS", "LAB_IRIS", "P21_LOG", "P21_RP", "P21_LOGVAC"]
BASE_COLUMNS += ["P21_RP_PROP", "P21_RP_LOC", "P21_RP_SDB", "P21_RP_ACHTOT", "P21_RP_ACH19"]
BASE_COLUMNS += ["P21_RP_ACH45", "P21_MAISON"]


def _census_base(path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for code in LENS + LIEVIN:
        log = int(rng.integers(400, 2500))
        vac = int(rng.integers(20, 250))
        rp = log - vac - 10
        ach = rp - 5
        rows.append(
            {
                "IRIS": code,
                "COM": code[:5],
                "TYP_IRIS": "H",
                "LAB_IRIS": "1",
                "P21_LOG": log,
                "P21_RP": rp,
                "P21_LOGVAC": vac,
                "P21_RP_PROP": int(rng.integers(0, rp)),
                "P21_RP_LOC": int(rng.integers(0, rp)),
                "P21_RP_SDB": rp - int(rng.integers(0, 30)),
                "P21_RP_ACHTOT": ach,
                "P21_RP_ACH19": int(rng.integers(0, ach // 3)),
                "P21_RP_ACH45": int(rng.integers(0, ach // 3)),
                "P21_MAISON": int(rng.integers(0, log)),
            }
        )
    frame = pd.DataFrame(rows, columns=BASE_COLUMNS)
    frame.to_csv(path, sep=";", index=False)
    return frame


def _disp(path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(8)
    rows = []
    for code in LENS + LIEVIN:
        med = int(rng.integers(13000, 24000))
        tp60 = "s" if code == SECRET_TP60 else f"{rng.uniform(8, 45):.1f}".replace(".", ",")
        rows.append([code, tp60, med - 3000, med, med + 4000, med - 7000, med + 12000])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        header = ["IRIS", "DISP_TP6021", "DISP_Q121", "DISP_MED21", "DISP_Q321"]
        writer.writerow([*header, "DISP_D121", "DISP_D921"])
        writer.writerows(rows)
    return pd.DataFrame(rows, columns=["IRIS", "TP60", "Q1", "MED", "Q3", "D1", "D9"])


@pytest.fixture(scope="module")
def iris_project(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("iris")
    base = _census_base(folder / "base-ic-logement-2021.CSV")
    disp = _disp(folder / "BASE_TD_FILO_IRIS_2021_DISP.csv")
    files = [folder / "base-ic-logement-2021.CSV", folder / "BASE_TD_FILO_IRIS_2021_DISP.csv"]
    dec = SHARED_DATA / "filosofi" / "BASE_TD_FILO_IRIS_2021_DEC.csv"
    if dec.is_file():
        files.append(dec)
    project = open_project(init_project(folder / "p"))
    load_paths(project, files)
    build(project)
    return project, base.set_index("IRIS"), disp.set_index("IRIS"), folder


def test_iris_criteria_follow_the_catalogue_definitions(iris_project) -> None:
    project, base, disp, _ = iris_project
    result = run(project, "62498", "ru", level="iris", draws=50)
    assert list(result.values.index) == LENS
    expected = base.loc[LENS, "P21_LOGVAC"] / base.loc[LENS, "P21_LOG"] * 100
    np.testing.assert_allclose(result.values["part_logements_vacants"], expected.to_numpy())
    old = base.loc[LENS, ["P21_RP_ACH19", "P21_RP_ACH45"]].sum(axis=1)
    np.testing.assert_allclose(
        result.values["part_rp_avant_1946"], (old / base.loc[LENS, "P21_RP_ACHTOT"] * 100)
    )
    # the poverty rate is the « disponible » one; the secret cell stays missing
    tp60 = result.values["taux_pauvrete"]
    assert np.isnan(tp60[SECRET_TP60])
    others = [c for c in LENS if c != SECRET_TP60]
    wanted = disp.loc[others, "TP60"].str.replace(",", ".").astype(float)
    np.testing.assert_allclose(tp60[others].to_numpy(), wanted.to_numpy())
    infos = {i.id: i for i in result.criteria}
    assert "revenus disponibles" in infos["taux_pauvrete"].source
    assert infos["prix_m2_median_maison"].period is None
    assert "non disponible à l'IRIS" in infos["prix_m2_median_maison"].source
    assert "tcam_population" not in result.values.columns  # no value anywhere: left out
    assert {i.id for i in result.used} == set(result.values.columns)


def test_iris_gate_that_needs_the_commune_uses_the_commune(iris_project) -> None:
    project, base, _, _ = iris_project
    result = run(project, "62498", "ru", level="iris", draws=50)
    labels = {g[0]: g[2] for g in result.gates}
    assert labels["population_legale"].endswith("(commune)")  # Lens: > 2 000 inhabitants
    vacant = base.loc[LENS, "P21_LOGVAC"]
    assert (result.index["eligible"] == (vacant >= 50).to_numpy()).all()


def test_a_territory_of_communes_compares_all_their_iris(iris_project) -> None:
    project, _, _, _ = iris_project
    result = run(project, "246200364", "ru", level="iris", draws=50)  # CA de Lens-Liévin
    assert sorted(result.values.index) == sorted(LENS + LIEVIN)
    assert result.index["ranked"].sum() > 0
    with pytest.raises(InputError, match="aucune donnée IRIS"):
        run(project, "200072460", "ru", level="iris")  # CA Béthune-Bruay: no IRIS loaded


def test_iris_outputs_with_and_without_contours(iris_project) -> None:
    project, _, _, folder = iris_project
    plain = write_outputs(
        project,
        run(project, "62498", "ru", level="iris", draws=50),
        out_dir=folder / "a",
        formats=("html",),
    )
    assert {p.name for p in plain.files} == {"classement.xlsx", "diagnostic.html"}
    assert "contours des IRIS non fournis" in (folder / "a" / "diagnostic.html").read_text()
    squares = gpd.GeoDataFrame(
        {"code_iris": LENS},
        geometry=[shapely.box(2.8 + i * 0.01, 50.4, 2.81 + i * 0.01, 50.41) for i in range(7)],
        crs=4326,
    )
    squares.to_file(folder / "contours.geojson")
    result = run(
        project, "62498", "ru", level="iris", contours=folder / "contours.geojson", draws=50
    )
    done = write_outputs(project, result, out_dir=folder / "b", formats=("html",))
    assert {p.name for p in done.files} >= {"classement.gpkg", "carte.png"}
    layer = gpd.read_file(folder / "b" / "classement.gpkg")
    assert sorted(layer["code"]) == LENS


def test_iris_rows_never_become_communal_figures(iris_project, shared_data) -> None:
    """An IRIS base shares the census variable names: the communal indicators must not pick
    it as their edition (it would hide the communal files)."""
    from conftest import shared_file

    project, _, _, _ = iris_project
    comparateur = shared_file(shared_data, "insee_rp/base_cc_comparateur_RP2018_csv.zip")
    load_paths(project, [comparateur])
    build(project)
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        rows = wh.query(
            "SELECT period, status, source FROM indicator_values WHERE territory_id = '62498' "
            "AND level = 'commune' AND indicator_id = 'part_logements_vacants'"
        )
    assert "2018" in set(rows["period"])
    assert not rows["source"].str.contains("IRIS").any()
