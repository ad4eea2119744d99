"""Readers of DVF, BPE, SIRENE, LOVAC, NAF consumption, COG tables, zonage A/B/C, geometries.

Real official files are read in place from ``../shared/data`` (skipped when absent); formats
with no real copy here are generated into ``tmp_path``.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import geopandas
import pandas as pd
import pytest
import shapely

from conftest import shared_file
from conftest import write_workbook as workbook
from observatoire.errors import InputError
from observatoire.sources import sniff as sniff_module
from observatoire.sources.base import Detection, ReadResult, SniffedFile
from observatoire.sources.registry import detect, readers
from observatoire.territories import referential

# Reader modules are not imported here: the registry loads them all only when none is
# registered yet, so importing one of them first would hide the others.
MY_READERS = {
    *("dvf_geo", "dvf_dgfip", "bpe_xy", "bpe_com", "bpe_gammes", "sirene", "lovac"),
    *("naf_conso", "cog_events", "cog_communes", "cog_appartenance", "zonage_abc", "geometries"),
}

# --------------------------------------------------------------------------- helpers


def sniffed(path: Path) -> SniffedFile:
    (file,) = sniff_module.sniff(path)
    return file


def read(path: Path) -> tuple[Detection, ReadResult, pd.DataFrame]:
    file = sniffed(path)
    reader, detection = detect(file)
    result = reader.read(file, detection)
    frames = list(result.frames())
    return detection, result, pd.concat(frames, ignore_index=True)


def write(path: Path, lines: list[str], encoding: str = "utf-8", end: str = "\n") -> Path:
    path.write_bytes(end.join(lines).encode(encoding) + end.encode(encoding))
    return path


# --------------------------------------------------------------------------- DVF (real files)


def test_dgfip_raw_nice(shared_data: Path) -> None:
    path = shared_file(shared_data, "dvf/ValeursFoncieres2024_06000.txt")
    detection, result, frame = read(path)
    assert (detection.dataset, detection.vintage, detection.level) == (
        "dvf_dgfip",
        "2024",
        "mutation",
    )
    assert result.table == "dvf" and result.code_column == "code_commune"
    assert len(frame) == 6604
    first = frame.iloc[0]
    assert first["valeur_fonciere"] == 829530.0  # "829530,00"
    assert first["code_commune"] == "06088" and first["code_postal"] == "06000"
    assert str(first["date_mutation"]) == "2024-01-02"
    assert first["numero_disposition"] == 1 and first["type_local"] == "Dépendance"
    assert first["id_parcelle"] == "06088000KV0168"
    assert first["adresse_nom_voie"] == "RUE DE FRANCE" and first["type_voie"] == "RUE"
    assert set(frame["source_format"]) == {"dgfip"}
    # The three lines of the first mutation share the surrogate id, the fourth does not.
    assert frame["id_mutation"].iloc[:3].nunique() == 1
    assert frame["id_mutation"].iloc[3] != frame["id_mutation"].iloc[0]
    exchange = frame[(frame["nature_mutation"] == "Echange") & (frame["valeur_fonciere"] == 390000)]
    assert len(exchange) == 5 and exchange["id_mutation"].nunique() == 1
    # Lost zeros (commune on 1-3 digits, postal code 6000) and decimal commas are counted.
    assert result.repaired == 6604 + 6604 + 8873
    assert any("codes commune complétés" in w for w in result.warnings)
    assert frame["lot1_surface_carrez"].dropna().iloc[0] == 11.10


def test_geodvf_department_head(shared_data: Path) -> None:
    path = shared_file(shared_data, "dvf/geodvf_2024_dep01_head_example.csv")
    detection, result, frame = read(path)  # no newline after the last row: not truncated
    assert (detection.dataset, detection.vintage) == ("dvf_geo", "2024")
    assert len(frame) == 77 and result.repaired == 0
    row = frame.set_index("id_mutation").loc["2024-1"]
    assert row["valeur_fonciere"] == 346.5 and row["code_commune"] == "01076"
    assert row["id_parcelle"] == "010760000B0514" and row["nature_culture"] == "prés"
    assert (row["longitude"], row["latitude"]) == (5.530952, 45.952439)
    assert row["surface_terrain"] == 99.0 and row["numero_disposition"] == 1
    assert frame["latitude"].iloc[-1] == pytest.approx(46.196143)


def test_geodvf_api_variant_several_years(shared_data: Path) -> None:
    path = shared_file(shared_data, "dvf/dvf_api_64260_hendaye_2019-2023.csv")
    detection, result, frame = read(path)
    assert (detection.dataset, detection.vintage) == ("dvf_geo", "2019-2023")
    assert "variante API" in detection.label
    assert len(frame) == 2575
    years = pd.Series([d.year for d in frame["date_mutation"]]).value_counts().sort_index()
    assert years.tolist() == [566, 467, 673, 496, 373]
    first = frame.iloc[0]
    assert first["id_mutation"] == "2019-969882" and first["numero_disposition"] == 1
    assert first["surface_reelle_bati"] == 50.0 and first["section_prefixe"] == "000AM"
    assert set(frame["code_commune"]) == {"64260"}
    # FANTOIR codes that lost their zeros ("730") are repaired and counted.
    assert "0730" in set(frame["adresse_code_voie"])
    assert result.repaired == 996
    assert frame["valeur_fonciere"].isna().sum() == 3


# --------------------------------------------------------------------------- DVF (bad input)

DGFIP_HEADER = (
    "Identifiant de document|Reference document|1 Articles CGI|2 Articles CGI|3 Articles CGI|"
    "4 Articles CGI|5 Articles CGI|No disposition|Date mutation|Nature mutation|Valeur fonciere|"
    "No voie|B/T/Q|Type de voie|Code voie|Voie|Code postal|Commune|Code departement|"
    "Code commune|Prefixe de section|Section|No plan|No Volume|1er lot|Surface Carrez du 1er lot|"
    "2eme lot|Surface Carrez du 2eme lot|3eme lot|Surface Carrez du 3eme lot|4eme lot|"
    "Surface Carrez du 4eme lot|5eme lot|Surface Carrez du 5eme lot|Nombre de lots|"
    "Code type local|Type local|Identifiant local|Surface reelle bati|"
    "Nombre pieces principales|Nature culture|Nature culture speciale|Surface terrain"
)


def dgfip_line(date: str = "03/02/2023", value: str = "120000,50", dep: str = "2A", com: str = "4"):
    return (
        f"|||||||000001|{date}|Vente|{value}|3||RUE|0100|DU PORT|20000|AJACCIO|{dep}|{com}||"
        "AB|12||||||||||||0|2|Appartement||45|2|||"
    )


def test_dgfip_codes_corsica_dom_and_code_service_ch(tmp_path: Path) -> None:
    header = DGFIP_HEADER.replace("Identifiant de document", "Code service CH")
    lines = [header, dgfip_line(), dgfip_line(dep="971", com="1", date="05/06/2021")]
    detection, _, frame = read(write(tmp_path / "vf.txt", lines, end="\r\n"))
    assert detection.vintage == "2021-2023" and "Code service CH" in detection.label
    assert frame["code_commune"].tolist() == ["2A004", "97101"]
    assert frame["valeur_fonciere"].tolist() == [120000.5, 120000.5]
    assert frame["id_mutation"].nunique() == 2


@pytest.mark.parametrize(
    ("line", "message", "column"),
    [
        (dgfip_line(date="31/02/2023"), "date illisible", "date_mutation"),
        (dgfip_line(value="12O000,00"), "nombre illisible", "valeur_fonciere"),
        (dgfip_line(dep="06", com="ABCD"), "code commune invalide", "Code commune"),
        ("|||||||000001|03/02/2023|Vente|120000,00|3||RUE", "ligne incomplète", None),
    ],
)
def test_dgfip_bad_values_name_line_and_column(
    tmp_path: Path, line: str, message: str, column: str | None
) -> None:
    # 24 good lines first: the sniffer checks the field counts of the first 20 lines itself.
    lines = [DGFIP_HEADER, *[dgfip_line()] * 24, line]
    file = sniffed(write(tmp_path / "vf.txt", lines))
    reader, detection = detect(file)
    with pytest.raises(InputError, match=message) as error:
        list(reader.read(file, detection).frames())
    assert error.value.line == 26 and error.value.column == column


def test_dvf_missing_columns_are_named(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dvf.csv", ["id_mutation,date_mutation,valeur_fonciere", "1,2024-01-02,5"]
    )
    file = sniffed(path)
    reader, detection = detect(file)
    with pytest.raises(InputError, match="colonnes DVF absentes : numero_disposition"):
        reader.read(file, detection)


def test_gzip_geodvf_with_truncated_last_line(tmp_path: Path) -> None:
    readers()  # every reader module is loaded before one is imported (see MY_READERS)
    from observatoire.sources.dvf import GEO_COLUMNS

    columns = ",".join(GEO_COLUMNS)
    row = "2023-7,2023-05-04,000001,Vente,1000,,,RUE X,B020,1230,1076,Chaley,1,,,"
    row += "010760000B0514,,,,,,,,,,,,,0,,,,,S,sols,,,99,5.53,45.95"
    path = tmp_path / "01.csv.gz"
    rows = "\n".join([row] * 24)  # the sniffer checks the first 20 lines itself
    path.write_bytes(gzip.compress(f"{columns}\n{rows}\n{row[:40]}".encode()))
    file = sniffed(path)
    reader, detection = detect(file)
    assert detection.vintage == "2023"
    with pytest.raises(InputError, match="ligne incomplète") as error:
        list(reader.read(file, detection).frames())
    assert error.value.line == 26
    path.write_bytes(gzip.compress(f"{columns}\n{row}\n".encode()))
    _, result, frame = read(path)
    assert frame.loc[0, "code_commune"] == "01076" and frame.loc[0, "code_postal"] == "01230"
    assert frame.loc[0, "code_departement"] == "01" and result.repaired == 3


# --------------------------------------------------------------------------- COG tables


def test_cog_events_real(shared_data: Path) -> None:
    path = shared_file(shared_data, "cog/v_mvt_commune_2025_from_COGiter.csv")
    detection, result, frame = read(path)
    assert (detection.dataset, detection.vintage, detection.cog_vintage) == (
        "cog_events",
        "2025",
        2025,
    )
    assert result.table == "cog_events" and result.code_column is None
    assert len(frame) == 13534
    assert list(frame.columns) == [
        *("mod", "date_eff", "typecom_av", "com_av", "libelle_av"),
        *("typecom_ap", "com_ap", "libelle_ap"),
    ]
    assert frame["date_eff"].max() == pd.Timestamp("2025-01-01")


def test_cog_events_in_zip_errors_name_the_member(tmp_path: Path) -> None:
    header = "MOD,DATE_EFF,TYPECOM_AV,COM_AV,LIBELLE_AV,TYPECOM_AP,COM_AP,LIBELLE_AP"
    good = "31,2019-01-01,COM,01001,A,COM,01002,B"
    archive = tmp_path / "cog.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(
            "v_mvt_commune_2024.csv", f"{header}\n{good}\n31,2019-01-01,COM,1003,C,COM,01002,B\n"
        )
    (file,) = sniff_module.sniff(archive)
    reader, detection = detect(file)
    assert detection.vintage == "2019"
    with pytest.raises(InputError, match="zéro initial perdu") as error:
        reader.read(file, detection)
    assert error.value.path == f"{archive}:v_mvt_commune_2024.csv"
    assert error.value.line == 3 and error.value.column == "COM_AV"


def test_appartenance_2022(shared_data: Path) -> None:
    path = shared_file(shared_data, "cog/table-appartenance-geo-communes-22.xlsx")
    detection, _, frame = read(path)
    assert (detection.dataset, detection.vintage, detection.cog_vintage) == (
        "cog_appartenance",
        "2022",
        2022,
    )
    communes = frame[frame["niveau"] == "COM"]
    assert communes["codgeo"].nunique() == 34955
    assert frame.loc[frame["niveau"] == "ARM", "codgeo"].nunique() == 45
    bethune = communes[communes["codgeo"] == "62119"].set_index("variable")["value"]
    assert bethune["EPCI"] == "200072460" and bethune["NATURE_EPCI"] == "CA"
    assert bethune["AAV2020"] == "125" and bethune["DEP"] == "62"
    lyon1 = frame[(frame["codgeo"] == "69381") & (frame["variable"] == "COM")]
    assert lyon1["value"].tolist() == ["69123"]


def test_v_commune_vintage_from_the_commune_set(tmp_path: Path) -> None:
    header = "TYPECOM,COM,REG,DEP,CTCD,ARR,TNCC,NCC,NCCENR,LIBELLE,CAN,COMPARENT"
    communes = referential.communes()
    lines = [header] + [
        f"COM,{row.code},{row.reg},{row.dep},,,0,N,N,{row.nom.replace(',', ' ')},,"
        for row in communes.itertuples()
    ]
    lines.append("COMD,01015,84,01,01D,011,0,ARBIGNIEU,Arbignieu,Arbignieu,,01015")
    detection, result, frame = read(write(tmp_path / "v_commune.csv", lines))
    assert (detection.vintage, detection.cog_vintage) == ("2025", 2025)
    assert len(frame) == len(communes) + 1 and frame["typecom"].iloc[-1] == "COMD"
    assert frame["ctcd"].iloc[-1] == "01D" and pd.isna(frame["ctcd"].iloc[0])
    small = write(
        tmp_path / "petit.csv", [header.replace(",CTCD", ""), "COM,01001,84,01,012,5,A,A,A,0101,"]
    )
    detection, result, frame = read(small)
    assert detection.vintage == "sans millésime" and result.warnings
    assert frame["ctcd"].isna().all() and frame["com"].tolist() == ["01001"]


# --------------------------------------------------------------------------- zonage A/B/C


def test_zonage_abc_2022(shared_data: Path) -> None:
    path = shared_file(shared_data, "logement/Zonage_abc_communes_2022.xlsx")
    detection, result, frame = read(path)
    assert (detection.dataset, detection.vintage, detection.level) == (
        "zonage_abc",
        "2022",
        "commune",
    )
    assert result.code_column == "code" and result.keep_columns == ("nom", "zone")
    assert len(frame) == 34955 and result.repaired == 0
    zones = frame.set_index("code")["zone"]
    assert (zones["62119"], zones["75056"], zones["06088"], zones["01001"]) == (
        "B1",
        "Abis",
        "A",
        "C",
    )
    assert set(zones) == {"Abis", "A", "B1", "B2", "C"}


def test_zonage_repairs_and_bad_zone(tmp_path: Path) -> None:
    rows = [["Zonage A/B/C au 1er janvier 2024"], [], ["Code Commune", "Nom Commune ", "Zone ABC"]]
    rows += [[1001, "L'Abergement", "A bis"], ["62119", "Béthune", "b1"]]
    detection, result, frame = read(workbook(tmp_path / "z.xlsx", rows))
    assert detection.vintage == "2024"
    assert frame["code"].tolist() == ["01001", "62119"] and frame["zone"].tolist() == ["Abis", "B1"]
    assert result.repaired == 3
    rows.append(["62160", "Bruay", "D"])
    file = sniffed(workbook(tmp_path / "z2.xlsx", rows))
    reader, detection = detect(file)
    with pytest.raises(InputError, match="zone inconnue") as error:
        reader.read(file, detection)
    assert error.value.line == 6 and error.value.column == "Zone ABC"


# --------------------------------------------------------------------------- geometries


def test_geometries_real_files(shared_data: Path) -> None:
    communes = read(shared_file(shared_data, "geo/fgj_communes-62-pas-de-calais.geojson"))
    detection, result, frame = communes
    assert (detection.dataset, detection.level) == ("geo_communes", "commune")
    assert len(frame) == 891 and set(frame["level"]) == {"commune"}
    assert result.code_column is None and result.table == "geometries"
    row = frame.set_index("code").loc["62119"]
    assert row["name"] == "Béthune" and row["code_commune"] == "62119"
    polygon = shapely.from_wkb(row["geometry_wkb"])
    assert polygon.is_valid and polygon.contains(shapely.Point(2.64, 50.53))
    detection, result, frame = read(
        shared_file(shared_data, "geo/anct_fr-drom-4326-pur-style1-epci.geojson")
    )
    # 1 357 features; 3 island features have no siren_epci (left out, said); 1 255 EPCI.
    assert detection.dataset == "geo_epci" and len(frame) == frame["code"].nunique() == 1255
    assert any("sans code" in w for w in result.warnings)
    assert frame.set_index("code").loc["200072460", "name"].startswith("CA de B")
    detection, result, frame = read(
        shared_file(shared_data, "geo/anct_centroide-4326_qpv2024.geojson")
    )
    assert (detection.dataset, detection.vintage, detection.level) == ("geo_qpv", "2024", "point")
    assert len(frame) == 824 and frame["code"].nunique() == 792
    assert frame.loc[0, "code_commune"] == "01004"
    detection, _, frame = read(
        shared_file(shared_data, "geo/grandlyon_iris_metropole_lyon_derived.geojson")
    )
    assert detection.dataset == "geo_iris" and len(frame) == 358
    assert frame.loc[0, ["code", "code_commune"]].tolist() == ["693840302", "69384"]
    detection, _, _ = read(shared_file(shared_data, "geo/fgj_regions-version-simplifiee.geojson"))
    assert detection.dataset == "geo_regions"
    detection, _, _ = read(
        shared_file(shared_data, "geo/fgj_departements-version-simplifiee.geojson")
    )
    assert detection.dataset == "geo_departements"


def test_geometries_are_reprojected_and_codes_padded(tmp_path: Path) -> None:
    frame = geopandas.GeoDataFrame(
        {"CODE_IRIS": ["621190101", "620410000"], "INSEE_COM": ["62119", "62041"]},
        geometry=[shapely.box(660000, 7040000, 661000, 7041000), shapely.Point(650000, 7030000)],
        crs=2154,
    )
    path = tmp_path / "iris.gpkg"
    frame.to_file(path, layer="contours_iris", driver="GPKG")
    detection, result, table = read(path)
    assert detection.dataset == "geo_iris" and set(table["source_crs"]) == {"EPSG:2154"}
    expected = geopandas.GeoSeries([shapely.Point(650000, 7030000)], crs=2154).to_crs(4326)
    point = shapely.from_wkb(table.loc[1, "geometry_wkb"])
    assert point.distance(expected.iloc[0]) < 1e-9 and 50 < point.y < 51
    assert table["name"].isna().all() and table["code_commune"].tolist() == ["62119", "62041"]
    numbers = geopandas.GeoDataFrame(
        {"code": [1004, 62119], "nom": ["Ambérieu", "Béthune"]},
        geometry=[shapely.Point(5.36, 45.96), shapely.Point(2.64, 50.53)],
        crs=4326,
    )
    numbers.to_file(tmp_path / "communes.geojson", driver="GeoJSON")
    _, result, table = read(tmp_path / "communes.geojson")
    assert table["code"].tolist() == ["01004", "62119"] and result.repaired == 1


def test_other_geojson_is_not_claimed(shared_data: Path) -> None:
    path = shared_file(shared_data, "programmes/action_coeur_de_ville_communes_anct.geojson")
    file = sniffed(path)
    assert all(r.sniff(file) is None for r in readers() if r.name in MY_READERS)


def test_meta_dictionaries_are_not_claimed(tmp_path: Path, shared_data: Path) -> None:
    varmod = write(
        tmp_path / "varmod_ensemble_xy.csv",
        ["COD_VAR;LIB_VAR;COD_MOD;LIB_MOD;TYPE_VAR;LONG_VAR", "TYPEQU;Type;A101;Police;CHAR;4"],
    )
    meta = shared_file(shared_data, "filosofi/meta_cc_filosofi_2019_COM.csv.gz")
    for path in (varmod, meta):
        file = sniffed(path)
        assert all(r.sniff(file) is None for r in readers() if r.name in MY_READERS)


# --------------------------------------------------------------------------- BPE (generated)


def test_bpe_geolocated_old_layout(tmp_path: Path) -> None:
    lines = [
        "AN;REG;DEP;DEPCOM;DCIRIS;TYPEQU;LAMBERT_X;LAMBERT_Y;QUALITE_XY",
        "2021;32;62;62119;621190101;B203;660100.5;7040100.25;Bonne",
        "2021;11;75;75101;751010101;A504;651234,7;6862345,1;Acceptable",
        "2021;32;62;6041;620410000;C101;;;Non géolocalisé",
    ]
    detection, result, frame = read(write(tmp_path / "bpe21_ensemble_xy.csv", lines))
    assert (detection.dataset, detection.vintage, detection.level) == ("bpe_xy", "2021", "point")
    assert result.table == "bpe_equipements" and result.code_column == "depcom"
    assert frame["depcom"].tolist() == ["62119", "75101", "06041"]
    assert frame["dom"].tolist() == ["B", "A", "C"] and frame["sdom"].tolist() == ["B2", "A5", "C1"]
    assert frame.loc[1, "lambert_x"] == 651234.7 and pd.isna(frame.loc[2, "lambert_x"])
    assert result.repaired == 3  # one padded code, two decimal commas
    assert frame["epsg"].isna().all()


def test_bpe_geolocated_2023_layout_drops_names(tmp_path: Path) -> None:
    lines = [
        "AN;NOMRS;CNOMRS;DEPCOM;DOM;SDOM;TYPEQU;SIRET;LAMBERT_X;LAMBERT_Y;LONGITUDE;LATITUDE;"
        "QUALITE_XY;EPSG;DCIRIS",
        "2023;DUPONT JEAN;;62119;D;D2;D265;12345678900011;660100;7040100;2.64;50.53;Bonne;2154;"
        "621190101",
    ]
    _, _, frame = read(write(tmp_path / "BPE23.csv", lines))
    assert "nomrs" not in frame and "siret" not in frame
    assert frame.loc[0, ["typequ", "epsg", "longitude"]].tolist() == ["D265", "2154", 2.64]
    bad = write(tmp_path / "bad.csv", [lines[0], lines[1].replace("D265", "X999")])
    file = sniffed(bad)
    reader, detection = detect(file)
    with pytest.raises(InputError, match="type d'équipement invalide") as error:
        list(reader.read(file, detection).frames())
    assert (error.value.line, error.value.column) == (2, "TYPEQU")


def test_bpe_counts_long_iris_rows_summed(tmp_path: Path) -> None:
    lines = [
        "REG;DEP;DEPCOM;DCIRIS;AN;TYPEQU;NB_EQUIP",
        "32;62;62119;621190101;2021;B203;2",
        "32;62;62119;621190102;2021;B203;3",
        "32;62;62119;621190102;2021;A504;7",
        "84;01;1001;010010000;2021;B203;1",
    ]
    detection, result, frame = read(write(tmp_path / "bpe21_ensemble.csv", lines))
    assert (detection.dataset, detection.vintage, detection.level) == ("bpe_com", "2021", "commune")
    assert result.table == "bpe_communes" and result.count_columns == ("A504", "B203")
    values = frame.set_index(["code", "variable"])["value"]
    assert values[("62119", "B203")] == 5 and values[("01001", "B203")] == 1
    assert set(frame["period"]) == {"2021"} and not frame["secret"].any()
    assert result.repaired == 1


def test_bpe_counts_denombrement_layout(tmp_path: Path) -> None:
    lines = [
        "GEO;GEO_OBJECT;FACILITY_DOM;FACILITY_SDOM;FACILITY_TYPE;BPE_MEASURE;TIME_PERIOD;OBS_VALUE",
        "62119;COM;B;B2;B207;FACILITIES;2024;4",
        "62119;COM;_T;_T;_T;FACILITIES;2024;250",
        "62;DEP;B;B2;B207;FACILITIES;2024;900",
        "75101;ARM;B;B2;B207;FACILITIES;2024;12",
        "62119;COM;D;D2;D265;FACILITIES;2024;21",
    ]
    detection, result, frame = read(write(tmp_path / "DS_BPE_CSV_FR_data.csv", lines))
    assert detection.vintage == "2024" and len(frame) == 2
    assert frame.set_index("variable")["value"].to_dict() == {"B207": 4, "D265": 21}
    assert any("3 lignes" in w for w in result.warnings)


def test_bpe_counts_wide_workbook(tmp_path: Path) -> None:
    types = ["A101", "A104", "B203", "C101", "D201"]
    rows = [["Base permanente des équipements 2022"], [], ["CODGEO", "LIBGEO", *types]]
    rows += [["62119", "Béthune", 1, 0, 12, 9, 40], [1001, "L'Abergement", 0, 0, 0, 1, 0]]
    detection, result, frame = read(workbook(tmp_path / "bpe.xlsx", rows))
    assert (detection.dataset, detection.vintage) == ("bpe_com", "2022")
    assert len(frame) == 10 and result.repaired == 1
    assert frame.set_index(["code", "variable"]).loc[("62119", "B203"), "value"] == 12


def test_bpe_gamme_workbook_and_shipped_dictionary(tmp_path: Path) -> None:
    rows = [
        ["Gammes d'équipements"],
        ["Année 2025"],
        ["Code", "Libellé", "Gamme"],
        ["TYPEQU_REGROUPEMENT", "LIBELLE_TYPEQU_REGROUPEMENT", "TYPEQU", "LIBELLE_TYPEQU", "GAMME"],
        ["C1_PRIM", "École primaire", "C107", "École maternelle", "Gamme de proximité"],
    ]
    detection, _, frame = read(workbook(tmp_path / "gammes.xlsx", rows))
    from observatoire.sources.bpe import bpe_catalogue, bpe_types  # after readers(): see top

    assert (detection.dataset, detection.vintage) == ("bpe_gammes", "2025")
    assert frame.loc[0, ["typequ", "gamme", "typequ_regroupement"]].tolist() == [
        "C107",
        "Gamme de proximité",
        "C1_PRIM",
    ]
    catalogue = bpe_catalogue()
    assert set(catalogue["domaines"]) == set("ABCDEFG")
    types = bpe_types("2021")
    assert types.set_index("typequ").loc["C104", "libelle"] == "École élémentaire"
    assert types["gamme"].isna().all()  # never guessed: see the YAML header
    with pytest.raises(InputError, match="absent du dictionnaire"):
        bpe_types("1999")


# --------------------------------------------------------------------------- SIRENE (generated)

SIRENE_HEADER = (
    "siren,nic,siret,statutDiffusionEtablissement,dateCreationEtablissement,"
    "trancheEffectifsEtablissement,anneeEffectifsEtablissement,"
    "activitePrincipaleRegistreMetiersEtablissement,dateDernierTraitementEtablissement,"
    "etablissementSiege,nombrePeriodesEtablissement,libelleVoieEtablissement,"
    "codePostalEtablissement,libelleCommuneEtablissement,codeCommuneEtablissement,"
    "codePaysEtrangerEtablissement,dateDebut,etatAdministratifEtablissement,"
    "enseigne1Etablissement,denominationUsuelleEtablissement,activitePrincipaleEtablissement,"
    "nomenclatureActivitePrincipaleEtablissement,caractereEmployeurEtablissement"
)


def test_sirene_stock(tmp_path: Path) -> None:
    lines = [
        SIRENE_HEADER,
        "123456789,00012,12345678900012,O,2015-03-01,03,2022,,2024-11-28T10:12:00.000,true,2,"
        "RUE DU MARCHE,62400,BETHUNE,62119,,2015-03-01,A,BOULANGERIE MARTIN,,10.71C,NAFRev2,O",
        "987654321,00021,98765432100021,P,2019-06-15,NN,,,2025-01-30T08:00:00,false,1,[ND],"
        "[ND],[ND],62119,,2019-06-15,A,[ND],[ND],47.11B,NAFRev2,N",
        "555555555,00011,55555555500011,O,,,,,2020-01-02T00:00:00,true,1,,,,,99134,2020-01-01,F,,"
        ",70.10Z,NAFRev2,N",
    ]
    detection, result, frame = read(write(tmp_path / "StockEtablissement_utf8.csv", lines))
    assert (detection.dataset, detection.vintage, detection.level) == (
        "sirene_etablissements",
        "2025-01-30",
        "point",
    )
    assert result.code_column == "code_commune"
    assert not {"enseigne1etablissement", "libellevoieetablissement"} & {c.lower() for c in frame}
    assert "denomination" not in " ".join(frame.columns)
    first = frame.iloc[0]
    assert first["siret"] == "12345678900012" and first["activite_principale"] == "10.71C"
    assert str(first["date_creation"]) == "2015-03-01" and first["siege"]
    assert first["annee_effectifs"] == 2022 and first["caractere_employeur"] == "O"
    assert pd.isna(frame.loc[2, "code_commune"]) and pd.isna(frame.loc[2, "date_creation"])
    assert result.secret_cells == 0  # the [ND] cells were in columns that are not read
    lines[2] = lines[2].replace(",62119,", ",[ND],")
    _, result, frame = read(write(tmp_path / "nd.csv", lines))
    assert result.secret_cells == 1 and pd.isna(frame.loc[1, "code_commune"])


def test_sirene_geolocated_variant(tmp_path: Path) -> None:
    header = SIRENE_HEADER + ",longitude,latitude,geo_score,geo_type,geo_adresse"
    row = (
        "123456789,00012,12345678900012,O,2015-03-01,03,2022,,2024-11-28T10:12:00,true,2,"
        "RUE DU MARCHE,62400,BETHUNE,62119,,2015-03-01,A,,,10.71C,NAFRev2,O,2.6391,50.5301,"
        "0.93,housenumber,12 Rue du Marché 62400 Béthune"
    )
    detection, _, frame = read(write(tmp_path / "geo_siret_62.csv", [header, row]))
    assert "géo-SIRENE" in detection.label
    assert frame.loc[0, ["longitude", "latitude", "geo_score"]].tolist() == [2.6391, 50.5301, 0.93]
    assert "geo_adresse" not in frame


# --------------------------------------------------------------------------- LOVAC, NAF


def test_lovac_secret_cells(tmp_path: Path) -> None:
    lines = [
        "CODGEO_25;LIBGEO_25;EPCI_25;pp_vacant_24;pp_vacant_plus_2ans_24;ff_pp_total_23;"
        "pp_vacant_25;pp_vacant_plus_2ans_25;ff_pp_total_24",
        "62119;Béthune;200072460;812;344;11020;830;351;11050",
        "62001;Ablain-Saint-Nazaire;200033025;s;s;410;14;s;412",
        "6001;Aiglun;200039857;;s;250;12;S;251",
    ]
    detection, result, frame = read(write(tmp_path / "lovac.csv", lines))
    assert (detection.dataset, detection.vintage, detection.cog_vintage) == (
        "lovac_communes",
        "2023-2025",
        2025,
    )
    assert result.table == "lovac_communes" and result.code_column == "code"
    assert set(result.count_columns) == {c for c in lines[0].split(";") if c[:3] in ("pp_", "ff_")}
    cells = frame.set_index(["code", "source_column"])
    assert cells.loc[("62119", "pp_vacant_plus_2ans_25"), "value"] == 351
    row = cells.loc[("62001", "pp_vacant_24")]
    assert pd.isna(row["value"]) and row["secret"] and row["period"] == "2024"
    missing = cells.loc[("06001", "pp_vacant_24")]
    assert pd.isna(missing["value"]) and not missing["secret"]
    assert result.secret_cells == 5 and result.repaired == 1
    assert cells.loc[("62119", "ff_pp_total_23"), "variable"] == "ff_pp_total"
    lines.append("62002;Achicourt;200033025;12;x;300;13;s;301")
    file = sniffed(write(tmp_path / "bad.csv", lines))
    reader, detection = detect(file)
    with pytest.raises(InputError, match="secret") as error:
        reader.read(file, detection)
    assert (error.value.line, error.value.column) == (5, "pp_vacant_plus_2ans_24")


def test_naf_consumption(tmp_path: Path) -> None:
    lines = [
        "idcom,idcomtxt,naf09art10,naf10art11,naf09art23,art09act23,art09hab23,pop14,pop1420,"
        "artpop1420",
        "62119,Béthune,1520,830.5,25010,12000,9000,25400,-120,",
        "62001,Ablain,0,0,1200,0,1200,1000,12,100",
    ]
    detection, result, frame = read(write(tmp_path / "conso_com.csv", lines))
    assert (detection.dataset, detection.vintage) == ("naf_communes", "2009-2023")
    assert result.table == "naf_communes" and "artpop1420" not in result.count_columns
    cells = frame.set_index(["code", "source_column"])
    assert cells.loc[("62119", "naf10art11"), ["variable", "period", "value"]].tolist() == [
        "nafart",
        "2010-2011",
        830.5,
    ]
    assert cells.loc[("62119", "art09hab23"), "variable"] == "arthab"
    assert cells.loc[("62119", "pop1420"), ["variable", "period"]].tolist() == ["pop", "2014-2020"]
    assert cells.loc[("62119", "pop14"), "period"] == "2014"
    assert any("artpop1420" in w for w in result.warnings)


# --------------------------------------------------------------------------- loading


def test_loaded_tables_are_accepted_by_the_warehouse(tmp_path: Path, shared_data: Path) -> None:
    from observatoire.loading import load_paths
    from observatoire.project import init_project, open_project
    from observatoire.warehouse import Warehouse

    project = open_project(init_project(tmp_path / "p"))
    lovac = write(
        tmp_path / "lovac.csv",
        ["CODGEO_25;pp_vacant_25;pp_vacant_plus_2ans_25", "62119;830;351", "62001;14;s"],
    )
    dvf = shared_file(shared_data, "dvf/geodvf_2024_dep01_head_example.csv")
    loads = load_paths(project, [lovac, dvf])
    assert {load.dataset: load.rows for load in loads} == {"lovac_communes": 4, "dvf_geo": 77}
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        types = warehouse.query("DESCRIBE dvf").set_index("column_name")["column_type"]
        assert types["date_mutation"] == "DATE" and types["valeur_fonciere"] == "DOUBLE"
        secret = warehouse.query("SELECT secret, value FROM lovac_communes WHERE code = '62001'")
        assert secret.sort_values("secret")["secret"].tolist() == [False, True]
