"""Short posts for the agency's social accounts, one per publication.

:func:`social_post` writes, for a content (a delivered study, a news item, an event), a French
text of at most :data:`LIMIT` characters ending with the link of its page, a URL counted at
its full length. The text only uses what the content says (title, summary, place, date and
time of an event): no figure is typed here. :func:`social_posts` lists the posts of every
publication (``sorties/site/reseaux.csv``; also in the Atom feeds, see :mod:`.feeds`);
the newsletter can reuse :func:`social_post`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from observatoire.publish.contents import Content, Contents
from observatoire.publish.site.editorial import fr_event

LIMIT = 280
ELLIPSIS = "…"
COLUMNS = ("date", "type", "titre", "texte", "lien")
TYPES = {"etudes": "etude", "actualites": "actualite", "evenements": "evenement"}


@dataclass(frozen=True)
class Post:
    """One row of ``reseaux.csv``."""

    date: date
    type: str  # etude, actualite, evenement
    titre: str
    texte: str
    lien: str


def content_link(content: Content, base_url: str = "") -> str:
    """The address of a content's page: absolute under ``base_url`` (``[lettre]
    adresse_site``), else relative to the site root."""
    return f"{base_url.rstrip('/')}/{content.url}" if base_url else content.url


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _sentence(text: str) -> str:
    text = _clean(text)
    return text if not text or text[-1] in ".!?…" else text + "."


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _cut(text: str, size: int) -> str:
    """``text`` in at most ``size`` characters, cut between words, with an ellipsis."""
    if len(text) <= size:
        return text
    if size <= 1:
        return ELLIPSIS[:size]
    head = text[: size - 1]
    if " " in head and text[size - 1] != " ":
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:.–—-") + ELLIPSIS


def social_post(content: Content, base_url: str = "") -> str:
    """The post of ``content`` (≤ 280 characters, its link included at full length)."""
    link = content_link(content, base_url)
    title = _clean(content.title)
    if content.kind == "etudes":
        lead = {
            "livree": "Nouvelle étude",
            "en_cours": "Étude en cours",
            "programmee": "Étude programmée",
        }.get(content.status or "", "Étude")
        lead = f"{lead} : {_sentence(title)}"
        detail = _sentence(content.summary)
    elif content.kind == "evenements":
        lead = (
            f"Agenda : {_sentence(title)} {_capital(fr_event(content))}, {_clean(content.place)}."
        )
        if content.registration_open:
            lead += " Inscriptions ouvertes."
        detail = _sentence(content.summary)
    elif content.kind == "actualites":
        lead = f"Actualité : {_sentence(title)}"
        detail = _sentence(content.summary)
    else:
        lead, detail = _sentence(title), _sentence(content.summary)
    budget = LIMIT - len(link) - 1  # the text, a space, the link
    if budget < 1:
        return link
    text = f"{lead} {detail}".strip()
    if len(text) > budget:
        room = budget - len(lead) - 1
        text = f"{lead} {_cut(detail, room)}" if room >= 20 else _cut(lead, budget)
    return f"{text} {link}"


def post_date(content: Content) -> date | None:
    """The date a post refers to: delivery of a study, date of a news item or an event."""
    if content.kind == "etudes" and content.delivery is not None:
        return content.delivery
    return content.day


def social_posts(contents: Contents, base_url: str = "") -> list[Post]:
    """Posts of every publication: delivered studies, news items, events; newest first."""
    items = [s for s in contents.of("etudes") if s.status == "livree"]
    items += contents.of("actualites") + contents.of("evenements")
    posts = [
        Post(
            date=post_date(item) or date.min,
            type=TYPES[item.kind],
            titre=_clean(item.title),
            texte=social_post(item, base_url),
            lien=content_link(item, base_url),
        )
        for item in items
    ]
    return sorted(posts, key=lambda p: (p.date, p.type, p.lien), reverse=True)


def posts_csv(posts: list[Post]) -> str:
    """``reseaux.csv``: UTF-8, comma separator, columns date, type, titre, texte, lien."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for p in posts:
        writer.writerow([p.date.isoformat(), p.type, p.titre, p.texte, p.lien])
    return out.getvalue()
