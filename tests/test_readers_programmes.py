"""Reader of the ANCT lists of communes of Action Cœur de Ville and Petites villes de demain.

The real ACV GeoJSON is read in place from ``../shared/data`` (skipped when absent); the PVD
CSV / XLSX layouts and the bad inputs are generated into ``tmp_path``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import read_source as read
from conftest import shared_file, sniffed
from conftest import write_workbook as workbook
from observatoire.errors import InputError
from observatoire.sources.registry import detect, readers

ACV_FILE = "programmes/action_coeur_de_ville_communes_anct.geojson"
# The 8 ACV communes of the Pas-de-Calais, as the ANCT file lists them (checked against it).
ACV_62 = {
    "62041": ("Arras", "ACV014"),
    "62119": ("Béthune", "ACV031"),
    "62160": ("Boulogne-sur-Mer", "ACV034"),
    "62178": ("Bruay-la-Buissière", "ACV031"),
    "62193": ("Calais", "ACV043"),
    "62498": ("Lens", "ACV113"),
    "62510": ("Liévin", "ACV113"),
    "62765": ("Saint-Omer", "ACV184"),
}
PVD_HEADER = (
    '"id_pvd","insee_com","lib_com","lib_reg","insee_dep","lib_dep","regroupement","pop",'
    '"date_signature","siren_epci","lib_epci"'
)


def programmes_reader():
    return next(r for r in readers() if r.name == "programmes")


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def geojson(path: Path, properties: list[dict]) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": props,
            "geometry": {"type": "Point", "coordinates": [2.0 + i / 10, 48.0]},
        }
        for i, props in enumerate(properties)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path


# --------------------------------------------------------------------------- real ACV file


def test_acv_real_file(shared_data: Path) -> None:
    detection, result, table = read(shared_file(shared_data, ACV_FILE))
    assert (detection.dataset, detection.vintage, detection.level) == (
        "programmes_anct",
        "sans millésime",
        "point",
    )
    assert detection.label == "ANCT — communes du programme Action Cœur de Ville"
    assert result.table == "programmes_communes" and result.code_column == "code_commune"
    assert list(table.columns) == ["code_commune", "programme", "identifiant", "libelle_commune"]
    assert len(table) == 244 and table["code_commune"].is_unique
    assert set(table["programme"]) == {"acv"} and table["identifiant"].notna().all()
    assert table["code_commune"].str.fullmatch(r"(?:\d{2}|2[AB])\d{3}").all()
    pas_de_calais = table[table["code_commune"].str.startswith("62")].set_index("code_commune")
    assert {
        code: (row.libelle_commune, row.identifiant) for code, row in pas_de_calais.iterrows()
    } == ACV_62
    codes = set(table["code_commune"])
    # Corsica kept as text, a code of the Ain with its leading zero.
    assert {"2A004", "2B033", "01004"} <= codes
    assert any("sans millésime" in w for w in result.warnings)


# --------------------------------------------------------------------------- generated files


def test_geojson_codes_stored_as_numbers_are_padded(tmp_path: Path) -> None:
    path = geojson(
        tmp_path / "coeurdeville.geojson",
        [
            {"insee_com": 1004, "id_acv": "ACV008", "lib_com": "Ambérieu-en-Bugey"},
            {"insee_com": "2A004", "id_acv": "ACV004", "lib_com": "Ajaccio"},
            {"insee_com": 62119, "id_acv": "ACV031", "lib_com": "Béthune"},
        ],
    )
    _, result, table = read(path)
    assert table["code_commune"].tolist() == ["01004", "2A004", "62119"]
    assert result.repaired == 1 and any("zéro initial" in w for w in result.warnings)


def test_pvd_csv_as_published(tmp_path: Path) -> None:
    lines = [
        PVD_HEADER,
        '"pvd-32-62-1","62014","Aire-sur-la-Lys","Hauts-de-France","62","Pas-de-Calais",NA,'
        '9871,"2021-03-12","200069037","CA du Pays de Saint-Omer"',
        '"","62048","Auchel","Hauts-de-France","62","Pas-de-Calais",NA,10291,"",'
        '"200072460","CA de Béthune-Bruay, Artois-Lys Romane"',
        '"pvd-84-01-1","1033","Valserhône","Auvergne-Rhône-Alpes","01","Ain",NA,16000,'
        '"2022-01-27","200042935","CC Pays Bellegardien"',
    ]
    detection, result, table = read(write(tmp_path / "pvd_carte-interactive.csv", lines))
    # Vintage: the latest signature date (the file name has no year).
    assert (detection.dataset, detection.vintage, detection.level) == (
        "programmes_anct",
        "2022",
        "point",
    )
    assert detection.label == "ANCT — communes du programme Petites villes de demain, 2022"
    assert table["code_commune"].tolist() == ["62014", "62048", "01033"]
    assert set(table["programme"]) == {"pvd"}
    assert table["identifiant"].tolist()[0] == "pvd-32-62-1" and pd.isna(table["identifiant"][1])
    assert table["libelle_commune"].tolist()[1] == "Auchel"
    assert result.repaired == 1 and not any("millésime" in w for w in result.warnings)


def test_pvd_workbook_with_title_and_programme_column(tmp_path: Path) -> None:
    rows = [
        ["Liste des communes lauréates"],
        [],
        ["Code INSEE", "Libellé commune", "Programme", "ID_PVD"],
        [62014, "Aire-sur-la-Lys", "Petites villes de demain", "pvd-32-62-1"],
        [9032, "Ax-les-Thermes", "PVD", None],
        ["62063", "Avesnes-le-Comte", "petite ville de demain", "pvd-32-62-3"],
    ]
    detection, result, table = read(workbook(tmp_path / "communes_pvd_2023.xlsx", rows))
    assert detection.vintage == "2023"  # no date field: the year of the file name
    assert table["code_commune"].tolist() == ["62014", "09032", "62063"]
    assert set(table["programme"]) == {"pvd"} and result.repaired == 1
    assert table["identifiant"].isna().tolist() == [False, True, False]


def test_one_list_of_both_programmes(tmp_path: Path) -> None:
    lines = [
        "code_commune;nom_commune;programme;id_acv;id_pvd;date_maj",
        "62119;Béthune;Action Cœur de Ville;ACV031;;15/01/2024",
        "62014;Aire-sur-la-Lys;Petites villes de demain;;pvd-32-62-1;15/01/2024",
        "62041;Arras;ACV 2;ACV014;;15/01/2024",
        "62063;Avesnes-le-Comte;pvd;;;",
    ]
    detection, _, table = read(write(tmp_path / "programmes.csv", lines, "cp1252"))
    assert detection.vintage == "2024"
    assert detection.label == (
        "ANCT — communes des programmes Action Cœur de Ville et Petites villes de demain, 2024"
    )
    assert table["programme"].tolist() == ["acv", "pvd", "acv", "pvd"]
    assert table["identifiant"].tolist()[:3] == ["ACV031", "pvd-32-62-1", "ACV014"]
    assert pd.isna(table["identifiant"][3]) and table["libelle_commune"][0] == "Béthune"


def test_both_id_fields_without_programme(tmp_path: Path) -> None:
    lines = ["insee_com,lib_com,id_acv,id_pvd", "62119,Béthune,ACV031,", "62014,Aire,,pvd-32-62-1"]
    _, _, table = read(write(tmp_path / "liste.csv", lines))
    assert table[["code_commune", "programme"]].values.tolist() == [
        ["62119", "acv"],
        ["62014", "pvd"],
    ]
    lines.append("62041,Arras,,")
    path = write(tmp_path / "liste.csv", lines)
    file = sniffed(path)
    with pytest.raises(InputError, match=r"programme indéterminé.*« 62041 »") as error:
        programmes_reader().read(file, programmes_reader().sniff(file))
    assert error.value.line == 4


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("code", "message"),
    [("623", "invalide"), ("620410", "invalide"), ("", "manquant"), ("62A41", "invalide")],
)
def test_bad_code_in_csv_names_line_and_field(tmp_path: Path, code: str, message: str) -> None:
    lines = ["insee_com;lib_com;id_pvd", "62014;Aire-sur-la-Lys;pvd-1", f"{code};X;pvd-2"]
    file = sniffed(write(tmp_path / "pvd.csv", lines))
    reader, detection = detect(file)
    with pytest.raises(InputError, match=f"code commune {message}") as error:
        reader.read(file, detection)
    assert error.value.line == 3 and error.value.column == "insee_com"
    assert str(error.value).startswith(f"{file.label}, ligne 3, colonne « insee_com » : ")


def test_bad_code_in_geojson_names_the_feature(tmp_path: Path) -> None:
    path = geojson(
        tmp_path / "acv.geojson",
        [
            {"insee_com": 62041, "id_acv": "ACV014", "lib_com": "Arras"},
            {"insee_com": 623, "id_acv": "ACV999", "lib_com": "Nulle part"},
        ],
    )
    file = sniffed(path)
    reader, detection = detect(file)
    with pytest.raises(InputError, match=r"code commune invalide.*« 623 » \(entité 2\)") as error:
        reader.read(file, detection)
    assert error.value.column == "insee_com"


def test_bad_programme_and_duplicate_in_workbook(tmp_path: Path) -> None:
    header = ["insee_com", "lib_com", "programme"]
    rows = [header, ["62119", "Béthune", "ACV"], ["62041", "Arras", "Territoires d'industrie"]]
    file = sniffed(workbook(tmp_path / "liste.xlsx", rows))
    reader, detection = detect(file)
    with pytest.raises(InputError, match=r"programme inconnu.*Territoires d'industrie") as error:
        reader.read(file, detection)
    assert (error.value.line, error.value.column) == (3, "programme")
    rows[2] = ["62119", "Béthune", "Action coeur de ville"]
    file = sniffed(workbook(tmp_path / "liste.xlsx", rows))
    with pytest.raises(InputError, match=r"en double.*Action Cœur de Ville.*62119") as error:
        reader.read(file, detection)
    assert error.value.line == 3


# --------------------------------------------------------------------------- not ours


def test_unrelated_files_are_not_claimed(tmp_path: Path, shared_data: Path) -> None:
    reader = programmes_reader()
    generated = [
        # a « programme » field of another kind of list
        write(
            tmp_path / "cites.csv", ["insee_com;lib_com;programme", "62041;Arras;Cités éducatives"]
        ),
        # a commune list without any programme field
        write(tmp_path / "communes.csv", ["insee_com,lib_com,pop", "62041,Arras,42600"]),
        # an id field without a commune code
        write(tmp_path / "ids.csv", ["id_acv,lib_acv", "ACV014,Arras"]),
        workbook(tmp_path / "zonage.xlsx", [["Code Commune", "Zone ABC"], ["62041", "B2"]]),
    ]
    real = [
        "geo/anct_centroide-4326_qpv2024.geojson",
        "geo/fgj_communes-62-pas-de-calais.geojson",
        "geo/anct_fr-drom-4326-pur-style1-epci.geojson",
        "logement/Zonage_abc_communes_2022.xlsx",
        "cog/table_passage_com_epci_2025_COGiter.csv",
        "dvf/geodvf_2024_dep01_head_example.csv",
    ]
    for path in [*generated, *(shared_file(shared_data, r) for r in real)]:
        assert reader.sniff(sniffed(path)) is None, path


# --------------------------------------------------------------------------- loading


def test_real_acv_file_loaded_into_the_warehouse(tmp_path: Path, shared_data: Path) -> None:
    from observatoire.loading import load_paths
    from observatoire.project import init_project, open_project
    from observatoire.warehouse import Warehouse

    project = open_project(init_project(tmp_path / "p"))
    (load,) = load_paths(project, [shared_file(shared_data, ACV_FILE)])
    assert (load.dataset, load.vintage, load.rows) == ("programmes_anct", "sans millésime", 244)
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        table = warehouse.query(
            "SELECT code_commune, programme, identifiant, libelle_commune, code_commune_cog, "
            "cog_status FROM programmes_communes ORDER BY code_commune"
        )
        lineage = warehouse.lineage()
    assert len(table) == 244 and set(table["programme"]) == {"acv"}
    assert set(table["cog_status"]) <= {"ok", "fusion", "incomplete", "inconnu"}
    artois = table[table["code_commune"].str.startswith("62")]
    assert artois["code_commune"].tolist() == sorted(ACV_62)
    assert artois["code_commune_cog"].tolist() == sorted(ACV_62)
    assert set(artois["cog_status"]) == {"ok"}
    assert lineage["dataset"].tolist() == ["programmes_anct"]
    # The same file again is a no-op.
    (again,) = load_paths(project, [shared_file(shared_data, ACV_FILE)])
    assert again.skipped
