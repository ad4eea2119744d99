"""Vega-Lite v5 chart specifications for the reports and the web observatory.

Every builder returns a plain ``dict`` (JSON-serialisable, deterministic: the same input gives
the same spec) with:

- the data inline (``data.values``), in the order given;
- French title and labels, French number formatting carried by the spec itself
  (``config.locale``: decimal comma, U+202F thousands separator, U+2212 minus), so that the
  same spec renders identically through :func:`render_svg` / :func:`render_png` (vl-convert)
  and in a browser through vega-embed;
- ``description`` and ``usermeta.alt``: the alternative text (RGAA), a French sentence giving
  every figure of the chart, built by :func:`alt_text` from the inline data;
- ``usermeta.kind`` / ``unit`` / ``decimals``: what :func:`alt_text` needs to read the data back.

Palette: one highlight colour (the studied territory, parameter ``color``, default
:data:`HIGHLIGHT`) and greys for the comparison territories.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from observatoire.publish.fmt import (
    MISSING,
    MONTHS,
    NBSP,
    NNBSP,
    STATUS_LABELS,
    STATUS_NOTES,
    fr_period,
    fr_unit,
    fr_value,
    is_missing,
)

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
HIGHLIGHT = "#1f5f8b"
GREYS = ("#7f7f7f", "#a6a6a6", "#5f5f5f", "#bfbfbf", "#8c8c8c", "#cfcfcf")
TEXT_COLOR = "#333333"
WIDTH = 480
HEIGHT = 220
FONT = "Liberation Sans, Arial, Helvetica, sans-serif"

# d3-format locale: decimal comma, U+202F thousands, U+00A0 before "%" and "€".
FORMAT_LOCALE: dict[str, Any] = {
    "decimal": ",",
    "thousands": NNBSP,
    "grouping": [3],
    "currency": ["", f"{NBSP}€"],
    "percent": f"{NBSP}%",
    "minus": "\u2212",
    "nan": MISSING,
}
# d3-time-format locale (French month and day names).
TIME_FORMAT_LOCALE: dict[str, Any] = {
    "dateTime": "%A %e %B %Y à %X",
    "date": "%d/%m/%Y",
    "time": "%H:%M:%S",
    "periods": ["", ""],
    "days": ["dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"],
    "shortDays": ["dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."],
    "months": list(MONTHS),
    "shortMonths": [
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ],
}

# Statuses drawn as a bar / a point (the others are written as text, never as a zero).
DRAWN_STATUSES = frozenset({"ok", "incomplete"})


# --------------------------------------------------------------------------------------------
# Common parts


def _config() -> dict[str, Any]:
    return {
        "locale": {"number": FORMAT_LOCALE, "time": TIME_FORMAT_LOCALE},
        "font": FONT,
        "background": "white",
        "view": {"stroke": None},
        "title": {
            "anchor": "start",
            "fontSize": 14,
            "fontWeight": "bold",
            "color": TEXT_COLOR,
            "subtitleColor": "#595959",
            "subtitleFontSize": 11,
            "offset": 10,
        },
        "axis": {
            "labelColor": TEXT_COLOR,
            "titleColor": TEXT_COLOR,
            "labelFontSize": 11,
            "titleFontSize": 11,
            "titleFontWeight": "normal",
            "domainColor": "#8c8c8c",
            "tickColor": "#8c8c8c",
            "gridColor": "#e6e6e6",
        },
        "legend": {
            "labelColor": TEXT_COLOR,
            "titleColor": TEXT_COLOR,
            "labelFontSize": 11,
            "titleFontSize": 11,
            "orient": "bottom",
            "direction": "horizontal",
            "symbolStrokeWidth": 2,
        },
        "text": {"color": TEXT_COLOR, "fontSize": 11},
    }


def _fmt(decimals: int) -> str:
    """d3-format string of a value with ``decimals`` decimals and thousands grouping."""
    return f",.{max(int(decimals), 0)}f"


def _suffix(unit: str | None) -> str:
    unit = fr_unit(unit)
    return f"{NBSP}{unit}" if unit else ""


def _js_string(text: str) -> str:
    """A Vega expression string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _spec(
    *,
    kind: str,
    title: str,
    values: list[dict[str, Any]],
    unit: str | None,
    decimals: int,
    width: int,
    height: int,
    extra_meta: Mapping[str, Any] | None = None,
    subtitle: str | None = None,
) -> dict[str, Any]:
    title_block: dict[str, Any] = {"text": title}
    if subtitle:
        title_block["subtitle"] = subtitle
    spec: dict[str, Any] = {
        "$schema": SCHEMA,
        "title": title_block,
        "description": "",
        "width": width,
        "height": height,
        "data": {"values": values},
        "usermeta": {
            "kind": kind,
            "unit": unit or "",
            "decimals": int(decimals),
            **(extra_meta or {}),
        },
        "config": _config(),
    }
    alt = alt_text(spec)
    spec["description"] = alt
    spec["usermeta"]["alt"] = alt
    return spec


def _float(value: Any) -> float | None:
    return None if is_missing(value) else float(value)


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def _role_scale(
    territories: Sequence[str], highlight: str | None, color: str
) -> tuple[list[str], list[str]]:
    """Colour domain and range: the highlighted territory in colour, the others in greys."""
    others = [t for t in territories if t != highlight]
    domain = ([highlight] if highlight in territories else []) + others
    rng = ([color] if highlight in territories else []) + [
        GREYS[i % len(GREYS)] for i in range(len(others))
    ]
    return domain, rng


# --------------------------------------------------------------------------------------------
# Builders


def evolution_line(
    points: Sequence[Mapping[str, Any]],
    *,
    title: str,
    unit: str = "",
    decimals: int = 0,
    highlight: str | None = None,
    color: str = HIGHLIGHT,
    subtitle: str | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> dict[str, Any]:
    """One line per territory over the periods (sorted), points marked, tooltip.

    ``points``: ``{"territory", "period", "value"}``; a missing value leaves a gap in the line.
    ``highlight``: the territory drawn in ``color`` (default: the first territory given); the
    others are grey and dashed, in the legend in the order given.
    """
    territories = _unique(str(p["territory"]) for p in points)
    if highlight is None and territories:
        highlight = territories[0]
    periods = sorted(_unique(str(p["period"]) for p in points))
    values = [
        {
            "territory": str(p["territory"]),
            "period": str(p["period"]),
            "value": _float(p.get("value")),
        }
        for p in points
    ]
    domain, rng = _role_scale(territories, highlight, color)
    suffix = _suffix(unit)
    spec = _spec(
        kind="evolution_line",
        title=title,
        values=values,
        unit=unit,
        decimals=decimals,
        width=width,
        height=height,
        extra_meta={"territories": domain, "periods": periods},
        subtitle=subtitle,
    )
    spec["transform"] = [
        {
            "calculate": f"format(datum.value, '{_fmt(decimals)}') + {_js_string(suffix)}",
            "as": "label",
        }
    ]
    spec["mark"] = {"type": "line", "point": {"filled": True, "size": 45}, "strokeWidth": 2}
    spec["encoding"] = {
        "x": {
            "field": "period",
            "type": "ordinal",
            "sort": periods,
            "title": None,
            # "2013-2018" shown "2013–2018" (en dash), as fmt.fr_period.
            "axis": {"labelAngle": 0, "labelExpr": "replace(datum.label, '-', '\u2013')"},
        },
        "y": {
            "field": "value",
            "type": "quantitative",
            "title": fr_unit(unit) or None,
            "scale": {"zero": False},
        },
        "color": {
            "field": "territory",
            "type": "nominal",
            "title": None,
            "scale": {"domain": domain, "range": rng},
            "legend": {"columns": 2, "labelLimit": 260},
        },
        "strokeDash": {
            "condition": {
                "test": f"datum.territory === {_js_string(highlight or '')}",
                "value": [1, 0],
            },
            "value": [5, 3],
        },
        "tooltip": [
            {"field": "territory", "type": "nominal", "title": "Territoire"},
            {"field": "period", "type": "ordinal", "title": "Période"},
            {"field": "label", "type": "nominal", "title": "Valeur"},
        ],
    }
    return spec


def comparison_bars(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str,
    unit: str = "",
    decimals: int = 0,
    highlight: str | None = None,
    color: str = HIGHLIGHT,
    subtitle: str | None = None,
    width: int = WIDTH,
    height: int | None = None,
) -> dict[str, Any]:
    """Horizontal bars, one per territory in the order given, the value written at the end.

    ``rows``: ``{"territory", "value", "status"}``. ``highlight`` (default: the first row) is
    drawn in ``color``, the others (parents, references) in grey. A row whose status is not
    ``ok`` / ``incomplete`` (or without value) gets no bar — never a zero bar — and its status
    written in French instead (« non diffusé (secret statistique) »…); an ``incomplete`` value
    is followed by « * ».
    """
    territories = _unique(str(r["territory"]) for r in rows)
    if highlight is None and territories:
        highlight = territories[0]
    suffix = _suffix(unit)
    values = []
    for r in rows:
        status = str(r.get("status") or "ok")
        value = _float(r.get("value"))
        drawn = status in DRAWN_STATUSES and value is not None
        if not drawn:
            note = STATUS_LABELS.get(status if status not in DRAWN_STATUSES else "missing")
        else:
            note = " *" if status == "incomplete" else ""
        values.append(
            {
                "territory": str(r["territory"]),
                "value": value if drawn else None,
                "status": status,
                "drawn": drawn,
                "role": "highlight" if str(r["territory"]) == highlight else "comparison",
                "note": note,
            }
        )
    if height is None:
        height = max(26 * len(territories), 60)
    spec = _spec(
        kind="comparison_bars",
        title=title,
        values=values,
        unit=unit,
        decimals=decimals,
        width=width,
        height=height,
        extra_meta={"highlight": highlight},
        subtitle=subtitle,
    )
    label = (
        f"datum.drawn ? format(datum.value, '{_fmt(decimals)}') + {_js_string(suffix)}"
        " + datum.note : datum.note"
    )
    spec["transform"] = [
        {"calculate": label, "as": "label"},
        # Labels start at the end of a positive bar, at zero for a negative bar or no bar.
        {"calculate": "datum.drawn ? max(datum.value, 0) : 0", "as": "position"},
    ]
    y = {
        "field": "territory",
        "type": "nominal",
        "sort": territories,
        "title": None,
        "axis": {"labelLimit": 220, "ticks": False, "domain": False},
    }
    x_title = fr_unit(unit) or None
    spec["encoding"] = {"y": y}
    spec["layer"] = [
        {
            "transform": [{"filter": "datum.drawn"}],
            "mark": {"type": "bar", "height": {"band": 0.7}},
            "encoding": {
                "x": {
                    "field": "value",
                    "type": "quantitative",
                    "title": x_title,
                    "scale": {"zero": True, "nice": True},
                    "axis": {"tickCount": 5},
                },
                "color": {
                    "field": "role",
                    "type": "nominal",
                    "scale": {"domain": ["highlight", "comparison"], "range": [color, GREYS[1]]},
                    "legend": None,
                },
                "tooltip": [
                    {"field": "territory", "type": "nominal", "title": "Territoire"},
                    {"field": "label", "type": "nominal", "title": "Valeur"},
                ],
            },
        },
        {
            "mark": {"type": "text", "align": "left", "baseline": "middle", "dx": 4},
            "encoding": {
                "x": {"field": "position", "type": "quantitative"},
                "text": {"field": "label"},
                "color": {
                    "condition": {"test": "!datum.drawn", "value": "#6b6b6b"},
                    "value": TEXT_COLOR,
                },
            },
        },
    ]
    return spec


_RAMP = ("#0b3c5d", "#1f5f8b", "#3f7fab", "#6e9fc4", "#9cbfd9", "#c6dbea", "#e4eef6")


def _ramp(n: int) -> list[str]:
    """``n`` colours from dark to light blue (greys beyond seven categories)."""
    if n <= len(_RAMP):
        step = (len(_RAMP) - 1) / max(n - 1, 1)
        return [_RAMP[round(i * step)] for i in range(n)]
    return list(_RAMP) + [GREYS[i % len(GREYS)] for i in range(n - len(_RAMP))]


def structure_bars(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str,
    categories_order: Sequence[str],
    decimals: int = 0,
    subtitle: str | None = None,
    width: int = WIDTH,
    height: int | None = None,
) -> dict[str, Any]:
    """Stacked 100 % horizontal bars, one per territory (age groups, household types…).

    ``rows``: ``{"territory", "category", "share"}``; shares may be percentages or fractions
    or counts: each territory's shares are rescaled to 100 %. Categories are stacked and
    listed in ``categories_order``; rows of other categories and missing shares are dropped.
    """
    order = [str(c) for c in categories_order]
    territories = _unique(str(r["territory"]) for r in rows)
    totals: dict[str, float] = {}
    kept = []
    for r in rows:
        share = _float(r.get("share"))
        if share is None or str(r["category"]) not in order:
            continue
        kept.append((str(r["territory"]), str(r["category"]), share))
        totals[str(r["territory"])] = totals.get(str(r["territory"]), 0.0) + share
    values = [
        {
            "territory": t,
            "category": c,
            "share": s,
            "percent": (s / totals[t] * 100) if totals[t] else None,
            "rank": order.index(c),
        }
        for t, c, s in kept
    ]
    colors = _ramp(len(order))
    dark = [i for i, c in enumerate(colors) if c in _RAMP[:4]]
    if height is None:
        height = max(34 * len(territories), 60)
    spec = _spec(
        kind="structure_bars",
        title=title,
        values=values,
        unit="%",
        decimals=decimals,
        width=width,
        height=height,
        extra_meta={"categories": order, "territories": territories},
        subtitle=subtitle,
    )
    spec["transform"] = [
        {
            "calculate": f"format(datum.percent, '{_fmt(decimals)}') + '{NBSP}%'",
            "as": "label",
        }
    ]
    spec["encoding"] = {
        "y": {
            "field": "territory",
            "type": "nominal",
            "sort": territories,
            "title": None,
            "axis": {"labelLimit": 200, "ticks": False, "domain": False},
        },
        "x": {
            "field": "percent",
            "type": "quantitative",
            "stack": "normalize",
            "title": None,
            "axis": {"format": "%", "tickCount": 5},
        },
        "order": {"field": "rank", "type": "quantitative"},
    }
    spec["layer"] = [
        {
            "mark": {"type": "bar", "height": {"band": 0.7}, "stroke": "white", "strokeWidth": 1},
            "encoding": {
                "color": {
                    "field": "category",
                    "type": "nominal",
                    "title": None,
                    "scale": {"domain": order, "range": colors},
                    "sort": order,
                    "legend": {"columns": min(len(order), 4), "labelLimit": 200},
                },
                "tooltip": [
                    {"field": "territory", "type": "nominal", "title": "Territoire"},
                    {"field": "category", "type": "nominal", "title": "Catégorie"},
                    {"field": "label", "type": "nominal", "title": "Part"},
                ],
            },
        },
        {
            "transform": [{"filter": "datum.percent >= 6"}],
            "mark": {"type": "text", "baseline": "middle", "fontSize": 10},
            "encoding": {
                "x": {
                    "field": "percent",
                    "type": "quantitative",
                    "stack": "normalize",
                    "bandPosition": 0.5,
                },
                "text": {"field": "label"},
                "color": {
                    "condition": {"test": f"indexof({dark}, datum.rank) >= 0", "value": "white"},
                    "value": TEXT_COLOR,
                },
            },
        },
    ]
    return spec


SEXES = ("Hommes", "Femmes")


def age_pyramid(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str,
    order: Sequence[str],
    unit: str = "",
    decimals: int = 0,
    color: str = HIGHLIGHT,
    women_color: str = "#8fb3cf",
    subtitle: str | None = None,
    width: int = WIDTH,
    height: int | None = None,
) -> dict[str, Any]:
    """Age pyramid: men to the left (drawn as negative values, labelled positive), women to
    the right, the youngest band at the bottom.

    ``rows``: ``{"age_band", "sex" ("Hommes" | "Femmes"), "value"}``; ``order``: the age bands
    from the youngest to the oldest.
    """
    bands = [str(b) for b in order]
    values = []
    for r in rows:
        sex = str(r["sex"])
        if sex not in SEXES:
            raise ValueError(f"sexe inconnu : {sex!r} (attendu : Hommes ou Femmes)")
        value = _float(r.get("value"))
        values.append(
            {
                "age_band": str(r["age_band"]),
                "sex": sex,
                "value": value,
                "signed": None if value is None else (-value if sex == "Hommes" else value),
            }
        )
    if height is None:
        height = max(18 * len(bands), 120)
    largest = max((v["value"] for v in values if v["value"] is not None), default=0.0) or 1.0
    suffix = _suffix(unit)
    spec = _spec(
        kind="age_pyramid",
        title=title,
        values=values,
        unit=unit,
        decimals=decimals,
        width=width,
        height=height,
        extra_meta={"order": bands},
        subtitle=subtitle,
    )
    spec["transform"] = [
        {
            "calculate": f"format(datum.value, '{_fmt(decimals)}') + {_js_string(suffix)}",
            "as": "label",
        }
    ]
    spec["mark"] = {"type": "bar", "height": {"band": 0.85}}
    spec["encoding"] = {
        "y": {
            "field": "age_band",
            "type": "ordinal",
            "sort": list(reversed(bands)),
            "title": None,
            "axis": {"ticks": False, "domain": False},
        },
        "x": {
            "field": "signed",
            "type": "quantitative",
            "title": fr_unit(unit) or None,
            "scale": {"domain": [-largest, largest]},  # zero in the middle
            "axis": {"labelExpr": "format(abs(datum.value), ',')", "tickCount": 6},
        },
        "color": {
            "field": "sex",
            "type": "nominal",
            "title": None,
            "scale": {"domain": list(SEXES), "range": [color, women_color]},
            "legend": {"orient": "top", "direction": "horizontal"},
        },
        "tooltip": [
            {"field": "age_band", "type": "ordinal", "title": "Âge"},
            {"field": "sex", "type": "nominal", "title": "Sexe"},
            {"field": "label", "type": "nominal", "title": "Valeur"},
        ],
    }
    return spec


# --------------------------------------------------------------------------------------------
# Alternative text


def _title(spec: Mapping[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, Mapping):
        text = title.get("text", "")
        text = " ".join(text) if isinstance(text, list) else str(text)
        return text.strip()
    return str(title or "").strip()


def alt_text(spec: Mapping[str, Any]) -> str:
    """The French sentence a screen reader gets: the title, then every figure of the chart, in
    French formatting, read from the spec's inline data.

    « Population municipale : Pôle métropolitain de l'Artois 643 835 habitants en 2013,
    644 971 habitants en 2018 ; Pas-de-Calais … »
    """
    meta = spec.get("usermeta") or {}
    kind = meta.get("kind")
    values: list[Mapping[str, Any]] = list((spec.get("data") or {}).get("values") or [])
    unit = meta.get("unit", "")
    decimals = int(meta.get("decimals", 0))
    title = _title(spec)
    prefix = f"{title} : " if title else ""

    def val(v: Any) -> str:
        return fr_value(v, unit, decimals) if not is_missing(v) else "non disponible"

    if kind == "evolution_line":
        periods = meta.get("periods") or sorted(_unique(str(v["period"]) for v in values))
        territories = meta.get("territories") or _unique(str(v["territory"]) for v in values)
        parts = []
        for territory in territories:
            by_period = {
                str(v["period"]): v.get("value") for v in values if v["territory"] == territory
            }
            series = ", ".join(
                f"{val(by_period[p])} en {fr_period(p)}" for p in periods if p in by_period
            )
            parts.append(f"{territory} {series}")
        body = " ; ".join(parts)
    elif kind == "comparison_bars":
        parts = []
        for v in values:
            status = v.get("status", "ok")
            if v.get("drawn"):
                text = val(v.get("value"))
                if status == "incomplete":
                    text += f" ({STATUS_NOTES['incomplete']})"
            else:
                text = STATUS_NOTES.get(status, STATUS_NOTES["missing"])
            parts.append(f"{v['territory']} {text}")
        body = " ; ".join(parts)
    elif kind == "structure_bars":
        categories = meta.get("categories") or _unique(str(v["category"]) for v in values)
        territories = meta.get("territories") or _unique(str(v["territory"]) for v in values)
        parts = []
        for territory in territories:
            shares = {
                v["category"]: v.get("percent") for v in values if v["territory"] == territory
            }
            series = ", ".join(
                f"{c} {fr_value(shares[c], '%', decimals)}" for c in categories if c in shares
            )
            parts.append(f"{territory} : {series}")
        body = " ; ".join(parts)
    elif kind == "age_pyramid":
        bands = meta.get("order") or _unique(str(v["age_band"]) for v in values)
        parts = []
        for band in bands:
            by_sex = {v["sex"]: v.get("value") for v in values if v["age_band"] == band}
            series = ", ".join(f"{s.lower()} {val(by_sex[s])}" for s in SEXES if s in by_sex)
            if series:
                parts.append(f"{band} : {series}")
        body = " ; ".join(parts)
    else:
        return title or str(spec.get("description") or "")
    return f"{prefix}{body}." if body else title


# --------------------------------------------------------------------------------------------
# Rendering (vl-convert)


@cache
def _vl_version() -> str | None:
    """The most recent Vega-Lite 5.x bundled with vl-convert (the specs are v5)."""
    import vl_convert as vlc

    versions = [v for v in vlc.get_vegalite_versions() if v.startswith("5.")]
    if not versions:
        return None
    return max(versions, key=lambda v: tuple(int(x) for x in v.split(".")))


def _prepared(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` without ``usermeta`` (vl-convert ignores it, but it may be large)."""
    out = copy.deepcopy(dict(spec))
    out.pop("usermeta", None)
    return out


def render_svg(spec: Mapping[str, Any]) -> str:
    """The chart as an SVG string, numbers in French (the spec's ``config.locale``, and the same
    locale given to vl-convert for specs built elsewhere)."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(
        _prepared(spec),
        vl_version=_vl_version(),
        format_locale=FORMAT_LOCALE,
        time_format_locale=TIME_FORMAT_LOCALE,
    )


def render_png(spec: Mapping[str, Any], scale: float = 2.0) -> bytes:
    """The chart as PNG bytes (``scale`` 2 for print-quality reports)."""
    import vl_convert as vlc

    return vlc.vegalite_to_png(
        _prepared(spec),
        vl_version=_vl_version(),
        scale=scale,
        format_locale=FORMAT_LOCALE,
        time_format_locale=TIME_FORMAT_LOCALE,
    )
