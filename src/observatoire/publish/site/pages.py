"""The HTML pages of the web observatory (the same files for ``serve`` and ``site build``).

The observatory's pages are shells: the application script (``static/obs.js``) fills them from
the API, except the definitions and sources pages, written out in full (readable without
JavaScript). The editorial sections (studies, news, agenda… from ``contenus/``) are plain HTML
pages written by :mod:`observatoire.publish.site.editorial`. Every page shares the layout of
``templates/base.html.j2``."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2

from observatoire.publish.contents import Contents
from observatoire.publish.fmt import fr_date
from observatoire.publish.site import editorial
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
STYLES = ["static/vendor/leaflet/leaflet.css", "static/site.css"]


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


def navigation(contents: Contents | None) -> list[tuple[str, str]]:
    """The main navigation: the observatory's pages, with the editorial sections after
    « Comparer » when the project has contents."""
    cut = next(i for i, (href, _) in enumerate(NAV) if href == "comparer.html") + 1
    return [*NAV[:cut], *editorial.nav_entries(contents), *NAV[cut:]]


def layout_context(data: SiteData, contents: Contents | None = None) -> dict[str, Any]:
    """What ``base.html.j2`` needs besides the page's own variables (``page``, ``title``,
    ``current``, ``root``, ``styles``, ``scripts``, ``feeds``) — for modules that add pages
    with the site's layout."""
    meta = data.meta()
    return {
        "meta": meta,
        "nav": navigation(contents),
        "generated": fr_date(data.today),
        "header_text": text_on(meta["couleurs"]["principale"]),
        "footer_links": editorial.footer_links(contents),
        "feeds_all": editorial.feed_links(contents),
    }


def render_pages(
    data: SiteData, contents: Contents | None = None, *, served: bool = False
) -> dict[str, str]:
    """Every page of the site: path relative to its root → HTML. ``contents``: the project's
    resolved contents (:func:`editorial.resolve_site_contents`), ``None`` if it has none;
    ``served``: pages for ``observatoire serve`` (registration links on the server itself)."""
    env = _environment()
    template = env.get_template("page.html.j2")
    indicators = data.indicators()
    common = layout_context(data, contents)
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
        elif page == "accueil":
            extra = {**editorial.home_context(data, contents), "feeds": common["feeds_all"]}
        out[name] = template.render(
            **common,
            page=page,
            title=title,
            current=name,
            root="",
            styles=STYLES,
            scripts=SCRIPTS,
            **{"feeds": [], "editorial": None, **extra},
        )
    if contents is not None:
        out.update(editorial.render_sections(data, contents, env=env, common=common, served=served))
    return out
