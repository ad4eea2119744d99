"""The demo: a complete Artois project built offline from the embedded referential."""

from __future__ import annotations

import html
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

from observatoire.demo import run_demo
from observatoire.territories import referential
from observatoire.warehouse import Warehouse


@pytest.fixture(scope="module")
def demo(demo_summary):
    return demo_summary


def test_demo_builds_project_warehouse_and_outputs(demo) -> None:
    root = demo.root
    assert (root / "observatoire.toml").is_file()
    assert (root / "territoires.yaml").is_file()
    assert demo.warehouse.is_file()
    for path, _ in demo.outputs:
        assert path.is_file() and path.stat().st_size > 0
    with Warehouse(demo.warehouse, read_only=True) as wh:
        lineage = wh.lineage()
        tables = set(wh.tables())
    assert {"ref_communes", "territories", "territory_communes", "population_legale"} <= tables
    populations = lineage[lineage["dataset"] == "population_legale"]
    assert set(populations["origin"]) == {"real"}
    assert set(populations["cog_vintage"]) == {2025}
    pops = referential.populations()
    national = pops[~pops["code"].str.startswith("976")]
    assert sorted(populations["vintage"].astype(int)) == sorted(national["annee"].unique())
    # Every other source is simulated, and the lineage says so.
    others = lineage[lineage["dataset"] != "population_legale"]
    assert len(others) >= 5
    assert set(others["origin"]) == {"simulated"}
    assert {"insee_rp", "filosofi", "dvf"} <= set(others["table_name"])


def _populations(path: Path) -> pd.DataFrame:
    out = pd.read_csv(path, dtype={"territory_id": str, "period": str})
    out = out[out["indicator_id"] == "population_legale"].copy()
    out["period"] = out["period"].astype(int)
    return out


def test_territory_population_is_the_sum_of_its_communes(demo) -> None:
    out = _populations(demo.outputs[0][0])
    pops = referential.populations()
    com = referential.communes()
    # A vintage already at COG 2025 needs no recoding: its EPCI sum is checked directly.
    year = int(pops.loc[pops["cog"] == referential.REFERENTIAL_COG, "annee"].max())
    members = set(com.loc[com["epci"] == "200072460", "code"])
    expected = pops[(pops["annee"] == year) & pops["code"].isin(members)]["population"].sum()
    row = out[(out["territory_id"] == "200072460") & (out["period"] == year)].iloc[0]
    assert row["value"] == expected
    assert row["status"] == "ok"
    assert row["level"] == "epci"
    # The Pôle métropolitain is the sum of its three EPCI, every vintage.
    pm = out[out["territory_id"] == "pm-artois"].set_index("period")["value"]
    epcis = out[out["territory_id"].isin(["200072460", "246200364", "246200299"])]
    sums = epcis.groupby("period")["value"].sum(min_count=3)
    both = pm.notna() & sums.notna()
    assert both.sum() >= 5  # at least five vintages are complete for the whole pôle
    assert (sums[both] == pm[both]).all()
    assert pm.isna().equals(sums.isna())
    # Required indicator-table columns.
    for column in (
        "territory_id",
        "territory_label",
        "level",
        "indicator_id",
        "period",
        "value",
        "unit",
        "numerator",
        "denominator",
        "status",
        "source",
        "cog_vintage",
    ):
        assert column in out.columns
    assert set(out["status"]) <= {"ok", "incomplete", "missing"}
    assert out.loc[out["status"] != "ok", "value"].isna().all()  # never a partial sum
    assert out["source"].str.contains("INSEE").all()


def test_france_total_is_complete_only_when_every_commune_has_a_figure(demo) -> None:
    out = _populations(demo.outputs[0][0])
    pops = referential.populations()
    france = out[out["territory_id"] == "FR"].set_index("period")
    # PL 2023 is published at COG 2025: France = every commune, Mayotte at its 2017 census
    # (its legal population in force).
    year = int(pops.loc[pops["cog"] == referential.REFERENTIAL_COG, "annee"].max())
    mayotte = pops[pops["code"].str.startswith("976") & (pops["annee"] == 2017)]
    national = pops[(pops["annee"] == year) & ~pops["code"].str.startswith("976")]
    assert france.loc[year, "status"] == "ok"
    assert france.loc[year, "value"] == national["population"].sum() + mayotte["population"].sum()
    assert "Mayotte" in france.loc[year, "source"]
    # Vintages with an unresolved old code are withheld, never under-counted.
    for period, row in france.iterrows():
        assert (row["status"] == "ok") == pd.notna(row["value"]), period


def test_geopackage_layers(demo) -> None:
    gpkg = demo.outputs[1][0]
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert layers == {"communes", "territoires"}
    territories = pyogrio.read_dataframe(gpkg, layer="territoires")
    assert "pm-artois" in set(territories["territory_id"])
    assert territories.geometry.is_valid.all()


def test_demo_again_is_idempotent(demo) -> None:
    again = run_demo(demo.root)
    assert all(load.skipped for load in again.loads)
    pd.testing.assert_frame_equal(
        again.populations.reset_index(drop=True), demo.populations.reset_index(drop=True)
    )
    # Nothing changed: the build recomputes no indicator.
    assert again.build is not None and again.build.recomputed == []
    assert len(demo.build.recomputed) == len(demo.build.recomputed + demo.build.unchanged)


def test_demo_indicators_from_simulated_sources_say_so(demo) -> None:
    table = demo.indicators
    census = table[(table["indicator_id"] == "taux_chomage_1564") & table["value"].notna()]
    assert not census.empty
    assert set(census["origin"]) == {"simulated"}
    legal = table[table["indicator_id"] == "population_legale"]
    assert set(legal["origin"]) == {"real"}
    from openpyxl import load_workbook

    workbook = load_workbook(demo.outputs[2][0], read_only=True)
    sources = list(workbook["Sources"].iter_rows(values_only=True))
    kinds = {row[0]: row[3] for row in sources[1:]}
    assert kinds["taux_chomage_1564"] == "SIMULÉES"
    assert kinds["population_legale"] == "réelles"
    report = html.unescape(demo.outputs[3][0].read_text(encoding="utf-8"))
    assert "Pôle Métropolitain de l'Artois" in report
    assert "Données simulées" in report


def test_demo_command_prints_what_it_built(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "observatoire", "demo", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "Pôle Métropolitain de l'Artois" in result.stdout
    assert "indicateurs.csv" in result.stdout
    assert "chiffres-cles.xlsx" in result.stdout
    assert "territoires.gpkg" in result.stdout
    assert "Données simulées" in result.stdout


def test_demo_with_insee_events_resolves_every_old_code(tmp_path: Path, shared_data: Path) -> None:
    from conftest import shared_file

    events = shared_file(shared_data, "cog/v_mvt_commune_2025_from_COGiter.csv")
    summary = run_demo(tmp_path / "insee", events_path=events)
    assert summary.method == "insee"
    assert all(count == 0 for count in summary.unresolved.values())
    with Warehouse(summary.warehouse, read_only=True) as wh:
        sources = wh.lineage()["source"]
        # The CA de Béthune-Bruay is complete at every vintage but PL 2016 (package gaps).
        rows = wh.query(
            "SELECT CAST(period AS INTEGER) AS period, value, status FROM indicator_values "
            "WHERE territory_id = '200072460' AND indicator_id = 'population_legale' "
            "ORDER BY period"
        )
    populations = sources[sources.str.contains("populations légales")]
    assert len(populations) >= 5
    assert populations.str.contains("événements INSEE").all()
    assert (rows.loc[rows["period"] >= 2019, "status"] == "ok").all()
