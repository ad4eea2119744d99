"""The quarterly newsletter (« la lettre ») : assembly, files, sending.

:func:`build_letter` assembles the letter of a quarter (``2026T4``) from the project's
contents (:mod:`observatoire.publish.contents`):

- the quarter's news (dated inside :func:`~observatoire.publish.contents.quarter_bounds`);
- the studies delivered in the quarter (``statut: livree``, ``date`` or ``livraison`` inside it);
- the coming events: starting on or after the quarter's first day and not over when the letter
  is built, next ones first;
- « le chiffre du trimestre » (``contenus/chiffres/2026T4.md``), read from the indicator table
  with its source and vintage — never typed by hand.

A letter with nothing of its own (no news, no delivered study, no event inside the quarter, no
chiffre du trimestre) is an error: coming events alone do not make a letter.

The HTML version is an e-mail: nested tables, inline styles only (one small media query),
600 px wide at most and fluid below, no image, no script; links are absolute from
``[lettre] adresse_site`` (without it, the written preview links to the static site in
``sorties/site`` relatively). :func:`write_letter` writes ``sorties/lettres/<trimestre>/
lettre.html`` and ``lettre.txt``.

:func:`send_letter` sends it to every confirmed subscriber through
:class:`~observatoire.publish.mail.Mailer`, one message each, with a personal unsubscribe link
(signed token), ``List-Unsubscribe`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
(RFC 8058) headers and a ``Message-ID`` derived from (campaign, address). The campaign is the
quarter; each address goes through the sending journal of
:class:`~observatoire.publish.audience.Audience`: ``en_cours`` before the message is handed to
the SMTP server, ``envoye`` once accepted, ``echec`` (with the server's reason) when refused. A
rerun skips ``envoye``, sends again ``en_cours`` (interrupted in the only ambiguous window:
after the hand-over, before the journal write) with the same ``Message-ID`` — which receiving
systems use to drop duplicates — and retries ``echec``: no address is ever skipped. No address
is printed or logged (the journal in ``communication.sqlite`` is the only place they are).
"""

from __future__ import annotations

import contextlib
import html as html_lib
import os
import re
import smtplib
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from email.message import EmailMessage
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote, urlsplit

from observatoire.errors import InputError
from observatoire.project import Project
from observatoire.publish.audience import Audience, Subscriber, valid_email
from observatoire.publish.contents import (
    Content,
    Contents,
    load_contents,
    quarter_bounds,
    resolve,
)
from observatoire.publish.fmt import fr_date, fr_number, fr_period, fr_when, status_note
from observatoire.publish.mail import Mailer, MailError, check_config, message
from observatoire.settings import Mailing

UNSUBSCRIBE_PATH = "lettre/desinscrire"
_UNSUBSCRIBE = "%%LIEN-DESINSCRIPTION%%"  # placeholder, replaced per recipient
_EMAIL_LIKE = re.compile(r"<?[^\s<>@\"']+@[^\s<>\"']+>?")

# Inline styles of the tags Markdown produces (e-mail clients drop stylesheets).
_FONT = "font-family:Arial,Helvetica,sans-serif;"
_TAG_STYLES = {
    "p": "margin:0 0 12px 0;",
    "ul": "margin:0 0 12px 0;padding-left:20px;",
    "ol": "margin:0 0 12px 0;padding-left:20px;",
    "li": "margin:0 0 4px 0;",
    "blockquote": "margin:0 0 12px 0;padding-left:12px;border-left:3px solid #cccccc;",
    "h1": "margin:0 0 8px 0;font-size:18px;",
    "h2": "margin:0 0 8px 0;font-size:17px;",
    "h3": "margin:0 0 8px 0;font-size:16px;",
    "h4": "margin:0 0 8px 0;font-size:15px;",
    "code": "font-family:Consolas,monospace;font-size:14px;",
}


# --------------------------------------------------------------------------- the letter


def quarter_label(quarter: str) -> str:
    """``2026T4`` → « 4e trimestre 2026 » (« 1er trimestre » for T1)."""
    quarter_bounds(quarter)  # validates
    year, q = quarter.split("T")
    return f"{'1er' if q == '1' else q + 'e'} trimestre {year}"


@dataclass(frozen=True)
class Letter:
    """One quarter's newsletter, before personalisation."""

    quarter: str
    subject: str
    news: tuple[Content, ...]
    studies: tuple[Content, ...]
    events: tuple[Content, ...]
    figure: Content | None  # the chiffre du trimestre, resolved
    simulated: bool  # the chiffre du trimestre comes from simulated data
    base: str  # base of every link (adresse_site + "/", or relative to the static site)
    absolute: bool
    html_template: str = field(repr=False, default="")
    text_template: str = field(repr=False, default="")

    @property
    def generic_unsubscribe(self) -> str:
        """The unsubscribe page without a token (previews, test sends to non-subscribers)."""
        return site_link(self.base, UNSUBSCRIBE_PATH)

    def html(self, unsubscribe: str | None = None) -> str:
        url = html_lib.escape(unsubscribe or self.generic_unsubscribe)
        return self.html_template.replace(_UNSUBSCRIBE, url)

    def text(self, unsubscribe: str | None = None) -> str:
        return self.text_template.replace(_UNSUBSCRIBE, unsubscribe or self.generic_unsubscribe)

    def folder(self, project: Project) -> Path:
        return letter_folder(project, self.quarter)


def site_link(base: str, path: str) -> str:
    """``path`` of the site (``etudes/x.html``; a leading « / » is the site's root) from
    ``base``; full addresses (``https://…``, ``mailto:…``) and anchors are kept as they are."""
    if urlsplit(path).scheme or path.startswith(("//", "#")):
        return path
    return base + path.lstrip("/")


def letter_folder(project: Project, quarter: str) -> Path:
    return project.settings.output_dir / "lettres" / quarter


def _in(day: date | None, start: date, end: date) -> bool:
    return day is not None and start <= day <= end


def _finish(event: Content) -> datetime:
    """When an event is over (a day without a time lasts until its end)."""
    moment = event.end or event.date
    assert moment is not None
    if moment.time() == time(0, 0):
        return datetime.combine(moment.date(), time(23, 59, 59))
    return moment


def select_contents(
    contents: Contents, quarter: str, now: datetime
) -> tuple[list[Content], list[Content], list[Content], Content | None]:
    """(news, delivered studies, coming events, chiffre du trimestre) of ``quarter``."""
    start, end = quarter_bounds(quarter)
    news = [c for c in contents.of("actualites") if _in(c.day, start, end)]
    studies = [
        c
        for c in contents.of("etudes")
        if c.status == "livree" and _in(c.delivery or c.day, start, end)
    ]
    studies.sort(key=lambda c: (c.delivery or c.day, c.slug), reverse=True)
    events = [
        c
        for c in contents.of("evenements")
        if c.day is not None and c.day >= start and _finish(c) >= now
    ]
    events.sort(key=lambda c: (c.date, c.slug))
    return news, studies, events, contents.quarter_figure(quarter)


def _luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


_DARK = "#1a1a1a"


def _readable_on(colour: str) -> str:
    """White or dark text, whichever contrasts most with ``colour``."""
    lum = _luminance(colour)
    on_white = 1.05 / (lum + 0.05)
    on_dark = (lum + 0.05) / (_luminance(_DARK) + 0.05)
    return "#ffffff" if on_white >= on_dark else _DARK


def _link_colour(colour: str) -> str:
    """The agency's colour for links when it reads on white (contrast ≥ 4.5:1), else dark."""
    return colour if 1.05 / (_luminance(colour) + 0.05) >= 4.5 else _DARK


def email_fragment(fragment: str, base: str, link_colour: str) -> str:
    """Markdown HTML made fit for e-mail: inline styles, absolute links, no classes."""

    def anchor(match: re.Match[str]) -> str:
        href = site_link(base, html_lib.unescape(match.group(1)))
        return (
            f'<a href="{html_lib.escape(href)}" style="color:{link_colour};'
            'text-decoration:underline;">'
        )

    def image(match: re.Match[str]) -> str:
        attrs = match.group(1)
        src = re.search(r'src="([^"]*)"', attrs)
        alt = re.search(r'alt="([^"]*)"', attrs)
        url = site_link(base, html_lib.unescape(src.group(1))) if src else ""
        return (
            f'<img src="{html_lib.escape(url)}" alt="{alt.group(1) if alt else ""}" '
            'style="max-width:100%;height:auto;border:0;">'
        )

    out = re.sub(r'<a href="([^"]*)"[^>]*>', anchor, fragment)
    out = re.sub(r"<img([^>]*?)\s*/?>", image, out)
    out = re.sub(r'\s+class="[^"]*"', "", out)
    for tag, style in _TAG_STYLES.items():
        out = re.sub(rf"<{tag}>", f'<{tag} style="{style}">', out)
    return out


class _Text(HTMLParser):
    """HTML fragment → plain text (paragraphs, « - » items, links as « texte (adresse) »)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.href: str | None = None
        self.link_text: list[str] = []

    def _flush(self, prefix: str = "") -> None:
        text = re.sub(r"\s+", " ", "".join(self.current)).strip()
        if text:
            self.blocks.append(prefix + text)
        self.current = []

    def handle_starttag(self, tag, attrs):
        if tag in ("p", "li", "h1", "h2", "h3", "h4", "blockquote", "br"):
            self._flush()
        if tag == "li":
            self.current.append("- ")
        if tag == "a":
            self.href = dict(attrs).get("href")
            self.link_text = []
        if tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.current.append(f"[{alt}]")

    def handle_endtag(self, tag):
        if tag == "a" and self.href:
            label = "".join(self.link_text).strip()
            if label != self.href:
                self.current.append(f" ({self.href})")
            self.href = None
        if tag in ("p", "li", "h1", "h2", "h3", "h4", "blockquote"):
            self._flush()

    def handle_data(self, data):
        self.current.append(data)
        if self.href is not None:
            self.link_text.append(data)

    def text(self) -> str:
        self._flush()
        return "\n\n".join(self.blocks)


def html_to_text(fragment: str) -> str:
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    return parser.text()


def _wrap(text: str, width: int = 72, indent: str = "") -> str:
    """Wrap each paragraph of ``text`` (addresses never broken)."""
    paragraphs = []
    for block in text.split("\n\n"):
        paragraphs.append(
            textwrap.fill(
                " ".join(block.split()),
                width=width,
                initial_indent=indent,
                subsequent_indent=indent + ("  " if block.startswith("- ") else ""),
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n\n".join(paragraphs)


def _figure_origin(project: Project, content: Content) -> str | None:
    """``origin`` (real / simulated) of the chiffre du trimestre's row of the table."""
    from observatoire.indicators.build import VALUE_TABLE
    from observatoire.warehouse import Warehouse

    fig = content.figure
    assert fig is not None
    territory = project.territories.get(fig.territory)
    with Warehouse(project.settings.warehouse_path, read_only=True) as warehouse:
        row = warehouse.con.execute(
            f"SELECT origin FROM {VALUE_TABLE} WHERE territory_id = ? AND level = ? "
            "AND indicator_id = ? AND CAST(period AS VARCHAR) = ? LIMIT 1",
            [territory.id, territory.level, fig.indicator, fig.found_period],
        ).fetchone()
    return None if row is None else str(row[0])


def _site_base(project: Project, folder: Path) -> tuple[str, bool]:
    """(base of the links, absolute?): adresse_site, else the static site relatively."""
    site_url = project.settings.mailing.site_url
    if site_url:
        return site_url.rstrip("/") + "/", True
    site = project.settings.output_dir / "site"
    return Path(os.path.relpath(site, folder)).as_posix() + "/", False


def _gather(
    project: Project, quarter: str, now: datetime
) -> tuple[list[Content], list[Content], list[Content], Content | None, bool]:
    """The quarter's contents, their figures filled from the indicator table, and whether
    the chiffre du trimestre is simulated; an empty quarter is an error."""
    label = quarter_label(quarter)
    start, end = quarter_bounds(quarter)
    contents = load_contents(project)
    news, studies, events, figure = select_contents(contents, quarter, now)
    if not (news or studies or figure or any(_in(e.day, start, end) for e in events)):
        raise InputError(
            f"rien à publier pour le {label} : aucune actualité datée du {fr_date(start)} au "
            f"{fr_date(end)}, aucune étude livrée, aucun événement dans le trimestre et aucun "
            f"chiffre du trimestre (contenus/chiffres/{quarter}.md) dans {contents.root}"
        )
    chosen = Contents(root=contents.root)  # resolve only what the letter shows
    chosen.items.update(
        actualites=news, etudes=studies, evenements=events, chiffres=[figure] if figure else []
    )
    chosen = resolve(project, chosen)
    figure = chosen.quarter_figure(quarter)
    simulated = False
    if figure is not None:
        fig = figure.figure
        assert fig is not None
        if fig.value is None:
            wanted = f", période {fig.period}" if fig.period else ""
            raise InputError(
                f"le chiffre du trimestre ({figure.path}) n'a pas de valeur utilisable dans la "
                f"table des indicateurs (indicateur {fig.indicator}, territoire "
                f"{fig.territory}{wanted}) : lancez « observatoire build » ou changez la période"
            )
        simulated = _figure_origin(project, figure) == "simulated"
    return (
        chosen.of("actualites"),
        chosen.of("etudes"),
        chosen.of("evenements"),
        figure,
        simulated,
    )


def _items(
    project: Project,
    quarter: str,
    base: str,
    links: str,
    contents: tuple[list[Content], list[Content], list[Content], Content | None],
) -> dict:
    """Template variables of the four sections."""
    news, studies, events, figure = contents

    def item(c: Content) -> dict:
        return {
            "title": c.title,
            "summary": c.summary,
            "url": site_link(base, c.url),
            "date": fr_date(c.day) if c.day else "",
        }

    study_items = []
    for c in studies:
        entry = item(c)
        delivered = c.delivery or c.day
        entry["date"] = fr_date(delivered) if delivered else ""
        entry["partners"] = ", ".join(c.partners)
        study_items.append(entry)
    event_items = []
    for c in events:
        entry = item(c)
        entry["when"] = fr_when(c.date, c.end)
        entry["place"] = c.place or ""
        places = f" ({fr_number(c.capacity)} places)" if c.capacity else ""
        state = "Inscriptions ouvertes" if c.registration_open else "Inscriptions fermées"
        entry["registration"] = state + places
        event_items.append(entry)
    figure_item = None
    if figure is not None and figure.figure is not None:
        fig = figure.figure
        territory = project.territories.get(fig.territory)
        key = quote(f"{territory.level}/{territory.id}", safe="")
        figure_item = {
            "title": figure.title,
            "value": fig.text,
            "label": fig.label,
            "territory": fig.territory_name,
            "period": fr_period(fig.found_period or ""),
            "source": fig.source,
            "note": (status_note(fig.status) if fig.status != "ok" else None) or "",
            "html": email_fragment(figure.html, base, links),
            "text": html_to_text(figure.html),
            "portrait": site_link(base, f"territoire.html?t={key}"),
        }
    return {
        "news": [item(c) for c in news],
        "studies": study_items,
        "events": event_items,
        "figure": figure_item,
    }


def _preheader(sections: dict) -> str:
    """The line mail clients show after the subject."""
    parts = []
    if sections["figure"]:
        parts.append(f"le chiffre du trimestre : {sections['figure']['value']}")
    for key, one, many in (
        ("news", "actualité", "actualités"),
        ("studies", "étude livrée", "études livrées"),
        ("events", "rendez-vous", "rendez-vous"),
    ):
        if sections[key]:
            count = len(sections[key])
            parts.append(f"{count} {one if count == 1 else many}")
    text = ", ".join(parts)
    return text[:1].upper() + text[1:]


def _render(context: dict) -> tuple[str, str]:
    """(HTML, plain text) of the letter."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    folder = Path(str(files("observatoire") / "publish" / "templates"))
    html_env = Environment(
        loader=FileSystemLoader(folder), autoescape=select_autoescape(["html.j2"])
    )
    text_env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    text_env.filters["wrap"] = _wrap
    html = html_env.get_template("lettre.html.j2").render(**context)
    plain = text_env.get_template("lettre.txt.j2").render(**context)
    return html, re.sub(r"\n{3,}", "\n\n", plain).strip() + "\n"


def build_letter(project: Project, quarter: str, *, now: datetime | None = None) -> Letter:
    """Assemble the newsletter of ``quarter`` (``now``: build time, for coming events)."""
    label = quarter_label(quarter)
    news, studies, events, figure, simulated = _gather(project, quarter, now or datetime.now())
    settings = project.settings
    base, absolute = _site_base(project, letter_folder(project, quarter))
    colour = settings.charte.couleur_principale
    links = _link_colour(colour)
    sections = _items(project, quarter, base, links, (news, studies, events, figure))
    subject = f"{settings.nom} : la lettre du {label}"
    html, plain = _render(
        {
            **sections,
            "name": settings.nom,
            "title": f"La lettre du {label}",
            "subject": subject,
            "preheader": _preheader(sections),
            "colour": colour,
            "on_colour": _readable_on(colour),
            "links": links,
            "simulated": simulated,
            "home": base if absolute else site_link(base, "index.html"),
            "unsubscribe": _UNSUBSCRIBE,
            "site_host": urlsplit(base).netloc if absolute else "",
            "font": _FONT,
        }
    )
    return Letter(
        quarter=quarter,
        subject=subject,
        news=tuple(news),
        studies=tuple(studies),
        events=tuple(events),
        figure=figure,
        simulated=simulated,
        base=base,
        absolute=absolute,
        html_template=html,
        text_template=plain,
    )


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_letter(project: Project, letter: Letter) -> tuple[Path, Path]:
    """``sorties/lettres/<trimestre>/lettre.html`` and ``lettre.txt`` (generic unsubscribe
    link: each subscriber receives their own)."""
    folder = letter.folder(project)
    folder.mkdir(parents=True, exist_ok=True)
    html_path, text_path = folder / "lettre.html", folder / "lettre.txt"
    _write(html_path, letter.html())
    _write(text_path, letter.text())
    return html_path, text_path


# --------------------------------------------------------------------------- sending


def unsubscribe_url(config: Mailing, token: str) -> str:
    """``<adresse_site>/lettre/desinscrire?jeton=<token>`` (GET page, one-click POST)."""
    return f"{config.site_url.rstrip('/')}/{UNSUBSCRIBE_PATH}?jeton={quote(token, safe='')}"


def personal_message(
    config: Mailing,
    letter: Letter,
    *,
    to: str,
    unsubscribe: str | None,
    key: str,
    subject: str | None = None,
) -> EmailMessage:
    """The letter for one recipient: their unsubscribe link in both versions and in the
    ``List-Unsubscribe`` headers, a ``Message-ID`` derived from ``key``."""
    url = unsubscribe or letter.generic_unsubscribe
    headers = {
        "List-Unsubscribe": f"<{url}>",
        "List-Id": f"<lettre.{urlsplit(letter.base).hostname or 'observatoire.local'}>",
        "Precedence": "bulk",
    }
    if unsubscribe:
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg = message(
        config,
        to=to,
        subject=subject or letter.subject,
        text=letter.text(url),
        html=letter.html(url),
        key=key,
        headers=headers,
    )
    return msg


def message_key(campaign: str, email: str) -> str:
    return f"lettre:{campaign}:{email}"


@dataclass
class SendReport:
    """What a sending run did (counts only: no address)."""

    quarter: str
    confirmed: int = 0  # confirmed subscribers when the run started
    already: int = 0  # accepted during a previous run: skipped
    to_send: int = 0
    sent: int = 0  # accepted by the server during this run
    resent: int = 0  # of which: interrupted during a previous run (same Message-ID)
    retried: int = 0  # of which: refused during a previous run
    failed: int = 0  # refused during this run (journal: echec)
    reasons: Counter[str] = field(default_factory=Counter)


def refusal_reason(exc: MailError) -> str | None:
    """The server's reason when it refused this recipient or this message (``None``: the
    session failed — unreachable server, dropped connection, refused sender)."""
    cause = exc.__cause__
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(cause.recipients.values()), (0, b""))
    elif isinstance(cause, smtplib.SMTPDataError):
        code, text = cause.smtp_code, cause.smtp_error
    elif isinstance(cause, smtplib.SMTPNotSupportedError | UnicodeError | ValueError):
        return f"message non transmissible à cette adresse ({cause.__class__.__name__})"
    else:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    reason = _EMAIL_LIKE.sub("<adresse>", " ".join(str(text).split()))
    return f"{code} {reason}".strip()[:200]


@contextlib.contextmanager
def _campaign_lock(folder: Path, quarter: str) -> Iterator[None]:
    """One sending run per campaign at a time (released when the process ends)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".envoi.verrou", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(
                f"un envoi de la lettre {quarter} est déjà en cours dans un autre processus : "
                "attendez sa fin (ou son interruption) avant de relancer"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


MailerFactory = Callable[[Mailing], Mailer]


def send_letter(
    project: Project,
    quarter: str,
    *,
    now: datetime | None = None,
    mailer: MailerFactory | None = None,
    on_start: Callable[[int], None] | None = None,
    on_message: Callable[[], None] | None = None,
) -> SendReport:
    """Send the letter of ``quarter`` to every confirmed subscriber, resumably (see the
    module's docstring); ``mailer``: a factory of :class:`Mailer` (tests inject theirs)."""
    config = project.settings.mailing
    check_config(config)
    letter = build_letter(project, quarter, now=now)
    write_letter(project, letter)
    audience = Audience(project.root)
    report = SendReport(quarter)
    with _campaign_lock(letter.folder(project), quarter):
        subscribers = audience.confirmed()
        journal = audience.journal(quarter)
        report.confirmed = len(subscribers)
        todo = [s for s in subscribers if journal.get(s.email) != "envoye"]
        report.already = len(subscribers) - len(todo)
        report.to_send = len(todo)
        if on_start is not None:
            on_start(len(todo))
        if not todo:
            return report
        with (mailer or Mailer)(config) as session:
            for subscriber in todo:
                _send_one(session, audience, config, letter, subscriber, journal, report)
                if on_message is not None:
                    on_message()
    return report


def _send_one(
    session: Mailer,
    audience: Audience,
    config: Mailing,
    letter: Letter,
    subscriber: Subscriber,
    journal: dict[str, str],
    report: SendReport,
) -> None:
    campaign, email = letter.quarter, subscriber.email
    token = audience.token("desinscrire", subscriber.id, email)
    msg = personal_message(
        config,
        letter,
        to=email,
        unsubscribe=unsubscribe_url(config, token),
        key=message_key(campaign, email),
    )
    audience.mark(campaign, email, "en_cours")
    try:
        session.send(msg)
    except MailError as exc:
        reason = refusal_reason(exc)
        if reason is None:  # the session itself failed: stop, the address stays en_cours
            raise MailError(
                f"envoi de la lettre {campaign} interrompu ({exc}) après {report.sent} "
                f"message(s) accepté(s) : relancez « observatoire lettre envoyer --trimestre "
                f"{campaign} » pour reprendre sans oubli"
            ) from exc
        audience.mark(campaign, email, "echec", reason)
        report.failed += 1
        report.reasons[reason] += 1
        return
    audience.mark(campaign, email, "envoye")
    report.sent += 1
    previous = journal.get(email)
    if previous == "en_cours":
        report.resent += 1
    elif previous == "echec":
        report.retried += 1


def send_test(
    project: Project,
    quarter: str,
    address: str,
    *,
    now: datetime | None = None,
    mailer: MailerFactory | None = None,
) -> str:
    """Send one test message of ``quarter``'s letter to ``address`` (subject « [Essai] … »),
    outside the campaign (the journal is untouched); returns the normalised address. A
    confirmed subscriber receives their real unsubscribe link, anyone else the generic page."""
    config = project.settings.mailing
    check_config(config)
    address = valid_email(address)
    letter = build_letter(project, quarter, now=now)
    write_letter(project, letter)
    audience = Audience(project.root)
    subscriber = next((s for s in audience.confirmed() if s.email == address), None)
    url = None
    if subscriber is not None:
        url = unsubscribe_url(config, audience.token("desinscrire", subscriber.id, address))
    msg = personal_message(
        config,
        letter,
        to=address,
        unsubscribe=url,
        # a new identity each time: receiving systems would drop a repeated test otherwise
        key=f"essai:{quarter}:{address}:{datetime.now().isoformat()}:{os.getpid()}",
        subject=f"[Essai] {letter.subject}",
    )
    with (mailer or Mailer)(config) as session:
        session.send(msg)
    return address
