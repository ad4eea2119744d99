"""The indicator engine on real INSEE files, checked against an independent pandas computation.

The comparateur de territoires (RP 2018 & 2013, COG 2021) and the communal Filosofi 2019 and
2020 files are loaded once into an Artois project, ``build`` writes ``indicator_values``, and
every figure below is recomputed here from the raw files with pandas: COG 2021 → COG 2025 by
the COGiter passage table (``DEPCOM_HIST → DEPCOM``, sums over merged communes), members from
the embedded referential or the project's territories, rates as ratios of sums. Each trap of
``methods.md`` (§1, §7) gets a test that fails if the engine falls into it.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import shared_file
from observatoire.cli import app
from observatoire.indicators.build import VALUE_TABLE, build
from observatoire.indicators.catalogue import (
    STATUSES,
    IndicatorCatalogue,
    indicator_catalogue,
    parse_theme,
)
from observatoire.indicators.engine import CLOSE_VINTAGES_FLAG, Territories, compute
from observatoire.loading import load_paths
from observatoire.project import Project, init_project, open_project
from observatoire.territories import referential
from observatoire.warehouse import Warehouse

BETHUNE_BRUAY = "200072460"
COG = 2025
# Arrondissements municipaux: the comparateur ships them next to their commune's own row.
ARM = {f"751{i:02d}" for i in range(1, 21)} | {f"6938{i}" for i in range(1, 10)}
ARM |= {f"132{i:02d}" for i in range(1, 17)}
TOL = 0.01


@dataclass
class Real:
    project: Project
    comparateur: Path
    filosofi_2019: Path
    filosofi_2020: Path
    passage: Path
    lens_lievin: str
    raw: pd.DataFrame  # comparateur rows as published (COG 2021), CODGEO as str
    cog25: pd.DataFrame  # the same summed to COG 2025 communes (index = code)
    values: pd.DataFrame  # indicator_values rows of the territories under test

    @property
    def warehouse_path(self) -> Path:
        return self.project.settings.warehouse_path


def _read_comparateur(path: Path) -> pd.DataFrame:
    with zipfile.ZipFile(path) as archive:
        data = archive.read("base_cc_comparateur.CSV")
    return pd.read_csv(io.BytesIO(data), sep=";", dtype={"CODGEO": str}, encoding="latin-1")


def _read_passage(path: Path) -> dict[str, str]:
    passage = pd.read_csv(path, dtype=str)
    return dict(zip(passage["DEPCOM_HIST"], passage["DEPCOM"], strict=True))


def _to_cog2025(raw: pd.DataFrame, passage: dict[str, str]) -> pd.DataFrame:
    frame = raw[~raw["CODGEO"].isin(ARM)].copy()
    frame["code"] = frame["CODGEO"].map(lambda c: passage.get(c, c))
    numeric = frame.drop(columns=["CODGEO"])
    return numeric.groupby("code").sum(min_count=1)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Real:
    comparateur = shared_file(shared_data, "insee_rp/base_cc_comparateur_RP2018_csv.zip")
    filo19 = shared_file(shared_data, "filosofi/cc_filosofi_2019_COM.csv")
    filo20 = shared_file(shared_data, "filosofi/cc_filosofi_2020_COM.csv")
    passage_path = shared_file(shared_data, "cog/table_passage_com_historique_COG2025_COGiter.csv")
    project = open_project(
        init_project(tmp_path_factory.mktemp("ind") / "artois", example="artois")
    )
    load_paths(project, [comparateur, filo19, filo20])
    build(project)
    epcis = referential.epcis()
    lens = epcis[epcis["nom"].str.contains("Lens") & epcis["nom"].str.contains("Liévin")]
    assert len(lens) == 1, lens
    lens_id = str(lens["code"].iloc[0])
    raw = _read_comparateur(comparateur)
    cog25 = _to_cog2025(raw, _read_passage(passage_path))
    keys = pd.DataFrame(
        {
            "territory_id": [BETHUNE_BRUAY, lens_id, "62", "pm-artois"],
            "level": ["epci", "epci", "departement", "custom"],
        }
    )
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        wh.con.register("_keys", keys)
        values = wh.query(
            f"SELECT * FROM {VALUE_TABLE} WHERE (territory_id, level) IN "
            "(SELECT (territory_id, level) FROM _keys) OR (level = 'commune' AND "
            "(territory_id LIKE '62%' OR territory_id IN ('01001', '95169', '25375')))"
        )
        wh.con.unregister("_keys")
    return Real(project, comparateur, filo19, filo20, passage_path, lens_id, raw, cog25, values)


def _row(real: Real, territory: str, level: str, indicator: str, period: str) -> pd.Series:
    rows = real.values[
        (real.values["territory_id"] == territory)
        & (real.values["level"] == level)
        & (real.values["indicator_id"] == indicator)
        & (real.values["period"] == period)
    ]
    assert len(rows) == 1, f"{indicator} {period} {level}:{territory}: {len(rows)} ligne(s)"
    return rows.iloc[0]


def _members(real: Real, key: str) -> tuple[str, str, list[str]]:
    """(territory_id, level, member communes) — official members from the referential."""
    com = referential.communes()
    if key == "bethune":
        return BETHUNE_BRUAY, "epci", sorted(com.loc[com["epci"] == BETHUNE_BRUAY, "code"])
    if key == "lens":
        return real.lens_lievin, "epci", sorted(com.loc[com["epci"] == real.lens_lievin, "code"])
    if key == "dep62":
        return "62", "departement", sorted(com.loc[com["dep"] == "62", "code"])
    territory = real.project.territories.get("pm-artois")
    return "pm-artois", "custom", sorted(territory.communes)


def _tcam(p0: float, p1: float, years: int) -> float:
    return ((p1 / p0) ** (1 / years) - 1) * 100


def _natural_rate(s: pd.Series, flow: float, scale: float = 100) -> float:
    p0, p1 = s["P13_POP"], s["P18_POP"]
    p_mean = (p1 - p0) / math.log(p1 / p0) if p1 != p0 else p0
    return flow / (5 * p_mean) * scale


def _share(num: str, den: str):
    return lambda s: s[num] / s[den] * 100


# indicator id, period, columns read, formula on the sums over the member communes
EXPECTED = [
    ("population", "2018", ["P18_POP"], lambda s: s["P18_POP"]),
    ("population", "2013", ["P13_POP"], lambda s: s["P13_POP"]),
    ("densite", "2018", ["P18_POP", "SUPERF"], lambda s: s["P18_POP"] / s["SUPERF"]),
    (
        "tcam_population",
        "2013-2018",
        ["P13_POP", "P18_POP"],
        lambda s: _tcam(s["P13_POP"], s["P18_POP"], 5),
    ),
    ("taux_chomage_1564", "2018", ["P18_CHOM1564", "P18_ACT1564"], None),
    ("part_logements_vacants", "2018", ["P18_LOGVAC", "P18_LOG"], None),
    ("part_proprietaires", "2018", ["P18_RP_PROP", "P18_RP"], None),
    ("part_emplois_salaries", "2018", ["P18_EMPLT_SAL", "P18_EMPLT"], None),
    ("part_etablissements_agriculture", "2018", ["ETAZ18", "ETTOT18"], None),
    ("part_etablissements_industrie", "2018", ["ETBE18", "ETTOT18"], None),
    ("part_etablissements_construction", "2018", ["ETFZ18", "ETTOT18"], None),
    ("part_etablissements_commerce_services", "2018", ["ETGU18", "ETTOT18"], None),
    ("part_etablissements_commerce", "2018", ["ETGZ18", "ETTOT18"], None),
    ("part_etablissements_services_non_marchands", "2018", ["ETOQ18", "ETTOT18"], None),
    (
        "taux_solde_naturel",
        "2013-2018",
        ["P13_POP", "P18_POP", "NAIS1318", "DECE1318"],
        lambda s: _natural_rate(s, s["NAIS1318"] - s["DECE1318"]),
    ),
    (
        "taux_solde_migratoire",
        "2013-2018",
        ["P13_POP", "P18_POP", "NAIS1318", "DECE1318"],
        lambda s: (
            _tcam(s["P13_POP"], s["P18_POP"], 5) - _natural_rate(s, s["NAIS1318"] - s["DECE1318"])
        ),
    ),
    (
        "taux_natalite",
        "2013-2018",
        ["P13_POP", "P18_POP", "NAIS1318"],
        lambda s: _natural_rate(s, s["NAIS1318"], 1000),
    ),
    (
        "tcam_emplois",
        "2013-2018",
        ["P13_EMPLT", "P18_EMPLT"],
        lambda s: _tcam(s["P13_EMPLT"], s["P18_EMPLT"], 5),
    ),
    (
        "indicateur_concentration_emploi",
        "2018",
        ["P18_EMPLT", "P18_ACTOCC15P"],
        lambda s: s["P18_EMPLT"] / s["P18_ACTOCC15P"] * 100,
    ),
]
TERRITORY_KEYS = ["bethune", "lens", "dep62", "pm-artois"]


# ------------------------------------------------------------------ 1. independent computation


@pytest.mark.parametrize("key", TERRITORY_KEYS)
@pytest.mark.parametrize(
    ("indicator", "period", "columns", "formula"),
    EXPECTED,
    ids=[f"{e[0]}-{e[1]}" for e in EXPECTED],
)
def test_figures_equal_independent_pandas_computation(
    real: Real, key: str, indicator: str, period: str, columns: list[str], formula
) -> None:
    missing = [c for c in columns if c not in real.raw.columns]
    if missing:
        # Not in this comparateur: the engine must not invent the figure.
        assert not ((real.values["indicator_id"] == indicator) & real.values["value"].notna()).any()
        pytest.skip(f"{', '.join(missing)} absent(s) du comparateur : {indicator} non calculable")
    territory, level, members = _members(real, key)
    assert members, key
    sub = real.cog25.reindex(members)[columns]
    assert sub.notna().all().all(), f"données incomplètes pour {territory} : {columns}"
    sums = sub.sum()
    expected = formula(sums) if formula else _share(*columns)(sums)
    row = _row(real, territory, level, indicator, period)
    assert row["status"] == "ok"
    assert row["members"] == len(members)
    assert row["value"] == pytest.approx(expected, abs=TOL), (indicator, territory)


def test_territories_have_their_expected_size(real: Real) -> None:
    assert len(_members(real, "bethune")[2]) == 100  # PROVENANCE.md (COGiter EPCI table)
    pm = _members(real, "pm-artois")[2]
    assert set(_members(real, "bethune")[2]) <= set(pm)
    assert set(_members(real, "lens")[2]) <= set(pm)


# ------------------------------------------------------------------ 2. published INSEE figures


def test_published_insee_populations(real: Real) -> None:
    assert _row(real, "62", "departement", "population", "2018")["value"] == 1_466_743
    assert _row(real, "62", "departement", "population", "2013")["value"] == 1_465_205
    assert _row(real, "62119", "commune", "population", "2018")["value"] == 25_193


# ------------------------------------------------------------------ 3. traps of methods.md


def test_rate_of_group_is_ratio_of_sums_not_mean_of_rates(real: Real) -> None:
    _, _, members = _members(real, "bethune")
    sub = real.cog25.reindex(members)
    ratio_of_sums = sub["P18_CHOM1564"].sum() / sub["P18_ACT1564"].sum() * 100
    mean_of_rates = (sub["P18_CHOM1564"] / sub["P18_ACT1564"] * 100).mean()
    got = _row(real, BETHUNE_BRUAY, "epci", "taux_chomage_1564", "2018")["value"]
    assert got == pytest.approx(ratio_of_sums, abs=TOL)
    assert abs(mean_of_rates - ratio_of_sums) > 0.5  # the trap is real on this EPCI …
    assert abs(got - mean_of_rates) > 0.5  # … and the engine did not fall into it
    # The engine's own communal rates average to the wrong figure too.
    communal = real.values[
        (real.values["level"] == "commune")
        & real.values["territory_id"].isin(members)
        & (real.values["indicator_id"] == "taux_chomage_1564")
        & (real.values["period"] == "2018")
    ]
    assert len(communal) == len(members)
    assert communal["value"].mean() == pytest.approx(mean_of_rates, abs=TOL)


def _filosofi(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)


def _secret_member(real: Real) -> tuple[str, list[str]]:
    """A real commune of the CA de Béthune-Bruay whose Filosofi 2020 cells are secret ("s"),
    untouched by COG changes 2021 → 2025."""
    _, _, members = _members(real, "bethune")
    filo = _filosofi(real.filosofi_2020).set_index("CODGEO")
    passage = pd.read_csv(real.passage, dtype=str)
    changed = set(passage.loc[passage["DEPCOM_HIST"] != passage["DEPCOM"], "DEPCOM"])
    secret = [
        c
        for c in members
        if c in filo.index and filo.loc[c, "MED20"] == "s" and filo.loc[c, "NBMENFISC20"] == "s"
    ]
    secret = [c for c in secret if c not in changed]
    assert secret, "aucune commune secrète dans la CA de Béthune-Bruay"
    return secret[0], members


@pytest.mark.parametrize("period", ["2019", "2020"])
def test_secret_cell_is_secret_and_null_never_zero(real: Real, period: str) -> None:
    commune, _ = _secret_member(real)  # 62720 Rombly: "s" in 2020, blank in 2019
    for indicator in ("mediane_niveau_vie", "menages_fiscaux", "taux_pauvrete"):
        row = _row(real, commune, "commune", indicator, period)
        assert row["status"] == "secret", (indicator, period)
        assert pd.isna(row["value"])


@pytest.mark.parametrize("period", ["2019", "2020"])
def test_aggregate_with_a_secret_member_is_incomplete(real: Real, period: str) -> None:
    commune, members = _secret_member(real)
    filo = _filosofi(real.filosofi_2019 if period == "2019" else real.filosofi_2020)
    filo = filo.set_index("CODGEO").reindex(members)
    column = f"NBMENFISC{period[2:]}"
    known = pd.to_numeric(filo[column], errors="coerce")
    secret = known.isna()
    assert secret[commune]
    row = _row(real, BETHUNE_BRUAY, "epci", "menages_fiscaux", period)
    assert row["status"] == "incomplete"
    assert row["members_with_value"] == len(members) - int(secret.sum())
    # A total over the other members would be an under-count (the secret read as 0): the
    # engine withholds it (engine docstring); never the partial sum.
    assert pd.isna(row["value"]), f"somme partielle publiée : {row['value']} ({known.sum()})"


def test_ratio_with_a_secret_member_excludes_it_from_both_terms(real: Real) -> None:
    """A ratio whose numerator is secret in one member (fiscal households per km²): the
    member leaves the numerator AND the denominator; reading the secret as 0 would keep its
    area in the denominator."""
    _, members = _secret_member(real)
    theme, indicators = parse_theme(
        """
theme: essai
label: Essai
indicators:
  - id: menages_fiscaux_par_km2
    label: Ménages fiscaux par km²
    definition: Ménages fiscaux / superficie.
    unit: "/km²"
    polarity: neutral
    kind: ratio
    source: filosofi
    numerator: NBMENFISC{aa}
    denominator: SUPERF
    secrecy: Cellule non diffusée par l'INSEE → secret.
""",
        "essai.yaml",
    )
    catalogue = IndicatorCatalogue(
        themes={theme.id: theme}, indicators={i.id: i for i in indicators}
    )
    territories = Territories(
        frame=pd.DataFrame(
            {"territory_id": ["essai"], "level": ["custom"], "territory_label": ["Essai"]}
        ),
        members=pd.DataFrame({"territory_id": "essai", "level": "custom", "code": members}),
    )
    with Warehouse(real.warehouse_path, read_only=True) as wh:
        table = compute(wh.con, catalogue, territories, indicators, cog_vintage=COG)
    row = table[table["period"] == "2020"].iloc[0]
    filo = _filosofi(real.filosofi_2020).set_index("CODGEO").reindex(members)
    households = pd.to_numeric(filo["NBMENFISC20"], errors="coerce")
    area = real.cog25.reindex(members)["SUPERF"]
    usable = households.notna()
    expected = households[usable].sum() / area[usable].sum()
    as_if_zero = households.sum() / area.sum()
    assert abs(expected - as_if_zero) > 0.1
    assert row["status"] == "incomplete"
    assert row["value"] == pytest.approx(expected, abs=TOL)
    assert row["denominator"] == pytest.approx(area[usable].sum(), abs=TOL)
    assert row["value"] != pytest.approx(as_if_zero, abs=TOL)


def test_codes_are_strings_with_leading_zeros(real: Real) -> None:
    with Warehouse(real.warehouse_path, read_only=True) as wh:
        lengths = wh.query(
            f"SELECT length(territory_id) AS n, count(*) AS rows FROM {VALUE_TABLE} "
            "WHERE level = 'commune' GROUP BY ALL"
        )
        corsica = wh.query(
            f"SELECT count(*) AS n FROM {VALUE_TABLE} WHERE territory_id = '2A004' "
            "AND indicator_id = 'population' AND period = '2018' AND level = 'commune'"
        )
        types = wh.query(
            f"SELECT data_type FROM information_schema.columns WHERE table_name = '{VALUE_TABLE}' "
            "AND column_name = 'territory_id'"
        )
    assert set(lengths["n"]) == {5}
    assert types["data_type"].iloc[0] == "VARCHAR"
    assert corsica["n"].iloc[0] == 1
    row = _row(real, "01001", "commune", "population", "2018")
    assert row["value"] == 771  # raw comparateur, CODGEO 01001
    assert row["territory_label"] == "L'Abergement-Clémenciat"


def _mergers_in_62(real: Real) -> dict[str, list[str]]:
    """COG 2025 communes of the Pas-de-Calais that absorbed communes present in the 2021
    comparateur (communes nouvelles created after 2021)."""
    passage = pd.read_csv(real.passage, dtype=str)
    in_file = set(real.raw["CODGEO"])
    passage = passage[passage["DEPCOM_HIST"].isin(in_file) & passage["DEPCOM"].str.startswith("62")]
    groups = passage.groupby("DEPCOM")["DEPCOM_HIST"].apply(sorted)
    return {k: v for k, v in groups.items() if len(v) > 1}


def test_commune_nouvelle_sums_its_former_communes(real: Real) -> None:
    merged = _mergers_in_62(real)
    assert "62447" in merged  # Hesdin-la-Forêt (1 Jan 2025): Hesdin, Huby-Saint-Leu, …
    assert merged["62447"] == ["62447", "62461", "62549", "62743"]
    raw = real.raw.set_index("CODGEO")
    for target, former in merged.items():
        expected = raw.loc[former, "P18_POP"].sum()
        assert len(former) > 1
        row = _row(real, target, "commune", "population", "2018")
        assert row["status"] == "ok", target
        assert row["value"] == pytest.approx(expected, abs=TOL), target
        if target in raw.index:
            assert row["value"] > raw.loc[target, "P18_POP"]
    # The loader stores the median of a merged commune as unknown (NULL, not secret).
    with Warehouse(real.warehouse_path, read_only=True) as wh:
        stored = wh.query(
            "SELECT value, secret, cog_status FROM filosofi WHERE code = '62447' "
            "AND variable = 'MED' AND period = '2020' AND dataset = 'filosofi_com'"
        )
    assert len(stored) == 1 and pd.isna(stored["value"].iloc[0])
    assert stored["cog_status"].iloc[0] == "fusion"


def test_unknown_median_of_merged_commune_is_never_zero(real: Real) -> None:
    """A median of merged communes cannot be recomputed: no value, never 0 nor one former
    commune's figure (methods.md §7.2: non-additive indicators are not harmonised by sums)."""
    for period in ("2019", "2020"):
        med = _row(real, "62447", "commune", "mediane_niveau_vie", period)
        assert med["status"] != "ok", (period, med["value"])
        assert pd.isna(med["value"]), (period, med["value"])
    with Warehouse(real.warehouse_path, read_only=True) as wh:
        zeros = wh.query(
            f"SELECT territory_id, period, status FROM {VALUE_TABLE} "
            "WHERE indicator_id = 'mediane_niveau_vie' AND value = 0"
        )
    assert zeros.empty, f"{len(zeros)} médianes nulles : {zeros.head().to_dict('records')}"


def test_every_commune_ok_value_equals_cogiter_sum(real: Real) -> None:
    """National check of the COG recoding: no commune carries a partial sum as 'ok'."""
    with Warehouse(real.warehouse_path, read_only=True) as wh:
        got = wh.query(
            f"SELECT territory_id AS code, value, status FROM {VALUE_TABLE} "
            "WHERE level = 'commune' AND indicator_id = 'population' AND period = '2018'"
        ).set_index("code")
    expected = real.cog25["P18_POP"]
    ok = got[got["status"] == "ok"]
    diff = (ok["value"] - expected.reindex(ok.index)).abs()
    wrong = diff[~(diff <= TOL)]
    assert wrong.empty, f"{len(wrong)} communes « ok » fausses : {wrong.head(10).to_dict()}"


@pytest.mark.parametrize("key", TERRITORY_KEYS)
def test_median_of_group_is_non_additive_never_a_weighted_mean(real: Real, key: str) -> None:
    territory, level, members = _members(real, key)
    filo = _filosofi(real.filosofi_2020).set_index("CODGEO").reindex(members)
    med = pd.to_numeric(filo["MED20"], errors="coerce")
    persons = pd.to_numeric(filo["NBPERSMENFISC20"], errors="coerce")
    weighted = (med * persons).sum() / persons[med.notna()].sum()
    assert 15_000 < weighted < 30_000  # the tempting figure exists …
    for period in ("2019", "2020"):
        row = _row(real, territory, level, "mediane_niveau_vie", period)
        assert row["status"] == "non_additive"  # … no EPCI / département Filosofi file loaded
        assert pd.isna(row["value"])
        assert row["value"] != pytest.approx(weighted, abs=1)
    # A commune keeps INSEE's own median: Béthune, Filosofi 2020.
    bethune = _filosofi(real.filosofi_2020).set_index("CODGEO").loc["62119", "MED20"]
    assert _row(real, "62119", "commune", "mediane_niveau_vie", "2020")["value"] == float(bethune)


def test_close_census_vintages_are_flagged(real: Real) -> None:
    """Growth over 2 years (P16 → P18) carries « millesimes_rapproches »; 2013 → 2018 does not."""
    # Synthetic warehouse: two communes with P16_POP and P18_POP.
    con = duckdb.connect()
    facts = pd.DataFrame(
        {
            "code": ["62119", "62119", "62178", "62178"],
            "variable": "P_POP",
            "period": ["2016", "2018", "2016", "2018"],
            "value": [25_000.0, 25_193.0, 10_000.0, 9_800.0],
            "secret": False,
            "cog_status": "ok",
            "dataset": "rp_evol_struct_pop",
            "vintage": "2018",
        }
    )
    con.register("facts_df", facts)
    con.execute("CREATE TABLE insee_rp AS SELECT * FROM facts_df")
    con.unregister("facts_df")
    catalogue = indicator_catalogue()
    territories = Territories(
        frame=pd.DataFrame(
            {"territory_id": ["duo"], "level": ["custom"], "territory_label": ["Deux communes"]}
        ),
        members=pd.DataFrame(
            {"territory_id": "duo", "level": "custom", "code": ["62119", "62178"]}
        ),
    )
    table = compute(
        con, catalogue, territories, [catalogue.get("tcam_population")], cog_vintage=COG
    )
    con.close()
    row = table[table["indicator_id"] == "tcam_population"].iloc[0]
    assert row["period"] == "2016-2018"
    assert CLOSE_VINTAGES_FLAG in row["flags"]
    assert row["value"] == pytest.approx(_tcam(35_000, 34_993, 2), abs=1e-6)
    # Real data, five years apart: no flag.
    for key in TERRITORY_KEYS:
        territory, level, _ = _members(real, key)
        tcam = _row(real, territory, level, "tcam_population", "2013-2018")
        assert CLOSE_VINTAGES_FLAG not in (tcam["flags"] or "")
    with Warehouse(real.warehouse_path, read_only=True) as wh:
        flagged = wh.query(
            f"SELECT count(*) AS n FROM {VALUE_TABLE} WHERE flags LIKE '%{CLOSE_VINTAGES_FLAG}%'"
        )
    assert flagged["n"].iloc[0] == 0  # the comparateur only holds 2013 and 2018


# ------------------------------------------------------------------ 4. statuses and sources


def test_statuses_sources_and_cog_vintage(real: Real) -> None:
    with Warehouse(real.warehouse_path, read_only=True) as wh:
        statuses = set(wh.query(f"SELECT DISTINCT status FROM {VALUE_TABLE}")["status"])
        sources = wh.query(f"SELECT DISTINCT source FROM {VALUE_TABLE} WHERE value IS NOT NULL")[
            "source"
        ]
        cog = wh.query(f"SELECT DISTINCT cog_vintage FROM {VALUE_TABLE}")["cog_vintage"]
        inconsistent = wh.query(
            f"SELECT count(*) AS n FROM {VALUE_TABLE} WHERE "
            "status IN ('secret', 'non_additive', 'missing') AND value IS NOT NULL"
        )["n"].iloc[0]
        # 'ok' without a value only for an undefined ratio (0 / 0: a commune without any
        # establishment) or a derived indicator of such an input.
        ok_null = wh.query(
            f"SELECT indicator_id, denominator FROM {VALUE_TABLE} "
            "WHERE status = 'ok' AND value IS NULL"
        )
        filosofi_source = wh.query(
            f"SELECT DISTINCT period, source FROM {VALUE_TABLE} "
            "WHERE indicator_id = 'mediane_niveau_vie'"
        )
    assert statuses <= set(STATUSES)
    assert {"ok", "secret", "incomplete", "non_additive"} <= statuses
    assert inconsistent == 0
    derived = {i.id for i in indicator_catalogue().indicators.values() if i.kind == "derived"}
    unexplained = ok_null[~ok_null["indicator_id"].isin(derived) & (ok_null["denominator"] != 0)]
    assert unexplained.empty, unexplained.head()
    assert list(cog) == [COG]
    for source in sources:
        assert source and "INSEE" in source, source
        assert re.search(r"\b(19|20)\d\d\b", source), source
    for row in filosofi_source.itertuples():
        assert f"Filosofi {row.period}" in row.source
    rp = _row(real, BETHUNE_BRUAY, "epci", "taux_chomage_1564", "2018")["source"]
    assert "recensement 2018" in rp


# ------------------------------------------------------------------ 5. exports


def _invoke(real: Real, *args: str) -> None:
    result = CliRunner().invoke(
        app, ["indicators", *args, "--projet", str(real.project.settings.root)]
    )
    assert result.exit_code == 0, result.output


def test_xlsx_export(real: Real, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = tmp_path / "chiffres.xlsx"
    commune, _ = _secret_member(real)
    _invoke(
        real,
        "--territoire",
        BETHUNE_BRUAY,
        "--territoire",
        commune,
        "--format",
        "xlsx",
        "--sortie",
        str(path),
    )
    workbook = load_workbook(path)
    catalogue = indicator_catalogue()
    themes = [t.label[:31] for t, _ in catalogue.by_theme()]
    for sheet in ("Définitions", "Sources", "Licences", "Millésimes", "Statuts"):
        assert sheet in workbook.sheetnames
    theme_sheets = [s for s in workbook.sheetnames if s in themes]
    assert len(theme_sheets) >= 5
    assert len(workbook.sheetnames) == len(theme_sheets) + 5
    formats: set[str] = set()
    texts: set[str] = set()
    found = {}
    for name in theme_sheets:
        sheet = workbook[name]
        headers = [c.value for c in sheet[1]]
        for row in sheet.iter_rows(min_row=2):
            for cell in row[3:]:
                if isinstance(cell.value, float | int):
                    formats.add(cell.number_format)
                    assert cell.number_format.startswith("#,##0"), cell.number_format
                elif isinstance(cell.value, str):
                    texts.add(cell.value)
            if row[0].value == BETHUNE_BRUAY:
                for cell, header in zip(row, headers, strict=True):
                    found[header] = cell.value
    assert "#,##0.0" in formats
    assert {"secret", "non additif"} <= texts
    label = catalogue.get("population")
    header = f"{label.label} ({label.unit}) — 2018"
    assert found[header] == pytest.approx(
        _row(real, BETHUNE_BRUAY, "epci", "population", "2018")["value"]
    )


def test_csv_export_contract(real: Real, tmp_path: Path) -> None:
    path = tmp_path / "chiffres.csv"
    _invoke(real, "--territoire", BETHUNE_BRUAY, "--format", "csv", "--sortie", str(path))
    table = pd.read_csv(path, dtype={"territory_id": str})
    contract = [
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
    ]
    assert [c for c in table.columns if c in contract] == contract
    assert set(table["territory_id"]) == {BETHUNE_BRUAY}
    pop = table[(table["indicator_id"] == "population") & (table["period"].astype(str) == "2018")]
    assert pop["value"].iloc[0] == pytest.approx(
        real.cog25.reindex(_members(real, "bethune")[2])["P18_POP"].sum()
    )
    assert set(table["cog_vintage"]) == {COG}


def test_geopackage_export(real: Real, tmp_path: Path) -> None:
    import pyogrio

    path = tmp_path / "chiffres.gpkg"
    _invoke(
        real,
        "--territoire",
        BETHUNE_BRUAY,
        "--territoire",
        "dep:62",
        "--territoire",
        "pm-artois",
        "--territoire",
        "62119",
        "--indicateur",
        "population",
        "--format",
        "gpkg",
        "--sortie",
        str(path),
    )
    layers = {str(name) for name, _ in pyogrio.list_layers(path)}
    assert layers == {"epci", "departement", "custom", "commune"}
    epci = pyogrio.read_dataframe(path, layer="epci")
    assert list(epci["code"]) == [BETHUNE_BRUAY]
    assert epci["population_2018"].iloc[0] == pytest.approx(
        _row(real, BETHUNE_BRUAY, "epci", "population", "2018")["value"]
    )
    assert epci["population_2018_statut"].iloc[0] == "ok"
    assert epci.geometry.iloc[0] is not None and not epci.geometry.iloc[0].is_empty
    custom = pyogrio.read_dataframe(path, layer="custom")
    assert list(custom["code"]) == ["pm-artois"]
