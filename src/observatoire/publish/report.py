"""``observatoire report``: the « chiffres clés » publication of a territory, HTML and PDF.

The content is declared in ``catalogue/rapport.yaml`` (key figures, chapters with their
charts, map, table and commentary templates). Data come from the indicator table: the
territory, its official parents (EPCI → département → région → France) and the project's
reference territories, and its member communes for the maps. Charts are the Vega-Lite
specifications of :mod:`observatoire.publish.charts` (the same ones the web observatory
uses), rendered to SVG; maps come from :mod:`observatoire.publish.maps`. The HTML is one
self-contained accessible file (headings, alternative text stating the data of every image,
tables with headers, ``lang="fr"``); the PDF is that HTML printed by Chromium (driven by
Playwright, no browser download) with a footer on every page — and a « Données simulées »
mention on every page as soon as one figure comes from a simulated file.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from observatoire.errors import InputError, ObservatoireError
from observatoire.indicators.catalogue import IndicatorCatalogue, indicator_catalogue
from observatoire.indicators.select import peer_ranks, read_values
from observatoire.project import Project
from observatoire.publish import charts, commentary
from observatoire.publish.fmt import (
    STATUS_MARKS,
    fr_date,
    fr_period,
    fr_value,
    status_note,
)
from observatoire.territories import referential
from observatoire.territories.perimeters import Territory
from observatoire.warehouse import Warehouse

FORMATS = ("pdf", "html")
LEVEL_NAMES = {
    "commune": "Commune",
    "epci": "Intercommunalité",
    "departement": "Département",
    "region": "Région",
    "france": "France",
    "custom": "Territoire",
}
PYRAMID_BANDS = [
    ("0014", "0-14 ans"),
    ("1529", "15-29 ans"),
    ("3044", "30-44 ans"),
    ("4559", "45-59 ans"),
    ("6074", "60-74 ans"),
    ("75p", "75 ans ou plus"),
]
PEER_NAMES = {
    "commune": "les communes du même EPCI",
    "epci": "les EPCI de la même région",
    "departement": "les départements de la même région",
    "region": "les régions",
}
MAP_MAX_COMMUNES = 5000  # above, the map shows the départements
_POOL = ThreadPoolExecutor(max_workers=2)


class RenderError(ObservatoireError):
    """The PDF could not be produced (no Chromium…)."""


@cache
def report_spec() -> dict[str, Any]:
    """``catalogue/rapport.yaml``, checked against the indicator catalogue."""
    origin = "catalogue/rapport.yaml"
    text = (files("observatoire") / "catalogue" / "rapport.yaml").read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    catalogue = indicator_catalogue()
    named = list(spec.get("chiffres_cles") or [])
    for chapter in spec.get("chapitres") or []:
        for chart in chapter.get("graphiques") or []:
            if chart.get("type") not in ("evolution", "comparaison", "structure", "pyramide"):
                raise InputError(f"type de graphique inconnu « {chart.get('type')} »", path=origin)
            named += [chart["indicateur"]] if "indicateur" in chart else []
            named += list(chart.get("indicateurs") or [])
        named += [chapter["carte"]["indicateur"]] if chapter.get("carte") else []
        named += list(chapter.get("tableau") or [])
        for name in chapter.get("commentaires") or []:
            if name not in commentary.TEMPLATES:
                raise InputError(f"modèle de commentaire inconnu « {name} »", path=origin)
    unknown = sorted({n for n in named if n not in catalogue.indicators})
    if unknown:
        raise InputError(f"indicateur(s) inconnu(s) : {', '.join(unknown)}", path=origin)
    return spec


# --------------------------------------------------------------------------- data


@dataclass
class ReportData:
    """The figures of one report: the territory, its comparison territories, its communes."""

    territory: Territory
    comparators: list[Territory]
    values: pd.DataFrame  # indicator rows of the territory and the comparators
    communes: pd.DataFrame  # map indicators for the member communes (or départements)
    map_level: str
    ranks: pd.DataFrame
    catalogue: IndicatorCatalogue
    simulated: bool = False
    sources: set[str] = field(default_factory=set)
    _index: dict | None = None
    _by_key: dict | None = None
    _ranks: dict | None = None

    def rows_of_territory(self) -> pd.DataFrame:
        v = self.values
        return v[(v["territory_id"] == self.territory.id) & (v["level"] == self.territory.level)]

    def key(self, territory: Territory) -> tuple[str, str]:
        return (territory.id, territory.level)

    def rows(self, indicator_id: str, territory: Territory | None = None) -> pd.DataFrame:
        t = territory or self.territory
        if self._index is None:
            self._index = {
                key: group
                for key, group in self.values.groupby(
                    ["indicator_id", "territory_id", "level"], sort=False
                )
            }
        return self._index.get((indicator_id, t.id, t.level), self.values.iloc[0:0])

    def _records(self, indicator_id: str, territory: Territory | None) -> list[dict[str, Any]]:
        """Rows of one indicator and territory as dicts, by period end (stable)."""
        if self._by_key is None:
            index: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
            for record in self.values.to_dict("records"):
                key = (record["indicator_id"], record["territory_id"], record["level"])
                index.setdefault(key, []).append(record)
            for records in index.values():
                records.sort(key=lambda r: str(r["period"])[-4:])
            self._by_key = index
        t = territory or self.territory
        return self._by_key.get((indicator_id, t.id, t.level), [])

    def latest(
        self, indicator_id: str, territory: Territory | None = None
    ) -> dict[str, Any] | None:
        """The row of the latest period with a value (else the latest row)."""
        records = self._records(indicator_id, territory)
        if not records:
            return None
        with_value = [r for r in records if not pd.isna(r["value"])]
        return (with_value or records)[-1]

    def at(self, indicator_id: str, period: str, territory: Territory) -> dict[str, Any] | None:
        return next(
            (r for r in self._records(indicator_id, territory) if r["period"] == period), None
        )

    def rank(self, indicator_id: str, period: str) -> tuple[int, int] | None:
        """Rank and number of peers of the territory, or None."""
        if self._ranks is None:
            self._ranks = {
                (r["indicator_id"], r["period"]): (int(r["rank"]), int(r["peers"]))
                for r in self.ranks.to_dict("records")
            }
        return self._ranks.get((indicator_id, period))

    def figure(self, indicator_id: str, territory: Territory | None = None):
        row = self.latest(indicator_id, territory)
        if row is None:
            return None
        return self._figure(row)

    def _figure(self, row: dict[str, Any]) -> commentary.Figure:
        ind = self.catalogue.indicators[row["indicator_id"]]
        value = None if pd.isna(row["value"]) else float(row["value"])
        return commentary.Figure(
            row["indicator_id"],
            str(row["territory_label"]),
            str(row["level"]),
            str(row["period"]),
            value,
            str(row["status"]),
            ind.unit,
            ind.decimals,
        )


def _shown_indicators(spec: dict[str, Any]) -> set[str]:
    """Every indicator the report can show: key figures, charts, maps, tables."""
    shown = set(spec.get("chiffres_cles") or [])
    for chapter in spec.get("chapitres") or []:
        for chart in chapter.get("graphiques") or []:
            shown |= {chart["indicateur"]} if "indicateur" in chart else set()
            shown |= set(chart.get("indicateurs") or [])
            if chart.get("type") == "pyramide":
                shown |= {
                    f"population_{x}_{b}" for x in ("hommes", "femmes") for b, _ in PYRAMID_BANDS
                }
        shown |= {chapter["carte"]["indicateur"]} if chapter.get("carte") else set()
        shown |= set(chapter.get("tableau") or [])
    return shown


def _comparators(project: Project, territory: Territory) -> list[Territory]:
    chain = project.territories.parents(
        territory.id if territory.level == "custom" else territory.key
    )
    found = {t.key: t for t in chain}
    for ref in project.settings.references:
        t = project.territories.get(ref)
        if t.key != territory.key:
            found.setdefault(t.key, t)
    return list(found.values())


def _map_indicators(spec: dict[str, Any]) -> list[str]:
    return [c["carte"]["indicateur"] for c in spec["chapitres"] if c.get("carte")]


def collect(warehouse: Warehouse, project: Project, territory: Territory) -> ReportData:
    """Every figure one report needs, read from the indicator table."""
    spec = report_spec()
    catalogue = indicator_catalogue()
    comparators = _comparators(project, territory)
    values = read_values(warehouse, [territory, *comparators])
    if values[
        (values["territory_id"] == territory.id) & (values["level"] == territory.level)
    ].empty:
        raise InputError(
            f"aucun indicateur pour « {territory.nom} » : chargez des sources puis lancez "
            "« observatoire build »"
        )
    communes = list(territory.communes)
    if territory.level == "commune":  # the commune among the communes of its EPCI
        parent = next((t for t in comparators if t.level in ("epci", "departement")), None)
        communes = list(parent.communes) if parent else communes
    map_level = "commune" if len(communes) <= MAP_MAX_COMMUNES else "departement"
    if map_level == "commune":
        units = [Territory(c, c, "commune", (c,)) for c in communes]
    else:
        deps = sorted({c[:3] if c.startswith("97") else c[:2] for c in communes})
        units = [Territory(d, d, "departement", ()) for d in deps]
    commune_values = read_values(warehouse, units, indicator_ids=_map_indicators(spec))
    shown = _shown_indicators(spec)
    used = pd.concat([values[values["indicator_id"].isin(shown)], commune_values])
    return ReportData(
        territory=territory,
        comparators=comparators,
        values=values,
        communes=commune_values,
        map_level=map_level,
        ranks=peer_ranks(warehouse, territory),
        catalogue=catalogue,
        simulated=bool((used["origin"] == "simulated").any()),
        sources=set(s for text in used["source"].dropna() for s in text.split(" ; ")),
    )


# --------------------------------------------------------------------------- content


def _img(svg: str, alt: str, css: str = "chart") -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img class="{css}" src="data:image/svg+xml;base64,{data}" alt="{html.escape(alt)}">'


def _cell(row: dict[str, Any] | None, decimals: int, unit: str) -> tuple[str, str | None]:
    """Text of a value cell and the footnote of its status."""
    if row is None:
        return "—", "missing"
    status = str(row["status"])
    if status == "incomplete" and pd.isna(row["value"]):
        return STATUS_MARKS["withheld"], "withheld"
    if status in ("ok", "incomplete") and pd.notna(row["value"]):
        mark = STATUS_MARKS.get(status, "")
        return fr_value(float(row["value"]), unit, decimals) + (f"\u00a0{mark}" if mark else ""), (
            status if status != "ok" else None
        )
    return STATUS_MARKS.get(status) or "—", status


def _arrow(data: ReportData, indicator_id: str, row: dict[str, Any]) -> str:
    """Evolution arrow against the previous period of the same indicator."""
    if "-" in str(row["period"]) or pd.isna(row["value"]):
        return ""  # an evolution already, or nothing to compare
    # Census vintages less than 5 years apart share most of their surveys: compare with the
    # latest vintage at least 5 years older.
    limit = int(str(row["period"])[-4:]) - 5
    earlier = sorted(
        (
            r
            for r in data._records(indicator_id, None)
            if not pd.isna(r["value"]) and "-" not in r["period"] and int(r["period"]) <= limit
        ),
        key=lambda r: r["period"],
    )
    if not earlier:
        return ""
    before = float(earlier[-1]["value"])
    now = float(row["value"])
    ind = data.catalogue.indicators[indicator_id]
    if abs(now - before) < 0.5 * 10 ** (-ind.decimals):
        symbol, word = "→", "stable"
    elif now > before:
        symbol, word = "↗", "en hausse"
    else:
        symbol, word = "↘", "en baisse"
    since = fr_period(str(earlier[-1]["period"]))
    return (
        f'<span class="arrow" title="{word} depuis {since}"><span aria-hidden="true">{symbol}'
        f'</span> <span class="sr">{word} depuis {since}</span></span>'
    )


def key_figures(data: ReportData) -> dict[str, Any]:
    spec = report_spec()
    rows, notes = [], set()
    for iid in spec["chiffres_cles"]:
        ind = data.catalogue.indicators[iid]
        row = data.latest(iid)
        if row is None:
            continue
        text, note = _cell(row, ind.decimals, ind.unit)
        notes.add(note)
        others = []
        for t in data.comparators:
            other = data.at(iid, str(row["period"]), t)
            other_text, other_note = _cell(other, ind.decimals, ind.unit)
            notes.add(other_note)
            others.append(other_text)
        rows.append(
            {
                "label": ind.label,
                "period": fr_period(str(row["period"])),
                "value": text,
                "arrow": _arrow(data, iid, row),
                "others": others,
            }
        )
    return {"rows": rows, "notes": _notes(notes)}


def _notes(statuses: set[str | None]) -> list[str]:
    order = ["incomplete", "withheld", "secret", "non_additive", "missing"]
    return [
        f"{STATUS_MARKS.get(s) or '—'} : {status_note(s)}"
        for s in order
        if s in statuses and status_note(s)
    ]


def _chart(data: ReportData, chart: dict[str, Any], colour: str) -> dict[str, Any] | None:
    kind = chart["type"]
    t = data.territory
    if kind == "pyramide":
        rows = []
        period = None
        for band, label in PYRAMID_BANDS:
            for sex, word in (("hommes", "Hommes"), ("femmes", "Femmes")):
                row = data.latest(f"population_{sex}_{band}")
                if row is None or pd.isna(row["value"]):
                    return None
                period = str(row["period"])
                rows.append({"age_band": label, "sex": word, "value": float(row["value"])})
        return charts.age_pyramid(
            rows,
            title=f"Pyramide des âges en {period}",
            order=[label for _, label in PYRAMID_BANDS],
            unit="habitants",
            color=colour,
        )
    if kind == "evolution":
        ind = data.catalogue.indicators[chart["indicateur"]]
        records = [r for r in data._records(ind.id, None) if not pd.isna(r["value"])]
        if len(records) < 2:
            return None
        points = [
            {"territory": t.nom, "period": str(r["period"]), "value": float(r["value"])}
            for r in sorted(records, key=lambda r: r["period"])
        ]
        return charts.evolution_line(
            points, title=ind.label, unit=ind.unit, decimals=ind.decimals, color=colour
        )
    if kind == "comparaison":
        ind = data.catalogue.indicators[chart["indicateur"]]
        row = data.latest(ind.id)
        if row is None:
            return None
        period = str(row["period"])
        bars = []
        for territory in (t, *data.comparators):
            other = data.at(ind.id, period, territory)
            bars.append(
                {
                    "territory": territory.nom,
                    "value": None
                    if other is None or pd.isna(other["value"])
                    else float(other["value"]),
                    "status": "missing" if other is None else str(other["status"]),
                }
            )
        if all(b["value"] is None for b in bars):
            return None
        return charts.comparison_bars(
            bars,
            title=f"{ind.label} ({fr_period(period)})",
            unit=ind.unit,
            decimals=ind.decimals,
            highlight=t.nom,
            color=colour,
        )
    # structure
    ids = chart["indicateurs"]
    first = data.latest(ids[0])
    if first is None:
        return None
    period = str(first["period"])
    labels = [data.catalogue.indicators[i].label for i in ids]
    rows = []
    for territory in (t, *data.comparators):
        shares = []
        for iid, label in zip(ids, labels, strict=True):
            row = data.at(iid, period, territory)
            if row is None or pd.isna(row["value"]):
                break
            shares.append(
                {"territory": territory.nom, "category": label, "share": float(row["value"])}
            )
        # Drawn only when every category is known and they make the whole (never rescaled).
        if len(shares) == len(ids) and abs(sum(x["share"] for x in shares) - 100) <= 1.5:
            rows += shares
        elif territory is t:
            return None
    if not rows:
        return None
    return charts.structure_bars(
        rows, title=f"{chart.get('titre', '')} ({fr_period(period)})", categories_order=labels
    )


def _map(data: ReportData, chapter: dict[str, Any]) -> dict[str, str] | None:
    spec = chapter.get("carte")
    if not spec:
        return None
    from observatoire.publish import maps

    ind = data.catalogue.indicators[spec["indicateur"]]
    rows = data.communes[data.communes["indicator_id"] == ind.id]
    if rows.empty or rows["value"].notna().sum() < 2:
        return None
    period = max(rows["period"], key=lambda p: p[-4:])
    rows = rows[rows["period"] == period].set_index("territory_id")
    geo = referential.geometries(data.map_level)
    geo = geo[geo["code"].isin(rows.index)]
    source = "; ".join(sorted(set(rows["source"].dropna())))
    figure = maps.choropleth(
        geo,
        rows["value"],
        rows["status"],
        title=f"{ind.label} ({fr_period(period)})",
        unit=ind.unit,
        decimals=ind.decimals,
        source=source,
        scheme=spec.get("methode", "quantiles"),
        k=int(spec.get("classes", 5)),
    )
    return {"img": _img(figure.svg(), figure.alt_text, "map"), "alt": figure.alt_text}


def _table(data: ReportData, ids: list[str]) -> dict[str, Any]:
    header = [data.territory.nom, *(t.nom for t in data.comparators)]
    rows, notes = [], set()
    for iid in ids:
        ind = data.catalogue.indicators[iid]
        row = data.latest(iid)
        if row is None:
            continue
        period = str(row["period"])
        cells = []
        for territory in (data.territory, *data.comparators):
            text, note = _cell(data.at(iid, period, territory), ind.decimals, ind.unit)
            notes.add(note)
            cells.append(text)
        rank = data.rank(iid, period)
        own = data.at(iid, period, data.territory)
        ranked = rank is not None and own is not None and own["status"] == "ok"
        rank_text = f"{rank[0]}/{rank[1]}" if ranked else ""
        rows.append(
            {"label": ind.label, "period": fr_period(period), "cells": cells, "rank": rank_text}
        )
    peers = PEER_NAMES.get(data.territory.level, "")
    return {"header": header, "rows": rows, "notes": _notes(notes), "peers": peers}


def chapter_contents(data: ReportData, colour: str) -> list[dict[str, Any]]:
    """The chapters of ``rapport.yaml`` with data for this territory: Vega-Lite specs (not
    rendered), comparison table, commentary and map settings. Shared with the web portrait."""
    out = []
    parent = data.comparators[0] if data.comparators else None
    parent_key = parent.key if parent else None

    def lookup(indicator_id: str, territory_key: str | None):
        if territory_key is None:
            return data.figure(indicator_id)
        territory = next(t for t in data.comparators if t.key == territory_key)
        own = data.latest(indicator_id)
        row = data.at(indicator_id, str(own["period"]), territory) if own is not None else None
        return data._figure(row) if row is not None else None

    for chapter in report_spec()["chapitres"]:
        specs = [_chart(data, chart, colour) for chart in chapter.get("graphiques") or []]
        specs = [spec for spec in specs if spec is not None]
        table = _table(data, chapter.get("tableau") or [])
        if not specs and not table["rows"]:
            continue
        out.append(
            {
                "id": chapter["id"],
                "title": chapter["titre"],
                "specs": specs,
                "chapter": chapter,
                "table": table,
                "comments": commentary.comment(
                    chapter.get("commentaires") or [], lookup, parent_key
                ),
            }
        )
    return out


def chapters(data: ReportData, colour: str) -> list[dict[str, Any]]:
    out = []
    for content in chapter_contents(data, colour):
        specs = content.pop("specs")
        svgs = list(_POOL.map(charts.render_svg, specs))  # the renderer releases the GIL
        figures = []
        for spec, svg in zip(specs, svgs, strict=True):
            alt = charts.alt_text(spec)
            figures.append({"img": _img(svg, alt), "alt": alt})
        chapter = content.pop("chapter")
        out.append({**content, "figures": figures, "map": _map(data, chapter)})
    return out


def definitions(data: ReportData) -> list[dict[str, str]]:
    shown = _shown_indicators(report_spec())
    present = set(data.rows_of_territory()["indicator_id"])
    return [
        {"label": ind.label, "definition": ind.definition, "unit": ind.unit}
        for _, inds in data.catalogue.by_theme()
        for ind in inds
        if ind.id in shown and ind.id in present
    ]


def render_html(project: Project, data: ReportData, *, today: date | None = None) -> str:
    """The self-contained HTML report of one territory."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    folder = Path(str(files("observatoire") / "publish" / "templates"))
    env = Environment(
        loader=FileSystemLoader(folder), autoescape=select_autoescape(["html", "html.j2"])
    )
    branding = project.settings.charte
    colour = branding.couleur_principale
    logo = ""
    if branding.logo:
        path = project.root / branding.logo
        if path.is_file():
            kind = "svg+xml" if path.suffix.lower() == ".svg" else path.suffix.lower().lstrip(".")
            logo = f"data:image/{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"
    cover_map = None
    if data.territory.communes and data.territory.level != "france":
        cover_map = _cover_map(data.territory, colour)
    template = env.get_template("rapport.html.j2")
    return template.render(
        title=branding.titre,
        territory=data.territory,
        level_name=LEVEL_NAMES.get(data.territory.level, ""),
        comparators=data.comparators,
        date=fr_date(today or date.today()),
        colours={
            "main": colour,
            "second": branding.couleur_secondaire,
            "accent": branding.couleur_accent,
        },
        logo=logo,
        cover_map=cover_map,
        key=key_figures(data),
        chapters=chapters(data, colour),
        definitions=definitions(data),
        sources=sorted(data.sources),
        simulated=data.simulated,
        licence="Licence Ouverte / Open Licence 2.0 (Etalab) pour les données INSEE",
        cog=project.settings.cog,
    )


def _cover_map(territory: Territory, colour: str) -> str:
    """Small map of the territory's communes (its outline in the main colour)."""
    import io

    from matplotlib.figure import Figure

    geo = referential.geometries("commune")
    geo = geo[geo["code"].isin(territory.communes)].to_crs("EPSG:2154")
    if geo.empty:
        return ""
    fig = Figure(figsize=(3.2, 3.2))
    ax = fig.add_axes((0, 0, 1, 1))
    geo.plot(ax=ax, color=colour, edgecolor="white", linewidth=0.3, alpha=0.85)
    ax.set_axis_off()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", transparent=True)
    alt = f"Carte des {len(geo)} communes de {territory.nom}"
    return _img(buffer.getvalue(), alt, "cover-map")


# --------------------------------------------------------------------------- PDF


def chromium_path() -> str:
    """Debian's Chromium (or ``OBSERVATOIRE_CHROMIUM``)."""
    candidate = os.environ.get("OBSERVATOIRE_CHROMIUM") or shutil.which("chromium")
    candidate = candidate or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not candidate:
        raise RenderError(
            "Chromium introuvable : installez le paquet Debian « chromium » (apt-get install "
            "chromium) ou indiquez son chemin dans OBSERVATOIRE_CHROMIUM"
        )
    return candidate


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def pdf_printer() -> Iterator[Callable[[str, Path, str], None]]:
    """A Chromium kept open for a batch: ``print_pdf(html, path, footer_text)``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()

            def print_pdf(document: str, path: Path, footer: str) -> None:
                page.set_content(document, wait_until="load")
                page.pdf(
                    path=str(path),
                    format="A4",
                    print_background=True,
                    display_header_footer=True,
                    header_template="<span></span>",
                    footer_template=(
                        '<div style="font-size:7.5px;width:100%;padding:0 12mm;'
                        "font-family:Liberation Sans,Arial,sans-serif;color:#555;"
                        'display:flex;justify-content:space-between">'
                        f"<span>{html.escape(footer)}</span>"
                        '<span><span class="pageNumber"></span>/<span class="totalPages"></span>'
                        "</span></div>"
                    ),
                    margin={"top": "14mm", "bottom": "16mm", "left": "14mm", "right": "14mm"},
                )

            yield print_pdf
        finally:
            browser.close()


def write_chapter(document: str, folder: Path, formats: tuple[str, ...], footer: str) -> list[Path]:
    """A diagnostic's chapter as ``diagnostic.html`` and / or ``diagnostic.pdf`` (printed by
    Chromium with ``footer`` on every page); the files written."""
    written = []
    if "html" in formats:
        path = folder / "diagnostic.html"
        path.write_text(document, encoding="utf-8")
        written.append(path)
    if "pdf" in formats:
        path = folder / "diagnostic.pdf"
        with pdf_printer() as print_pdf:
            print_pdf(document, path, footer)
        written.append(path)
    return written


def footer_text(project: Project, data: ReportData) -> str:
    text = f"{project.settings.charte.titre} — {data.territory.nom}"
    if data.simulated:
        text += " — DONNÉES SIMULÉES : NE PAS PUBLIER"
    return text


# --------------------------------------------------------------------------- batch


def report_name(territory: Territory) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in territory.id)
    return f"chiffres-cles-{territory.level}-{safe}"


def make_reports(
    project: Project,
    territories: list[Territory],
    *,
    fmt: str = "pdf",
    out_dir: Path | None = None,
    progress: Callable[[Territory], None] | None = None,
    today: date | None = None,
) -> list[Path]:
    """Write one report per territory; returns the paths written."""
    if fmt not in FORMATS:
        raise InputError(f"format « {fmt} » inconnu ; formats : {', '.join(FORMATS)}")
    out_dir = out_dir or project.settings.output_dir / "rapports"
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        documents = []
        for territory in territories:
            data = collect(warehouse, project, territory)
            documents.append((territory, data, render_html(project, data, today=today)))
    if fmt == "html":
        for territory, _, document in documents:
            path = out_dir / f"{report_name(territory)}.html"
            path.write_text(document, encoding="utf-8")
            written.append(path)
            if progress:
                progress(territory)
        return written
    with pdf_printer() as print_pdf:
        for territory, data, document in documents:
            path = out_dir / f"{report_name(territory)}.pdf"
            print_pdf(document, path, footer_text(project, data))
            written.append(path)
            if progress:
                progress(territory)
    return written
