"""Indicator catalogue validation and engine rules on small hand-made warehouses."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import territories_of, value_row
from observatoire.errors import ConfigError
from observatoire.indicators.catalogue import indicator_catalogue, parse_catalogue
from observatoire.indicators.docs import render_dictionary
from observatoire.indicators.engine import compute
from observatoire.indicators.variables import unknown_variables

ROOT = Path(__file__).resolve().parents[1]

THEME = """
theme: essai
label: Essai
order: 1
indicators:
  - {id: pop, label: Population, definition: d, unit: habitants, polarity: neutral,
     kind: count, source: rp, value: "P{aa}_POP", secrecy: s, decimals: 0}
  - {id: part_vac, label: Vacance, definition: d, unit: "%", polarity: negative,
     kind: ratio, source: rp, numerator: "P{aa}_LOGVAC", denominator: "P{aa}_LOG",
     scale: 100, secrecy: s}
  - {id: tcam, label: TCAM, definition: d, unit: "%/an", polarity: positive,
     kind: growth, source: rp, stock: "P{aa}_POP", secrecy: s}
  - {id: tx_sn, label: Solde naturel, definition: d, unit: "%/an", polarity: positive,
     kind: growth, source: rp, stock: "P{aa}_POP", flow: "NAIS{p} - DECE{p}",
     measure: flow_rate, scale: 100, secrecy: s}
  - {id: tx_sm, label: Solde migratoire, definition: d, unit: "%/an", polarity: positive,
     kind: derived, source: rp, expression: tcam - tx_sn, secrecy: s}
  - {id: med, label: Médiane, definition: d, unit: "€", polarity: positive,
     kind: non_additive, source: filosofi, value: "MED{aa}",
     levels: [commune, epci, departement, region], secrecy: s}
  - {id: menfisc, label: Ménages fiscaux, definition: d, unit: ménages, polarity: neutral,
     kind: count, source: filosofi, value: "NBMENFISC{aa}",
     threshold: {variable: "NBMENFISC{aa}", min: 50}, secrecy: s}
  - {id: sup, label: Diplômés du supérieur, definition: d, unit: "%", polarity: positive,
     kind: ratio, source: rp,
     numerator: ["P{aa}_NSCOL15P_SUP2 + P{aa}_NSCOL15P_SUP34", "P{aa}_NSCOL15P_SUP"],
     denominator: "P{aa}_NSCOL15P", scale: 100, secrecy: s}
"""


def _approx(expected: float):
    return pytest.approx(expected, abs=1e-5)  # the table keeps 6 decimals


def _catalogue(text: str = THEME):
    return parse_catalogue({"essai.yaml": text})


def _warehouse(rows: list[tuple], filosofi: list[tuple] = ()) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    columns = "code, variable, period, value, secret, cog_status, dataset, vintage"
    con.execute(
        "CREATE TABLE insee_rp (code VARCHAR, variable VARCHAR, period VARCHAR, value DOUBLE, "
        "secret BOOLEAN, source_column VARCHAR, cog_status VARCHAR, dataset VARCHAR, "
        "vintage VARCHAR, part VARCHAR)"
    )
    con.execute("CREATE TABLE filosofi AS SELECT * FROM insee_rp LIMIT 0")
    for table, data in (("insee_rp", rows), ("filosofi", filosofi)):
        for row in data:
            code, variable, period, value, *rest = row
            secret = rest[0] if rest else False
            status = rest[1] if len(rest) > 1 else "ok"
            dataset = (
                rest[2] if len(rest) > 2 else ("rp_test" if table == "insee_rp" else "filosofi_com")
            )
            con.execute(
                f"INSERT INTO {table} ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [code, variable, period, value, secret, status, dataset, "2021"],
            )
    return con


_territories = territories_of


GROUPS = {
    ("01001", "commune"): ["01001"],
    ("01002", "commune"): ["01002"],
    ("01003", "commune"): ["01003"],
    ("200000001", "epci"): ["01001", "01002"],
    ("grp", "custom"): ["01001", "01002", "01003"],
}


_value = value_row


def _run(con, groups=GROUPS, catalogue=None) -> pd.DataFrame:
    catalogue = catalogue or _catalogue()
    return compute(con, catalogue, _territories(groups), cog_vintage=2025)


# --------------------------------------------------------------------------- catalogue


def test_shipped_catalogue_covers_the_themes_and_every_variable_exists() -> None:
    catalogue = indicator_catalogue()
    assert len(catalogue.indicators) >= 70
    expected = {"population", "menages", "logement", "emploi", "formation", "revenus"}
    assert expected | {"equipements", "etablissements"} <= set(catalogue.themes)
    assert unknown_variables(catalogue) == []
    kinds = {i.kind for i in catalogue.indicators.values()}
    assert kinds == {"count", "ratio", "growth", "derived", "non_additive"}
    for ind in catalogue.indicators.values():
        assert ind.definition and ind.label and ind.secrecy and ind.unit, ind.id


def test_generated_dictionary_is_up_to_date() -> None:
    on_disk = (ROOT / "docs" / "indicateurs.md").read_text(encoding="utf-8")
    assert on_disk == render_dictionary(indicator_catalogue()), (
        "docs/indicateurs.md est périmé : python scripts/build_indicator_docs.py"
    )
    for iid in indicator_catalogue().indicators:
        assert f"(`{iid}`)" in on_disk


def test_unknown_variable_is_reported() -> None:
    text = THEME.replace('value: "P{aa}_POP"', 'value: "P{aa}_POPX"')
    problems = unknown_variables(_catalogue(text))
    assert problems == [("pop", "P{aa}_POPX")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("kind: count, source: rp, value", "kind: comptage, source: rp, value"), "kind"),
        (("expression: tcam - tx_sn", "expression: tcam - inconnu"), "inconnu"),
        (("expression: tcam - tx_sn", "expression: tcam - (tx_sn"), "parenthèse"),
        (('flow: "NAIS{p} - DECE{p}"', 'flow: "NAIS{p} - P{aa}_POP"'), "mêle"),
        (("polarity: negative", "polarity: mauvaise"), "polarity"),
        (("scale: 100, secrecy: s}", "scale: 100, secret: s}"), "clé"),
    ],
)
def test_invalid_entries_are_refused_with_the_file_and_indicator(change, message) -> None:
    old, new = change
    with pytest.raises(ConfigError) as info:
        _catalogue(THEME.replace(old, new, 1))
    assert "essai.yaml" in str(info.value)
    assert message in str(info.value)


def test_cycle_between_derived_indicators_is_refused() -> None:
    text = THEME.replace("expression: tcam - tx_sn", "expression: tcam - autre") + (
        "  - {id: autre, label: A, definition: d, unit: '%', polarity: neutral, kind: derived,"
        " source: rp, expression: tx_sm + 1, secrecy: s}\n"
    )
    with pytest.raises(ConfigError, match="cycle"):
        _catalogue(text)


# --------------------------------------------------------------------------- engine


def _census() -> list[tuple]:
    return [
        ("01001", "P_POP", "2015", 1000.0),
        ("01001", "P_POP", "2021", 1100.0),
        ("01002", "P_POP", "2015", 3000.0),
        ("01002", "P_POP", "2021", 2900.0),
        ("01003", "P_POP", "2015", 500.0),
        ("01003", "P_POP", "2021", None, True),  # secret
        ("01001", "P_LOG", "2021", 500.0),
        ("01001", "P_LOGVAC", "2021", 50.0),
        ("01002", "P_LOG", "2021", 1500.0),
        ("01002", "P_LOGVAC", "2021", 300.0),
        ("01003", "P_LOG", "2021", 0.0),
        ("01003", "P_LOGVAC", "2021", 0.0),
        ("01001", "NAIS", "2015-2020", 80.0),
        ("01001", "DECE", "2015-2020", 60.0),
        ("01002", "NAIS", "2015-2020", 150.0),
        ("01002", "DECE", "2015-2020", 200.0),
    ]


def test_ratio_is_ratio_of_sums_and_never_a_mean_of_rates() -> None:
    table = _run(_warehouse(_census()))
    epci = _value(table, "200000001", "part_vac", "2021")
    assert epci["status"] == "ok"
    assert epci["value"] == _approx(350 / 2000 * 100)
    mean_of_rates = (50 / 500 * 100 + 300 / 1500 * 100) / 2
    assert abs(epci["value"] - mean_of_rates) > 1
    assert (epci["numerator"], epci["denominator"]) == (350, 2000)


def test_zero_denominator_has_no_value_and_is_not_ok() -> None:
    row = _value(_run(_warehouse(_census())), "01003", "part_vac", "2021")
    assert pd.isna(row["value"]) and row["status"] == "missing"


def test_secret_member_makes_totals_withheld_and_rates_partial() -> None:
    table = _run(_warehouse(_census()))
    commune = _value(table, "01003", "pop", "2021")
    assert commune["status"] == "secret" and pd.isna(commune["value"])
    group_pop = _value(table, "grp", "pop", "2021")
    assert group_pop["status"] == "incomplete"
    assert pd.isna(group_pop["value"])  # 4 000 would be an under-count, not the population
    group_growth = _value(table, "grp", "tcam", "2015-2021")
    assert group_growth["status"] == "incomplete"
    assert (group_growth["members"], group_growth["members_with_value"]) == (3, 2)
    # Two communes of three are not the territory: no rate below 95 % of the members.
    assert pd.isna(group_growth["value"])


def test_partial_rate_is_given_when_nearly_every_member_counts() -> None:
    codes = [f"01{n:03d}" for n in range(1, 21)]
    rows = []
    for n, code in enumerate(codes):
        rows += [(code, "P_LOG", "2021", 100.0 + n), (code, "P_LOGVAC", "2021", 10.0)]
    rows[-1] = (codes[-1], "P_LOGVAC", "2021", None, True)  # one secret member of twenty
    groups = {("g", "custom"): codes}
    row = _value(_run(_warehouse(rows), groups=groups), "g", "part_vac", "2021")
    assert row["status"] == "incomplete"
    assert (row["members"], row["members_with_value"]) == (20, 19)
    logements = sum(100.0 + n for n in range(19))
    # The covered members only: the secret commune is out of both sums, never read as 0.
    assert row["value"] == _approx(190 / logements * 100)


def test_growth_uses_the_exact_number_of_years_and_flags_close_vintages() -> None:
    rows = [*_census(), ("01001", "P_POP", "2019", 1080.0), ("01002", "P_POP", "2019", 2950.0)]
    con = _warehouse(rows)
    table = _run(con)
    epci = _value(table, "200000001", "tcam", "2015-2019")
    assert epci["value"] == _approx(((4030 / 4000) ** (1 / 4) - 1) * 100)
    assert epci["flags"] == "millesimes_rapproches"
    later = _value(table, "200000001", "tcam", "2019-2021")
    assert later["flags"] == "millesimes_rapproches"


def test_natural_balance_rate_and_additive_decomposition() -> None:
    table = _run(_warehouse(_census()))
    p0, p1, births, deaths, years = 4000.0, 4000.0, 230.0, 260.0, 6
    log_mean = p0 if p0 == p1 else (p1 - p0) / math.log(p1 / p0)
    natural = _value(table, "200000001", "tx_sn", "2015-2021")
    assert natural["value"] == _approx((births - deaths) / (years * log_mean) * 100)
    total = _value(table, "200000001", "tcam", "2015-2021")["value"]
    migration = _value(table, "200000001", "tx_sm", "2015-2021")
    assert migration["value"] == _approx(total - natural["value"])
    # Births of 2015-2020 are those between the 2015 and 2021 censuses (INSEE naming).
    commune = _value(table, "01001", "tx_sn", "2015-2021")
    p0, p1 = 1000.0, 1100.0
    log_mean = (p1 - p0) / math.log(p1 / p0)
    assert commune["value"] == _approx(20 / (6 * log_mean) * 100)


def test_medians_are_never_averaged_but_published_levels_are_used() -> None:
    filo = [
        ("01001", "MED", "2021", 20000.0),
        ("01002", "MED", "2021", 24000.0),
        ("01003", "MED", "2021", None, True),
        ("200000001", "MED", "2021", 22500.0, False, "ok", "filosofi_epci"),
    ]
    table = _run(_warehouse(_census(), filo))
    assert _value(table, "01001", "med", "2021")["value"] == 20000
    assert _value(table, "01003", "med", "2021")["status"] == "secret"
    epci = _value(table, "200000001", "med", "2021")
    assert (epci["status"], epci["value"]) == ("ok", 22500)  # INSEE's own EPCI figure
    custom = _value(table, "grp", "med", "2021")
    assert custom["status"] == "non_additive" and pd.isna(custom["value"])


def test_threshold_makes_small_counts_secret() -> None:
    filo = [("01001", "NBMENFISC", "2021", 40.0), ("01002", "NBMENFISC", "2021", 1200.0)]
    table = _run(_warehouse(_census(), filo))
    assert _value(table, "01001", "menfisc", "2021")["status"] == "secret"
    assert pd.isna(_value(table, "01001", "menfisc", "2021")["value"])
    assert _value(table, "200000001", "menfisc", "2021")["value"] == 1240


def test_alternatives_follow_the_modalities_of_each_vintage() -> None:
    rows = [
        ("01001", "P_NSCOL15P", "2015", 800.0),
        ("01001", "P_NSCOL15P_SUP", "2015", 200.0),
        ("01001", "P_NSCOL15P", "2021", 820.0),
        ("01001", "P_NSCOL15P_SUP2", "2021", 100.0),
        ("01001", "P_NSCOL15P_SUP34", "2021", 150.0),
    ]
    table = _run(_warehouse(rows), groups={("01001", "commune"): ["01001"]})
    assert _value(table, "01001", "sup", "2015")["value"] == _approx(25.0)
    assert _value(table, "01001", "sup", "2021")["value"] == _approx(250 / 820 * 100)


def test_unknown_cell_is_missing_never_zero() -> None:
    rows = [("01001", "P_LOG", "2021", 500.0), ("01001", "P_LOGVAC", "2021", None)]
    table = _run(_warehouse(rows), groups={("01001", "commune"): ["01001"]})
    row = _value(table, "01001", "part_vac", "2021")
    assert row["status"] == "missing" and pd.isna(row["value"])


def test_uncertain_cog_recoding_makes_the_figure_incomplete() -> None:
    rows = [("01001", "P_POP", "2021", 1000.0, False, "incomplete")]
    row = _value(
        _run(_warehouse(rows), groups={("01001", "commune"): ["01001"]}), "01001", "pop", "2021"
    )
    assert row["status"] == "incomplete"


# --------------------------------------------------------------------------- build


def test_build_recomputes_only_what_changed(tmp_path: Path) -> None:
    from observatoire.indicators.build import VALUE_TABLE, build
    from observatoire.loading import load_paths
    from observatoire.project import init_project, open_project
    from observatoire.sources.synthetic import simulate
    from observatoire.territories import referential
    from observatoire.warehouse import Warehouse

    init_project(tmp_path / "p", example="artois")
    project = open_project(tmp_path / "p")
    communes = sorted(referential.communes().query("epci == '200072460'")["code"])
    census = simulate(tmp_path / "rp", communes=communes, vintages=[2021], datasets=["rp_logement"])
    load_paths(project, census.paths)
    first = build(project)
    catalogue = indicator_catalogue()
    assert len(first.recomputed) == len(catalogue.indicators)
    assert build(project).recomputed == []  # nothing changed
    income = simulate(
        tmp_path / "fi", communes=communes, vintages=[2020], datasets=["filosofi_com"]
    )
    load_paths(project, income.paths)
    third = build(project)
    assert third.recomputed, "the new Filosofi file must be taken into account"

    def reads_filosofi(iid: str) -> bool:
        ind = catalogue.indicators[iid]
        return ind.source == "filosofi" or any(reads_filosofi(d) for d in ind.inputs)

    # Filosofi indicators, and those derived from one (affordability: price / income)
    assert all(reads_filosofi(i) for i in third.recomputed)
    assert {catalogue.indicators[i].source for i in third.recomputed} >= {"filosofi"}
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        rows = warehouse.query(
            f"SELECT indicator_id, status, origin, source FROM {VALUE_TABLE} "
            "WHERE territory_id IN ('200072460', '62119') AND value IS NOT NULL"
        )
    assert {"part_logements_vacants", "menages_fiscaux", "mediane_niveau_vie"} <= set(
        rows["indicator_id"]
    )
    assert set(rows.loc[rows["indicator_id"] != "population_legale", "origin"]) == {"simulated"}


def test_new_territory_and_stale_ids_never_shift_stored_values(tmp_path: Path) -> None:
    from observatoire.indicators.build import STATE_TABLE, VALUE_TABLE, build
    from observatoire.loading import load_paths
    from observatoire.project import init_project, open_project
    from observatoire.sources.synthetic import simulate
    from observatoire.territories import referential
    from observatoire.warehouse import Warehouse

    init_project(tmp_path / "p", example="artois")
    project = open_project(tmp_path / "p")
    communes = sorted(referential.communes().query("epci == '200072460'")["code"])
    files = simulate(tmp_path / "rp", communes=communes, vintages=[2021], datasets=["rp_logement"])
    load_paths(project, files.paths)
    build(project)

    def pm_value() -> float:
        with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
            return float(
                wh.query(
                    f"SELECT value FROM {VALUE_TABLE} WHERE territory_id = '200072460' "
                    "AND indicator_id = 'logements' AND period = '2021'"
                )["value"].iloc[0]
            )

    before = pm_value()
    assert before > 0
    with Warehouse(project.settings.warehouse_path) as wh:  # an id a former version knew
        wh.con.execute(f"INSERT INTO {STATE_TABLE} VALUES ('ancien_indicateur', 'x')")
    path = project.settings.territories_path
    path.write_text(
        path.read_text(encoding="utf-8")
        + '\n  - id: aaa-nouveau\n    nom: Nouveau\n    communes: ["62119"]\n',
        encoding="utf-8",
    )
    project = open_project(tmp_path / "p")
    build(project)
    assert pm_value() == before
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        new = wh.query(
            f"SELECT value FROM {VALUE_TABLE} WHERE territory_id = 'aaa-nouveau' "
            "AND indicator_id = 'logements' AND period = '2021'"
        )
        stale = wh.query(f"SELECT * FROM {STATE_TABLE} WHERE indicator_id = 'ancien_indicateur'")
    assert len(new) == 1 and stale.empty


# --------------------------------------------------------------------------- blocks


def _national_like() -> tuple[duckdb.DuckDBPyConnection, dict]:
    """≈ 90 real communes of three départements, their EPCI and département, overlapping
    custom groups; random counts with secret cells and uncertain recodings."""
    import numpy as np

    from observatoire.indicators.engine import _commune_order
    from observatoire.territories import referential

    ref = referential.communes()
    ref = ref[ref["dep"].isin(["01", "02", "2A"])].groupby("dep").head(30)
    order = list(_commune_order(set(ref["code"])))
    ref = ref.set_index("code").loc[order].reset_index()
    rng = np.random.default_rng(7)
    rows = []
    for code in order:
        pop15, pop21 = rng.integers(50, 5000, size=2).astype(float)
        log = float(rng.integers(20, 2000))
        status = "split" if rng.random() < 0.05 else "ok"
        for variable, period, value in (
            ("P_POP", "2015", pop15),
            ("P_POP", "2021", pop21),
            ("P_LOG", "2021", log),
            ("P_LOGVAC", "2021", float(rng.integers(0, log))),
            ("NAIS", "2015-2020", float(rng.integers(0, 300))),
            ("DECE", "2015-2020", float(rng.integers(0, 300))),
        ):
            secret = rng.random() < 0.04
            rows.append((code, variable, period, None if secret else value, secret, status))
    groups: dict = {(code, "commune"): [code] for code in order}
    for epci, members in ref.dropna(subset=["epci"]).groupby("epci", sort=False)["code"]:
        groups[(epci, "epci")] = list(members)
    for dep, members in ref.groupby("dep", sort=False)["code"]:
        groups[(dep, "departement")] = list(members)
    for i in range(6):
        picked = rng.choice(order, size=int(rng.integers(2, 40)), replace=False)
        groups[(f"g{i}", "custom")] = list(picked)
    return _warehouse(rows), groups


@pytest.mark.parametrize("block_rows", [1, 4, 7])
@pytest.mark.parametrize("communes_first", [True, False])
def test_blocks_on_all_cores_give_the_same_table_as_one_block(
    monkeypatch, block_rows, communes_first
) -> None:
    from observatoire.indicators import matrix

    con, groups = _national_like()
    if not communes_first:  # the commune level is then summed like the others
        groups = dict(reversed(groups.items()))
    whole = _run(con, groups)
    monkeypatch.setattr(matrix, "_BLOCK_ROWS", block_rows)
    blocked = _run(con, groups)
    pd.testing.assert_frame_equal(whole, blocked)
    # and the sums are the members' sums, read independently from the rows
    rows = (
        con.execute(
            "SELECT code, value, secret, cog_status FROM insee_rp "
            "WHERE variable = 'P_POP' AND period = '2021'"
        )
        .df()
        .set_index("code")
    )
    for (tid, level), members in groups.items():
        if level == "commune":
            continue
        row = _value(blocked, tid, "pop", "2021")
        known = rows.loc[members]
        if known["secret"].any():
            assert pd.isna(row["value"]) and row["status"] in ("incomplete", "secret")
        elif (known["cog_status"] == "split").any():
            assert row["status"] == "incomplete" and pd.isna(row["value"])
        else:
            assert row["status"] == "ok" and row["value"] == known["value"].sum()
