"""COG harmonisation: events reading, vintage rebuilding, passage building and recoding."""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from conftest import shared_file
from observatoire.errors import InputError
from observatoire.territories import cog

HEADER = (
    "MOD,DATE_EFF,TYPECOM_AV,COM_AV,TNCC_AV,NCC_AV,NCCENR_AV,LIBELLE_AV,"
    "TYPECOM_AP,COM_AP,TNCC_AP,NCC_AP,NCCENR_AP,LIBELLE_AP"
)

# --------------------------------------------------------------------------- helpers


def write_events(path: Path, rows: list[tuple[int, str, str, str, str, str]]) -> Path:
    """Write an INSEE-shaped events file: rows of (MOD, date, TYPECOM_AV, AV, TYPECOM_AP, AP)."""
    lines = [HEADER]
    for mod, date, type_av, av, type_ap, ap in rows:
        before = f"{type_av},{av},0,N{av},N{av},Nom {av}"
        after = f"{type_ap},{ap},0,N{ap},N{ap},Nom {ap}"
        lines.append(f"{mod},{date},{before},{after}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def events_from(tmp_path: Path):
    def make(rows: list[tuple[int, str, str, str, str, str]]) -> pd.DataFrame:
        return cog.read_events(write_events(tmp_path / "v_mvt_commune_test.csv", rows))

    return make


def merger(mod: int, date: str, pole: str, *absorbed: str) -> list[tuple]:
    """Rows of a merger as INSEE writes them, with the déléguée rows of a commune nouvelle."""
    rows = [(mod, date, "COM", pole, "COM", pole)]
    for code in absorbed:
        rows.append((mod, date, "COM", code, "COM", pole))
    if mod == 32:
        rows += [(mod, date, "COM", code, "COMD", code) for code in (pole, *absorbed)]
    return rows


def by_code(result: cog.RecodeResult, code_column: str = "code") -> pd.DataFrame:
    return result.table.set_index(code_column)


# --------------------------------------------------------------------------- unit tests


def test_simple_merger_sums_counts(events_from) -> None:
    events = events_from(merger(31, "2020-01-01", "01001", "01002"))
    targets = {"01001", "01003"}
    assert cog.communes_at(events, 2019, targets, 2021) == {"01001", "01002", "01003"}
    # An event dated 1 January Y belongs to COG Y.
    assert cog.communes_at(events, 2020, targets, 2021) == targets

    passage = cog.build_passage(events, 2019, 2021, targets)
    rows = {(r.code_source, r.code_cible): r for r in passage.itertuples()}
    assert set(rows) == {("01001", "01001"), ("01002", "01001"), ("01003", "01003")}
    assert rows["01002", "01001"].kind == "fusion" and rows["01002", "01001"].n_sources == 2
    assert rows["01003", "01003"].kind == "identique" and not passage["split"].any()

    table = pd.DataFrame({"code": ["01001", "01002", "01003"], "pop": [100.0, 20.0, 7.0]})
    result = cog.recode(table, passage, count_columns=["pop"])
    out = by_code(result)
    assert out.loc["01001", "pop"] == 120.0
    assert out.loc["01001", "n_sources"] == 2
    assert out.loc["01001", "cog_status"] == "fusion"
    assert out.loc["01003", "pop"] == 7.0 and out.loc["01003", "cog_status"] == "ok"
    assert result.report.merged_targets == 1 and result.report.merged_sources == 2
    assert result.report.rows_in == 3 and result.report.rows_out == 2
    assert "fusionnées" in result.report.summary()


def test_commune_nouvelle_of_three(events_from) -> None:
    events = events_from(merger(32, "2019-01-01", "14001", "14002", "14003"))
    # COM -> COMD rows describe déléguées: they must not keep 14002/14003 alive.
    assert cog.communes_at(events, 2018, {"14001"}, 2019) == {"14001", "14002", "14003"}
    passage = cog.build_passage(events, 2018, 2019, {"14001"})
    assert set(passage["code_cible"]) == {"14001"}
    assert (passage["n_sources"] == 3).all() and (passage["kind"] == "fusion").all()
    table = pd.DataFrame(
        {"code": ["14001", "14002", "14003"], "men": [10, 20, 30], "log": [1.5, 2.5, 3.0]}
    )
    out = by_code(cog.recode(table, passage, count_columns=["men", "log"]))
    assert out.loc["14001", "men"] == 60 and out.loc["14001", "log"] == 7.0
    assert out.loc["14001", "n_sources"] == 3 and out.loc["14001", "cog_status"] == "fusion"


def test_code_change_department(events_from) -> None:
    events = events_from([(41, "2018-01-01", "COM", "14513", "COM", "50649")])
    assert cog.communes_at(events, 2017, {"50649"}, 2018) == {"14513"}
    passage = cog.build_passage(events, 2017, 2018, {"50649"})
    assert passage[["code_source", "code_cible", "kind"]].values.tolist() == [
        ["14513", "50649", "changement_code"]
    ]
    result = cog.recode(
        pd.DataFrame({"code": ["14513"], "pop": [42]}), passage, count_columns=["pop"]
    )
    assert result.table.values.tolist() == [["50649", 42, 1, "ok"]]
    assert result.report.code_changes == 1


def test_chain_of_two_mergers(events_from) -> None:
    rows = merger(31, "2017-01-01", "02001", "02002") + merger(
        32, "2019-01-01", "02004", "02001", "02005"
    )
    events = events_from(rows)
    targets = {"02004", "02009"}
    assert cog.communes_at(events, 2016, targets, 2020) == {
        "02001", "02002", "02004", "02005", "02009"
    }  # fmt: skip
    passage = cog.build_passage(events, 2016, 2020, targets)
    to_d = passage[passage["code_cible"] == "02004"]
    assert set(to_d["code_source"]) == {"02001", "02002", "02004", "02005"}
    table = pd.DataFrame(
        {"code": ["02001", "02002", "02004", "02005", "02009"], "pop": [1, 2, 4, 8, 16]}
    )
    out = by_code(cog.recode(table, passage, count_columns=["pop"]))
    assert out.loc["02004", "pop"] == 15 and out.loc["02004", "n_sources"] == 4
    # From COG 2018 only the second merger remains to apply.
    passage_2018 = cog.build_passage(events, 2018, 2020, targets)
    assert set(passage_2018.loc[passage_2018["code_cible"] == "02004", "code_source"]) == {
        "02001", "02004", "02005"
    }  # fmt: skip


def test_same_day_code_change_then_merger(events_from) -> None:
    # As on 2018-01-01 (49144 -> 44225 -> 44180): the merger row comes first in the file.
    rows = [
        *merger(32, "2018-01-01", "44180", "44225"),
        (41, "2018-01-01", "COM", "49144", "COM", "44225"),
    ]
    events = events_from(rows)
    assert cog.communes_at(events, 2017, {"44180"}, 2018) == {"44180", "49144"}
    passage = cog.build_passage(events, 2017, 2018, {"44180"})
    assert dict(zip(passage["code_source"], passage["code_cible"], strict=True)) == {
        "44180": "44180",
        "49144": "44180",
    }


def test_split_is_flagged_not_apportioned(events_from) -> None:
    rows = [
        *merger(32, "2015-01-01", "15141", "15031"),
        (21, "2020-01-01", "COM", "15141", "COM", "15141"),
        (21, "2020-01-01", "COM", "15141", "COM", "15031"),
        (21, "2020-01-01", "COMD", "15031", "COM", "15031"),
    ]
    events = events_from(rows)
    targets = {"15141", "15031", "15200"}
    assert cog.communes_at(events, 2019, targets, 2021) == {"15141", "15200"}
    passage = cog.build_passage(events, 2019, 2021, targets)
    split = passage[passage["code_source"] == "15141"].set_index("code_cible")
    assert set(split.index) == {"15141", "15031"}
    assert split["split"].all() and (split["kind"] == "scission").all()
    assert split.loc["15141", "receives"] and not split.loc["15031", "receives"]

    table = pd.DataFrame({"code": ["15141", "15200"], "pop": [100.0, 5.0]})
    result = cog.recode(table, passage, count_columns=["pop"])
    out = by_code(result)
    assert out.loc["15141", "pop"] == 100.0 and out.loc["15141", "cog_status"] == "incomplete"
    assert math.isnan(out.loc["15031", "pop"]) and out.loc["15031", "cog_status"] == "incomplete"
    assert out.loc["15031", "n_sources"] == 0
    assert out.loc["15200", "cog_status"] == "ok"
    assert out["pop"].sum() == table["pop"].sum()  # nothing created, nothing lost
    assert result.report.split_sources == ("15141",)
    assert set(result.report.incomplete_targets) == {"15141", "15031"}

    # A commune merged before the source vintage and restored later gets its figures back.
    passage_2014 = cog.build_passage(events, 2014, 2021, targets)
    receiving = passage_2014[passage_2014["receives"]]
    assert dict(zip(receiving["code_source"], receiving["code_cible"], strict=True)) == {
        "15141": "15141",
        "15031": "15031",
        "15200": "15200",
    }


def test_suppression_goes_to_smallest_successor(events_from) -> None:
    rows = [
        (30, "2019-06-01", "COM", "77362", "COM", "77444"),
        (30, "2019-06-01", "COM", "77362", "COM", "77066"),
        (30, "2019-06-01", "COM", "77066", "COM", "77066"),
        (30, "2019-06-01", "COM", "77444", "COM", "77444"),
    ]
    events = events_from(rows)
    targets = {"77066", "77444"}
    passage = cog.build_passage(events, 2019, 2020, targets)
    receiving = passage[passage["receives"] & (passage["code_source"] == "77362")]
    assert receiving["code_cible"].tolist() == ["77066"]
    table = pd.DataFrame({"code": ["77066", "77362", "77444"], "pop": [10, 3, 20]})
    out = by_code(cog.recode(table, passage, count_columns=["pop"]))
    assert out.loc["77066", "pop"] == 13 and out.loc["77444", "pop"] == 20
    assert set(out["cog_status"]) == {"incomplete"}


def test_null_member_makes_sum_null(events_from) -> None:
    events = events_from(merger(31, "2020-01-01", "01001", "01002"))
    targets = {"01001", "01003"}
    passage = cog.build_passage(events, 2019, 2021, targets)
    table = pd.DataFrame(
        {
            "code": ["01001", "01002", "01003"],
            "pop": [100.0, None, None],
            "men": [40.0, 10.0, 3.0],
        }
    )
    out = by_code(cog.recode(table, passage, count_columns=["pop", "men"]))
    assert pd.isna(out.loc["01001", "pop"])  # never 100 (the secret member is not 0)
    assert out.loc["01001", "men"] == 50.0
    assert out.loc["01001", "cog_status"] == "incomplete"
    # A single commune with a secret value stays secret, geographically complete.
    assert pd.isna(out.loc["01003", "pop"]) and out.loc["01003", "cog_status"] == "ok"

    # A member commune absent from the table: the merged sum is unknown too.
    partial = table[table["code"] != "01002"]
    out = by_code(cog.recode(partial, passage, count_columns=["men"]))
    assert pd.isna(out.loc["01001", "men"]) and out.loc["01001", "cog_status"] == "incomplete"
    assert out.loc["01001", "n_sources"] == 1


def test_keep_columns_kept_when_members_agree(events_from) -> None:
    events = events_from(merger(31, "2020-01-01", "01001", "01002"))
    passage = cog.build_passage(events, 2019, 2021, {"01001", "01003"})
    table = pd.DataFrame(
        {
            "code": ["01001", "01002", "01003"],
            "pop": [1, 2, 3],
            "dep": ["01", "01", "01"],
            "nom": ["A", "B", "C"],
        }
    )
    out = by_code(cog.recode(table, passage, count_columns=["pop"], keep_columns=["dep", "nom"]))
    assert out.loc["01001", "dep"] == "01" and pd.isna(out.loc["01001", "nom"])
    assert out.loc["01003", "nom"] == "C"


def test_unknown_codes_raise_or_are_reported(events_from) -> None:
    events = events_from(merger(31, "2020-01-01", "01001", "01002"))
    passage = cog.build_passage(events, 2019, 2021, {"01001", "01003"})
    table = pd.DataFrame({"code": ["01001", "01002", "99999", "1003"], "pop": [1, 2, 3, 4]})
    with pytest.raises(InputError) as error:
        cog.recode(table, passage, count_columns=["pop"])
    message = str(error.value)
    assert "99999" in message and "1003" in message and "zéro initial" in message
    result = cog.recode(table, passage, count_columns=["pop"], on_unknown="report")
    assert result.report.unknown_codes == ("1003", "99999")
    assert result.table["code"].tolist() == ["01001"]
    assert "codes inconnus" in result.report.summary()


def test_recode_rejects_bad_tables(events_from) -> None:
    events = events_from(merger(31, "2020-01-01", "01001", "01002"))
    passage = cog.build_passage(events, 2019, 2021, {"01001", "01003"})
    with pytest.raises(InputError, match="double"):
        cog.recode(
            pd.DataFrame({"code": ["01001", "01001"], "pop": [1, 2]}),
            passage,
            count_columns=["pop"],
        )
    with pytest.raises(InputError, match="non numérique"):
        cog.recode(pd.DataFrame({"code": ["01001"], "pop": ["s"]}), passage, count_columns=["pop"])
    with pytest.raises(InputError, match=r"absentes.*pop"):
        cog.recode(pd.DataFrame({"code": ["01001"]}), passage, count_columns=["pop"])


def test_arm_to_commune() -> None:
    assert cog.arm_to_commune("75101") == "75056"
    assert cog.arm_to_commune("75120") == "75056"
    assert cog.arm_to_commune("69381") == "69123"
    assert cog.arm_to_commune("69389") == "69123"
    assert cog.arm_to_commune("13201") == "13055"
    assert cog.arm_to_commune("13216") == "13055"
    for code in ("75121", "69380", "13217", "75056", "2A004", "97101"):
        assert cog.arm_to_commune(code) == code
    assert len(cog.ARM_TO_COMMUNE) == 45
    codes = pd.Series(["75108", "01001", None, "13203"], dtype=object)
    mapped = cog.arm_to_commune_series(codes)
    assert mapped.tolist()[:2] == ["75056", "01001"] and mapped.iloc[3] == "13055"
    assert pd.isna(mapped.iloc[2])


def test_arrondissements_summed_or_dropped(events_from) -> None:
    events = events_from(merger(31, "2020-01-01", "01001", "01002"))
    targets = {"01001", "69123"}
    passage = cog.build_passage(events, 2019, 2021, targets)
    arms = [f"6938{i}" for i in range(1, 10)]
    only_arm = pd.DataFrame({"code": ["01001", "01002", *arms], "pop": [1, 1, *range(1, 10)]})
    result = cog.recode(only_arm, passage, count_columns=["pop"])
    out = by_code(result)
    assert out.loc["69123", "pop"] == 45 and out.loc["69123", "cog_status"] == "ok"
    assert result.report.arm_aggregated == ("69123",)
    # Missing arrondissement: the commune total is incomplete.
    out = by_code(cog.recode(only_arm.iloc[:-1], passage, count_columns=["pop"]))
    assert out.loc["69123", "cog_status"] == "incomplete"
    # Commune row present: the arrondissements are duplicates, dropped and reported.
    both = pd.concat([only_arm, pd.DataFrame({"code": ["69123"], "pop": [500]})])
    result = cog.recode(both, passage, count_columns=["pop"])
    assert by_code(result).loc["69123", "pop"] == 500
    assert result.report.arm_dropped == tuple(arms)


def test_detect_vintage_on_generated_events(events_from) -> None:
    events = events_from(merger(31, "2019-01-01", "01001", "01002"))
    targets = {"01001", "01003"}
    years = range(2016, 2022)
    # {01001, 01002, 01003} is COG 2016-2018: ties go to the latest year.
    assert cog.detect_vintage(["01001", "01002", "01003"], events, targets, 2021, years) == 2018
    assert cog.detect_vintage(["01001", "01003"], events, targets, 2021, years) == 2021


def test_inconsistent_target_list_is_rejected(events_from) -> None:
    events = events_from(merger(31, "2020-01-01", "01001", "01002"))
    with pytest.raises(InputError, match="01001"):
        cog.communes_at(events, 2019, {"01003"}, 2021)
    with pytest.raises(InputError, match="postérieur"):
        cog.communes_at(events, 2022, {"01001"}, 2021)


# --------------------------------------------------------------------------- bad files


def test_missing_columns_name_file_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "mouvements.csv"
    path.write_text("MOD,DATE_EFF,COM_AV,COM_AP\n31,2020-01-01,01002,01001\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        cog.read_events(path)
    message = str(error.value)
    assert "mouvements.csv" in message
    listed = re.search(r"absentes : ([A-Z_, ]+)", message)
    assert listed is not None
    named = {name.strip() for name in listed.group(1).split(",")}
    assert named == {"TYPECOM_AV", "TYPECOM_AP", "LIBELLE_AV", "LIBELLE_AP"}


def test_wrong_separator_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "v_mvt_commune_2025.csv"
    path.write_text(
        HEADER.replace(",", ";") + "\n10;2020-01-01;COM;01001;0;A;A;A;COM;01001;0;B;B;B\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as error:
        cog.read_events(path)
    assert "séparateur" in str(error.value) and "v_mvt_commune_2025.csv" in str(error.value)
    assert "TYPECOM_AV" in str(error.value)


def test_bad_values_give_line_and_column(tmp_path: Path) -> None:
    good = (10, "2020-01-01", "COM", "01001", "COM", "01001")
    with pytest.raises(InputError) as error:
        cog.read_events(
            write_events(
                tmp_path / "a.csv", [good, (10, "2020-13-45", "COM", "01001", "COM", "01001")]
            )
        )
    assert error.value.line == 3 and error.value.column == "DATE_EFF"
    assert "ligne 3" in str(error.value)
    with pytest.raises(InputError) as error:
        cog.read_events(
            write_events(tmp_path / "b.csv", [(31, "2020-01-01", "COM", "1002", "COM", "01001")])
        )
    assert error.value.column == "COM_AV" and "zéro initial" in str(error.value)
    with pytest.raises(InputError) as error:
        cog.read_events(
            write_events(tmp_path / "c.csv", [(99, "2020-01-01", "COM", "01002", "COM", "01001")])
        )
    assert error.value.column == "MOD" and "inconnu" in str(error.value)
    with pytest.raises(InputError, match="introuvable"):
        cog.read_events(tmp_path / "absent.csv")


def test_lowercase_header_and_french_dates_accepted(tmp_path: Path) -> None:
    path = write_events(tmp_path / "old.csv", merger(31, "01/01/2020", "01001", "01002"))
    path.write_text(
        path.read_text(encoding="utf-8").replace(HEADER, HEADER.lower()), encoding="utf-8"
    )
    events = cog.read_events(path)
    assert list(events.columns) == [
        "mod", "date_eff", "typecom_av", "com_av", "libelle_av", "typecom_ap", "com_ap",
        "libelle_ap",
    ]  # fmt: skip
    assert events["date_eff"].iloc[0] == pd.Timestamp("2020-01-01")
    assert events["mod"].tolist() == [31, 31]


# --------------------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def real(shared_data: Path) -> dict:
    events = cog.read_events(shared_file(shared_data, "cog/v_mvt_commune_2025_from_COGiter.csv"))
    epci = pd.read_csv(
        shared_file(shared_data, "cog/table_passage_com_epci_2025_COGiter.csv"), dtype=str
    )
    archive = shared_file(shared_data, "insee_rp/base_cc_comparateur_RP2018_csv.zip")
    with zipfile.ZipFile(archive) as zipped, zipped.open("base_cc_comparateur.CSV") as handle:
        comparateur = pd.read_csv(handle, sep=";", dtype=str)
    for column in ("P18_POP", "P13_POP"):
        comparateur[column] = pd.to_numeric(comparateur[column])
    targets = set(epci["DEPCOM"])
    return {
        "events": events,
        "targets": targets,
        "comparateur": comparateur,
        "passage": cog.build_passage(events, 2021, 2025, targets),
    }


def test_real_events_every_mod_is_handled(real: dict) -> None:
    events = real["events"]
    assert len(events) == 13_534
    assert set(events["mod"]) <= set(cog.EVENT_LABELS)
    assert events["date_eff"].max() == pd.Timestamp("2025-01-01")
    assert len(real["targets"]) == 34_875


def test_real_comparateur_codes_all_reach_cog_2025(real: dict) -> None:
    comparateur, passage = real["comparateur"], real["passage"]
    codes = cog.arm_to_commune_series(comparateur["CODGEO"])
    assert set(codes) <= set(passage["code_source"])  # nothing unknown, nothing excluded
    assert set(passage["code_cible"]) == real["targets"]
    result = cog.recode(comparateur, passage, code_column="CODGEO", count_columns=["P18_POP"])
    assert result.report.unknown_codes == ()
    assert set(result.table["CODGEO"]) == real["targets"]
    assert len(result.report.arm_dropped) == 45  # the file has both ARM and commune rows


def test_real_passage_agrees_with_cogiter(real: dict, shared_data: Path) -> None:
    cogiter = pd.read_csv(
        shared_file(shared_data, "cog/table_passage_com_historique_COG2025_COGiter.csv"), dtype=str
    )
    ours = real["passage"][real["passage"]["receives"]]
    joined = ours.merge(cogiter, left_on="code_source", right_on="DEPCOM_HIST", how="inner")
    assert len(joined) == len(ours) == 34_965  # COGiter knows every COG 2021 commune
    disagree = joined[joined["code_cible"] != joined["DEPCOM"]]
    assert disagree.empty, disagree[["code_source", "code_cible", "DEPCOM"]].to_string()


def test_real_communes_2022_match_appartenance_table(real: dict, shared_data: Path) -> None:
    path = shared_file(shared_data, "cog/table-appartenance-geo-communes-22.xlsx")
    official = pd.read_excel(path, sheet_name="COM", skiprows=5, dtype=str)["CODGEO"]
    rebuilt = cog.communes_at(real["events"], 2022, real["targets"], 2025)
    assert len(official) == 34_955
    assert rebuilt == set(official)


def test_real_detect_vintage(real: dict, shared_data: Path) -> None:
    events, targets = real["events"], real["targets"]
    assert cog.detect_vintage(real["comparateur"]["CODGEO"], events, targets, 2025) == 2021
    filosofi_2019 = pd.read_csv(
        shared_file(shared_data, "filosofi/cc_filosofi_2019_COM.csv"), sep=";", dtype=str
    )
    assert cog.detect_vintage(filosofi_2019["CODGEO"], events, targets, 2025) == 2021
    # cc_filosofi_2020_COM.csv is in COG 2022, not 2023: it still holds communes that
    # disappeared on 2023-01-01 (e.g. Béon 01039, merged into Culoz-Béon).
    filosofi_2020 = pd.read_csv(
        shared_file(shared_data, "filosofi/cc_filosofi_2020_COM.csv"), sep=";", dtype=str
    )
    codes = set(cog.arm_to_commune_series(filosofi_2020["CODGEO"]))
    assert codes <= cog.communes_at(events, 2022, targets, 2025)
    ended_2023 = codes - cog.communes_at(events, 2023, targets, 2025)
    assert "01039" in ended_2023
    assert cog.detect_vintage(filosofi_2020["CODGEO"], events, targets, 2025) == 2022


def _real_commune_nouvelle(events: pd.DataFrame, codes: set[str]) -> tuple[str, set[str]]:
    """A commune nouvelle of 2022-2025 whose members are in the comparateur, untouched since."""
    com = events[(events["typecom_av"] == "COM") & (events["typecom_ap"] == "COM")]
    com = com[com["date_eff"] > pd.Timestamp("2021-01-01")]
    changing = com[com["com_av"] != com["com_ap"]]
    for (_, pole), group in com[com["mod"] == 32].groupby(["date_eff", "com_ap"]):
        members = set(group["com_av"])
        others = changing.drop(group.index, errors="ignore")
        touched = set(others["com_av"]) | set(others["com_ap"])
        if len(members) >= 3 and members <= codes and not (members | {pole}) & touched:
            return pole, members
    raise AssertionError("aucune commune nouvelle exploitable")


def test_real_merged_commune_is_summed(real: dict) -> None:
    comparateur = real["comparateur"]
    pole, members = _real_commune_nouvelle(real["events"], set(comparateur["CODGEO"]))
    expected = comparateur.loc[comparateur["CODGEO"].isin(members), "P18_POP"].sum()
    result = cog.recode(
        comparateur, real["passage"], code_column="CODGEO", count_columns=["P18_POP"]
    )
    row = by_code(result, "CODGEO").loc[pole]
    assert row["P18_POP"] == pytest.approx(expected)
    assert row["n_sources"] == len(members) and row["cog_status"] == "fusion"


def test_real_national_total_is_kept(real: dict) -> None:
    comparateur = real["comparateur"]
    communes = comparateur[~comparateur["CODGEO"].isin(cog.ARM_TO_COMMUNE)]
    result = cog.recode(
        comparateur, real["passage"], code_column="CODGEO", count_columns=["P18_POP", "P13_POP"]
    )
    for column in ("P18_POP", "P13_POP"):
        assert result.table[column].sum() == pytest.approx(communes[column].sum(), rel=1e-12)
    # Every split commune of the passage really has a rétablissement after COG 2021.
    events = real["events"]
    restored = events[(events["mod"] == 21) & (events["date_eff"] > pd.Timestamp("2021-01-01"))]
    assert set(result.report.split_sources) <= set(restored["com_av"])
    assert len(result.report.split_sources) == 3
