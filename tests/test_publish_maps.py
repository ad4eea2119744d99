"""Choropleth maps: classification schemes, statuses, French legend, SVG/PNG, alt text, speed."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from observatoire.errors import InputError
from observatoire.publish import maps
from observatoire.publish.maps import NO_DATA_LABEL, Classification, choropleth, classify
from observatoire.territories import referential

NNBSP = "\u202f"
MINUS = "\u2212"
ARTEFACTS = Path(__file__).parent / "artefacts" / "maps"
CA_BETHUNE_BRUAY = "200072460"


# --------------------------------------------------------------------------- classification


def test_quantiles_of_1_to_100_give_20_per_class():
    result = classify(pd.Series(range(1, 101)), "quantiles", 5)
    assert result.counts == (20, 20, 20, 20, 20)
    assert result.bins == pytest.approx((20.8, 40.6, 60.4, 80.2, 100.0))
    assert result.lower == 1.0
    assert result.k == 5


def test_quantiles_match_mapclassify():
    sample = np.random.default_rng(11).gamma(2.0, 3.0, size=333)
    for k in (3, 5, 7):
        expected = mapclassify.Quantiles(sample, k=k).bins
        assert classify(sample, "quantiles", k).bins == pytest.approx(tuple(expected))


def test_equal_interval_bounds_are_exact():
    result = classify(pd.Series(np.arange(0, 101)), "equal_interval", 5)
    assert result.bins == (20.0, 40.0, 60.0, 80.0, 100.0)
    assert result.lower == 0.0
    assert result.counts == (21, 20, 20, 20, 20)
    assert result.labels == (
        "de 0,0 à 20,0",
        "de 20,0 à 40,0",
        "de 40,0 à 60,0",
        "de 60,0 à 80,0",
        "de 80,0 à 100,0",
    )


def test_equal_interval_keeps_empty_classes():
    result = classify(pd.Series([0.0, 1.0, 2.0, 3.0, 3.5, 10.0]), "equal_interval", 5)
    assert result.bins == (2.0, 4.0, 6.0, 8.0, 10.0)
    assert result.counts == (3, 2, 0, 0, 1)
    reduced = classify(pd.Series([0.0, 1.0, 10.0]), "equal_interval", 5)
    assert reduced.bins == (10 / 3, 20 / 3, 10.0) and reduced.counts == (2, 0, 1)


def test_jenks_finds_obvious_groups_and_matches_mapclassify():
    clusters = pd.Series([1, 2, 3, 10, 11, 12, 50, 51], dtype=float)
    assert classify(clusters, "jenks", 3).bins == (3.0, 12.0, 51.0)
    assert classify(clusters, "natural_breaks", 3).bins == (3.0, 12.0, 51.0)

    sample = np.random.default_rng(7).lognormal(size=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "numba not installed"
        expected = mapclassify.FisherJenks(sample, k=5).bins
    assert classify(sample, "jenks", 5).bins == pytest.approx(tuple(expected))


def test_natural_breaks_is_deterministic():
    sample = pd.Series(np.random.default_rng(3).lognormal(size=500))
    first = classify(sample, "natural_breaks", 5)
    assert first == classify(sample, "natural_breaks", 5)
    assert sum(first.counts) == 500 and first.k == 5


def test_unknown_scheme_is_a_french_error_naming_the_schemes():
    with pytest.raises(InputError) as caught:
        classify(pd.Series([1.0, 2.0]), "kmeans")
    message = str(caught.value)
    assert "méthode de discrétisation inconnue « kmeans »" in message
    for name in ("quantiles", "jenks", "equal_interval", "natural_breaks"):
        assert f"« {name} »" in message
    with pytest.raises(InputError, match="nombre de classes invalide"):
        classify(pd.Series([1.0, 2.0]), "quantiles", 0)


def test_nan_and_infinite_values_are_left_out():
    values = pd.Series([1.0, np.nan, 2.0, 3.0, np.inf, 4.0], index=list("abcdef"))
    result = classify(values, "quantiles", 2)
    assert sum(result.counts) == 4
    classes = result.assign(values)
    assert list(classes.index) == list("abcdef")
    assert classes["b"] == -1 and classes["e"] == -1
    assert classes["a"] == 0 and classes["f"] == 1


def test_fewer_distinct_values_than_classes_and_constant_series():
    few = classify(pd.Series([1, 1, 2, 2, 3]), "quantiles", 5)
    assert few.k == 3 and few.counts == (2, 2, 1) and few.bins == (1.0, 2.0, 3.0)
    assert few.labels == ("1,0", "2,0", "3,0")
    assert classify(pd.Series([1, 1, 2, 2, 3]), "jenks", 5).bins == (1.0, 2.0, 3.0)
    for scheme in maps.SCHEMES:
        constant = classify(pd.Series([5.0] * 10), scheme, 5)
        assert constant.bins == (5.0,) and constant.counts == (10,)
        assert constant.labels == ("5,0",)
        assert constant.assign(5.0) == 0
    skewed = classify(pd.Series([0.0] * 8 + [10.0, 20.0]), "quantiles", 5)
    assert 0 not in skewed.counts and sum(skewed.counts) == 10


def test_empty_series_has_no_class():
    result = classify(pd.Series([np.nan, np.nan]), "jenks", 5)
    assert result.k == 0 and result.labels == () and result.counts == ()
    assert list(result.assign(np.array([1.0, np.nan]))) == [-1, -1]


def test_assign_bounds_and_types():
    result = Classification("quantiles", (10.0, 20.0), 0.0, ("a", "b"), (1, 1))
    assert result.assign(0.0) == 0  # lower bound is in the first class
    assert result.assign(10.0) == 0  # upper bounds are inclusive
    assert result.assign(10.5) == 1
    assert result.assign(20.0) == 1
    assert result.assign(20.1) == -1 and result.assign(-1.0) == -1
    assert isinstance(result.assign(5), int)
    assert result.assign([5.0, 15.0, np.nan]).tolist() == [0, 1, -1]


def test_labels_use_french_number_formatting():
    result = classify(pd.Series([-1234.56, 1234.5, 2345.67, 98765.4]), "equal_interval", 2)
    assert result.labels[0] == f"de {MINUS}1{NNBSP}234,6 à 48{NNBSP}765,4"
    assert result.labels[1] == f"de 48{NNBSP}765,4 à 98{NNBSP}765,4"
    assert classify(pd.Series([0.123, 0.2, 0.456]), "quantiles", 2, decimals=2).labels == (
        "de 0,12 à 0,20",
        "de 0,20 à 0,46",
    )


# --------------------------------------------------------------------------- maps (synthetic)


@pytest.fixture(scope="module")
def grid() -> gpd.GeoDataFrame:
    """Twelve square 'communes' near Béthune (EPSG:4326), codes 62001…62012."""
    shapes, codes, names = [], [], []
    for i in range(12):
        x, y = 2.5 + 0.05 * (i % 4), 50.4 + 0.04 * (i // 4)
        shapes.append(box(x, y, x + 0.05, y + 0.04))
        codes.append(f"620{i + 1:02d}")
        names.append(f"Commune {i + 1}")
    return gpd.GeoDataFrame({"code": codes, "nom": names}, geometry=shapes, crs="EPSG:4326")


def _values(grid: gpd.GeoDataFrame) -> pd.Series:
    return pd.Series(np.arange(1, 13) * 1111.1, index=grid["code"])


def _map(grid, values, statuses, **options):
    settings = {
        "title": "Revenu fictif par commune",
        "unit": "€",
        "decimals": 1,
        "source": "Insee, Filosofi 2021 (valeurs inventées)",
    }
    settings.update(options)
    return choropleth(grid, values, statuses, **settings)


def test_secret_and_nan_communes_are_in_no_class_and_hatched(grid):
    values = _values(grid)
    values["62003"] = np.nan
    statuses = pd.Series("ok", index=grid["code"])
    statuses[["62005", "62006"]] = "secret"
    statuses["62007"] = "non_additive"
    figure = _map(grid, values, statuses, k=4)
    assert sum(figure.classification.counts) == 8  # 12 − 1 NaN − 2 secret − 1 non additive
    assert figure.classification.lower == values["62001"]  # secret values never classed
    svg = figure.svg()
    assert f"{NO_DATA_LABEL} (4 communes)" in svg
    assert "<text" in svg  # texts are kept as text, not converted to paths
    assert "Source : Insee, Filosofi 2021 (valeurs inventées)" in svg
    assert "Revenu fictif par commune" in svg
    assert "en €" in svg
    # French legend labels: decimal comma and narrow no-break space in thousands
    assert f"de 1{NNBSP}111,1 à " in svg
    for label in figure.classification.labels:
        assert label in svg
    assert "<pattern" in svg  # the hatch


def test_no_data_entry_only_when_needed_and_incomplete_counted(grid):
    values = _values(grid)
    statuses = pd.Series("ok", index=grid["code"])
    statuses["62012"] = "incomplete"
    figure = _map(grid, values, statuses, k=3)
    svg = figure.svg()
    assert NO_DATA_LABEL not in svg
    assert sum(figure.classification.counts) == 12  # the incomplete value is classed
    assert "Valeur incomplète pour 1 commune" in svg
    # a commune absent from `values` and without status is « non disponible »
    partial = _map(grid, values.drop("62001"), None, k=3)
    assert sum(partial.classification.counts) == 11
    assert f"{NO_DATA_LABEL} (1 commune)" in partial.svg()


def test_alt_text_names_classes_and_extreme_communes(grid):
    values = _values(grid)
    statuses = pd.Series("ok", index=grid["code"])
    statuses["62012"] = "secret"  # the highest value is secret: not the maximum
    figure = _map(grid, values, statuses, k=3)
    alt = figure.alt_text
    assert alt.startswith("Carte de 12 communes : Revenu fictif par commune (en €).")
    assert "3 classes (quantiles)" in alt
    for label, count in zip(
        figure.classification.labels, figure.classification.counts, strict=True
    ):
        assert f"{label} : {count} communes" in alt
    assert "1 commune non diffusée ou non disponible" in alt
    assert f"la plus basse : 1{NNBSP}111,1\u00a0€ à Commune 1" in alt
    assert f"la plus haute : 12{NNBSP}222,1\u00a0€ à Commune 11" in alt


def test_output_is_deterministic(grid):
    first = _map(grid, _values(grid), None, scheme="jenks", k=4)
    second = _map(grid, _values(grid), None, scheme="jenks", k=4)
    assert first.svg() == second.svg()
    assert first.png() == second.png()
    assert first.png().startswith(b"\x89PNG\r\n\x1a\n")
    assert first.png(dpi=72) != first.png()
    assert "<dc:date>" not in first.svg()


def test_projected_shapes_are_reused(grid):
    assert maps._shapes(grid) is maps._shapes(grid.copy())
    moved = grid.copy()
    moved["geometry"] = moved.geometry.translate(0.01, 0.0)
    assert maps._shapes(moved) is not maps._shapes(grid)
    shapes = maps._shapes(grid)
    minx, miny, maxx, maxy = shapes.bounds
    assert 600_000 < minx < maxx < 700_000 and 7_000_000 < miny < maxy < 7_100_000  # Lambert-93


def test_bad_inputs_are_french_errors(grid):
    statuses = pd.Series("ok", index=grid["code"])
    statuses["62001"] = "confidentiel"
    with pytest.raises(InputError, match="statut inconnu « confidentiel »"):
        _map(grid, _values(grid), statuses)
    with pytest.raises(InputError, match="palette de couleurs inconnue « Bleus »"):
        _map(grid, _values(grid), None, palette="Bleus")
    with pytest.raises(InputError, match="méthode de discrétisation inconnue"):
        _map(grid, _values(grid), None, scheme="quartiles")
    with pytest.raises(InputError, match="colonne « nom »"):
        _map(grid.drop(columns="nom"), _values(grid), None)


def test_all_values_secret_gives_a_grey_map(grid):
    statuses = pd.Series("secret", index=grid["code"])
    figure = _map(grid, _values(grid), statuses)
    assert figure.classification.k == 0
    assert f"{NO_DATA_LABEL} (12 communes)" in figure.svg()
    assert "Aucune valeur n'est diffusée" in figure.alt_text


# --------------------------------------------------------------------------- maps (real shapes)


def _real(epci: str | None = None, dep: str | None = None) -> gpd.GeoDataFrame:
    communes = referential.communes()
    selected = communes["epci"] == epci if epci else communes["dep"] == dep
    shapes = referential.geometries("commune")
    return shapes[shapes["code"].isin(communes.loc[selected, "code"])].reset_index(drop=True)


def test_real_map_of_the_ca_de_bethune_bruay(capsys):
    geo = _real(epci=CA_BETHUNE_BRUAY)
    assert len(geo) == 100
    rng = np.random.default_rng(2021)
    values = pd.Series(rng.uniform(8.0, 42.0, len(geo)).round(1), index=geo["code"])
    statuses = pd.Series("ok", index=geo["code"])
    secret = ["62119", "62178"]  # Béthune, Bruay-la-Buissière
    statuses[secret] = "secret"
    outline = referential.geometries("epci")
    outline = outline.loc[outline["code"] == CA_BETHUNE_BRUAY].geometry

    options = {
        "title": "Part des ménages d'une personne (valeurs fictives)",
        "unit": "%",
        "decimals": 1,
        "source": "Insee, recensement de la population 2021 ; valeurs inventées pour l'essai",
        "highlight_outline": outline,
    }
    choropleth(geo, values, statuses, **options).png()  # warm-up: projection cache, fonts
    started = time.perf_counter()
    figure = choropleth(geo, values, statuses, **options)
    png = figure.png(dpi=150)
    elapsed = time.perf_counter() - started
    svg = figure.svg()

    assert sum(figure.classification.counts) == 98
    assert f"{NO_DATA_LABEL} (2 communes)" in svg
    assert "Source : Insee, recensement de la population 2021" in svg
    assert "à Béthune" not in figure.alt_text and "à Bruay-la-Buissière" not in figure.alt_text
    lowest = values.drop(secret).idxmin()
    name = geo.set_index("code").loc[lowest, "nom"]
    assert f"la plus basse : {values[lowest]:.1f}".replace(".", ",") in figure.alt_text
    assert f"à {name}" in figure.alt_text
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "ca-bethune-bruay-quantiles.png").write_bytes(png)
    (ARTEFACTS / "ca-bethune-bruay-quantiles.svg").write_text(svg, encoding="utf-8")
    with capsys.disabled():
        print(f"\n[carte] CA de Béthune-Bruay, 100 communes, PNG 150 dpi : {elapsed * 1000:.0f} ms")


def test_real_map_of_the_pas_de_calais(capsys):
    geo = _real(dep="62")
    assert len(geo) > 800
    rng = np.random.default_rng(62)
    values = pd.Series(rng.normal(0.2, 0.9, len(geo)), index=geo["code"])
    outline = referential.geometries("departement")
    outline = outline.loc[outline["code"] == "62"].geometry
    options = {
        "title": "Évolution annuelle de la population 2015–2021 (valeurs fictives)",
        "unit": "%/an",
        "decimals": 2,
        "source": "Insee, recensements ; valeurs inventées pour l'essai",
        "scheme": "jenks",
        "k": 6,
        "palette": "Purples",
        "highlight_outline": outline,
    }
    choropleth(geo, values, None, **options)
    started = time.perf_counter()
    figure = choropleth(geo, values, None, **options)
    png = figure.png()
    elapsed = time.perf_counter() - started
    assert figure.classification.k == 6
    assert sum(figure.classification.counts) == len(geo)
    assert MINUS in figure.classification.labels[0]
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "pas-de-calais-jenks.png").write_bytes(png)
    with capsys.disabled():
        print(f"\n[carte] Pas-de-Calais, {len(geo)} communes, PNG 150 dpi : {elapsed:.3f} s")
