"""LOVAC (vacant private dwellings, Cerema / DGALN): source entry, restricted diffusion, facts
and indicators on small warehouses whose expected figures are computed here from the inputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import territories_of, value_row
from observatoire import catalogue as sources_catalogue
from observatoire.errors import ConfigError
from observatoire.indicators.catalogue import (
    indicator_catalogue,
    parse_catalogue,
    restricted_indicator_ids,
)
from observatoire.indicators.engine import compute

LOVAC_IDS = {
    "logements_vacants_parc_prive",
    "logements_vacants_2ans_parc_prive",
    "part_vacants_parc_prive",
    "part_vacants_2ans_parc_prive",
    "part_vacance_longue_parc_prive",
}
BETHUNE_BRUAY = "200072460"


def _approx(expected: float):
    return pytest.approx(expected, abs=1e-5)  # the table keeps 6 decimals


# --------------------------------------------------------------------------- catalogues


def test_lovac_source_is_catalogued_as_restricted() -> None:
    entry = sources_catalogue.source("lovac_communes")
    assert entry.restreint is True
    assert entry.jeux == ("lovac_communes",)
    assert "Cerema" in entry.editeur and "Licence Ouverte" in entry.licence
    assert entry.page.startswith("https://www.data.gouv.fr/")
    assert all(url.startswith("https://www.data.gouv.fr/") for url in entry.resolve(None))
    others = [s for s in sources_catalogue.sources().values() if s.id != "lovac_communes"]
    assert others and not any(s.restreint for s in others)


SOURCE = (
    "  - id: {sid}\n    titre: X\n    editeur: E\n    licence: L\n    url: https://h/x.csv\n"
    "    jeux: {jeux}\n"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SOURCE.format(sid="x", jeux="[a]") + "    restreint: oui\n", "restreint"),
        (SOURCE.format(sid="x", jeux="a"), "jeux"),
        (SOURCE.format(sid="x", jeux="[a]") + SOURCE.format(sid="y", jeux="[b, a]"), "déjà"),
    ],
)
def test_sources_validation_refuses_bad_restriction_entries(text: str, message: str) -> None:
    sources_catalogue.parse_sources("sources:\n" + SOURCE.format(sid="ok", jeux="[c]"))
    with pytest.raises(ConfigError, match=message):
        sources_catalogue.parse_sources("sources:\n" + text)


def test_shipped_lovac_indicators_are_restricted_and_census_ones_are_not() -> None:
    catalogue = indicator_catalogue()
    assert set(catalogue.indicators) >= LOVAC_IDS
    assert restricted_indicator_ids(catalogue) == LOVAC_IDS
    for iid in LOVAC_IDS:
        ind = catalogue.get(iid)
        assert ind.restricted and ind.source == "lovac" and ind.theme == "logement"
        assert "lovac_communes" in ind.restriction
        assert "1er janvier" in ind.definition and "Cerema" in ind.definition
    for iid in ("population", "population_legale", "part_logements_vacants", "tcam_population"):
        assert catalogue.get(iid).restricted is False, iid
    share = catalogue.get("part_vacants_2ans_parc_prive")
    assert share.kind == "ratio" and share.scale == 100
    assert share.variables() == {"pp_vacant_plus_2ans", "ff_pp_total", "pp_total"}


THEME = """
theme: essai
label: Essai
order: 1
indicators:
  - {id: pop, label: Population, definition: d, unit: habitants, polarity: neutral,
     kind: count, source: rp, value: "P{aa}_POP", secrecy: s}
  - {id: pop0, label: Population déclarée, definition: d, unit: habitants, polarity: neutral,
     kind: count, source: rp, value: "P{aa}_POP", secrecy: s, restreint: true}
  - {id: vac, label: Vacants, definition: d, unit: logements, polarity: negative,
     kind: count, source: lovac, value: "pp_vacant_{aa}", secrecy: s}
  - {id: vac_tx, label: Taux, definition: d, unit: "%", polarity: negative, kind: ratio,
     source: lovac, numerator: "pp_vacant_{aa}", denominator: "ff_pp_total_{aa}",
     scale: 100, secrecy: s}
  - {id: ecart, label: Écart, definition: d, unit: "%", polarity: neutral, kind: derived,
     source: lovac, expression: vac_tx * 2, secrecy: s}
  - {id: pop2, label: Double, definition: d, unit: habitants, polarity: neutral,
     kind: derived, source: rp, expression: pop * 2, secrecy: s}
"""


def test_restriction_rule_declared_dataset_and_derived() -> None:
    restricted = {"lovac_communes": "lovac_communes"}
    catalogue = parse_catalogue({"essai.yaml": THEME}, restricted=restricted)
    assert restricted_indicator_ids(catalogue) == {"pop0", "vac", "vac_tx", "ecart"}
    assert "déclaré" in catalogue.get("pop0").restriction
    assert "calculé à partir de vac_tx" in catalogue.get("ecart").restriction
    # The same catalogue when no source is restricted: only the declared entry.
    assert restricted_indicator_ids(parse_catalogue({"essai.yaml": THEME}, restricted={})) == {
        "pop0"
    }
    # A restricted census dataset restricts the census family (``rp_*``) and nothing else.
    census = parse_catalogue({"essai.yaml": THEME}, restricted={"rp_logement": "rp"})
    assert restricted_indicator_ids(census) == {"pop", "pop0", "pop2"}
    assert catalogue.get("vac").variables() == {"pp_vacant"}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('value: "P{aa}_POP", secrecy: s}', 'value: "p{aa}_pop", secrecy: s}', "minuscules"),
        ('value: "pp_vacant_{aa}"', 'value: "PP_VACANT_{aa}"', "minuscules"),
        ("secrecy: s, restreint: true}", "secrecy: s, restreint: oui}", "restreint"),
    ],
)
def test_case_of_a_variable_must_match_its_source(old: str, new: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_catalogue({"essai.yaml": THEME.replace(old, new, 1)}, restricted={})


# --------------------------------------------------------------------------- engine

# Per commune: {(variable, period): value}; None = masked by LOVAC (« s », below 11).
# The private stock (ff_pp_total) of the latest year is not in the file: it lags one year.
COMMUNES = {
    "62001": {
        ("pp_vacant", "2024"): 120,
        ("pp_vacant_plus_2ans", "2024"): 50,
        ("ff_pp_total", "2024"): 1000,
        ("pp_vacant", "2025"): 130,
        ("pp_vacant_plus_2ans", "2025"): 55,
    },
    "62002": {
        ("pp_vacant", "2024"): 30,
        ("pp_vacant_plus_2ans", "2024"): 12,
        ("ff_pp_total", "2024"): 400,
        ("pp_vacant", "2025"): 28,
        ("pp_vacant_plus_2ans", "2025"): 11,
    },
    "62003": {
        ("pp_vacant", "2024"): 600,
        ("pp_vacant_plus_2ans", "2024"): 300,
        ("ff_pp_total", "2024"): 5000,
        ("pp_vacant", "2025"): 610,
        ("pp_vacant_plus_2ans", "2025"): 320,
    },
    "62004": {
        ("pp_vacant", "2024"): 200,
        ("pp_vacant_plus_2ans", "2024"): 80,
        ("ff_pp_total", "2024"): 3000,
    },
    "62005": {
        ("pp_vacant", "2024"): 15,
        ("pp_vacant_plus_2ans", "2024"): None,  # secret
        ("ff_pp_total", "2024"): 300,
    },
}
GROUPS = {
    **{(code, "commune"): [code] for code in COMMUNES},
    ("200000001", "epci"): ["62001", "62002", "62003"],
    ("200000002", "epci"): ["62004", "62005"],
}


def _lovac_warehouse(communes: dict) -> duckdb.DuckDBPyConnection:
    """A warehouse holding ``lovac_communes`` as the load writes it."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE lovac_communes (code VARCHAR, variable VARCHAR, period VARCHAR, "
        "value DOUBLE, secret BOOLEAN, source_column VARCHAR, cog_status VARCHAR, "
        "dataset VARCHAR, vintage VARCHAR, part VARCHAR)"
    )
    for code, cells in communes.items():
        for (variable, period), value in cells.items():
            con.execute(
                "INSERT INTO lovac_communes VALUES (?, ?, ?, ?, ?, ?, 'ok', 'lovac_communes', "
                "'2020-2025', '')",
                [code, variable, period, value, value is None, f"{variable}_{period[2:]}"],
            )
    return con


_territories = territories_of


def _lovac_table(con: duckdb.DuckDBPyConnection, groups=GROUPS) -> pd.DataFrame:
    catalogue = indicator_catalogue()
    wanted = [catalogue.get(i) for i in sorted(LOVAC_IDS)]
    return compute(con, catalogue, _territories(groups), wanted, cog_vintage=2025)


_value = value_row


def _sum(codes: list[str], variable: str, period: str) -> float:
    return float(sum(COMMUNES[c][(variable, period)] for c in codes))


def test_lovac_ratios_are_ratios_of_sums_over_the_epci() -> None:
    table = _lovac_table(_lovac_warehouse(COMMUNES))
    codes = GROUPS[("200000001", "epci")]
    vacant = _sum(codes, "pp_vacant", "2024")
    long = _sum(codes, "pp_vacant_plus_2ans", "2024")
    stock = _sum(codes, "ff_pp_total", "2024")
    assert (vacant, long, stock) == (750, 362, 6400)
    count = _value(table, "200000001", "logements_vacants_parc_prive", "2024")
    assert (count["status"], count["value"]) == ("ok", vacant)
    share = _value(table, "200000001", "part_vacants_2ans_parc_prive", "2024")
    assert share["status"] == "ok"
    assert share["value"] == _approx(long / stock * 100)
    assert (share["numerator"], share["denominator"]) == (long, stock)
    mean_of_rates = sum(
        COMMUNES[c][("pp_vacant_plus_2ans", "2024")] / COMMUNES[c][("ff_pp_total", "2024")]
        for c in codes
    ) / len(codes)
    assert abs(share["value"] - mean_of_rates * 100) > 0.1
    rate = _value(table, "200000001", "part_vacants_parc_prive", "2024")
    assert rate["value"] == _approx(vacant / stock * 100)
    # 2025: the file has no private stock of 2025 — no rate, never 2025 vacants / 2024 stock.
    assert table[
        (table["indicator_id"] == "part_vacants_2ans_parc_prive") & (table["period"] == "2025")
    ].empty
    weight = _value(table, "200000001", "part_vacance_longue_parc_prive", "2025")
    expected = _sum(codes, "pp_vacant_plus_2ans", "2025") / _sum(codes, "pp_vacant", "2025")
    assert weight["value"] == _approx(expected * 100)
    assert set(table["source"]) == {
        "Cerema / DGALN, LOVAC 2020-2025 (logements vacants du parc privé)"
    }


def test_secret_commune_withholds_the_epci_total_and_is_never_zero() -> None:
    table = _lovac_table(_lovac_warehouse(COMMUNES))
    commune = _value(table, "62005", "logements_vacants_2ans_parc_prive", "2024")
    assert commune["status"] == "secret" and pd.isna(commune["value"])
    total = _value(table, "200000002", "logements_vacants_2ans_parc_prive", "2024")
    assert total["status"] == "incomplete"
    assert pd.isna(total["value"])  # 80 would be an under-count, not the EPCI's figure
    assert (total["members"], total["members_with_value"]) == (2, 1)
    share = _value(table, "200000002", "part_vacants_2ans_parc_prive", "2024")
    assert share["status"] == "incomplete" and pd.isna(share["value"])  # 1 of 2 < 95 %
    # The other variable of the same commune is published: the EPCI figure is whole.
    vacant = _value(table, "200000002", "logements_vacants_parc_prive", "2024")
    assert (vacant["status"], vacant["value"]) == ("ok", 215)


def test_partial_share_covers_the_other_communes_when_nearly_all_count() -> None:
    codes = [f"62{n:03d}" for n in range(101, 121)]
    communes = {
        code: {
            ("pp_vacant_plus_2ans", "2024"): 20.0 + n,
            ("ff_pp_total", "2024"): 500.0 + 10 * n,
        }
        for n, code in enumerate(codes)
    }
    communes[codes[-1]][("pp_vacant_plus_2ans", "2024")] = None  # one secret of twenty
    groups = {("200000003", "epci"): codes}
    row = _value(
        _lovac_table(_lovac_warehouse(communes), groups),
        "200000003",
        "part_vacants_2ans_parc_prive",
        "2024",
    )
    assert row["status"] == "incomplete"
    assert (row["members"], row["members_with_value"]) == (20, 19)
    covered = codes[:-1]
    long = sum(communes[c][("pp_vacant_plus_2ans", "2024")] for c in covered)
    stock = sum(communes[c][("ff_pp_total", "2024")] for c in covered)
    # The secret commune is out of both sums, never read as 0 vacant dwellings.
    assert row["value"] == _approx(long / stock * 100)


def test_older_editions_private_stock_column_pp_total_is_read() -> None:
    communes = {
        "62001": {("pp_vacant", "2023"): 90, ("pp_total", "2023"): 1200},
        "62002": {("pp_vacant", "2023"): 40, ("pp_total", "2023"): 800},
    }
    groups = {("200000001", "epci"): ["62001", "62002"]}
    table = _lovac_table(_lovac_warehouse(communes), groups)
    row = _value(table, "200000001", "part_vacants_parc_prive", "2023")
    assert row["value"] == _approx((90 + 40) / (1200 + 800) * 100)


# --------------------------------------------------------------------------- from the file


def test_official_layout_file_loaded_gives_the_epci_figures(tmp_path: Path) -> None:
    """A communal file in LOVAC's layout (« s » cells, stock lagging one year) → load →
    facts → engine, for the communes of the CA de Béthune-Bruay."""
    from observatoire.loading import load_paths
    from observatoire.project import init_project, open_project
    from observatoire.territories import referential
    from observatoire.warehouse import Warehouse

    communes = referential.communes()
    codes = sorted(communes.loc[communes["epci"] == BETHUNE_BRUAY, "code"])
    assert len(codes) > 50
    rows, expected = [], {"v24": 0, "l24": 0, "t24": 0, "v25": 0}
    for n, code in enumerate(codes):
        vacant24, long24, stock24, vacant25 = 40 + n, 15 + n % 7, 900 + 3 * n, 41 + n
        cells = [str(vacant24), str(long24), str(stock24), str(vacant25)]
        if code == codes[-1]:
            cells[1] = "s"  # the 2024 long-term count of the last commune is masked
        else:
            expected["l24"] += long24
        expected["v24"] += vacant24
        expected["t24"] += stock24
        expected["v25"] += vacant25
        rows.append(f"{code};Commune {n};{';'.join(cells)}")
    header = "CODGEO_25;LIBGEO_25;pp_vacant_24;pp_vacant_plus_2ans_24;ff_pp_total_24;pp_vacant_25"
    path = tmp_path / "lovac-opendata-communes25.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="cp1252")

    project = open_project(init_project(tmp_path / "p"))
    (load,) = load_paths(project, [path])
    assert load.dataset == "lovac_communes"
    groups = {(BETHUNE_BRUAY, "epci"): codes, (codes[-1], "commune"): [codes[-1]]}
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        table = _lovac_table(warehouse.con, groups)
    vacant = _value(table, BETHUNE_BRUAY, "logements_vacants_parc_prive", "2024")
    assert (vacant["status"], vacant["value"]) == ("ok", expected["v24"])
    assert (
        _value(table, BETHUNE_BRUAY, "logements_vacants_parc_prive", "2025")["value"]
        == (expected["v25"])
    )
    rate = _value(table, BETHUNE_BRUAY, "part_vacants_parc_prive", "2024")
    assert rate["value"] == _approx(expected["v24"] / expected["t24"] * 100)
    long = _value(table, BETHUNE_BRUAY, "logements_vacants_2ans_parc_prive", "2024")
    assert long["status"] == "incomplete" and pd.isna(long["value"])
    masked = _value(table, codes[-1], "logements_vacants_2ans_parc_prive", "2024")
    assert masked["status"] == "secret" and pd.isna(masked["value"])
    share = _value(table, BETHUNE_BRUAY, "part_vacants_2ans_parc_prive", "2024")
    assert share["status"] == "incomplete"  # 99 communes of 100 cover the share
    last_stock = 900 + 3 * (len(codes) - 1)
    assert share["value"] == _approx(expected["l24"] / (expected["t24"] - last_stock) * 100)
    assert (
        table[table["period"] == "2025"]["indicator_id"]
        .isin({"logements_vacants_parc_prive"})
        .all()
    )


# --------------------------------------------------------------------------- exports, CLI


def test_agency_workbook_keeps_restricted_indicators_and_says_so(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from observatoire.indicators.export import export

    table = _lovac_table(_lovac_warehouse(COMMUNES))
    census = _value(table, "62001", "logements_vacants_parc_prive", "2024").copy()
    census["indicator_id"], census["source"] = "population", "INSEE, recensement 2021"
    table = pd.concat([table, census.to_frame().T], ignore_index=True)
    path = export(table, tmp_path / "t.xlsx", "xlsx", catalogue=indicator_catalogue())
    workbook = load_workbook(path, read_only=True)
    definitions = list(workbook["Définitions"].iter_rows(values_only=True))
    assert definitions[0][-1] == "Diffusion"
    diffusion = {row[0]: row[-1] for row in definitions[1:]}
    assert {i for i, d in diffusion.items() if d == "diffusion restreinte"} == LOVAC_IDS
    assert not diffusion["population"]
    sources = list(workbook["Sources"].iter_rows(values_only=True))
    assert sources[0][-1] == "Diffusion"
    assert {row[-1] for row in sources[1:] if row[0] in LOVAC_IDS} == {"diffusion restreinte"}


def test_catalogue_commands_show_the_restriction_in_french() -> None:
    env = {**os.environ, "COLUMNS": "250"}

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "observatoire", "catalogue", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    shown = run("show", "part_vacants_2ans_parc_prive")
    assert "Diffusion restreinte" in shown and "lovac_communes" in shown
    assert "Diffusion restreinte" not in run("show", "population")
    listed = run("list", "--theme", "logement")
    lines = [line for line in listed.splitlines() if "diffusion restreinte" in line]
    assert {iid for iid in LOVAC_IDS if any(iid in line for line in lines)} == LOVAC_IDS
    assert "diffusion restreinte" in run("list", "--sources")
