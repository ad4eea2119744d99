"""Readers of INSEE census bases (comparateur, base-cc-*, base-ic-*) and Filosofi.

Real official files are read in place from ``../shared/data`` (skipped when absent). Census
bases of which only the dictionary is available here are generated into ``tmp_path`` from
INSEE's ``meta_*`` dictionaries (same columns in the same order, ``;``, CRLF).
"""

from __future__ import annotations

import csv
import gzip
import importlib
import io
import re
import tempfile
import zipfile
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SHARED_DATA, shared_file
from observatoire.errors import InputError
from observatoire.sources.base import Detection, ReadResult
from observatoire.sources.registry import detect, readers
from observatoire.sources.sniff import sniff

# The reader modules are not imported at collection time: the registry loads every reader
# module only when none is registered yet, so importing one first would hide the others.
LONG = ["code", "variable", "period", "value", "secret", "source_column"]
MARKERS = {"", "s", "nd", "ns", "so"}
NUMBER = {
    ".": r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?",
    ",": r"[+-]?(?:[0-9]+,?[0-9]*|,[0-9]+)",
}
COMPARATEUR = "insee_rp/base_cc_comparateur_RP2018_csv.zip"
FILO_2019 = "filosofi/cc_filosofi_2019_COM.csv"
FILO_2020 = "filosofi/cc_filosofi_2020_COM.csv"
FILO_IRIS = "filosofi/BASE_TD_FILO_IRIS_2021_DEC.csv"
META_LOGEMENT = "insee_rp/meta_base-cc-logement-2021.CSV.gz"
META_EMPLOI = "insee_rp/meta_base-cc-emploi-pop-active-2020_v2.CSV.gz"
META_DOSSIER = "insee_rp/meta_dossier_complet.csv.gz"


# --------------------------------------------------------------------------- helpers


def reader(name: str):
    return next(r for r in readers() if r.name == name)


def rp():
    readers()
    return importlib.import_module("observatoire.sources.insee_rp")


def read_file(file, name: str | None = None) -> tuple[Detection, ReadResult, pd.DataFrame]:
    if name is None:
        chosen, detection = detect(file)
    else:
        chosen = reader(name)
        detection = chosen.sniff(file)
        assert detection is not None, f"{name} ne reconnaît pas {file.label}"
    result = chosen.read(file, detection)
    frames = list(result.frames())
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LONG)
    return detection, result, frame


def read(path: Path, name: str | None = None) -> tuple[Detection, ReadResult, pd.DataFrame]:
    (file,) = sniff(path)
    return read_file(file, name)


def write(path: Path, header: list[str], rows: list[list[str]], *, quote: bool = False) -> Path:
    def fmt(cell: str) -> str:
        return f'"{cell}"' if quote else cell

    lines = [";".join(fmt(c) for c in row) for row in [header, *rows]]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def value(frame: pd.DataFrame, code: str, column: str) -> pd.Series:
    row = frame[(frame["code"] == code) & (frame["source_column"] == column)]
    assert len(row) == 1, (code, column, len(row))
    return row.iloc[0]


def meta_variables(path: Path) -> tuple[list[str], list[str]]:
    """(variable columns in order, commune codes) of an INSEE dictionary."""
    meta = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    columns = meta.loc[(meta["COD_MOD"] == "") & (meta["COD_VAR"] != "CODGEO"), "COD_VAR"]
    codes = meta.loc[meta["COD_VAR"] == "CODGEO", "COD_MOD"]
    return list(dict.fromkeys(columns)), codes.tolist()


def numbers(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{v:.10g}" for v in rng.random(count) * 5000]


def independent_secrets(text: str, code_column: str) -> tuple[int, int]:
    """(secret cells, data cells) counted with plain csv parsing."""
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    header, body = rows[0], [r for r in rows[1:] if r]
    skip = {i for i, name in enumerate(header) if name == code_column}
    cells = [c for r in body for i, c in enumerate(r) if i not in skip]
    return sum(c.strip().lower() in MARKERS for c in cells), len(cells)


@cache
def comparateur_text() -> str:
    with zipfile.ZipFile(SHARED_DATA / COMPARATEUR) as archive:
        return archive.read("base_cc_comparateur.CSV").decode("ascii")


# --------------------------------------------------------------------------- real files


def test_comparateur_real_values(shared_data: Path) -> None:
    path = shared_file(shared_data, COMPARATEUR)
    data, meta = sorted(sniff(path), key=lambda f: f.member.startswith("meta"))
    assert reader("insee_rp").sniff(meta) is None and reader("filosofi").sniff(meta) is None
    assert detect(meta)[0].name == "insee_meta"
    detection, result, frame = read_file(data)
    assert (detection.dataset, detection.vintage, detection.level) == (
        "rp_comparateur",
        "2018",
        "commune",
    )
    assert detection.cog_vintage == 2021 and result.table == "insee_rp"
    assert list(frame.columns) == LONG and frame["value"].dtype == np.float64
    assert value(frame, "62119", "P18_POP")["value"] == 25193
    assert value(frame, "62119", "P13_POP")["value"] == 25463
    assert value(frame, "62119", "SUPERF")["value"] == pytest.approx(9.46)
    births = value(frame, "62119", "NAIS1318")
    assert (births["variable"], births["period"], births["value"]) == ("NAIS", "2013-2018", 1564)
    med = value(frame, "62119", "MED19")
    assert (med["variable"], med["period"], med["value"]) == ("MED", "2019", 18320)
    assert value(frame, "62119", "ETTEF118")["variable"] == "ETTEF1"
    pop = value(frame, "62119", "P18_POP")
    assert (pop["variable"], pop["period"]) == ("P_POP", "2018")
    households = value(frame, "01004", "P18_MEN")["value"]
    assert households == pytest.approx(6531.14863583005)  # weighted counts stay decimal
    secret = value(frame, "01001", "TP6019")
    assert secret["secret"] and np.isnan(secret["value"])
    assert {"75056", "75101", "69123", "13055"} <= set(frame["code"])
    assert frame["code"].str.len().eq(5).all()
    assert {"P18_POP", "SUPERF", "NAIS1318", "NBMENFISC19", "ETTOT18", "NAISD20"} <= set(
        result.count_columns
    )
    assert set(result.keep_columns) == {"PIMP19", "MED19", "TP6019"}
    secrets, cells = independent_secrets(comparateur_text(), "CODGEO")
    assert result.secret_cells == secrets == int(frame["secret"].sum()) and len(frame) == cells
    assert result.repaired == 0


def test_filosofi_2020_real_values(shared_data: Path) -> None:
    path = shared_file(shared_data, FILO_2020)
    detection, result, frame = read(path)
    assert (detection.dataset, detection.vintage, detection.level, detection.cog_vintage) == (
        "filosofi_com",
        "2020",
        "commune",
        2022,
    )
    assert result.table == "filosofi" and list(frame.columns) == LONG
    assert value(frame, "01004", "MED20")["value"] == 21070
    assert value(frame, "01004", "TP6020")["value"] == 17.0  # written "17,0"
    assert value(frame, "01004", "PIMPOT20")["value"] == -14.5
    assert value(frame, "01004", "TP6020")["variable"] == "TP60"
    secret = value(frame, "01001", "TP6020")
    assert secret["secret"] and np.isnan(secret["value"])
    assert not (frame.loc[frame["secret"], "value"] == 0).any()
    assert set(result.count_columns) == {"NBMENFISC20", "NBPERSMENFISC20"}
    assert "MED20" in result.keep_columns and "TP6020" in result.keep_columns
    text = path.read_text(encoding="ascii")
    secrets, cells = independent_secrets(text, "CODGEO")
    assert result.secret_cells == secrets and len(frame) == cells
    assert {"75056", "75101"} <= set(frame["code"])


def test_filosofi_2019_real_values(shared_data: Path) -> None:
    path = shared_file(shared_data, FILO_2019)
    detection, result, frame = read(path)
    assert (detection.dataset, detection.vintage, detection.cog_vintage) == (
        "filosofi_com",
        "2019",
        2021,
    )
    assert value(frame, "01004", "MED19")["value"] == 20510
    assert value(frame, "01004", "PACT19")["value"] == pytest.approx(70.1)
    assert value(frame, "01001", "PIMP19")["secret"]  # blank = secret in 2019
    secrets, cells = independent_secrets(path.read_text(encoding="ascii"), "CODGEO")
    assert result.secret_cells == secrets and len(frame) == cells


def test_filosofi_iris_real_values(shared_data: Path) -> None:
    path = shared_file(shared_data, FILO_IRIS)
    detection, result, frame = read(path)
    assert (detection.dataset, detection.vintage, detection.level, detection.cog_vintage) == (
        "filosofi_iris_dec",
        "2021",
        "iris",
        2023,
    )
    assert frame["code"].str.len().eq(9).all()
    row = value(frame, "010040101", "DEC_MED21")
    assert (row["variable"], row["period"], row["value"]) == ("DEC_MED", "2021", 19330)
    assert value(frame, "010040101", "DEC_EQ21")["value"] == pytest.approx(0.71)
    assert value(frame, "010040101", "DEC_PIMP21")["value"] == 43.0
    assert result.count_columns == ()
    secrets, cells = independent_secrets(path.read_text(encoding="ascii"), "IRIS")
    assert result.secret_cells == secrets and len(frame) == cells
    assert any("« ns »" in w for w in result.warnings)


@pytest.mark.parametrize(
    "relative",
    [META_LOGEMENT, META_EMPLOI, META_DOSSIER, "filosofi/meta_cc_filosofi_2019_COM.csv.gz"],
)
def test_dictionaries_and_derived_files_are_not_claimed(shared_data: Path, relative: str) -> None:
    (file,) = sniff(shared_file(shared_data, relative))
    assert reader("insee_rp").sniff(file) is None
    assert reader("filosofi").sniff(file) is None
    derived = shared_file(shared_data, "insee_rp/communes_france_rp2021_derived_datasfun.csv.gz")
    (other,) = sniff(derived)
    assert reader("insee_rp").sniff(other) is None and reader("filosofi").sniff(other) is None


# --------------------------------------------------------------------------- dictionary


def test_dictionary_round_trip_and_layouts(shared_data: Path) -> None:
    module = rp()
    dictionary = module.rp_dictionary()
    columns, _ = meta_variables(shared_file(shared_data, META_LOGEMENT))

    def names(theme: str, vintage: str) -> list[str]:
        return sorted(module.column_name(v, k) for v, k in dictionary.expected(theme, vintage))

    assert names("logement", "2021") == sorted(columns)
    columns, _ = meta_variables(shared_file(shared_data, META_EMPLOI))
    assert names("emploi_pop_active", "2020") == sorted(columns)
    assert dictionary.expected("logement", "2019") is None
    labels = {row["var"]: row for row in dictionary.themes["logement"]["variables"]}
    assert labels["P_RP_LOCHLMV"]["additive"] and labels["P_LOG"]["label"] == "Logements"
    filo = {row["var"]: row for row in dictionary.themes["filosofi_com"]["variables"]}
    assert not filo["MED"]["additive"] and filo["NBMENFISC"]["additive"]
    filosofi = importlib.import_module("observatoire.sources.filosofi")
    assert list(filo) == list(filosofi.COM_VARIABLES)
    assert module.column_name("P_LOG", "21") == "P21_LOG"
    assert module.column_name("NAIS", "1520") == "NAIS1520"


# --------------------------------------------------------------------------- generated bases


def generated_base(tmp_path: Path, columns: list[str], codes: list[str], name: str, **kw) -> Path:
    rows = [[code, *numbers(len(columns), i)] for i, code in enumerate(codes)]
    return write(tmp_path / name, ["CODGEO", *columns], rows, **kw)


@pytest.mark.parametrize("quote", [False, True])
def test_generated_logement_2021_follows_the_dictionary(
    shared_data: Path, tmp_path: Path, quote: bool
) -> None:
    columns, codes = meta_variables(shared_file(shared_data, META_LOGEMENT))
    codes = [*codes[:40], "75056", "75101"]
    path = generated_base(tmp_path, columns, codes, "base-cc-logement-2021.CSV", quote=quote)
    detection, result, frame = read(path)
    assert (detection.dataset, detection.vintage, detection.cog_vintage) == (
        "rp_logement",
        "2021",
        2024,
    )
    assert len(frame) == len(columns) * len(codes) and result.warnings == []
    first = numbers(len(columns), 0)
    row = value(frame, codes[0], "P21_RP_LOCHLMV")
    assert row["value"] == pytest.approx(float(first[columns.index("P21_RP_LOCHLMV")]))
    assert (row["variable"], row["period"]) == ("P_RP_LOCHLMV", "2021")
    assert value(frame, codes[0], "P10_LOG")["period"] == "2010"
    assert value(frame, codes[0], "C21_RP_HSTU1P")["variable"] == "C_RP_HSTU1P"
    assert set(result.count_columns) == set(columns) and result.keep_columns == ()


def test_generated_logement_2020_proves_no_hard_coded_year(
    shared_data: Path, tmp_path: Path
) -> None:
    columns, codes = meta_variables(shared_file(shared_data, META_LOGEMENT))
    older = {"21": "20", "15": "14", "10": "09"}
    renamed = [
        re.sub(r"^([PC])(21|15|10)_", lambda m: m.group(1) + older[m.group(2)] + "_", c)
        for c in columns
    ]
    renamed = [c.replace("ACH18", "ACH17") for c in renamed]  # the last band moves
    path = generated_base(tmp_path, renamed, codes[:30], "base-cc-logement-2020.CSV")
    detection, result, frame = read(path)
    assert (detection.dataset, detection.vintage, detection.cog_vintage) == (
        "rp_logement",
        "2020",
        2023,
    )
    assert any("millésime 2020 absent du dictionnaire" in w for w in result.warnings)
    assert value(frame, codes[0], "P09_LOG")["period"] == "2009"
    assert value(frame, codes[0], "P20_RP_ACH17")["variable"] == "P_RP_ACH17"


def test_generated_emploi_2020(shared_data: Path, tmp_path: Path) -> None:
    columns, codes = meta_variables(shared_file(shared_data, META_EMPLOI))
    path = generated_base(tmp_path, columns, codes[:25], "base-cc-emploi-pop-active-2020.CSV")
    detection, _, frame = read(path)
    assert (detection.dataset, detection.vintage, detection.cog_vintage) == (
        "rp_emploi_pop_active",
        "2020",
        2023,
    )
    assert value(frame, codes[3], "C20_EMPLT_AGRI")["variable"] == "C_EMPLT_AGRI"
    assert value(frame, codes[3], "P14_CHOM1564")["period"] == "2014"
    # Leaving out an expected column of a documented edition is refused, naming it.
    short = generated_base(tmp_path, columns[1:], codes[:5], "court.CSV")
    with pytest.raises(InputError, match="P20_POP1564"):
        read(short)


@cache
def dossier_themes() -> dict[str, list[str]]:
    meta = pd.read_csv(SHARED_DATA / META_DOSSIER, sep=";", dtype=str, keep_default_na=False)
    meta = meta[meta["COD_MOD"] == ""]
    themes: dict[str, list[str]] = {}
    for name, theme, source in zip(meta["COD_VAR"], meta["THEME"], meta["SOURCE"], strict=True):
        key = "serie_historique" if "dénombrements" in source else theme
        themes.setdefault(key, []).append(name)
    return themes


@pytest.mark.parametrize(
    ("theme", "dataset"),
    [
        ("Évolution et structure de la population", "rp_evol_struct_pop"),
        ("Couples - Familles - Ménages", "rp_couples_familles_menages"),
        ("Diplômes - Formation", "rp_diplomes_formation"),
        ("Population active, emploi et chômage au sens du recensement", "rp_activite_residents"),
    ],
)
def test_generated_theme_bases(shared_data: Path, tmp_path: Path, theme: str, dataset: str) -> None:
    shared_file(shared_data, META_DOSSIER)
    columns = dossier_themes()[theme]
    path = generated_base(tmp_path, columns, ["01001", "2A004", "97101"], "base.CSV")
    detection, _, frame = read(path)
    assert (detection.dataset, detection.vintage, detection.cog_vintage) == (dataset, "2021", 2024)
    assert set(frame["code"]) == {"01001", "2A004", "97101"}
    assert len(frame) == 3 * len(columns)


def test_generated_serie_historique_periods(shared_data: Path, tmp_path: Path) -> None:
    shared_file(shared_data, META_DOSSIER)
    columns = ["P21_POP", "P15_POP", "P10_POP", *dossier_themes()["serie_historique"]]
    path = generated_base(tmp_path, columns, ["62119", "62498"], "serie.CSV")
    detection, _, frame = read(path)
    assert (detection.dataset, detection.vintage) == ("rp_serie_historique", "2021")
    periods = frame.drop_duplicates("source_column").set_index("source_column")["period"]
    assert periods["NAIS1520"] == "2015-2021"  # births 1/1/2015-31/12/2020
    assert periods["NAIS1014"] == "2010-2015"
    assert periods["NAIS9909"] == "1999-2010"
    assert periods["DECE6875"] == "1968-1975"
    assert periods["D68_POP"] == "1968" and periods["SUPERF"] == "2021"
    assert frame.loc[frame["source_column"] == "D99_POP", "variable"].iloc[0] == "D_POP"


def test_dossier_complet_is_not_claimed(shared_data: Path, tmp_path: Path) -> None:
    shared_file(shared_data, META_DOSSIER)
    columns = [c for names in dossier_themes().values() for c in names]
    path = generated_base(tmp_path, columns, ["01001"], "dossier_complet.csv")
    (file,) = sniff(path)
    assert reader("insee_rp").sniff(file) is None and reader("filosofi").sniff(file) is None


def test_generated_iris_base(tmp_path: Path) -> None:
    header = ["IRIS", "REG", "DEP", "UU2020", "COM", "LIBCOM", "TRIRIS", "GRD_QUART"]
    header += ["LIBIRIS", "TYP_IRIS", "MODIF_IRIS", "LAB_IRIS"]
    variables = ["P20_LOG", "P20_RP", "P20_RSECOCC", "P20_LOGVAC", "P20_RP_LOCHLMV"]
    place = ["32", "62", "62501", "62119", "Béthune", "ZZZZZZ", "6211901"]
    rows = [
        ["621190101", *place, "Centre", "H", "00", "1", "1200.5", "1000", "s", "", "311.25"],
        ["62119010", *place, "Gare", "H", "00", "1", "10", "9", "0", "1", "2"],
    ]
    path = write(tmp_path / "base-ic-logement-2020.CSV", [*header, *variables], rows)
    detection, result, frame = read(path)
    assert (detection.dataset, detection.level, detection.vintage) == (
        "rp_iris_logement",
        "iris",
        "2020",
    )
    assert set(frame["code"]) == {"621190101", "062119010"}  # lost zero: padded, counted
    assert result.repaired == 1 and set(frame["source_column"]) == set(variables)
    assert value(frame, "621190101", "P20_RP_LOCHLMV")["value"] == 311.25
    assert result.secret_cells == 2


def test_generated_filosofi_levels_and_disp(tmp_path: Path) -> None:
    readers()
    filosofi = importlib.import_module("observatoire.sources.filosofi")
    header = ["CODGEO", *(f"{v}20" for v in filosofi.COM_VARIABLES)]
    cells = ["1200", "2500", "21000", *["s"] * (len(header) - 4)]
    cases = {
        "epci": ["200000172", "200000438", "200000545"],
        "departement": ["01", "02", "05", "2A", "971"],
        "region": ["01", "02", "11", "32", "84"],
    }
    for level, codes in cases.items():
        path = write(tmp_path / f"{level}.csv", header, [[c, *cells] for c in codes])
        detection, _, frame = read(path)
        assert detection.level == level and detection.cog_vintage is None
        assert set(frame["code"]) == set(codes)
    disp = ["IRIS", *(f"DISP_{v}21" for v in filosofi.IRIS_VARIABLES["DISP"])]
    row = ["751010101", *(["12,5"] * (len(disp) - 1))]
    detection, _, frame = read(write(tmp_path / "disp.csv", disp, [row]))
    assert (detection.dataset, detection.level) == ("filosofi_iris_disp", "iris")
    assert (frame["value"] == 12.5).all()


def test_look_alike_headers_are_not_claimed(tmp_path: Path) -> None:
    bpe = ["CODGEO", "A101", "D101", "D102", "D103", "D901", "RD01"]
    lovac = ["CODGEO_25", "LIBGEO_25", "pp_vacant_25", "pp_total_24"]
    for name, header in (("bpe.csv", bpe), ("lovac.csv", lovac)):
        (file,) = sniff(write(tmp_path / name, header, [["01001", *["1"] * (len(header) - 1)]]))
        assert reader("insee_rp").sniff(file) is None and reader("filosofi").sniff(file) is None


# --------------------------------------------------------------------------- bad input


FILO_HEADER = ["CODGEO", "NBMENFISC20", "NBPERSMENFISC20", "MED20", "PIMP20", "TP6020"]


def filosofi_file(tmp_path: Path, rows: list[list[str]], name: str = "f.csv") -> Path:
    readers()
    filosofi = importlib.import_module("observatoire.sources.filosofi")
    header = ["CODGEO", *(f"{v}20" for v in filosofi.COM_VARIABLES)]
    full = [[*r, *["s"] * (len(header) - len(r))] for r in rows]
    return write(tmp_path / name, header, full)


def test_secret_is_never_zero_and_markers_are_counted(tmp_path: Path) -> None:
    path = filosofi_file(
        tmp_path, [["01001", "331", "842", "24820", "s", "nd"], ["01004", "10", "20", "", "48,0"]]
    )
    _, result, frame = read(path)
    assert frame.loc[frame["secret"], "value"].isna().all()
    assert value(frame, "01004", "PIMP20")["value"] == 48.0
    assert value(frame, "01004", "MED20")["secret"]
    assert result.secret_cells == int(frame["secret"].sum())


def test_missing_and_repeated_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", FILO_HEADER, [["01001", "1", "2", "3", "4", "5"]])
    with pytest.raises(InputError, match=r"absente\(s\) : TP60AGE120") as caught:
        read(path)
    assert caught.value.line == 1
    repeated = write(tmp_path / "b.csv", ["CODGEO", "P21_POP", "P21_POP", "P15_POP"], [])
    with pytest.raises(InputError, match="en double : P21_POP"):
        read(repeated, "insee_rp")


def test_non_numeric_value_names_line_and_column(tmp_path: Path) -> None:
    path = filosofi_file(tmp_path, [["01001", "331", "842", "24820"], ["01002", "1O5", "2"]])
    with pytest.raises(InputError, match="« 1O5 »") as caught:
        read(path)
    assert (caught.value.line, caught.value.column) == (3, "NBMENFISC20")


def test_decimal_mark_of_the_file_is_enforced(tmp_path: Path) -> None:
    rows = [["01001", "3", "8", "24820", "48,0", "17,0"], ["01002", "1.5", "2,5"]]
    comma = filosofi_file(tmp_path, rows)
    with pytest.raises(InputError, match=r"« 1\.5 »") as caught:
        read(comma)
    assert (caught.value.line, caught.value.column) == (3, "NBMENFISC20")
    dot = write(
        tmp_path / "dot.csv",
        ["CODGEO", "P22_NSCOL15P", "P22_SCOL0610"],
        [["01001", "10.5", "3.25"], ["01002", "1,5", "2"]],
    )
    with pytest.raises(InputError, match="« 1,5 »") as caught:
        read(dot)
    assert (caught.value.line, caught.value.column) == (3, "P22_NSCOL15P")


def test_codes_lost_zeros_duplicates_and_blank_lines(tmp_path: Path) -> None:
    header = ["CODGEO", "P22_NSCOL15P", "P22_SCOL0610"]
    path = tmp_path / "codes.csv"
    path.write_bytes(
        b"CODGEO;P22_NSCOL15P;P22_SCOL0610\r\n01001;1;2\r\n\r\n1002;3;4\r\n01001;1;2\r\n"
    )
    _, result, frame = read(path)
    assert sorted(set(frame["code"])) == ["01001", "01002"] and len(frame) == 4
    assert result.repaired == 2  # one padded code, one exact repeat dropped
    assert any("1002 → 01002" in w for w in result.warnings)
    assert any("01001 (ligne 5)" in w for w in result.warnings)
    conflict = write(tmp_path / "conflict.csv", header, [["01001", "1", "2"], ["01001", "1", "3"]])
    with pytest.raises(InputError, match=r"lignes 2 et 3") as caught:
        read(conflict)
    assert caught.value.column == "CODGEO"
    padded_twin = write(tmp_path / "twin.csv", header, [["01002", "1", "2"], ["1002", "9", "9"]])
    with pytest.raises(InputError, match="« 01002 » en double"):
        read(padded_twin)
    bad = write(tmp_path / "bad.csv", header, [["01001", "1", "2"], ["ABCDE", "1", "2"]])
    with pytest.raises(InputError, match="code géographique invalide « ABCDE »") as caught:
        read(bad)
    assert (caught.value.line, caught.value.column) == (3, "CODGEO")


def test_truncated_row_and_missing_code_column(tmp_path: Path) -> None:
    header = ["CODGEO", "P22_NSCOL15P", "P22_SCOL0610"]
    rows = [[f"{1000 + i:05d}", "1", "2"] for i in range(30)] + [["01050", "1"]]
    with pytest.raises(InputError, match="2 champ") as caught:
        read(write(tmp_path / "t.csv", header, rows))
    assert caught.value.line == 32
    no_code = write(tmp_path / "n.csv", [*header[1:], "P16_NSCOL15P"], [["1", "2", "3"]])
    with pytest.raises(InputError, match="« CODGEO » absente"):
        read(no_code, "insee_rp")


def test_filosofi_mixed_years_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.csv",
        ["CODGEO", "NBMENFISC20", "NBPERSMENFISC20", "MED20", "MED19"],
        [["01001", "1", "2", "3", "4"]],
    )
    with pytest.raises(InputError, match="autre millésime que 2020 : MED19"):
        read(path, "filosofi")


# --------------------------------------------------------------------------- fuzzing


@cache
def sample(kind: str) -> tuple[list[str], list[list[str]], str, str]:
    """(header, first rows, code column, decimal mark) of a real file."""
    if kind == "comparateur":
        text, code, mark = comparateur_text(), "CODGEO", "."
    else:
        relative, code, mark = {
            "filo2019": (FILO_2019, "CODGEO", "."),
            "filo2020": (FILO_2020, "CODGEO", ","),
            "iris": (FILO_IRIS, "IRIS", ","),
        }[kind]
        text = (SHARED_DATA / relative).read_text(encoding="ascii")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    return rows[0], rows[1:41], code, mark


def fuzz_read(header: list[str], rows: list[list[str]]):
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "fuzz.csv", header, rows)
        (file,) = sniff(path)
        for name in ("insee_rp", "filosofi"):
            chosen = reader(name)
            detection = chosen.sniff(file)
            if detection is not None:
                result = chosen.read(file, detection)
                frames = list(result.frames())
                return pd.concat(frames, ignore_index=True), result
        raise AssertionError("fichier non reconnu")


KINDS = st.sampled_from(["comparateur", "filo2019", "filo2020", "iris"])
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="dossier de données réelles absent")
@FUZZ
@given(kind=KINDS, data=st.data())
def test_fuzz_dropped_column_is_named(kind: str, data) -> None:
    header, rows, _, _ = sample(kind)
    index = data.draw(st.integers(0, len(header) - 1))
    dropped = header[index]
    short = [[c for i, c in enumerate(r) if i != index] for r in rows]
    with pytest.raises(InputError, match=re.escape(dropped)):
        fuzz_read([h for i, h in enumerate(header) if i != index], short)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="dossier de données réelles absent")
@FUZZ
@given(kind=KINDS, seed=st.integers(0, 2**32 - 1))
def test_fuzz_shuffled_columns_give_the_same_values(kind: str, seed: int) -> None:
    header, rows, _, _ = sample(kind)
    order = np.random.default_rng(seed).permutation(len(header))
    reference, _ = fuzz_read(header, rows)
    shuffled, _ = fuzz_read([header[i] for i in order], [[r[i] for i in order] for r in rows])
    key = ["code", "source_column"]
    left = reference.sort_values(key).reset_index(drop=True)
    right = shuffled.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right)


GARBAGE = st.text(alphabet="0123456789.,-+eEsSnNdDoOxé %", max_size=7)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="dossier de données réelles absent")
@FUZZ
@given(kind=KINDS, data=st.data(), garbage=GARBAGE)
def test_fuzz_garbage_cell_is_an_error_or_read_exactly(kind: str, data, garbage: str) -> None:
    header, rows, code, mark = sample(kind)
    row = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.sampled_from([i for i, h in enumerate(header) if h != code]))
    mutated = [list(r) for r in rows]
    mutated[row][column] = garbage
    cell = garbage.strip()
    try:
        frame, _ = fuzz_read(header, mutated)
    except InputError as error:
        assert cell.lower() not in MARKERS
        assert not (re.fullmatch(NUMBER[mark], cell) and np.isfinite(float(cell.replace(",", "."))))
        assert (error.line, error.column) == (row + 2, header[column])
        return
    got = value(frame, mutated[row][header.index(code)], header[column])
    if cell.lower() in MARKERS:
        assert got["secret"] and np.isnan(got["value"])
    else:
        assert re.fullmatch(NUMBER[mark], cell), f"« {garbage} » accepté"
        assert got["value"] == float(cell.replace(",", ".")) and not got["secret"]


def test_read_time_of_the_comparateur(shared_data: Path) -> None:
    import time

    (data, _) = sorted(sniff(shared_file(shared_data, COMPARATEUR)), key=lambda f: f.member)
    start = time.perf_counter()
    read_file(data)
    assert time.perf_counter() - start < 10  # about 0.2 s on a laptop


def test_gzip_and_zip_members_are_read(tmp_path: Path) -> None:
    header = ["CODGEO", "P22_NSCOL15P", "P22_SCOL0610"]
    body = "\r\n".join(";".join(r) for r in [header, ["01001", "1", "2"]]) + "\r\n"
    packed = tmp_path / "base.csv.gz"
    packed.write_bytes(gzip.compress(body.encode()))
    assert read(packed)[2]["value"].tolist() == [1.0, 2.0]
    archive = tmp_path / "base.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("base-cc-diplomes-formation-2022.CSV", body.encode("cp1252"))
    assert read(archive)[0].dataset == "rp_diplomes_formation"
