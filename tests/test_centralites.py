"""Bourgs-centres: levels from gamme coverage, function scores, nearest centres, complementarity,
commerce — constructed cases with known answers, real geometry, and the demo end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from observatoire.analyses.centralites import (
    NON_CENTRE,
    CriterionUse,
    coverage,
    function_scores,
    gamme_units,
    levels_of,
    nearest_centres,
    presence_matrix,
    run,
)
from observatoire.analyses.commerce import classify_naf, commune_table, population_at
from observatoire.analyses.distances import centroids, distance_km, read_time_matrix
from observatoire.catalogue.diagnostics import load_diagnostics, parse_diagnostics
from observatoire.errors import ConfigError, InputError
from observatoire.project import open_project
from observatoire.publish.centralites import write_outputs
from observatoire.territories import referential

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PARAMS = load_diagnostics().centralities


# --------------------------------------------------------------------------- constructed


def _gamme_table() -> pd.DataFrame:
    """10 proximité units (two INSEE-merged types in one), 8 intermédiaire, 4 supérieure."""
    rows = [("A50" + str(i), "Gamme de proximité", None) for i in range(1, 10)]
    rows += [("C101", "Gamme de proximité", "C1_MAT"), ("C102", "Gamme de proximité", "C1_MAT")]
    rows += [(f"B2{i:02d}", "Gamme intermédiaire", None) for i in range(1, 9)]
    rows += [(f"D10{i}", "Gamme supérieure", None) for i in range(1, 5)]
    return pd.DataFrame(
        {
            "typequ": [r[0] for r in rows],
            "gamme": [r[1] for r in rows],
            "typequ_regroupement": [r[2] for r in rows],
            "libelle_regroupement": [None] * len(rows),
            "libelle_typequ": [None] * len(rows),
        }
    )


def _counts(holdings: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(code, t, 1.0) for code, types in holdings.items() for t in types]
    return pd.DataFrame(rows, columns=["code", "typequ", "n"])


def _levels(holdings: dict[str, list[str]]) -> pd.Series:
    units = gamme_units(_gamme_table())
    codes = sorted(holdings)
    cover = coverage(presence_matrix(_counts(holdings), codes, units), units)
    return levels_of(cover, PARAMS)


def test_merged_types_count_once_and_coverage_is_a_share_of_units() -> None:
    units = gamme_units(_gamme_table())
    assert len(units) == 10 + 8 + 4  # C101 + C102 are one unit
    counts = _counts({"62001": ["C101", "C102", "A501"], "62002": ["C102"]})
    cover = coverage(presence_matrix(counts, ["62001", "62002", "62003"], units), units)
    assert cover.loc["62001", "proximite"] == pytest.approx(2 / 10)
    assert cover.loc["62002", "proximite"] == pytest.approx(1 / 10)
    assert cover.loc["62003"].tolist() == [0.0, 0.0, 0.0]  # nothing present: 0, a known zero


def test_every_intermediate_type_makes_at_least_an_intermediate_centre() -> None:
    intermediate = [f"B2{i:02d}" for i in range(1, 9)]
    levels = _levels({"62001": intermediate, "62002": intermediate[:3]})
    order = [*PARAMS.level_ids, NON_CENTRE]
    assert order.index(levels["62001"]) <= order.index("intermediaire")
    # removing its equipment lowers it: 3 of 8 intermediate types is below half
    assert order.index(levels["62002"]) > order.index("intermediaire")
    # and the same commune with nothing is a non-centre
    assert _levels({"62001": []})["62001"] == NON_CENTRE


def test_levels_follow_the_configured_thresholds() -> None:
    everything = _gamme_table()["typequ"].tolist()
    proximity = [f"A50{i}" for i in range(1, 6)]  # 5 of 10 units: exactly half
    levels = _levels({"62001": everything, "62002": proximity, "62003": proximity[:4]})
    assert levels["62001"] == "majeur"
    assert levels["62002"] == "proximite"  # 0.5 reaches the 0.5 threshold
    assert levels["62003"] == NON_CENTRE


def test_a_regroupement_in_two_gammes_is_refused() -> None:
    table = _gamme_table()
    table.loc[table["typequ"] == "C102", "gamme"] = "Gamme intermédiaire"
    with pytest.raises(InputError, match="plusieurs gammes"):
        gamme_units(table)


def _uses(keys: list[tuple[str, str]]) -> list[CriterionUse]:
    return [CriterionUse(k, "mesure", k, "", 0, f, f, 1, 1.0, "2021", "", 5) for k, f in keys]


def test_completeness_counts_every_configured_criterion() -> None:
    codes = ["62001", "62002", "62003"]
    values = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0], "b": [np.nan] * 3, "c": [3.0, np.nan, 1.0], "d": [1.0, 2.0, 3.0]},
        index=codes,
    )
    uses = _uses([("a", "economie"), ("b", "economie"), ("c", "habitat"), ("d", "identite")])
    uses[1].available = 0  # b has no value anywhere
    scores = function_scores(values, PARAMS, uses)
    # economie: a (½ of its weight) ; habitat: c ; identite: d ; equipements: nothing → 1/4 each
    assert scores.loc["62001", "completude"] == pytest.approx((0.5 + 1 + 1) / 4)
    assert scores.loc["62002", "completude"] == pytest.approx((0.5 + 0 + 1) / 4)
    # the equipment function has no criterion: no overall centrality, never a partial mean
    assert scores["centralite"].isna().all()


def test_function_scores_do_not_depend_on_the_order_of_inputs() -> None:
    rng = np.random.default_rng(3)
    codes = [f"62{i:03d}" for i in range(1, 41)]
    values = pd.DataFrame(rng.normal(size=(40, 4)), index=codes, columns=list("abcd"))
    values.iloc[3, 1] = np.nan  # missing, never 0
    values.iloc[7, 2] = values.iloc[8, 2]  # a tie
    uses = _uses([("a", "economie"), ("b", "economie"), ("c", "habitat"), ("d", "identite")])
    first = function_scores(values, PARAMS, uses)
    shuffled = values.sample(frac=1, random_state=1)
    second = function_scores(shuffled, PARAMS, uses).reindex(first.index)
    pd.testing.assert_frame_equal(first, second)
    # percentile ranks: the highest value of a lone criterion scores 100, the lowest 0
    assert first["f_identite"].max() == pytest.approx(100)
    assert first["f_identite"].min() == pytest.approx(0)
    # tied values share their score; the missing criterion is left out, not counted as 0
    assert first.iloc[7]["f_habitat"] == first.iloc[8]["f_habitat"]
    rank_a = (values["a"].rank().iloc[3] - 1) / 39 * 100
    assert first.iloc[3]["f_economie"] == pytest.approx(rank_a)
    assert np.isnan(first["f_equipements"]).all()  # no criterion in that function


def _zone() -> pd.DataFrame:
    """Five communes on a line of longitude 2.5°E (about 11,1 km between 0.1° of latitude)."""
    codes = ["62001", "62002", "62003", "62004", "62005"]
    return pd.DataFrame(
        {
            "nom": ["A", "B", "C", "D", "E"],
            "lon": [2.5] * 5,
            "lat": [50.0, 50.1, 50.2, 50.3, 50.9],
            "population": [1000.0, 200.0, 300.0, 5000.0, 90000.0],
            "territoire": [True, True, True, True, False],
            "niveau": ["intermediaire", NON_CENTRE, "proximite", "structurant", "majeur"],
        },
        index=pd.Index(codes, name="code"),
    ).assign(
        rang_niveau=lambda t: t["niveau"].map(
            {lv: i for i, lv in enumerate([*PARAMS.level_ids, NON_CENTRE])}
        )
    )


def test_nearest_centre_of_each_level_and_served_population() -> None:
    zone = _zone()
    codes = zone.index[zone["territoire"]].tolist()
    nearest, served = nearest_centres(zone, codes, PARAMS, None)
    got = nearest.set_index(["code", "niveau"])["centre"]
    assert got[("62002", "proximite")] in ("62001", "62003")  # both 11 km: the first wins
    assert got[("62002", "intermediaire")] == "62001"
    assert got[("62003", "intermediaire")] == "62004"  # a structurant centre also serves
    assert got[("62004", "structurant")] == "62004"  # a centre is its own nearest
    assert got[("62001", "majeur")] == "62005"  # outside the territory, still the nearest
    km = nearest.set_index(["code", "niveau"])["distance_km"]
    assert km[("62001", "majeur")] == pytest.approx(100.1, abs=0.3)
    served = served.set_index(["niveau", "centre"])
    assert served.loc[("majeur", "62005"), "population"] == 6500  # the territory's communes
    assert served.loc[("intermediaire", "62001"), "communes"] == 2


def test_a_road_time_matrix_replaces_the_distance(tmp_path: Path) -> None:
    zone = _zone()
    path = tmp_path / "temps.csv"
    path.write_text(
        "origine;destination;minutes\n62002;62001;25\n62004;62002;9\n62002;62003;12\n",
        encoding="utf-8",
    )
    times = read_time_matrix(path)
    nearest, _ = nearest_centres(zone, ["62002"], PARAMS, times)
    got = nearest.set_index("niveau")
    assert got.loc["intermediaire", "centre"] == "62004"  # 9 min (given the other way)
    assert got.loc["intermediaire", "minutes"] == 9
    # a structurant centre at 9 min beats the local centre at 12 min and the one at 25 min
    assert got.loc["proximite", "centre"] == "62004"
    assert pd.isna(got.loc["majeur", "centre"])  # no time to 62005: unreachable


def test_a_bad_time_matrix_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "temps.csv"
    path.write_text("origine;destination;minutes\n62002;62001;25\n62002;6201;3\n")
    with pytest.raises(InputError, match=r"ligne 3, colonne « destination »"):
        read_time_matrix(path)
    path.write_text("origine,destination,duree\n62002,62001,vingt\n")
    with pytest.raises(InputError, match=r"ligne 2, colonne « duree »"):
        read_time_matrix(path)


def test_naf_classes_follow_the_lists_and_exclusions() -> None:
    naf = pd.Series(
        [
            "47.11F",
            "47.30Z",
            "47.91B",
            "47.82Z",
            "56.10A",
            "10.71C",
            "47.73Z",
            "47.52A",
            "68.20B",
            None,
        ]
    )
    got = classify_naf(naf, PARAMS).tolist()
    assert got == [
        "alimentaire",
        None,
        None,
        None,
        "restauration",
        "alimentaire",
        "pharmacie",
        "non_alimentaire",
        None,
        None,
    ]


def test_commerce_density_and_evolution_between_two_stocks() -> None:
    counts = pd.DataFrame(
        [
            ("62119", "2020-11-30", "alimentaire", 10),
            ("62119", "2020-11-30", "restauration", 7),
            ("62119", "2021-11-30", "alimentaire", 12),
            ("62119", "2021-11-30", "pharmacie", 3),
            ("62119", "2021-11-30", "restauration", 9),
            ("62498", "2020-11-30", "non_alimentaire", 4),
        ],
        columns=["code", "stock", "type", "n"],
    )
    stocks = ["2020-11-30", "2021-11-30"]
    table, year = commune_table(counts, ["62119", "62498"], stocks, PARAMS)
    population, used = population_at(["62119", "62498"], 2021)
    assert year == used == 2021
    assert table.loc["62119", "commerces"] == 15  # restaurants are not retail in shops
    assert table.loc["62119", "commerces_pour_1000"] == pytest.approx(
        15 / population["62119"] * 1000
    )
    assert table.loc["62119", "evolution"] == 5  # 15 − 10
    assert table.loc["62498", "commerces"] == 0 and table.loc["62498", "evolution"] == -4
    assert table.loc["62498", "evolution_pct"] == pytest.approx(-100)
    assert table.loc["62119", "evolution_restauration"] == 2
    assert table.loc["62119", "pharmacie_pour_1000"] == pytest.approx(
        3 / population["62119"] * 1000
    )
    # a stock without any establishment in a département does not cover it: missing, not 0
    covered = {"2020-11-30": {"62"}, "2021-11-30": {"62"}}
    partial = {"2020-11-30": {"59"}, "2021-11-30": {"62"}}
    full, _ = commune_table(counts, ["62119"], stocks, PARAMS, covered)
    gap, _ = commune_table(counts, ["62119"], stocks, PARAMS, partial)
    assert full.loc["62119", "evolution"] == 5
    assert np.isnan(gap.loc["62119", "commerces_avant"]) and np.isnan(gap.loc["62119", "evolution"])
    assert gap.loc["62119", "commerces"] == 15


def test_populations_are_recoded_and_include_mayotte() -> None:
    population, year = population_at(["62119", "97611", "14581"], 2021)
    assert year == 2021 and population.notna().all()  # Mamoudzou and a COG 2025 merger
    early, year = population_at(["62041"], 2018)
    assert year == 2016 and early.notna().all()  # no 2017/2018 vintage: the year before


def test_configuration_errors_name_the_key() -> None:
    import copy
    from importlib.resources import files

    import yaml

    raw = yaml.safe_load(
        (files("observatoire") / "catalogue" / "diagnostics.yaml").read_text(encoding="utf-8")
    )
    bad = copy.deepcopy(raw)
    bad["centralites"]["fonctions"]["habitat"]["criteres"][0] = {"mesure": "inconnue", "sens": "+"}
    with pytest.raises(ConfigError, match=r"centralites\.fonctions\.habitat\.criteres\[1\]"):
        parse_diagnostics(bad, "diagnostics.yaml")
    bad = copy.deepcopy(raw)
    bad["centralites"]["niveaux"][0]["gammes"]["superieure"] = 1.5
    with pytest.raises(ConfigError, match="entre 0 et 1"):
        parse_diagnostics(bad, "diagnostics.yaml")
    bad = copy.deepcopy(raw)
    bad["centralites"]["commerce"]["exclus"] = ["47-30"]
    with pytest.raises(ConfigError, match="exclus"):
        parse_diagnostics(bad, "diagnostics.yaml")


# --------------------------------------------------------------------------- real geometry


def test_distances_between_real_commune_centroids() -> None:
    geo = referential.geometries("commune")
    chosen = geo[geo["code"].isin(["62119", "62498", "62178", "62041"])].sort_values("code")
    points = centroids(chosen).set_index("code")
    km = pd.DataFrame(distance_km(points, points), index=points.index, columns=points.index)
    assert np.allclose(km.to_numpy(), km.to_numpy().T)
    assert km.loc["62119", "62498"] == pytest.approx(18.5, abs=2.5)  # Béthune – Lens
    assert km.loc["62119", "62178"] == pytest.approx(7.5, abs=2.0)  # Béthune – Bruay
    assert km.loc["62119", "62041"] == pytest.approx(30, abs=3)  # Béthune – Arras
    shared = SHARED / "geo" / "fgj_communes-62-pas-de-calais.geojson"
    if not shared.exists():
        pytest.skip(f"données partagées absentes ({shared}) : comparaison indépendante sautée")
    # an independent path: the other publisher's shapes, centroids and plane distances in
    # Lambert-93 (scale error < 0.1 % in the Pas-de-Calais)
    other = gpd.read_file(shared).to_crs(2154).set_index("code")
    centre = other.loc[["62119", "62498", "62178", "62041"]].geometry.centroid
    for a, b in (("62119", "62498"), ("62119", "62178"), ("62498", "62041")):
        plane = centre[a].distance(centre[b]) / 1000
        assert km.loc[a, b] == pytest.approx(plane, rel=0.01)


# --------------------------------------------------------------------------- demo end to end


@pytest.fixture(scope="module")
def project(demo_summary):
    return open_project(demo_summary.root)


@pytest.fixture(scope="module")
def result(project):
    return run(project, "petr-ternois-7-vallees")


def test_coverage_matches_the_warehouse_equipments(project, result) -> None:
    con = duckdb.connect(str(project.settings.warehouse_path), read_only=True)
    try:
        total = con.execute(
            "SELECT gamme, count(DISTINCT coalesce(typequ_regroupement, typequ)) FROM bpe_gammes "
            "WHERE vintage = ? GROUP BY gamme",
            [result.period],
        ).fetchall()
        held = con.execute(
            "SELECT b.code_commune_cog, g.gamme, "
            "count(DISTINCT coalesce(g.typequ_regroupement, g.typequ)) "
            "FROM bpe_equipements b JOIN bpe_gammes g ON g.typequ = b.typequ "
            "AND g.vintage = CAST(b.an AS VARCHAR) WHERE CAST(b.an AS VARCHAR) = ? GROUP BY ALL",
            [result.period],
        ).df()
    finally:
        con.close()
    sizes = {label: n for label, n in total}
    checked = 0
    for row in held.itertuples(index=False):
        code, label, n = row
        if code not in result.in_territory.index:
            continue
        key = (
            "proximite"
            if "proximit" in label
            else ("intermediaire" if "interm" in label else "superieure")
        )
        assert result.communes.loc[code, f"couverture_{key}"] == pytest.approx(
            n / sizes[label] * 100
        )
        checked += 1
    assert checked > 50


def test_levels_nearest_and_served_are_consistent(result) -> None:
    communes = result.communes
    order = {lv: i for i, lv in enumerate(result.params.level_ids)}
    known = communes[communes["niveau"] != "inconnu"]
    # the level is the highest whose thresholds hold
    for code, row in known.iterrows():
        reached = [
            lv.id
            for lv in result.params.levels
            if all(row[f"couverture_{g}"] / 100 >= t - 1e-12 for g, t in lv.thresholds.items())
        ]
        assert row["niveau"] == (reached[0] if reached else NON_CENTRE), code
    # the nearest centre of a level is at least of that level and no candidate is closer
    pool = result.candidates
    for lv in result.params.levels:
        rows = result.nearest[result.nearest["niveau"] == lv.id].dropna(subset=["centre"])
        candidates = pool[pool["niveau"].map(order).fillna(99) <= order[lv.id]]
        for row in rows.itertuples(index=False):
            assert order[communes.loc[row.centre, "niveau"]] <= order[lv.id]
            d = distance_km(communes.loc[[row.code], ["lon", "lat"]], candidates[["lon", "lat"]])
            assert row.distance_km == pytest.approx(d.min())
    # every commune of the territory is served once per level reached
    total = result.in_territory["population"].sum()
    for lv in result.params.levels:
        served = result.served[result.served["niveau"] == lv.id]
        attached = result.nearest[(result.nearest["niveau"] == lv.id)].dropna(subset=["centre"])
        assert served["population"].sum() == pytest.approx(
            result.communes.loc[attached["code"], "population"].sum()
        )
        assert served["population"].sum() <= total
    assert result.simulated


def test_complementarity_lists_what_no_neighbour_has(result) -> None:
    presence = result.presence
    communes = result.candidates
    centres = communes.index[~communes["niveau"].isin([NON_CENTRE, "inconnu"])]
    assert len(result.complementarity) == len(result.centres)
    for centre, group in result.exclusive.groupby("centre"):
        d = distance_km(
            communes.loc[[centre], ["lon", "lat"]], communes.loc[centres, ["lon", "lat"]]
        )[0]
        neighbours = [
            c
            for c, km in zip(centres, d, strict=True)
            if km <= result.params.neighbour_km and c != centre
        ]
        for unit in group["unite"]:
            assert presence.loc[centre, unit]
            assert not presence.loc[neighbours, unit].any()
        assert result.complementarity.loc[
            centre, [c for c in result.complementarity.columns if c.startswith("exclusifs_")]
        ].sum() == len(group)


def test_commerce_counts_match_sirene(project, result) -> None:
    shop = result.commerce
    assert shop is not None and len(shop.stocks) == 2
    con = duckdb.connect(str(project.settings.warehouse_path), read_only=True)
    try:
        pharmacies = con.execute(
            "SELECT code_commune_cog, count(*) FROM sirene_etablissements "
            "WHERE etat_administratif = 'A' AND activite_principale = '47.73Z' "
            "AND CAST(vintage AS VARCHAR) = ? GROUP BY ALL",
            [shop.stocks[-1]],
        ).fetchall()
    finally:
        con.close()
    expected = {code: n for code, n in pharmacies if code in shop.communes.index}
    got = shop.communes["n_pharmacie"]
    assert expected and all(got[code] == n for code, n in expected.items())
    assert (got.drop(list(expected)) == 0).all()


def test_outputs(project, result, tmp_path: Path) -> None:
    outputs = write_outputs(project, result, out_dir=tmp_path, formats=("html",))
    names = {p.name for p in outputs.files}
    assert {"centralites.xlsx", "centralites.gpkg", "carte.png", "diagnostic.html"} <= names
    workbook = load_workbook(tmp_path / "centralites.xlsx", read_only=True)
    assert {"Communes", "Méthode", "Complémentarité", "Gammes", "Commerce"} <= set(
        workbook.sheetnames
    )
    rows = list(workbook["Communes"].iter_rows(min_row=3, values_only=True))
    assert len(rows) - 1 == len(result.in_territory)
    layers = {name for name, _ in gpd.list_layers(tmp_path / "centralites.gpkg").to_numpy()}
    assert layers == {"communes", "centres", "liens"}
    links = gpd.read_file(tmp_path / "centralites.gpkg", layer="liens")
    assert (links["distance_km"] > 0).all()
    html = (tmp_path / "diagnostic.html").read_text(encoding="utf-8")
    assert "Données simulées" in html
    for code in result.centres[:5]:
        assert str(result.communes.loc[code, "nom"]) in html
    assert len(list((tmp_path / "radars").glob("*.png"))) == len(result.centres)


# --------------------------------------------------------------------------- loaded extras


@pytest.fixture(scope="module")
def copy_project(demo_summary, tmp_path_factory):
    """A copy of the demo (tests here load files into it)."""
    folder = tmp_path_factory.mktemp("centralites") / "artois"
    shutil.copytree(demo_summary.root, folder, ignore=shutil.ignore_patterns("sorties"))
    return open_project(folder)


def test_centres_outside_the_territory_are_refused(copy_project) -> None:
    with pytest.raises(InputError, match="hors du territoire"):
        run(copy_project, "200044030", centres=["62119"])


def test_listed_centres_are_the_reference_set(copy_project) -> None:
    centres = ["62050", "62100", "62204", "62447"]
    listed = run(copy_project, "200044030", centres=centres)
    assert sorted(listed.scores.index) == centres
    assert listed.communes["reference"].sum() == 4
    assert len(listed.in_territory) > 4  # levels and nearest centres for every commune


def _survey(path: Path, rows: list[tuple[str, str, bool, str]]) -> Path:
    lines = ["code_commune;perimetre;etat;date_releve"]
    lines += [f"{c};{p};{'vacant' if v else 'occupé'};{d}" for c, p, v, d in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_survey_vacancy_and_programmes(copy_project, tmp_path: Path) -> None:
    from observatoire.loading import load_paths

    old = _survey(
        tmp_path / "releve_2022.csv", [("62447", "Centre", i < 10, "2022-06-01") for i in range(20)]
    )
    latest = _survey(
        tmp_path / "releve_2024.csv",
        [("62447", "Centre", i < 3, "2024-06-15") for i in range(20)]
        # a survey across the new year: every row of it counts
        + [("62050", "", i < 1, "2023-12-18" if i < 12 else "2024-01-08") for i in range(25)],
    )
    paths = [old, latest]
    acv = SHARED / "programmes" / "action_coeur_de_ville_communes_anct.geojson"
    if acv.exists():
        paths.append(acv)
    load_paths(copy_project, paths)
    got = run(copy_project, "petr-ternois-7-vallees")
    vacancy = got.commerce.vacancy.set_index(["niveau", "code"])
    assert vacancy.loc[("commune", "62447"), "taux"] == pytest.approx(15.0)  # 2024, not 2022
    assert vacancy.loc[("commune", "62447"), "locaux"] == 20
    assert vacancy.loc[("commune", "62447"), "lecture"] == "critique"
    assert vacancy.loc[("commune", "62050"), "locaux"] == 25
    assert vacancy.loc[("commune", "62050"), "taux"] == pytest.approx(4.0)
    assert vacancy.loc[("commune", "62050"), "lecture"] == "favorable"
    assert vacancy.loc[("perimetre", "62447"), "locaux"] == 20
    if acv.exists():
        # no ACV commune in the PETR: the measure is a known 0, not missing
        assert (got.values["programmes"] == 0).all()
        use = next(u for u in got.criteria if u.key == "programmes")
        assert "Action Cœur de Ville" in use.source and "Petites villes" not in use.source
        bethune = run(copy_project, "200072460")
        assert bethune.values.loc["62119", "programmes"] == 1
        assert bethune.values.loc["62035", "programmes"] == 0


def test_an_undated_sirene_stock_is_left_out(copy_project) -> None:
    con = duckdb.connect(str(copy_project.settings.warehouse_path))
    try:
        con.execute(
            "INSERT INTO sirene_etablissements SELECT * REPLACE ('sans millésime' AS vintage) "
            "FROM sirene_etablissements WHERE code_commune_cog = '62767' LIMIT 50"
        )
    finally:
        con.close()
    got = run(copy_project, "200044030")
    assert all(stock[:4].isdigit() for stock in got.commerce.stocks)
    assert any("sans date" in note for note in got.notes)


def test_bassins_de_vie_from_the_real_table(copy_project) -> None:
    table = SHARED / "cog" / "table-appartenance-geo-communes-22.xlsx"
    if not table.exists():
        pytest.skip(f"données partagées absentes ({table})")
    from observatoire.loading import load_paths

    events = SHARED / "cog" / "v_mvt_commune_2025_from_COGiter.csv"
    load_paths(copy_project, [events, table])
    got = run(copy_project, "200072460")
    bv = got.bv.set_index("code")
    assert bv.loc["62119", "pole_bv"]  # Béthune is the pole of its bassin de vie
    assert not bv.loc["62035", "pole_bv"]  # Annezin is attached to Béthune's
    assert bv.loc["62035", "bv"] == "62119"
    from observatoire.analyses.centralites import _bv_comparison
    from observatoire.warehouse import Warehouse

    # BV2012 poles are communes of 2012: Binic (22007) merged into Binic-Étables-sur-Mer
    # (22055) in 2016, which is the pole; a commune created since 2022 (14581) gets its BV
    with Warehouse(copy_project.settings.warehouse_path, read_only=True) as warehouse:
        table, _ = _bv_comparison(warehouse, ["22055", "14581"], pd.Series(dtype=object))
    table = table.set_index("code")
    assert table.loc["22055", "pole_bv"]
    assert table["bv"].notna().all()


def test_workbook_helper_writes_missing_as_empty(tmp_path: Path) -> None:
    from observatoire.xlsx import add_sheet

    workbook = Workbook()
    add_sheet(workbook, "Feuille", pd.DataFrame({"a": [1.5, np.nan], "b": [pd.NA, "x"]}), "Note")
    workbook.save(tmp_path / "t.xlsx")
    ws = load_workbook(tmp_path / "t.xlsx")["Feuille"]
    assert ws["A1"].value == "Note"
    assert [c.value for c in ws[3]] == ["a", "b"]
    assert [c.value for c in ws[4]] == [1.5, None]
    assert [c.value for c in ws[5]] == [None, "x"]


def test_town_centre_perimeters_count_the_geolocated_shops(copy_project, tmp_path: Path) -> None:
    geo = referential.geometries("commune")
    shape = geo[geo["code"] == "62447"][["geometry"]].assign(nom="Hesdin centre")
    path = tmp_path / "centres.geojson"
    shape.to_file(path, driver="GeoJSON")
    got = run(copy_project, "200044030", perimeters=path)
    perimeters = got.commerce.perimeters.set_index("perimetre")
    row = perimeters.loc["Hesdin centre"]
    assert row["code"] == "62447"  # the commune holding its establishments
    kinds = [k.id for k in PARAMS.commerce_types]
    assert all(f"n_{k}" in perimeters.columns for k in kinds)  # every type, 0 included
    con = duckdb.connect(str(copy_project.settings.warehouse_path), read_only=True)
    try:
        located = con.execute(
            "SELECT count(*) FROM sirene_etablissements WHERE code_commune_cog = '62447' "
            "AND etat_administratif = 'A' AND activite_principale = '47.73Z' "
            "AND lambert_x IS NOT NULL AND CAST(vintage AS VARCHAR) = ?",
            [got.commerce.stocks[-1]],
        ).fetchone()[0]
    finally:
        con.close()
    # the whole commune as perimeter: every geolocated pharmacy of it is inside
    assert row["n_pharmacie"] == located
    assert row["commerces"] <= got.commerce.communes.loc["62447", "commerces"]
    assert 0 <= row["part_commune"] <= 100


def test_a_time_matrix_must_reach_the_territory(copy_project, tmp_path: Path) -> None:
    path = tmp_path / "temps.csv"
    path.write_text("origine;destination;minutes\n75056;69123;250\n", encoding="utf-8")
    with pytest.raises(InputError, match="aucun trajet"):
        run(copy_project, "200044030", times=path)
    path.write_text("origine;destination;minutes\n", encoding="utf-8")
    with pytest.raises(InputError, match="aucun trajet"):
        run(copy_project, "200044030", times=path)


def test_cli_diagnose_centralites(copy_project, tmp_path: Path) -> None:
    import subprocess
    import sys

    from typer.testing import CliRunner

    from observatoire.cli import app

    out = tmp_path / "cli"
    done = CliRunner().invoke(
        app,
        [
            "diagnose",
            "centralites",
            "-p",
            str(copy_project.root),
            "-t",
            "200044030",
            "--centres",
            "62050,62100,62204,62447",
            "-o",
            str(out),
            "--format",
            "pdf,html",
        ],
    )
    assert done.exit_code == 0, done.output
    assert "Pôle" in done.output and (out / "diagnostic.pdf").stat().st_size > 10_000
    text = subprocess.run(
        ["pdftotext", str(out / "diagnostic.pdf"), "-"], capture_output=True, text=True
    ).stdout
    assert "Armature territoriale" in text and "Hesdin-la-Forêt" in text
    command = [sys.executable, "-m", "observatoire", "diagnose", "centralites"]
    bad = subprocess.run(
        [*command, "-p", str(copy_project.root), "-t", "200044030", "--centres", "62119"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "hors du territoire" in bad.stderr
    assert "Traceback" not in bad.stderr
    helped = subprocess.run([*command, "--help"], capture_output=True, text=True)
    assert "Exemple" in helped.stdout


# must stay last: it removes the gamme table from the copied project
def test_without_the_gamme_table_of_the_vintage_nothing_is_guessed(copy_project) -> None:
    con = duckdb.connect(str(copy_project.settings.warehouse_path))
    try:
        con.execute("DELETE FROM bpe_gammes WHERE vintage = '2021'")
    finally:
        con.close()
    with pytest.raises(InputError, match="gammes de la BPE 2021 absente"):
        run(copy_project, "200044030")
