"""The HTML pages of the web observatory (the same files for ``serve`` and ``site build``).

Pages are shells: the application script (``static/obs.js``) fills them from the API, except
the definitions and sources pages, written out in full (readable without JavaScript)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2

from observatoire.publish.fmt import fr_date
from observatoire.publish.site.api import SiteData

STATIC = Path(str(files("observatoire.publish.site") / "static"))
PAGES = {
    "index.html": ("accueil", "Accueil"),
    "territoire.html": ("territoire", "Portrait de territoire"),
    "explorateur.html": ("explorateur", "Explorateur d'indicateurs"),
    "comparer.html": ("comparer", "Comparer des territoires"),
    "definitions.html": ("definitions", "Définitions des indicateurs"),
    "sources.html": ("sources", "Sources et licences"),
}
NAV = [
    ("index.html", "Accueil"),
    ("explorateur.html", "Explorer"),
    ("comparer.html", "Comparer"),
    ("definitions.html", "Définitions"),
    ("sources.html", "Sources et licences"),
]
SCRIPTS = [
    "static/vendor/leaflet/leaflet.js",
    "static/vendor/vega/vega.min.js",
    "static/vendor/vega-lite/vega-lite.min.js",
    "static/vendor/vega-embed/vega-embed.min.js",
    "static/vendor/fflate/fflate.umd.js",
    "static/classify.js",
    "static/xlsx.js",
    "static/obs.js",
]


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("observatoire.publish.site", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def vendored() -> list[dict[str, Any]]:
    """Packages shipped under ``static/vendor`` (from its MANIFEST)."""
    manifest = json.loads((STATIC / "vendor" / "MANIFEST.json").read_text(encoding="utf-8"))
    return [
        {"package": p["package"], "version": p["version"], "licence": p["licence"]}
        for p in manifest["packages"]
    ]


def _luminance(colour: str) -> float:
    """WCAG relative luminance of a ``#rrggbb`` colour."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_on(background: str) -> str:
    """White or near-black, whichever reads better on ``background`` (the agency's colour
    may be light: the header text must stay readable, RGAA 3.2)."""
    return max(("#ffffff", "#000000"), key=lambda c: contrast(c, background))


def render_pages(data: SiteData) -> dict[str, str]:
    """Every page of the site: file name → HTML."""
    meta = data.meta()
    template = _environment().get_template("page.html.j2")
    indicators = data.indicators()
    common = {
        "meta": meta,
        "nav": NAV,
        "generated": fr_date(data.today),
        "scripts": SCRIPTS,
        "header_text": text_on(meta["couleurs"]["principale"]),
    }
    out = {}
    for name, (page, title) in PAGES.items():
        extra: dict[str, Any] = {}
        if page == "definitions":
            extra = {
                "themes": indicators["themes"],
                "count": sum(len(t["indicateurs"]) for t in indicators["themes"]),
            }
        elif page == "sources":
            extra = {"sources": data.sources(), "vendored": vendored()}
        out[name] = template.render(page=page, title=title, current=name, **common, **extra)
    return out
