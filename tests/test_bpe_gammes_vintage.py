"""BPE gammes are taken from the gamme table of the BPE count's own vintage, never another.

INSEE recomputes the composition of the gammes every vintage (methods §1.10): generated BPE
counts for 2019, 2020 and 2021 and gamme workbooks for 2020 and 2021 only are loaded through
``observatoire load``'s path, then the indicators are built.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from observatoire.indicators.build import VALUE_TABLE, build
from observatoire.loading import load_paths
from observatoire.project import init_project, open_project
from observatoire.warehouse import Warehouse

# X changes gamme: intermédiaire in 2020, proximité in 2021; Y is supérieure both years;
# Z (intermédiaire in 2021) is in no commune.
X, Y, Z = "B204", "D108", "F120"
COUNTS = {"62119": {X: 3}, "62498": {X: 1, Y: 2}}
GAMMES = {
    2020: {X: "Gamme intermédiaire", Y: "Gamme supérieure"},
    2021: {X: "Gamme de proximité", Y: "Gamme supérieure", Z: "Gamme intermédiaire"},
}
IDS = {
    "PROXIMITE": "equipements_gamme_proximite",
    "INTERMEDIAIRE": "equipements_gamme_intermediaire",
    "SUPERIEURE": "equipements_gamme_superieure",
}


def _counts_file(folder: Path, year: int) -> Path:
    lines = ["DEPCOM;TYPEQU;NB_EQUIP;AN"]
    for code, types in COUNTS.items():
        lines.extend(f"{code};{typequ};{n};{year}" for typequ, n in types.items())
    path = folder / f"bpe{year % 100:02d}_ensemble.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _gamme_file(folder: Path, year: int) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(["Gammes d'équipements de la base permanente des équipements"])
    sheet.append([f"Millésime {year}"])
    sheet.append([])
    sheet.append(
        ["TYPEQU_REGROUPEMENT", "LIBELLE_TYPEQU_REGROUPEMENT", "TYPEQU", "LIBELLE_TYPEQU", "GAMME"]
    )
    for typequ, gamme in GAMMES[year].items():
        sheet.append([typequ, None, typequ, None, gamme])
    path = folder / f"BPE_gammes_{year}.xlsx"
    book.save(path)
    return path


@pytest.fixture(scope="module")
def values(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("gammes")
    init_project(root / "p", example="artois")
    project = open_project(root / "p")
    files = [_counts_file(root, year) for year in (2019, 2020, 2021)]
    files += [_gamme_file(root, year) for year in GAMMES]
    loads = load_paths(project, files)
    assert sorted((x.dataset, x.vintage) for x in loads) == [
        ("bpe_com", "2019"),
        ("bpe_com", "2020"),
        ("bpe_com", "2021"),
        ("bpe_gammes", "2020"),
        ("bpe_gammes", "2021"),
    ]
    build(project)
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        return warehouse.query(
            f"SELECT territory_id, indicator_id, period, value, status FROM {VALUE_TABLE} "
            "WHERE territory_id IN ('62119', '62498') AND indicator_id LIKE 'equipements%'"
        )


def _value(values: pd.DataFrame, code: str, gamme: str, period: str) -> float | None:
    rows = values[
        (values["territory_id"] == code)
        & (values["indicator_id"] == IDS[gamme])
        & (values["period"].astype(str) == period)
    ]
    assert len(rows) <= 1
    if rows.empty or pd.isna(rows["value"].iloc[0]):
        return None
    assert rows["status"].iloc[0] == "ok"
    return float(rows["value"].iloc[0])


def test_each_year_uses_its_own_gamme_table(values: pd.DataFrame) -> None:
    # 2021: X is a proximité type
    assert _value(values, "62119", "PROXIMITE", "2021") == 3
    assert _value(values, "62119", "INTERMEDIAIRE", "2021") == 0  # Z exists, nowhere here
    assert _value(values, "62498", "PROXIMITE", "2021") == 1
    assert _value(values, "62498", "SUPERIEURE", "2021") == 2
    # 2020: the same X counts in the intermédiaire gamme, never with 2021's composition
    assert _value(values, "62119", "INTERMEDIAIRE", "2020") == 3
    assert _value(values, "62119", "PROXIMITE", "2020") is None  # no proximité type in 2020
    assert _value(values, "62498", "INTERMEDIAIRE", "2020") == 1
    assert _value(values, "62498", "SUPERIEURE", "2020") == 2


def test_a_year_without_its_gamme_table_has_no_gamme_value(values: pd.DataFrame) -> None:
    period = values["period"].astype(str)
    total = values[(values["indicator_id"] == "equipements") & (period == "2019")]
    assert total.set_index("territory_id")["value"].to_dict() == {"62119": 3, "62498": 3}
    for code in COUNTS:
        for gamme in IDS:
            assert _value(values, code, gamme, "2019") is None, (code, gamme)


def test_a_corrected_gamme_table_is_rebuilt_without_force(tmp_path: Path) -> None:
    init_project(tmp_path / "p", example="artois")
    project = open_project(tmp_path / "p")
    load_paths(project, [_counts_file(tmp_path, 2021), _gamme_file(tmp_path, 2021)])
    build(project)
    corrected = tmp_path / "corrige"
    corrected.mkdir()
    saved = dict(GAMMES[2021])
    GAMMES[2021][X] = "Gamme supérieure"  # INSEE's corrected edition moves X
    try:
        load_paths(project, [_gamme_file(corrected, 2021)])
    finally:
        GAMMES[2021] = saved
    build(project)  # no --force: the gamme table's checksum is in the fingerprint
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        values = warehouse.query(
            f"SELECT territory_id, indicator_id, period, value, status FROM {VALUE_TABLE} "
            "WHERE territory_id IN ('62119', '62498') AND indicator_id LIKE 'equipements%'"
        )
    assert _value(values, "62119", "SUPERIEURE", "2021") == 3
    assert _value(values, "62119", "PROXIMITE", "2021") is None  # no proximité type left
