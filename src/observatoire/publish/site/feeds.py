"""Atom feeds (RFC 4287) of the editorial sections and the social-network posts file.

Files, at the root of the site: ``etudes.xml`` (every study), ``actualites.xml`` (news),
``agenda.xml`` (events) and ``reseaux.csv`` (:mod:`.social`). Links are absolute under
``[lettre] adresse_site`` when it is set, relative to the site root otherwise. Identifiers are
``urn:uuid:`` URIs derived from the project's name and the content's kind and file name: they
stay the same from one build to the next and when the site moves. ``updated`` comes from the
contents' dates (a delivered study: its delivery date; an event: its date). Each entry carries
its summary, its rendered body and, for publications, the social post in
``<obs:publication>`` (namespace :data:`SOCIAL_NS`).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, tzinfo
from functools import cache

from observatoire.project import Project
from observatoire.publish.contents import STUDY_STATUSES, Content, Contents
from observatoire.publish.site.editorial import FEEDS, fr_event
from observatoire.publish.site.social import content_link, posts_csv, social_post, social_posts

ATOM = "http://www.w3.org/2005/Atom"
SOCIAL_NS = "urn:observatoire:reseaux"


@cache
def _zone() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Paris")
    except Exception:  # no time-zone database: UTC offsets stay valid RFC 3339
        return UTC


def rfc3339(moment: datetime | date) -> str:
    """``2026-12-10T18:00:00+01:00`` (French time of the agency)."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return moment.replace(tzinfo=_zone(), microsecond=0).isoformat()


def content_id(project: Project, kind: str, slug: str) -> str:
    """A stable ``urn:uuid:`` identifier of a content (or of a feed: ``kind`` ``flux``)."""
    name = f"observatoire:{project.settings.nom}:{kind}/{slug}"
    return uuid.uuid5(uuid.NAMESPACE_URL, name).urn


def updated(content: Content, today: date | None = None) -> datetime:
    """When the entry last changed, for Atom: its date (a delivered study: its delivery),
    never after ``today`` — an event or a planned study dated in the future was published
    before that date."""
    if content.kind == "etudes" and content.status == "livree" and content.delivery:
        moment = datetime(content.delivery.year, content.delivery.month, content.delivery.day)
    else:
        assert content.date is not None
        moment = content.date
    if today is not None:
        moment = min(moment, datetime(today.year, today.month, today.day))
    return moment


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = text
    return node


def _summary(item: Content) -> str:
    if item.kind == "evenements":
        when = fr_event(item)
        return f"{when[:1].upper()}{when[1:]}, {item.place}. {item.summary}"
    if item.kind == "etudes":
        return f"{STUDY_STATUSES.get(item.status or '', '')}. {item.summary}"
    return item.summary


def _publishes(item: Content) -> bool:
    return item.kind != "etudes" or item.status == "livree"


def atom_feed(project: Project, contents: Contents, file: str, *, today: date | None = None) -> str:
    """One Atom feed of :data:`editorial.FEEDS` as XML text."""
    _, kind, _, title = next(f for f in FEEDS if f[0] == file)
    base = project.settings.mailing.site_url
    page = {"etudes": "etudes.html", "actualites": "actualites.html"}.get(kind, "agenda.html")
    items = contents.of(kind)
    # Names written as they are (the namespaces declared on the root): no ns0: prefixes.
    feed = ET.Element("feed", {"xmlns": ATOM, "xmlns:obs": SOCIAL_NS, "xml:lang": "fr"})
    _sub(feed, "id", content_id(project, "flux", file))
    _sub(feed, "title", f"{title} — {project.settings.nom}")
    fallback = today or date.today()
    stamps = [updated(i, fallback) for i in items]
    _sub(feed, "updated", rfc3339(max(stamps) if stamps else fallback))
    absolute = (base.rstrip("/") + "/") if base else ""
    _sub(feed, "link", rel="self", type="application/atom+xml", href=absolute + file)
    _sub(feed, "link", rel="alternate", type="text/html", href=absolute + page)
    author = _sub(feed, "author")
    _sub(author, "name", project.settings.nom)
    if base:
        _sub(author, "uri", base)
    _sub(feed, "generator", "Observatoire")
    for item in items:
        entry = _sub(feed, "entry")
        _sub(entry, "id", content_id(project, item.kind, item.slug))
        _sub(entry, "title", item.title)
        _sub(entry, "updated", rfc3339(updated(item, fallback)))
        _sub(entry, "link", rel="alternate", type="text/html", href=content_link(item, base))
        if item.pdf is not None:
            _sub(
                entry,
                "link",
                rel="enclosure",
                type="application/pdf",
                href=absolute + f"etudes/{item.slug}.pdf",
                length=str(item.pdf.stat().st_size),
            )
        for theme in item.themes:
            _sub(entry, "category", term=theme)
        _sub(entry, "summary", _summary(item))
        _sub(entry, "content", item.html, type="html")
        if _publishes(item):
            _sub(entry, "obs:publication", social_post(item, base))
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")


def render_feeds(
    project: Project, contents: Contents | None, *, today: date | None = None
) -> dict[str, str]:
    """``etudes.xml``, ``actualites.xml``, ``agenda.xml`` and ``reseaux.csv`` (nothing without
    contents)."""
    if contents is None:
        return {}
    out = {file: atom_feed(project, contents, file, today=today) for file, *_ in FEEDS}
    out["reseaux.csv"] = posts_csv(social_posts(contents, project.settings.mailing.site_url))
    return out
