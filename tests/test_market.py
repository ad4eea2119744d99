"""DVF market: cleaning rules and market figures on the real DVF files, against an independent
pandas computation written here from the raw text (not from the reader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import shared_file
from observatoire.catalogue.diagnostics import load_diagnostics
from observatoire.errors import ConfigError, InputError
from observatoire.indicators.build import build
from observatoire.indicators.market import cleaning_report
from observatoire.loading import load_paths
from observatoire.project import init_project, open_project
from observatoire.warehouse import Warehouse

NICE = "dvf/ValeursFoncieres2024_06000.txt"
HENDAYE = "dvf/dvf_api_64260_hendaye_2019-2023.csv"
GEO_HEAD = "dvf/geodvf_2024_dep01_head_example.csv"
DWELLINGS = ("Maison", "Appartement")


# ------------------------------------------------------------------ independent computation


def _raw_dgfip(path: Path) -> pd.DataFrame:
    """The raw DGFiP file as geo-DVF-like columns, mutations numbered as consecutive runs."""
    raw = pd.read_csv(path, sep="|", dtype=str, keep_default_na=False)
    key = [
        "Identifiant de document",
        "Reference document",
        "Date mutation",
        "Nature mutation",
        "Valeur fonciere",
        "Code departement",
        "Code commune",
    ]
    run = (raw[key] != raw[key].shift()).any(axis=1).cumsum()
    commune = raw["Code departement"] + raw["Code commune"].str.zfill(3)
    parcel = raw["Prefixe de section"] + "|" + raw["Section"] + "|" + raw["No plan"]
    return pd.DataFrame(
        {
            "id_mutation": run.astype(str),
            "date": pd.to_datetime(raw["Date mutation"], format="%d/%m/%Y"),
            "disposition": raw["No disposition"].astype(int),
            "nature": raw["Nature mutation"],
            "valeur": pd.to_numeric(raw["Valeur fonciere"].str.replace(",", "."), "coerce"),
            "commune": commune,
            "parcelle": parcel,
            "type_local": raw["Type local"],
            "surface": pd.to_numeric(raw["Surface reelle bati"].str.replace(",", "."), "coerce"),
            "pieces": pd.to_numeric(raw["Nombre pieces principales"], "coerce"),
        }
    )


def _raw_geo(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.DataFrame(
        {
            "id_mutation": raw["id_mutation"],
            "date": pd.to_datetime(raw["date_mutation"]),
            "disposition": raw["numero_disposition"].astype(int),
            "nature": raw["nature_mutation"],
            "valeur": pd.to_numeric(raw["valeur_fonciere"], "coerce"),
            "commune": raw["code_commune"].str.zfill(5),
            "parcelle": raw["id_parcelle"],
            "type_local": raw["type_local"],
            "surface": pd.to_numeric(raw["surface_reelle_bati"], "coerce"),
            "pieces": pd.to_numeric(raw["nombre_pieces_principales"], "coerce"),
        }
    )


def _expected(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per mutation with the first rule it fails (None when kept), default params."""
    params = load_diagnostics().market
    out = []
    locals_ = rows[rows["type_local"].ne("") & rows["type_local"].ne("Dépendance")]
    locals_ = locals_.drop_duplicates(
        ["id_mutation", "parcelle", "type_local", "surface", "pieces"]
    )
    by_mut = dict(tuple(locals_.groupby("id_mutation")))
    for mid, group in rows.groupby("id_mutation", sort=False):
        loc = by_mut.get(mid, locals_.iloc[:0])
        houses = int((loc["type_local"] == "Maison").sum())
        flats = int((loc["type_local"] == "Appartement").sum())
        others = len(loc) - houses - flats
        dwelling = loc[loc["type_local"].isin(DWELLINGS)]
        kind = dwelling["type_local"].iloc[0] if len(dwelling) == 1 else None
        surface = float(dwelling["surface"].iloc[0]) if len(dwelling) == 1 else np.nan
        valeur = float(group["valeur"].max())
        if group["nature"].iloc[0] not in params.natures:
            rule = "nature"
        elif group["commune"].nunique() > 1:
            rule = "multi_communes"
        elif group["disposition"].nunique() > 1:
            rule = "multi_dispositions"
        elif houses + flats == 0:
            rule = "sans_logement"
        elif houses + flats > 1:
            rule = "plusieurs_logements"
        elif others > 0:
            rule = "logement_et_local"
        elif not (valeur > 0) or not (surface > 0):
            rule = "valeur_ou_surface"
        elif valeur < params.price_min:
            rule = "prix_min"
        else:
            lo, hi = params.surface_house if kind == "Maison" else params.surface_apartment
            rule = None if lo <= surface <= hi else "surface"
        out.append(
            {
                "id_mutation": mid,
                "year": int(group["date"].min().year),
                "commune": group["commune"].iloc[0],
                "type": kind,
                "valeur": valeur,
                "surface": surface,
                "rule": rule,
            }
        )
    frame = pd.DataFrame(out)
    # Log-scale trimming per département × type × year (IQR rule), groups of >= 30 sales.
    kept = frame["rule"].isna()
    frame["lpx"] = np.log(frame["valeur"] / frame["surface"])
    for _, group in frame[kept].groupby([frame["commune"].str[:2], "type", "year"]):
        if len(group) < params.trim_min_count:
            continue
        q1, q3 = np.quantile(group["lpx"], [0.25, 0.75])
        k = params.trim_coefficient
        out_of = (group["lpx"] < q1 - k * (q3 - q1)) | (group["lpx"] > q3 + k * (q3 - q1))
        frame.loc[group.index[out_of], "rule"] = "ecretage"
    return frame


# ------------------------------------------------------------------ fixtures


def _built(tmp_path_factory: pytest.TempPathFactory, files: list[Path], name: str):
    project = open_project(init_project(tmp_path_factory.mktemp(name) / "p"))
    load_paths(project, files)
    build(project)
    return project


@pytest.fixture(scope="module")
def nice(tmp_path_factory: pytest.TempPathFactory, shared_data: Path):
    path = shared_file(shared_data, NICE)
    return _built(tmp_path_factory, [path], "nice"), _expected(_raw_dgfip(path))


@pytest.fixture(scope="module")
def geo_head(tmp_path_factory: pytest.TempPathFactory, shared_data: Path):
    path = shared_file(shared_data, GEO_HEAD)
    return _built(tmp_path_factory, [path], "geohead"), _expected(_raw_geo(path))


@pytest.fixture(scope="module")
def hendaye(tmp_path_factory: pytest.TempPathFactory, shared_data: Path):
    path = shared_file(shared_data, HENDAYE)
    return _built(tmp_path_factory, [path], "hendaye"), _expected(_raw_geo(path))


def _values(project, commune: str) -> pd.DataFrame:
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        return wh.query(
            "SELECT territory_id, level, indicator_id, period, value, status, flags "
            "FROM indicator_values WHERE territory_id = ? AND level = 'commune'",
            [commune],
        )


def _report(project) -> pd.DataFrame:
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        return cleaning_report(wh.con)


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("which", ["nice", "hendaye", "geo_head"])
def test_counts_after_each_rule_match_an_independent_computation(which, request) -> None:
    project, expected = request.getfixturevalue(which)
    report = _report(project)
    assert not report.empty
    for year, part in report.groupby("annee"):
        exp = expected[expected["year"] == year]
        removed = part.set_index("regle")["mutations"]
        assert removed["total"] == len(exp)
        for rule in exp["rule"].dropna().unique():
            assert removed[rule] == int((exp["rule"] == rule).sum()), (year, rule)
        assert removed["retenues"] == int(exp["rule"].isna().sum())
        # "left after the rule" decreases along the rules and ends on the kept sales
        left = part.sort_values("ordre")["restantes"].to_numpy()
        assert (np.diff(left[:-1]) <= 0).all()


def test_nice_has_the_excluded_cases_the_rules_are_for(nice) -> None:
    _, expected = nice
    counts = expected["rule"].value_counts()
    # VEFA/adjudications/exchanges, dwelling sold with a shop, several dwellings together
    for rule in ("nature", "logement_et_local", "plusieurs_logements", "sans_logement"):
        assert counts.get(rule, 0) > 0, rule


@pytest.mark.parametrize("which, commune", [("nice", "06088"), ("hendaye", "64260")])
def test_medians_and_quartiles_match_pandas(which, commune, request) -> None:
    project, expected = request.getfixturevalue(which)
    values = _values(project, commune).set_index(["indicator_id", "period"])
    checked = 0
    for (year, kind), group in expected[expected["rule"].isna()].groupby(["year", "type"]):
        key = "maison" if kind == "Maison" else "appartement"
        period = str(year)
        price = group["valeur"]
        pxm2 = group["valeur"] / group["surface"]
        median = values.loc[(f"prix_m2_median_{key}", period)]
        if len(group) >= 11:
            assert median["status"] == "ok"
            assert median["value"] == pytest.approx(pxm2.median(), rel=1e-6)
            assert values.loc[(f"prix_median_{key}", period), "value"] == pytest.approx(
                price.median(), rel=1e-6
            )
            checked += 1
        else:
            assert median["status"] == "secret" and pd.isna(median["value"])
        q1 = values.loc[(f"prix_m2_q1_{key}", period)]
        if len(group) >= 20:
            assert q1["value"] == pytest.approx(np.quantile(pxm2, 0.25), rel=1e-6)
        else:
            assert q1["status"] == "secret"
        if year < expected["year"].max():  # the last year holds the incomplete semester
            assert values.loc[(f"ventes_retenues_{key}s", period), "value"] == len(group)
        else:
            assert (f"ventes_retenues_{key}s", period) not in values.index
    assert checked >= 2


def test_volumes_of_the_incomplete_last_semester_are_withheld(hendaye) -> None:
    project, expected = hendaye
    values = _values(project, "64260").set_index(["indicator_id", "period"])
    last = int(expected["year"].max())
    assert ("ventes_appartements", str(last)) not in values.index
    assert values.loc[("prix_m2_median_appartement", str(last)), "flags"] == ("semestre_incomplet")
    one_dwelling = expected["rule"].isna() | expected["rule"].isin(
        ["valeur_ou_surface", "prix_min", "surface", "ecretage"]
    )
    for year in range(int(expected["year"].min()), last):
        n = int(
            (one_dwelling & (expected["year"] == year) & (expected["type"] == "Appartement")).sum()
        )
        row = values.loc[("ventes_appartements", str(year))]
        assert (row["status"], row["value"]) == ("ok", n)


def test_evolution_is_the_change_of_the_median(hendaye) -> None:
    project, _ = hendaye
    values = _values(project, "64260").set_index(["indicator_id", "period"])["value"]
    for year in (2020, 2021, 2022):
        now = values[("prix_m2_median_appartement", str(year))]
        before = values[("prix_m2_median_appartement", str(year - 1))]
        assert values[("evolution_prix_m2_appartement", str(year))] == pytest.approx(
            (now / before - 1) * 100, abs=1e-4
        )


def test_an_extract_covers_its_communes_only(hendaye) -> None:
    """The Hendaye file is an extract (one commune of the Pyrénées-Atlantiques): the
    département, its EPCI and France have no median, the other communes no figure (not 0)."""
    project, _ = hendaye
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        rows = wh.query(
            "SELECT territory_id, level, indicator_id, status, value FROM indicator_values "
            "WHERE indicator_id IN ('prix_m2_median_appartement', 'ventes_appartements') "
            "AND period = '2021'"
        )
    medians = rows[rows["indicator_id"] == "prix_m2_median_appartement"].set_index("level")
    for level in ("departement", "epci", "region", "france"):
        assert medians.loc[level, "status"] == "incomplete", level
        assert pd.isna(medians.loc[level, "value"])
    volumes = rows[(rows["indicator_id"] == "ventes_appartements") & (rows["level"] == "commune")]
    assert list(volumes["territory_id"]) == ["64260"]


def test_one_file_per_commune_and_year(tmp_path, shared_data) -> None:
    """A second file of the same source holding the same 2023 sales (a yearly file beside a
    multi-year export) is not summed: the latest loaded is read, the figures are unchanged."""
    path = shared_file(shared_data, HENDAYE)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    yearly = tmp_path / "hendaye-2023.csv"
    raw[raw["date_mutation"].str.startswith("2023")].to_csv(yearly, index=False)
    single = open_project(init_project(tmp_path / "a"))
    load_paths(single, [path])
    build(single)
    double = open_project(init_project(tmp_path / "b"))
    load_paths(double, [path, yearly])
    build(double)
    a = _values(single, "64260").set_index(["indicator_id", "period"])["value"]
    b = _values(double, "64260").set_index(["indicator_id", "period"])["value"]
    market = [i for i in a.index if i[0].startswith(("ventes", "prix"))]
    assert len(market) > 20
    pd.testing.assert_series_equal(a[market], b[market])
    with Warehouse(double.settings.warehouse_path, read_only=True) as wh:
        read = wh.query("SELECT DISTINCT vintage FROM dvf_mutations WHERE annee = 2023")
    assert list(read["vintage"]) == ["2023"]  # the yearly file, loaded last


def test_geo_and_raw_files_of_the_same_sales_are_never_both_read(demo_summary) -> None:
    """The demo loads the geo-DVF and the raw DGFiP file of the same simulated mutations."""
    with Warehouse(demo_summary.warehouse, read_only=True) as wh:
        datasets = set(wh.query("SELECT DISTINCT dataset FROM dvf")["dataset"])
        read = wh.query("SELECT dataset, count(*) AS n FROM dvf_mutations GROUP BY dataset")
        geo = wh.query(
            "SELECT count(DISTINCT id_mutation || vintage) AS n FROM dvf WHERE dataset = 'dvf_geo'"
        )
    assert datasets == {"dvf_geo", "dvf_dgfip"}
    assert list(read["dataset"]) == ["dvf_geo"]
    assert int(read["n"].iloc[0]) == int(geo["n"].iloc[0])


def test_project_parameters_override_the_defaults_and_rebuild(tmp_path, shared_data) -> None:
    path = shared_file(shared_data, HENDAYE)
    project = open_project(init_project(tmp_path / "p"))
    load_paths(project, [path])
    build(project)
    before = _values(project, "64260").set_index(["indicator_id", "period"])
    (project.root / "diagnostics.yaml").write_text(
        "marche:\n  seuil_publication: 5000\n  seuil_quartiles: 5000\n  semestres_incomplets: 0\n",
        encoding="utf-8",
    )
    report = build(project)
    assert report.market.refreshed and "prix_m2_median_maison" in report.recomputed
    after = _values(project, "64260").set_index(["indicator_id", "period"])
    assert before.loc[("prix_m2_median_appartement", "2021"), "status"] == "ok"
    assert after.loc[("prix_m2_median_appartement", "2021"), "status"] == "secret"
    assert ("ventes_appartements", "2023") in after.index  # no semester withheld any more
    again = build(project)
    assert not again.market.refreshed and not again.recomputed
    # boundaries: a median is published from exactly `seuil_publication` sales
    n = int(before.loc[("ventes_retenues_maisons", "2021"), "value"])
    for threshold, status in ((n, "ok"), (n + 1, "secret")):
        (project.root / "diagnostics.yaml").write_text(
            f"marche:\n  seuil_publication: {threshold}\n  seuil_quartiles: {threshold}\n",
            encoding="utf-8",
        )
        build(project)
        now = _values(project, "64260").set_index(["indicator_id", "period"])
        assert now.loc[("prix_median_maison", "2021"), "status"] == status
        assert now.loc[("prix_q1_maison", "2021"), "status"] == status


def test_bad_parameters_name_the_file_and_the_key(tmp_path) -> None:
    (tmp_path / "diagnostics.yaml").write_text(
        "marche:\n  surface:\n    maison: [350, 10]\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as error:
        load_diagnostics(tmp_path)
    message = str(error.value)
    assert "diagnostics.yaml" in message and "marche.surface.maison" in message
    (tmp_path / "diagnostics.yaml").write_text("marche:\n  seuil: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="clé\\(s\\) inconnue\\(s\\) seuil"):
        load_diagnostics(tmp_path)


def test_a_territory_with_an_uncovered_commune_gets_no_median(tmp_path, shared_data) -> None:
    """Nice (2024 file) and Hendaye (2019-2023 file) in one custom territory: each year one
    of its communes is not covered, so no year has a median — never the other's alone."""
    nice_path = shared_file(shared_data, NICE)
    hendaye_path = shared_file(shared_data, HENDAYE)
    project = open_project(init_project(tmp_path / "p"))
    (project.root / "territoires.yaml").write_text(
        "territoires:\n  - id: duo\n    nom: Nice et Hendaye\n    categorie: Test\n"
        '    communes: ["06088", "64260"]\n',
        encoding="utf-8",
    )
    project = open_project(project.root)
    load_paths(project, [nice_path, hendaye_path])
    build(project)
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        rows = wh.query(
            "SELECT territory_id, level, period, value, status FROM indicator_values "
            "WHERE indicator_id = 'prix_median_appartement'"
        )
    duo = rows[rows["territory_id"] == "duo"]
    assert set(duo["period"]) == {"2019", "2020", "2021", "2022", "2023", "2024"}
    assert (duo["status"] == "incomplete").all() and duo["value"].isna().all()
    communes = rows[rows["level"] == "commune"].set_index(["territory_id", "period"])
    assert communes.loc[("06088", "2024"), "status"] == "ok"
    assert communes.loc[("64260", "2021"), "status"] == "ok"
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        evolution = wh.query(
            "SELECT territory_id, period, status, value FROM indicator_values "
            "WHERE indicator_id = 'evolution_prix_m2_appartement'"
        ).set_index(["territory_id", "period"])
    assert ("06088", "2024") not in evolution.index  # Nice: no 2023 file, no evolution
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        duo_2024 = wh.query(
            "SELECT partial, value FROM dvf_marche WHERE code = 'duo' "
            "AND variable = 'DVF_EVOL_PXM2_APPART' AND period = '2024'"
        )
    # covered in part in 2023 and 2024: a change between two partial medians is no figure
    assert bool(duo_2024["partial"].iloc[0]) and duo_2024["value"].isna().all()


def test_grouped_medians_pool_the_sales_of_the_communes(demo_summary) -> None:
    """Aggregation step on the demo: a territory's median is the median of its communes'
    kept sales (read from ``dvf_mutations``), not the mean or median of communal medians."""
    with Warehouse(demo_summary.warehouse, read_only=True) as wh:
        sales = wh.query(
            "SELECT commune, annee, type, valeur_fonciere, prix_m2 FROM dvf_mutations "
            "WHERE exclusion IS NULL"
        )
        members = wh.query(
            "SELECT territory_id, commune FROM territory_communes WHERE territory_id IN "
            "('pm-artois', '246200364')"
        )
        values = wh.query(
            "SELECT territory_id, indicator_id, period, value FROM indicator_values "
            "WHERE indicator_id IN ('prix_m2_median_maison', 'prix_median_maison') "
            "AND territory_id IN ('pm-artois', '246200364')"
        ).set_index(["territory_id", "indicator_id", "period"])["value"]
    assert len(values) >= 4
    for tid, group in members.groupby("territory_id"):
        houses = sales[sales["commune"].isin(group["commune"]) & (sales["type"] == "MAISON")]
        for year, part in houses.groupby("annee"):
            pooled = part["prix_m2"].median()
            assert values[(tid, "prix_m2_median_maison", str(year))] == pytest.approx(pooled)
            assert values[(tid, "prix_median_maison", str(year))] == pytest.approx(
                part["valeur_fonciere"].median()
            )
            mean_of_medians = part.groupby("commune")["prix_m2"].median().mean()
            assert abs(mean_of_medians - pooled) > 1e-6


def test_sector_figures_count_the_sales_inside_the_polygon(hendaye, shared_data, tmp_path) -> None:
    """A 400 m disc around a real Hendaye sale: counts and median against shapely + pandas
    on the raw file."""
    import geopandas as gpd
    import shapely

    from observatoire.analyses.marche import read_sectors, sector_figures

    project, expected = hendaye
    raw = pd.read_csv(shared_file(shared_data, HENDAYE), dtype=str, keep_default_na=False)
    dwellings = raw[raw["type_local"].isin(DWELLINGS) & raw["longitude"].ne("")]
    coords = dwellings.groupby("id_mutation")[["longitude", "latitude"]].first().astype(float)
    centre = coords.iloc[len(coords) // 2]
    disc = (
        gpd.GeoSeries([shapely.Point(centre["longitude"], centre["latitude"])], crs=4326)
        .to_crs(2154)
        .buffer(400)
        .to_crs(4326)
    )
    path = tmp_path / "secteur.geojson"
    gpd.GeoDataFrame({"nom": ["Centre"]}, geometry=disc, crs=4326).to_file(path)
    sectors = read_sectors(path)
    params = load_diagnostics().market
    with Warehouse(project.settings.warehouse_path, read_only=True) as wh:
        result = sector_figures(wh, sectors, params)
    one = expected[
        expected["rule"].isna()
        | expected["rule"].isin(["valeur_ou_surface", "prix_min", "surface", "ecretage"])
    ].join(coords, on="id_mutation")
    unplaced = int(one["longitude"].isna().sum())
    one = one[one["longitude"].notna()]
    inside = shapely.contains_xy(disc.iloc[0], one["longitude"], one["latitude"])
    one = one[inside]
    assert len(one) > 20
    figures = result.figures.set_index(["type", "annee"])
    for (kind, year), group in one.groupby(["type", "year"]):
        label = "Maisons" if kind == "Maison" else "Appartements"
        row = figures.loc[(label, year)]
        kept = group[group["rule"].isna()]
        if year < expected["year"].max():
            assert row["ventes"] == len(group) and row["semestre_incomplet"] == ""
            assert row["ventes_retenues"] == len(kept)
        else:  # the year of the incomplete last semester: no volume
            assert pd.isna(row["ventes"]) and pd.isna(row["ventes_retenues"])
            assert row["semestre_incomplet"] == "oui"
        if len(kept) >= params.threshold:
            assert row["prix_median"] == pytest.approx(kept["valeur"].median())
        else:
            assert pd.isna(row["prix_median"]) and row["statut"] == "effectif insuffisant"
    assert result.unplaced == unplaced


def test_sectors_must_be_polygons(tmp_path) -> None:
    from observatoire.analyses.marche import read_sectors

    path = tmp_path / "points.geojson"
    path.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
        '"geometry":{"type":"Point","coordinates":[2.3,48.8]}}]}',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="polygones"):
        read_sectors(path)


def test_affordability_with_real_filosofi(tmp_path, shared_data) -> None:
    """Median house price (DVF, Hendaye) / median standard of living (real Filosofi 2019 and
    2020 communal files) of the same year, in years of income."""
    import csv

    dvf = shared_file(shared_data, HENDAYE)
    files = {
        2019: shared_file(shared_data, "filosofi/cc_filosofi_2019_COM.csv"),
        2020: shared_file(shared_data, "filosofi/cc_filosofi_2020_COM.csv"),
    }
    project = open_project(init_project(tmp_path / "p"))
    load_paths(project, [dvf, *files.values()])
    build(project)
    values = _values(project, "64260").set_index(["indicator_id", "period"])
    expected = _expected(_raw_geo(dvf))
    for year, path in files.items():
        with path.open(encoding="utf-8") as handle:
            row = next(r for r in csv.DictReader(handle, delimiter=";") if r["CODGEO"] == "64260")
        income = float(row[f"MED{str(year)[2:]}"])
        houses = expected[
            expected["rule"].isna() & (expected["year"] == year) & (expected["type"] == "Maison")
        ]
        assert len(houses) >= 11
        got = values.loc[("accessibilite_maison", str(year))]
        assert got["status"] == "ok"
        assert got["value"] == pytest.approx(houses["valeur"].median() / income, rel=1e-6)
