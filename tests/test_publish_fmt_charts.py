"""French typography helpers and Vega-Lite chart specifications (publish.fmt, publish.charts)."""

from __future__ import annotations

import copy
import html
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from observatoire.publish import charts, fmt
from observatoire.publish.charts import (
    age_pyramid,
    alt_text,
    comparison_bars,
    evolution_line,
    render_png,
    render_svg,
    structure_bars,
)
from observatoire.publish.fmt import (
    STATUS_MARKS,
    fr_between,
    fr_date,
    fr_month_year,
    fr_number,
    fr_period,
    fr_points,
    fr_signed,
    fr_value,
    status_note,
)

NNBSP = "\u202f"
NBSP = "\u00a0"
MINUS = "\u2212"
ARTEFACTS = Path(__file__).parent / "artefacts" / "charts"

ARTOIS = "Pôle métropolitain de l'Artois"
BANDS = ["0-14 ans", "15-29 ans", "30-44 ans", "45-59 ans", "60-74 ans", "75 ans ou plus"]
HOUSEHOLDS = [
    "Personne seule",
    "Couple sans enfant",
    "Couple avec enfant(s)",
    "Famille monoparentale",
    "Autre",
]


# --------------------------------------------------------------------------------------------
# fmt


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (1234.5, 1, f"1{NNBSP}234,5"),
        (643835, 0, f"643{NNBSP}835"),
        (1234567.891, 2, f"1{NNBSP}234{NNBSP}567,89"),
        (999, 0, "999"),
        (-1132, 0, f"{MINUS}1{NNBSP}132"),
        (-0.08, 2, f"{MINUS}0,08"),
        (-0.04, 1, "0,0"),  # no "−0,0"
        (12.35, 0, "12"),
        (0.125, 2, "0,13"),  # half away from zero, as d3/toFixed
        (Decimal("2.5"), 0, "3"),
        (None, 0, "—"),
        (float("nan"), 1, "—"),
        (float("inf"), 1, "—"),
    ],
)
def test_fr_number(value, decimals, expected):
    assert fr_number(value, decimals) == expected


def test_fr_number_numpy_and_pandas():
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    assert fr_number(np.int64(12345)) == f"12{NNBSP}345"
    assert fr_number(np.float64(-1.25), 1) == f"{MINUS}1,3"
    assert fr_number(pd.NA) == "—"
    assert fr_number(np.nan) == "—"


@pytest.mark.parametrize(
    ("value", "unit", "decimals", "expected"),
    [
        (12.34, "%", 1, f"12,3{NBSP}%"),
        (1234, "habitants", 0, f"1{NNBSP}234{NBSP}habitants"),
        (18320, "€", 0, f"18{NNBSP}320{NBSP}€"),
        (-0.083, "%/an", 2, f"{MINUS}0,08{NBSP}%/an"),
        (4.56, "‰", 1, f"4,6{NBSP}‰"),
        (87.2, "pour 100", 1, f"87,2{NBSP}pour 100"),
        (312.4, "hab./km²", 0, f"312{NBSP}hab./km²"),
        (3.21, "pour 10 000 hab.", 1, f"3,2{NBSP}pour 10{NNBSP}000 hab."),
        (42, "", 0, "42"),
        (None, "%", 1, "—"),
    ],
)
def test_fr_value(value, unit, decimals, expected):
    assert fr_value(value, unit, decimals) == expected


def test_fr_signed_and_points():
    assert fr_signed(0.35, 2, "%") == f"+0,35{NBSP}%"
    assert fr_signed(-1132, 0, "habitants") == f"{MINUS}1{NNBSP}132{NBSP}habitants"
    assert fr_signed(0.0, 1, "%") == f"0,0{NBSP}%"
    assert fr_signed(None, 1) == "—"
    assert fr_points(1.84) == f"+1,8{NBSP}point"
    assert fr_points(-0.4) == f"{MINUS}0,4{NBSP}point"
    assert fr_points(2) == f"+2,0{NBSP}points"
    assert fr_points(-1.96) == f"{MINUS}2,0{NBSP}points"  # plural judged after rounding
    assert fr_points(1.94) == f"+1,9{NBSP}point"
    assert fr_points(12.0, 0) == f"+12{NBSP}points"


def test_dates_and_periods():
    assert fr_date(date(2026, 11, 25)) == "25 novembre 2026"
    assert fr_date(date(2026, 2, 1)) == "1er février 2026"
    assert fr_date(date(2025, 8, 14)) == "14 août 2025"
    assert fr_date(date(2025, 12, 31)) == "31 décembre 2025"
    assert fr_month_year(date(2026, 11, 25)) == "novembre 2026"
    assert fr_period("2013-2018") == "2013\u20132018"
    assert fr_period("2021") == "2021"
    assert fr_between("2013-2018") == "entre 2013 et 2018"
    assert fr_between("2021") == "en 2021"


def test_status_notes_and_marks():
    assert status_note("ok") is None
    assert status_note(None) is None
    assert status_note("secret") == "valeur non diffusée (secret statistique)"
    assert status_note("incomplete") == (
        "valeur partielle : au moins une commune membre sans donnée"
    )
    assert status_note("non_additive") == (
        "non additif (médiane, décile, taux de pauvreté) : non calculable par agrégation"
    )
    assert status_note("missing") == "donnée non disponible"
    assert status_note("withheld").startswith("total non publié")
    assert set(STATUS_MARKS) == {
        "ok",
        "secret",
        "incomplete",
        "withheld",
        "non_additive",
        "missing",
    }
    assert STATUS_MARKS["withheld"] == "n.p."
    assert STATUS_MARKS["secret"] == "s"
    assert STATUS_MARKS["incomplete"] == "*"
    assert STATUS_MARKS["ok"] == ""


# --------------------------------------------------------------------------------------------
# charts: sample data


def _evolution():
    data = {
        ARTOIS: [("2013", 643835), ("2018", 644971), ("2021", 640512)],
        "Pas-de-Calais": [("2013", 1468018), ("2018", 1465205), ("2021", 1458211)],
    }
    # Periods given out of order: the chart sorts them.
    points = [
        {"territory": t, "period": p, "value": v} for t, series in data.items() for p, v in series
    ]
    return [points[2], points[0], points[1], *points[3:]]


def _rates():
    return [
        {"territory": t, "period": p, "value": v}
        for t, series in {
            ARTOIS: [("2010-2015", -0.08), ("2015-2021", 0.12)],
            "Pas-de-Calais": [("2010-2015", 0.05), ("2015-2021", -0.11)],
            "France": [("2010-2015", 0.5), ("2015-2021", 0.36)],
        }.items()
        for p, v in series
    ]


def _comparison():
    return [
        {"territory": ARTOIS, "value": 1234.5, "status": "ok"},
        {"territory": "CA de Lens-Liévin", "value": None, "status": "secret"},
        {"territory": "Pas-de-Calais", "value": 987.25, "status": "incomplete"},
        {"territory": "France", "value": 2000.0, "status": "ok"},
    ]


def _structure():
    shares = {
        ARTOIS: [35.1, 26.2, 25.0, 10.2, 3.5],
        "Pas-de-Calais": [34.0, 27.0, 26.0, 10.0, 3.0],
        "France": [37.8, 26.0, 24.2, 9.9, 2.1],
    }
    return [
        {"territory": t, "category": c, "share": s}
        for t, values in shares.items()
        for c, s in zip(HOUSEHOLDS, values, strict=True)
    ]


def _pyramid():
    men = [62000, 58000, 59000, 63000, 50000, 21000]
    women = [59000, 57000, 61000, 65000, 56000, 35000]
    return [
        {"age_band": b, "sex": s, "value": v}
        for b, h, f in zip(BANDS, men, women, strict=True)
        for s, v in (("Hommes", h), ("Femmes", f))
    ]


def _texts(svg: str) -> list[str]:
    """The visible texts of an SVG, unescaped."""
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def _all_specs():
    return {
        "evolution": evolution_line(
            _evolution(), title="Population municipale", unit="habitants", decimals=0
        ),
        "comparaison": comparison_bars(
            _comparison(), title="Revenu de test par habitant", unit="€", decimals=1
        ),
        "structure": structure_bars(
            _structure(), title="Ménages selon leur composition", categories_order=HOUSEHOLDS
        ),
        "pyramide": age_pyramid(
            _pyramid(), title="Pyramide des âges en 2021", order=BANDS, unit="habitants"
        ),
    }


# --------------------------------------------------------------------------------------------
# charts: specs


def test_specs_are_vega_lite_v5_json_with_alt_text():
    for name, spec in _all_specs().items():
        assert spec["$schema"].endswith("/v5.json"), name
        json.dumps(spec)  # plain JSON, no numpy or Decimal left
        assert spec["description"] == spec["usermeta"]["alt"] == alt_text(spec)
        assert spec["description"].startswith(spec["title"]["text"] + " : ")
        assert spec["width"] == 480
        locale = spec["config"]["locale"]["number"]
        assert locale["decimal"] == ","
        assert locale["thousands"] == NNBSP


def test_specs_are_deterministic():
    first = json.dumps(_all_specs(), sort_keys=True)
    second = json.dumps(_all_specs(), sort_keys=True)
    assert first == second
    rows = _comparison()
    before = copy.deepcopy(rows)
    comparison_bars(rows, title="t", unit="€", decimals=1)
    assert rows == before  # inputs not mutated


def test_evolution_line_sorts_periods_and_highlights_first_territory():
    spec = evolution_line(_evolution(), title="Population municipale", unit="habitants")
    assert spec["encoding"]["x"]["sort"] == ["2013", "2018", "2021"]
    color = spec["encoding"]["color"]["scale"]
    assert color["domain"] == [ARTOIS, "Pas-de-Calais"]
    assert color["range"][0] == charts.HIGHLIGHT
    assert color["range"][1] in charts.GREYS
    other = evolution_line(
        _evolution(), title="t", unit="habitants", highlight="Pas-de-Calais", color="#aa0000"
    )
    assert other["encoding"]["color"]["scale"]["domain"][0] == "Pas-de-Calais"
    assert other["encoding"]["color"]["scale"]["range"][0] == "#aa0000"


def test_alt_text_states_every_value_in_french():
    spec = evolution_line(_evolution(), title="Population municipale", unit="habitants")
    assert alt_text(spec) == (
        f"Population municipale : {ARTOIS} 643{NNBSP}835{NBSP}habitants en 2013, "
        f"644{NNBSP}971{NBSP}habitants en 2018, 640{NNBSP}512{NBSP}habitants en 2021 ; "
        f"Pas-de-Calais 1{NNBSP}468{NNBSP}018{NBSP}habitants en 2013, "
        f"1{NNBSP}465{NNBSP}205{NBSP}habitants en 2018, "
        f"1{NNBSP}458{NNBSP}211{NBSP}habitants en 2021."
    )
    rates = evolution_line(_rates(), title="Taux de variation annuel", unit="%/an", decimals=2)
    text = alt_text(rates)
    for point in _rates():
        assert fr_value(point["value"], "%/an", 2) in text
    assert f"{MINUS}0,08{NBSP}%/an en 2010\u20132015" in text

    comp = comparison_bars(_comparison(), title="Revenu", unit="€", decimals=1)
    text = alt_text(comp)
    assert f"{ARTOIS} 1{NNBSP}234,5{NBSP}€" in text
    assert "CA de Lens-Liévin valeur non diffusée (secret statistique)" in text
    assert f"Pas-de-Calais 987,3{NBSP}€ (valeur partielle" in text
    assert f"France 2{NNBSP}000,0{NBSP}€" in text

    struct = structure_bars(_structure(), title="Ménages", categories_order=HOUSEHOLDS)
    text = alt_text(struct)
    assert f"{ARTOIS} : Personne seule 35{NBSP}%, Couple sans enfant 26{NBSP}%" in text
    assert f"France : Personne seule 38{NBSP}%" in text

    pyramid = age_pyramid(_pyramid(), title="Pyramide", order=BANDS, unit="habitants")
    text = alt_text(pyramid)
    assert text.startswith("Pyramide : 0-14 ans : hommes 62")
    for row in _pyramid():
        assert fr_value(row["value"], "habitants", 0) in text


def test_comparison_bars_never_draw_a_secret_as_zero():
    spec = comparison_bars(_comparison(), title="Revenu", unit="€", decimals=1)
    secret = next(v for v in spec["data"]["values"] if v["status"] == "secret")
    assert secret["value"] is None and secret["drawn"] is False
    bars = spec["layer"][0]
    assert bars["mark"]["type"] == "bar"
    assert {"filter": "datum.drawn"} in bars["transform"]
    # A secret row that carries a value anyway is still not drawn.
    rows = _comparison()
    rows[1]["value"] = 0
    spec = comparison_bars(rows, title="Revenu", unit="€", decimals=1)
    assert next(v for v in spec["data"]["values"] if v["status"] == "secret")["value"] is None

    svg = render_svg(spec)
    texts = _texts(svg)
    assert "non diffusé (secret statistique)" in texts
    assert f"1{NNBSP}234,5{NBSP}€" in texts
    assert f"987,3{NBSP}€ *" in texts  # incomplete: drawn, marked
    # Exactly three bars (the highlighted one in colour, two greys), none for the secret row.
    bar_paths = re.findall(r'<path[^>]*aria-roledescription="bar"[^>]*>', svg)
    assert len(bar_paths) == 3
    fills = [re.search(r'fill="([^"]+)"', p).group(1) for p in bar_paths]
    assert fills.count(charts.HIGHLIGHT) == 1
    assert fills.count(charts.GREYS[1]) == 2


def test_comparison_bars_other_statuses_are_named():
    rows = [
        {"territory": "A", "value": 10.0, "status": "ok"},
        {"territory": "B", "value": None, "status": "non_additive"},
        {"territory": "C", "value": None, "status": "missing"},
        {"territory": "D", "value": None, "status": "ok"},
    ]
    spec = comparison_bars(rows, title="Médiane du revenu disponible", unit="€")
    texts = _texts(render_svg(spec))
    assert "non calculable (non additif)" in texts
    assert texts.count("non disponible") == 2
    assert (
        "non additif (médiane, décile, taux de pauvreté) : non calculable par agrégation"
        in alt_text(spec)
    )


# --------------------------------------------------------------------------------------------
# charts: rendering


def test_render_bar_chart_uses_french_number_format():
    spec = comparison_bars(
        [{"territory": "Béthune", "value": 1234.5, "status": "ok"}],
        title="Valeur de test",
        unit="",
        decimals=1,
    )
    svg = render_svg(spec)
    assert f"1{NNBSP}234,5" in _texts(svg)
    assert "1,234.5" not in svg
    assert "1234.5" not in _texts(svg)
    # Axis ticks too: grouping with U+202F, no comma thousands.
    assert f"1{NNBSP}000" in _texts(svg)
    assert not any(re.fullmatch(r"\d{1,3}(,\d{3})+", t) for t in _texts(svg))


def test_render_negative_values_use_minus_sign():
    spec = evolution_line(_rates(), title="Taux de variation annuel", unit="%/an", decimals=2)
    texts = _texts(render_svg(spec))
    assert "Taux de variation annuel" in texts
    ticks = [t for t in texts if re.fullmatch(r"[−-]?\d+(,\d+)?", t)]
    assert any(t.startswith(MINUS) for t in ticks)
    assert not any(t.startswith("-") for t in ticks)
    assert any("," in t for t in ticks)
    assert "%/an" in texts  # axis title
    assert "2010\u20132015" in texts  # periods with an en dash


@pytest.mark.parametrize("name", ["evolution", "comparaison", "structure", "pyramide"])
def test_every_builder_renders_with_french_title_and_numbers(name):
    spec = _all_specs()[name]
    svg = render_svg(spec)
    assert svg.startswith("<svg")
    texts = _texts(svg)
    assert spec["title"]["text"] in texts
    expected = {
        "evolution": [ARTOIS, "Pas-de-Calais", "2013", "2021", f"1{NNBSP}400{NNBSP}000"],
        "comparaison": [f"1{NNBSP}234,5{NBSP}€", f"2{NNBSP}000,0{NBSP}€"],
        "structure": [f"35{NBSP}%", f"100{NBSP}%", "Famille monoparentale"],
        # Men on the left drawn negative but labelled positive.
        "pyramide": [f"60{NNBSP}000", "Hommes", "Femmes", "75 ans ou plus"],
    }[name]
    for text in expected:
        assert text in texts, (text, texts)
    if name == "pyramide":
        assert not any(t.startswith(("-", MINUS)) for t in texts)


def test_age_pyramid_men_negative_and_symmetric():
    spec = age_pyramid(_pyramid(), title="Pyramide", order=BANDS)
    men = [v for v in spec["data"]["values"] if v["sex"] == "Hommes"]
    women = [v for v in spec["data"]["values"] if v["sex"] == "Femmes"]
    assert all(v["signed"] == -v["value"] < 0 for v in men)
    assert all(v["signed"] == v["value"] > 0 for v in women)
    assert spec["encoding"]["x"]["scale"]["domain"] == [-65000.0, 65000.0]
    assert spec["encoding"]["y"]["sort"][0] == "75 ans ou plus"  # oldest at the top
    with pytest.raises(ValueError, match="sexe inconnu"):
        age_pyramid([{"age_band": "0-14 ans", "sex": "H", "value": 1}], title="t", order=BANDS)


def test_structure_bars_rescale_shares_to_percent():
    rows = [
        {"territory": "A", "category": "Propriétaires", "share": 0.6},
        {"territory": "A", "category": "Locataires", "share": 0.4},
        {"territory": "B", "category": "Propriétaires", "share": 300},
        {"territory": "B", "category": "Locataires", "share": 100},
        {"territory": "B", "category": "Inconnue", "share": 50},  # not in the order: dropped
    ]
    spec = structure_bars(
        rows, title="Statut d'occupation", categories_order=["Propriétaires", "Locataires"]
    )
    percents = {(v["territory"], v["category"]): v["percent"] for v in spec["data"]["values"]}
    assert percents == {
        ("A", "Propriétaires"): pytest.approx(60),
        ("A", "Locataires"): pytest.approx(40),
        ("B", "Propriétaires"): pytest.approx(75),
        ("B", "Locataires"): pytest.approx(25),
    }
    assert f"A : Propriétaires 60{NBSP}%, Locataires 40{NBSP}%" in alt_text(spec)
    texts = _texts(render_svg(spec))
    assert f"75{NBSP}%" in texts and f"25{NBSP}%" in texts


def test_render_png_and_write_artefacts():
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for name, spec in _all_specs().items():
        png = render_png(spec, scale=2.0)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width = int.from_bytes(png[16:20], "big")
        assert width > 480  # scale 2 of a 480-wide chart plus its labels
        (ARTEFACTS / f"{name}.png").write_bytes(png)
    rates = evolution_line(_rates(), title="Taux de variation annuel", unit="%/an", decimals=2)
    (ARTEFACTS / "evolution-taux.png").write_bytes(render_png(rates))


def test_render_is_fast_after_first_call():
    import time

    spec = _all_specs()["comparaison"]
    render_svg(spec)  # warm-up
    start = time.perf_counter()
    for _ in range(5):
        render_svg(spec)
    assert (time.perf_counter() - start) / 5 < 0.5


def test_helpers_are_locale_independent():
    # No dependency on the process locale: the module never calls setlocale.
    import locale

    before = locale.setlocale(locale.LC_ALL)
    assert fr_number(1234.5, 1) == f"1{NNBSP}234,5"
    assert locale.setlocale(locale.LC_ALL) == before
    assert fmt.MONTHS[10] == "novembre"


@pytest.mark.parametrize("change, verb", [(4.26, "progresse de 4,3"), (-2.0, "baisse de 2,0")])
def test_market_commentary_follows_the_figures(change: float, verb: str) -> None:
    from observatoire.publish.commentary import Figure, comment

    def figure(iid: str, territory: str, value: float | None, status: str = "ok", period="2023"):
        unit = {"evolution_prix_m2_maison": "%"}.get(iid, "€/m²")
        return Figure(iid, territory, "commune", period, value, status, unit, 0)

    figures = {
        ("prix_m2_median_maison", None): figure("prix_m2_median_maison", "Lens", 1979.4),
        ("prix_m2_median_maison", "epci"): figure("prix_m2_median_maison", "CALL", 1667.0),
        ("evolution_prix_m2_maison", None): figure("evolution_prix_m2_maison", "Lens", change),
    }
    text = comment(["prix_maisons"], lambda i, t: figures.get((i, t)), "epci")[0]
    assert "1\u202f979\u00a0€/m² en 2023" in text and "au-dessus de" in text
    assert f"le prix médian {verb}\u00a0% sur un an" in text
    # a change of another year is not attached; a secret median gives no sentence
    figures[("evolution_prix_m2_maison", None)] = figure(
        "evolution_prix_m2_maison", "Lens", change, period="2022"
    )
    assert "sur un an" not in comment(["prix_maisons"], lambda i, t: figures.get((i, t)), "epci")[0]
    figures[("prix_m2_median_maison", None)] = figure(
        "prix_m2_median_maison", "Lens", None, "secret"
    )
    assert comment(["prix_maisons"], lambda i, t: figures.get((i, t)), "epci") == []
