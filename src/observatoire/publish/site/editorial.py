"""The agency's editorial sections of the web observatory, written as plain HTML pages.

From the project's ``contenus/`` (:mod:`observatoire.publish.contents`): the studies library
(``etudes.html``, filters by theme, territory, year and status applied in the browser by
``static/editorial.js`` over the pre-rendered list, which reads without JavaScript), one page
per study (``etudes/<slug>.html``, its PDF copied beside it as ``etudes/<slug>.pdf``), the news
(``actualites.html``, ``actualites/<slug>.html``), the agenda (``agenda.html``: coming events
first, then past ones; ``evenements/<slug>.html``), the work-programme progress for partners
(``programme.html``), the chiffres du trimestre (``chiffres.html``, ``chiffres/<slug>.html``),
the agency's pages (``pages/<slug>.html``, linked in the footer) and, on the home page, the
chiffre du trimestre, the latest news and the next events.

A project without a ``contenus/`` folder has none of these sections (the site is unchanged).
Registration links of events: ``evenements/<slug>/inscription`` under the served site
(``observatoire serve``); in the static site, under ``[lettre] adresse_site`` when it is set,
otherwise the page says that registrations are taken on the agency's site.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import Markup

from observatoire.errors import InputError
from observatoire.indicators.catalogue import indicator_catalogue
from observatoire.project import Project
from observatoire.publish.contents import STUDY_STATUSES, Content, Contents, load_contents, resolve
from observatoire.publish.fmt import NBSP, fr_date, fr_number, fr_period, fr_when, has_time
from observatoire.publish.site.api import SiteData

SECTIONS_NAV = [
    ("etudes.html", "Études"),
    ("actualites.html", "Actualités"),
    ("agenda.html", "Agenda"),
]
FEEDS = [  # file, kind of content, label, title
    ("etudes.xml", "etudes", "Études", "Études de l'agence"),
    ("actualites.xml", "actualites", "Actualités", "Actualités de l'observatoire"),
    ("agenda.xml", "evenements", "Agenda", "Agenda de l'agence"),
]
FEED_OF_PAGE = {  # page → the feed its head links
    "etudes": "etudes.xml",
    "etude": "etudes.xml",
    "programme": "etudes.xml",
    "actualites": "actualites.xml",
    "actualite": "actualites.xml",
    "agenda": "agenda.xml",
    "evenement": "agenda.xml",
}
EDITORIAL_SCRIPTS = ["static/editorial.js"]
HOME_NEWS = 3
HOME_EVENTS = 3


# --------------------------------------------------------------------------- loading


def load_site_contents(project: Project) -> Contents | None:
    """The project's validated contents (French error naming the file and field), or ``None``
    when it has no ``contenus/`` folder. Fast: nothing is read from the warehouse."""
    contents = load_contents(project)
    if not contents.root.is_dir():
        return None
    return contents


def resolve_site_contents(project: Project, contents: Contents) -> Contents:
    """Fill the figures from the indicator table and render the bodies (a figure of a
    restricted dataset was already refused when the contents were loaded: every output of
    the contents is public)."""
    return resolve(project, contents)


def fr_event(item: Content) -> str:
    """When an event takes place, in French (see :func:`observatoire.publish.fmt.fr_when`)."""
    assert item.date is not None
    return fr_when(item.date, item.end)


def quarter_of(day: date) -> str:
    return f"{day.year}T{(day.month - 1) // 3 + 1}"


def fr_quarter(quarter: str) -> Markup:
    """``2026T4`` → « 4<sup>e</sup> trimestre 2026 »."""
    year, number = quarter.split("T")
    rank = Markup("1<sup>er</sup>") if number == "1" else Markup(f"{int(number)}<sup>e</sup>")
    return Markup("{} trimestre {}").format(rank, year)


def _iso(moment: datetime | date | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, datetime) and has_time(moment):
        return moment.strftime("%Y-%m-%dT%H:%M")
    return (moment.date() if isinstance(moment, datetime) else moment).isoformat()


# --------------------------------------------------------------------------- selections


def is_past(event: Content, today: date) -> bool:
    last = event.end or event.date
    assert last is not None
    return last.date() < today


def agenda(contents: Contents, today: date) -> tuple[list[Content], list[Content]]:
    """(coming events, soonest first; past events, latest first)."""
    events = contents.of("evenements")
    coming = sorted((e for e in events if not is_past(e, today)), key=lambda e: (e.date, e.slug))
    past = sorted(
        (e for e in events if is_past(e, today)), key=lambda e: (e.date, e.slug), reverse=True
    )
    return coming, past


def quarter_figure(contents: Contents, today: date) -> Content | None:
    """The chiffre du trimestre of ``today``'s quarter, else the latest of a past quarter,
    else the latest one."""
    current = quarter_of(today)
    found = contents.quarter_figure(current)
    if found is not None:
        return found
    figures = contents.of("chiffres")  # newest quarter first
    before = [c for c in figures if _quarter_key(c.quarter or "") <= _quarter_key(current)]
    return (before or figures or [None])[0]


def _quarter_key(quarter: str) -> tuple[int, int]:
    year, _, number = quarter.partition("T")
    return int(year or 0), int(number or 0)


def registration(
    event: Content, *, today: date, served: bool, site_url: str, root: str
) -> dict[str, str]:
    """How to register: ``state`` (``passe``, ``fermees``, ``lien``, ``agence``), ``href``."""
    if is_past(event, today):
        return {"state": "passe"}
    assert event.date is not None
    if not event.registration_open or event.date.date() < today:  # closed once started
        return {"state": "fermees"}
    path = f"evenements/{event.slug}/inscription"
    if served:
        return {"state": "lien", "href": root + path}
    if site_url:
        return {"state": "lien", "href": f"{site_url.rstrip('/')}/{path}"}
    return {"state": "agence"}


# --------------------------------------------------------------------------- views


@dataclass
class _Views:
    """Turns contents into what the templates print (already formatted, in French)."""

    data: SiteData
    contents: Contents
    served: bool

    @property
    def project(self) -> Project:
        return self.data.project

    @property
    def today(self) -> date:
        return self.data.today

    def theme_label(self, theme: str) -> str:
        themes = indicator_catalogue().themes
        return themes[theme].label if theme in themes else theme

    def territory(self, tid: str, root: str) -> dict[str, Any]:
        try:
            t = self.project.territories.get(tid)
        except InputError:
            return {"id": tid, "name": tid, "href": None}
        href = None
        if (t.level, t.id) in self.data.territories:
            href = root + "territoire.html?t=" + quote(f"{t.level}/{t.id}", safe="")
        return {"id": tid, "name": t.nom, "href": href}

    def common(self, item: Content, root: str) -> dict[str, Any]:
        return {
            "slug": item.slug,
            "kind": item.kind,
            "title": item.title,
            "href": root + item.url,
            "summary": item.summary,
            "date": fr_date(item.day) if item.day else "",
            "date_iso": _iso(item.day),
            "themes": [
                {"id": t, "label": self.theme_label(t), "href": f"{root}etudes.html?theme={t}"}
                for t in item.themes
            ],
            "territories": [self.territory(t, root) for t in item.territories],
            "html": Markup(item.html),  # rendered by markdown-it with HTML escaped
        }

    def study(self, item: Content, root: str) -> dict[str, Any]:
        view = self.common(item, root)
        delivered = item.status == "livree"
        delivery = item.delivery or (item.day if delivered else None)
        view.update(
            status=item.status,
            status_label=STUDY_STATUSES.get(item.status or "", ""),
            year=item.date.year if item.date else "",
            partners=list(item.partners),
            delivery=fr_date(delivery) if delivery else "",
            delivery_iso=_iso(delivery),
            delivery_label="Livrée le" if delivered else "Livraison prévue le",
            pdf=f"{root}etudes/{item.slug}.pdf" if item.pdf else None,
            pdf_size=_size(item.pdf) if item.pdf else "",
        )
        return view

    def event(self, item: Content, root: str) -> dict[str, Any]:
        view = self.common(item, root)
        view.update(
            when=fr_event(item),
            start_iso=_iso(item.date),
            end_iso=_iso(item.end),
            place=item.place,
            capacity=(
                f"{fr_number(item.capacity)} place{'s' if item.capacity > 1 else ''}"
                if item.capacity
                else "non limitée"
            ),
            past=is_past(item, self.today),
            registration=registration(
                item,
                today=self.today,
                served=self.served,
                site_url=self.project.settings.mailing.site_url,
                root=root,
            ),
        )
        return view

    def news(self, item: Content, root: str) -> dict[str, Any]:
        view = self.common(item, root)
        link, scheme = item.link, urlsplit(item.link or "").scheme.lower()
        if link and not scheme:  # a path of the site
            link = root + link.lstrip("/")
        elif scheme not in ("http", "https"):  # javascript:, data:… never become links
            link = None
        view["link"] = link
        return view

    def figure(self, item: Content, root: str) -> dict[str, Any]:
        fig = item.figure
        assert fig is not None
        return {
            "slug": item.slug,
            "title": item.title,
            "href": root + item.url,
            "quarter": fr_quarter(item.quarter or ""),
            "value": fig.text,
            "available": fig.value is not None,
            "label": fig.label,
            "territory": self.territory(fig.territory, root) | {"name": fig.territory_name},
            "period": fr_period(fig.found_period) if fig.found_period else "",
            "source": fig.source,
            "html": Markup(item.html),
        }

    def view(self, item: Content, root: str) -> dict[str, Any]:
        if item.kind == "etudes":
            return self.study(item, root)
        if item.kind == "evenements":
            return self.event(item, root)
        if item.kind == "actualites":
            return self.news(item, root)
        if item.kind == "chiffres":
            return self.figure(item, root)
        return self.common(item, root)


def _size(path: Path) -> str:
    size = path.stat().st_size
    if size >= 1e6:
        return f"{fr_number(size / 1e6, 1)}{NBSP}Mo"
    return f"{fr_number(max(size / 1e3, 1), 0)}{NBSP}ko"


# --------------------------------------------------------------------------- navigation


def nav_entries(contents: Contents | None) -> list[tuple[str, str]]:
    return SECTIONS_NAV if contents is not None else []


def footer_links(contents: Contents | None) -> list[tuple[str, str]]:
    if contents is None:
        return []
    links = [("programme.html", "Programme partenarial")]
    if contents.of("chiffres"):
        links.append(("chiffres.html", "Chiffres du trimestre"))
    links += [(item.url, item.title) for item in contents.of("pages")]
    return links


def feed_links(contents: Contents | None) -> list[dict[str, str]]:
    if contents is None:
        return []
    return [{"href": f, "label": label, "title": title} for f, _, label, title in FEEDS]


def home_context(data: SiteData, contents: Contents | None) -> dict[str, Any]:
    """What the home page shows of the contents (``editorial`` is falsy without contents)."""
    if contents is None:
        return {"editorial": None}
    views = _Views(data, contents, served=False)
    coming, _ = agenda(contents, data.today)
    chiffre = quarter_figure(contents, data.today)
    return {
        "editorial": {
            "chiffre": views.figure(chiffre, "") if chiffre else None,
            "news": [views.news(n, "") for n in contents.of("actualites")[:HOME_NEWS]],
            "events": [views.event(e, "") for e in coming[:HOME_EVENTS]],
        }
    }


# --------------------------------------------------------------------------- pages


def render_sections(
    data: SiteData,
    contents: Contents,
    *,
    env: jinja2.Environment,
    common: dict[str, Any],
    served: bool,
) -> dict[str, str]:
    """Every editorial page: path relative to the site root → HTML."""
    template = env.get_template("editorial.html.j2")
    views = _Views(data, contents, served)
    out: dict[str, str] = {}

    def page(path: str, page: str, title: str, current: str | None, **extra: Any) -> None:
        root = "../" * path.count("/")
        feed = FEED_OF_PAGE.get(page)
        out[path] = template.render(
            **common,
            page=page,
            title=title,
            current=current,
            root=root,
            styles=["static/site.css"],
            scripts=EDITORIAL_SCRIPTS,
            feeds=[f for f in feed_links(contents) if f["href"] == feed],
            **extra,
        )

    def each(kind: str, root: str) -> list[dict[str, Any]]:
        return [views.view(item, root) for item in contents.of(kind)]

    # studies
    studies = each("etudes", "")
    page(
        "etudes.html",
        "etudes",
        "Études",
        "etudes.html",
        studies=studies,
        filters=_filters(studies),
    )
    for item in contents.of("etudes"):
        page(item.url, "etude", item.title, "etudes.html", item=views.study(item, "../"))
    # work programme
    page(
        "programme.html",
        "programme",
        "Programme partenarial d'activités",
        None,
        **_programme(studies),
    )
    # news
    page(
        "actualites.html",
        "actualites",
        "Actualités",
        "actualites.html",
        items=each("actualites", ""),
    )
    for item in contents.of("actualites"):
        page(item.url, "actualite", item.title, "actualites.html", item=views.news(item, "../"))
    # agenda
    coming, past = agenda(contents, data.today)
    page(
        "agenda.html",
        "agenda",
        "Agenda",
        "agenda.html",
        coming=[views.event(e, "") for e in coming],
        past=[views.event(e, "") for e in past],
    )
    for item in contents.of("evenements"):
        page(
            item.url,
            "evenement",
            item.title,
            "agenda.html",
            item=views.event(item, "../"),
        )
    # chiffres du trimestre
    figures = contents.of("chiffres")
    if figures:
        page("chiffres.html", "chiffres", "Chiffres du trimestre", None, items=each("chiffres", ""))
        for item in figures:
            page(
                item.url,
                "chiffre",
                f"Chiffre du trimestre : {item.title}",
                None,
                item=views.figure(item, "../"),
            )
    # the agency's pages
    for item in contents.of("pages"):
        page(item.url, "page", item.title, None, item=views.common(item, "../"))
    return out


def _filters(studies: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    themes: dict[str, str] = {}
    territories: dict[str, str] = {}
    for s in studies:
        themes.update({t["id"]: t["label"] for t in s["themes"]})
        territories.update({t["id"]: t["name"] for t in s["territories"]})
    return {
        "theme": sorted(themes.items(), key=lambda kv: _sort_key(kv[1])),
        "territoire": sorted(territories.items(), key=lambda kv: _sort_key(kv[1])),
        "annee": [(str(y), str(y)) for y in sorted({s["year"] for s in studies}, reverse=True)],
        "statut": list(STUDY_STATUSES.items()),
    }


def _sort_key(text: str) -> str:
    """French alphabetical order: accents after their letter, case ignored."""
    plain = unicodedata.normalize("NFD", text)
    return "".join(c for c in plain if not unicodedata.combining(c)).casefold()


def _programme(studies: list[dict[str, Any]]) -> dict[str, Any]:
    statuses = list(STUDY_STATUSES)
    by_status = [
        {
            "id": status,
            "label": STUDY_STATUSES[status],
            "studies": [s for s in studies if s["status"] == status],
        }
        for status in statuses
    ]
    partners: dict[str, list[dict[str, Any]]] = {}
    for s in studies:
        for partner in s["partners"] or ["Sans partenaire déclaré"]:
            partners.setdefault(partner, []).append(s)
    by_partner = [
        {
            "name": name,
            "counts": [sum(s["status"] == st for s in items) for st in statuses],
            "total": len(items),
            "studies": items,
        }
        for name, items in sorted(partners.items(), key=lambda kv: _sort_key(kv[0]))
    ]
    return {
        "by_status": by_status,
        "by_partner": by_partner,
        "status_labels": [STUDY_STATUSES[s] for s in statuses],
        "total": len(studies),
    }


def attachments(contents: Contents | None) -> dict[str, Path]:
    """Files copied into the site: ``etudes/<slug>.pdf`` → the study's PDF."""
    if contents is None:
        return {}
    return {f"etudes/{s.slug}.pdf": s.pdf for s in contents.of("etudes") if s.pdf is not None}
