"""Reader of an agency's field survey of commercial cells (relevé de locaux commerciaux).

Every file is generated into ``tmp_path`` (an agency's survey has no official copy).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd
import pytest

from conftest import read_source as read
from conftest import sniffed
from conftest import write_workbook as workbook
from observatoire.errors import InputError
from observatoire.sources.registry import detect, readers

# Reader modules are imported by the registry first (see test_readers_other.py).
readers()


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def locaux_reader():
    return next(r for r in readers() if r.name == "locaux")


# --------------------------------------------------------------------------- CSV


def test_csv_survey_semicolon(tmp_path: Path) -> None:
    path = write(
        tmp_path / "releve.csv",
        [
            "Code INSEE;Identifiant;Périmètre;État;Activité;NAF;Surface (m²);Date du relevé;"
            "Longitude;Latitude",
            "62119;L1;Centre-ville;Vacant;;;45,5;15/06/2024;2.6403;50.5297",
            "2041;L2;Centre-ville;occupé;Boulangerie;10.71C;80;2024-06-16;;",
            ";;;;;;;;;",
            "62119;L3;Gare;;;;;06/2024;;",
            "62119;L4;Gare;Inoccupé;;;;2024;;",
            "62119;L5;Gare;en activité;Coiffure;96.02A;;2024;;",
        ],
    )
    detection, result, frame = read(path)
    assert (detection.dataset, detection.vintage, detection.level) == (
        "releve_locaux",
        "2024",
        "point",
    )
    assert result.table == "locaux_commerciaux" and result.code_column == "code_commune"
    assert frame["identifiant"].tolist() == ["L1", "L2", "L3", "L4", "L5"]  # empty row skipped
    assert frame["ligne_source"].tolist() == [2, 3, 5, 6, 7]
    assert frame["code_commune"].tolist() == ["62119", "02041", "62119", "62119", "62119"]
    vacant = frame["vacant"].tolist()
    assert vacant[:2] == [True, False] and pd.isna(vacant[2]) and vacant[3:] == [True, False]
    assert frame["etat_releve"].iloc[0] == "Vacant"
    assert frame["surface_m2"].iloc[0] == 45.5 and pd.isna(frame["surface_m2"].iloc[2])
    assert frame["code_naf"].iloc[1] == "10.71C" and frame["activite"].iloc[1] == "Boulangerie"
    assert str(frame["date_releve"].iloc[0]) == "2024-06-15"
    assert pd.isna(frame["date_releve"].iloc[2]) and frame["annee_releve"].iloc[2] == 2024
    assert frame["longitude"].iloc[0] == pytest.approx(2.6403)
    assert frame["x"].isna().all() and frame["perimetre"].iloc[3] == "Gare"
    assert result.repaired == 2  # one padded code, one decimal comma
    warnings = " ".join(result.warnings)
    assert "1 locaux sans état renseigné" in warnings
    assert "complétés par des zéros" in warnings


def test_csv_comma_yes_no_column_and_vintage_from_name(tmp_path: Path) -> None:
    path = write(
        tmp_path / "vacance_commerciale_2023.csv",
        [
            "codgeo,vacance,perimetre,x,y",
            "62498,oui,Lens centre,686000.5,7036000",
            "62498,Non,Lens centre,686010,7036010",
            "62498,1,Lens centre,,",
            "62498,0,Lens centre,,",
        ],
    )
    detection, result, frame = read(path)
    assert detection.vintage == "2023"
    assert frame["vacant"].tolist() == [True, False, True, False]
    assert frame["x"].iloc[0] == 686000.5 and frame["annee_releve"].isna().all()
    assert any("nom du fichier" in w for w in result.warnings)
    occupation = write(tmp_path / "occupation.csv", ["insee;occupation", "62498;oui", "62498;0"])
    detection, _, frame = read(occupation)
    assert frame["vacant"].tolist() == [False, True]  # yes = occupied in « occupation »
    assert detection.vintage == "sans millésime"


def test_survey_spanning_two_years(tmp_path: Path) -> None:
    path = write(
        tmp_path / "releve.csv",
        ["depcom;statut;date_releve", "62119;vacant;2023-12-18", "62119;actif;2024-01-09"],
    )
    detection, _, _ = read(path)
    assert detection.vintage == "2023-2024"


@pytest.mark.parametrize(
    ("lines", "line", "column", "words"),
    [
        (["code_commune;etat", "62119;vacant", "62119;fermé"], 3, "etat", "vacant, inoccupé"),
        (["code_commune;etat", "62119;oui"], 2, "etat", "ambiguë"),
        (["code_commune;statut", "62119;vacant", "621190;vacant"], 3, "code_commune", "invalide"),
        (["code_commune;statut", ";vacant"], 2, "code_commune", "manquant"),
        (["code_commune;vacant;surface", "62119;oui;12a"], 2, "surface", "nombre illisible"),
        (["code_commune;vacant;date", "62119;oui;juin"], 2, "date", "date de relevé illisible"),
        (["code_commune;vacant;date", "62119;oui;31/02/2024"], 2, "date", "date illisible"),
        (
            ["code_commune;vacant;longitude;latitude", "62119;oui;686000;7036000"],
            2,
            "longitude",
            "coordonnées projetées",
        ),
    ],
)
def test_bad_values_name_file_line_and_column(
    tmp_path: Path, lines: list[str], line: int, column: str, words: str
) -> None:
    path = write(tmp_path / "releve.csv", lines)
    with pytest.raises(InputError, match=words) as error:
        read(path)
    assert error.value.line == line and error.value.column == column
    assert str(path) in str(error.value)


def test_unknown_status_lists_the_expected_values(tmp_path: Path) -> None:
    path = write(tmp_path / "releve.csv", ["code_commune;etat", "62119;en travaux"])
    with pytest.raises(InputError) as error:
        read(path)
    message = str(error.value)
    assert "« en travaux »" in message and "occupé" in message and "ligne 2" in message


# --------------------------------------------------------------------------- XLSX


def test_xlsx_survey_with_title_lines(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "releve.xlsx",
        [
            ["Relevé des locaux commerciaux du centre-ville"],
            [],
            ["CODE_INSEE", "ID_LOCAL", "NOM_PERIMETRE", "STATUT", "SURFACE_M2", "DATE_RELEVE"],
            [62119, "B-001", "Béthune centre", "Vacant", 120, datetime.datetime(2025, 6, 3)],
            [2041, "B-002", "Béthune centre", "OCCUPÉ", 45.5, datetime.datetime(2025, 6, 3)],
            [None, None, None, None, None, None],
            ["62119", "B-003", "Béthune centre", "libre", None, "2025"],
        ],
    )
    detection, result, frame = read(path)
    assert (detection.dataset, detection.vintage) == ("releve_locaux", "2025")
    assert frame["code_commune"].tolist() == ["62119", "02041", "62119"]
    assert frame["vacant"].tolist() == [True, False, True]
    assert frame["ligne_source"].tolist() == [4, 5, 7]  # Excel rows
    assert frame["identifiant"].tolist() == ["B-001", "B-002", "B-003"]
    assert str(frame["date_releve"].iloc[0]) == "2025-06-03"
    assert frame["surface_m2"].tolist()[:2] == [120.0, 45.5]
    assert result.repaired == 1


def test_xlsx_bad_status_names_the_excel_row(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "releve.xlsx",
        [["Relevé 2024"], ["insee", "vacant"], ["62119", "oui"], ["62119", "peut-être"]],
    )
    with pytest.raises(InputError, match="état du local non reconnu") as error:
        read(path)
    assert error.value.line == 4 and error.value.column == "vacant"


# --------------------------------------------------------------------------- detection


def test_other_sources_are_not_claimed(tmp_path: Path) -> None:
    reader = locaux_reader()
    sirene = write(
        tmp_path / "sirene.csv",
        [
            "siret,codeCommuneEtablissement,etatAdministratifEtablissement,"
            "activitePrincipaleEtablissement,dateDernierTraitementEtablissement",
            "12345678900012,62119,A,47.11B,2025-01-30T08:00:00",
        ],
    )
    dvf = write(
        tmp_path / "dvf.csv",
        [
            "id_mutation,date_mutation,nature_mutation,valeur_fonciere,code_commune,etat",
            "2024-1,2024-01-02,Vente,150000,62119,vacant",
        ],
    )
    bpe = write(
        tmp_path / "bpe.csv",
        ["DEPCOM;TYPEQU;NB_EQUIP;AN;statut", "62119;B101;2;2021;vacant"],
    )
    lovac = write(
        tmp_path / "lovac.csv",
        ["CODGEO_25;LIBGEO_25;pp_vacant_25;vacance", "62119;Béthune;120;oui"],
    )
    for path, dataset in (
        (sirene, "sirene_etablissements"),
        (dvf, "dvf_geo"),
        (bpe, "bpe_com"),
        (lovac, "lovac_communes"),
    ):
        file = sniffed(path)
        assert reader.sniff(file) is None, path.name
        assert detect(file)[1].dataset == dataset  # still exactly one reader
    # a commune column alone, or a status column alone, is not a survey
    for lines in (["code_commune;surface", "62119;10"], ["identifiant;etat", "L1;vacant"]):
        assert reader.sniff(sniffed(write(tmp_path / "autre.csv", lines))) is None


def test_loaded_into_the_warehouse_with_cog_columns(tmp_path: Path) -> None:
    from observatoire.loading import load_paths
    from observatoire.project import init_project, open_project
    from observatoire.warehouse import Warehouse

    init_project(tmp_path / "p", example="artois")
    project = open_project(tmp_path / "p")
    path = write(
        tmp_path / "releve.csv",
        ["code_commune;etat;date_releve", "62119;vacant;2024-06-01", "62498;occupé;2024-06-02"],
    )
    (load,) = load_paths(project, [path])
    assert (load.dataset, load.vintage, load.rows) == ("releve_locaux", "2024", 2)
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        table = warehouse.query(
            "SELECT code_commune, code_commune_cog, cog_status, vacant, dataset, vintage "
            "FROM locaux_commerciaux ORDER BY code_commune"
        )
    assert table["code_commune_cog"].tolist() == ["62119", "62498"]
    assert table["vacant"].tolist() == [True, False]
    assert set(table["dataset"]) == {"releve_locaux"} and set(table["vintage"]) == {"2024"}
