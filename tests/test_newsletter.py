"""The quarterly newsletter: assembly from the contents and the indicator table, the e-mail's
HTML (structure, headless Chromium), delivery through a local SMTP server (aiosmtpd on
127.0.0.1), personal unsubscribe links, resume after a crash, refusals, rate limiting, and no
address ever printed or logged. Screenshots go to ``tests/artefacts/lettre``."""

from __future__ import annotations

import email
import logging
import re
import shutil
import socket
import time
from collections import Counter, defaultdict
from datetime import datetime
from email import policy
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from observatoire.indicators.catalogue import indicator_catalogue
from observatoire.project import open_project
from observatoire.publish.audience import Audience
from observatoire.publish.fmt import fr_value
from observatoire.publish.mail import Mailer, MailError
from observatoire.publish.newsletter import (
    build_letter,
    send_letter,
    send_test,
    write_letter,
)

ARTEFACTS = Path(__file__).parent / "artefacts" / "lettre"
QUARTER = "2026T4"
NOW = datetime(2026, 11, 26, 10, 0)  # build time of the letters (events still to come)
SITE = "https://observatoire.exemple.fr"
CONFIRMED = [f"abonne{i}@exemple.org" for i in range(1, 6)]
PENDING = "en.attente@exemple.org"
UNSUBSCRIBED = "parti@exemple.org"


# --------------------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Collector:
    """aiosmtpd handler keeping every accepted message; refuses the addresses in ``refuse``."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(msg)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def _copy_project(root: Path, target: Path) -> Path:
    """The demo project without its outputs; the warehouse (read only here) is linked."""
    target.mkdir()
    for name in ("observatoire.toml", "territoires.yaml"):
        shutil.copy2(root / name, target / name)
    shutil.copytree(root / "contenus", target / "contenus")
    (target / "entrepot.duckdb").symlink_to(root / "entrepot.duckdb")
    (target / "sorties").mkdir()
    return target


def _settings(folder: Path, **values: object) -> None:
    """Replace the ``[lettre]`` section of the project's settings."""
    path = folder / "observatoire.toml"
    text = re.sub(r"(?ms)^\[lettre\].*?(?=^\[|\Z)", "", path.read_text(encoding="utf-8"))
    lines = ["", "[lettre]"]
    for key, value in values.items():
        lines.append(f"{key} = {value!r}" if isinstance(value, int) else f'{key} = "{value}"')
    path.write_text(text.rstrip() + "\n" + "\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def project_dir(demo_summary, tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("OBSERVATOIRE_SECRET", raising=False)
    monkeypatch.delenv("OBSERVATOIRE_SMTP_MOT_DE_PASSE", raising=False)
    return _copy_project(demo_summary.root, tmp_path / "projet")


@pytest.fixture
def mailing(project_dir, smtp):
    """The project copy configured for the local SMTP server, with its subscribers."""
    handler, port = smtp
    _settings(
        project_dir,
        adresse_site=SITE,
        expediteur="Agence d'urbanisme de l'Artois <lettre@observatoire.exemple.fr>",
        smtp_hote="127.0.0.1",
        smtp_port=port,
        smtp_securite="aucune",
        envois_par_minute=60,
    )
    audience = Audience(project_dir)
    for address in CONFIRMED:
        subscriber, _ = audience.subscribe(address)
        assert audience.confirm(audience.token("confirmer", subscriber.id, address))
    audience.subscribe(PENDING)
    gone, _ = audience.subscribe(UNSUBSCRIBED)
    audience.confirm(audience.token("confirmer", gone.id, UNSUBSCRIBED))
    audience.unsubscribe(audience.token("desinscrire", gone.id, UNSUBSCRIBED))
    return project_dir, handler, audience


class FakeClock:
    """Injectable clock and sleep for :class:`Mailer`: sleeping advances the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _no_wait(config):
    fake = FakeClock()
    return Mailer(config, sleep=fake.sleep, clock=fake.clock)


# --------------------------------------------------------------------------- the letter


def _expected_figure(project) -> tuple[float, str]:
    """The chiffre du trimestre read independently from the warehouse."""
    with duckdb.connect(str(project.settings.warehouse_path), read_only=True) as con:
        value = con.execute(
            "SELECT value FROM indicator_values WHERE territory_id = 'pm-artois' "
            "AND level = 'custom' AND indicator_id = 'taux_chomage_1564' "
            "AND status IN ('ok', 'incomplete') AND value IS NOT NULL "
            "ORDER BY length(CAST(period AS VARCHAR)) DESC, CAST(period AS VARCHAR) DESC LIMIT 1"
        ).fetchone()[0]
    indicator = indicator_catalogue().indicators["taux_chomage_1564"]
    return float(value), fr_value(float(value), indicator.unit, indicator.decimals)


def test_letter_assembles_the_quarter(project_dir: Path) -> None:
    project = open_project(project_dir)
    letter = build_letter(project, QUARTER, now=NOW)
    assert [c.slug for c in letter.news] == ["marche-immobilier", "observatoire-en-ligne"]
    # the example study delivered in November; the one of June is of the 2nd quarter
    assert [c.slug for c in letter.studies] == ["marche-immobilier-artois"]
    assert [c.slug for c in letter.events] == ["conference-centralites", "club-observatoire"]
    # the chiffre du trimestre is the indicator table's value, with source and vintage
    value, text = _expected_figure(project)
    figure = letter.figure.figure
    assert figure.value == value and figure.text == text
    assert figure.source.startswith("INSEE") and figure.found_period
    html, plain = letter.html(), letter.text()
    for document in (html, plain):
        assert text in document.replace("&nbsp;", "\u00a0")
        assert figure.source in document.replace("&#39;", "'")
        assert "Données simulées" in document or "DONNÉES SIMULÉES" in document
    assert letter.simulated
    # past events drop out; a study delivered in the quarter comes in, one in progress not
    later = build_letter(project, QUARTER, now=datetime(2026, 12, 10, 21, 0))
    assert [c.slug for c in later.events] == ["club-observatoire"]
    studies = project_dir / "contenus" / "etudes"
    (studies / "livree-t4.md").write_text(
        "---\ntitre: Étude livrée\ndate: 2026-05-01\nresume: Livrée en novembre.\n"
        "statut: livree\nlivraison: 2026-11-15\npartenaires: [CA de Lens-Liévin]\n---\nCorps.\n",
        encoding="utf-8",
    )
    (studies / "en-cours-t4.md").write_text(
        "---\ntitre: En cours\ndate: 2026-11-02\nresume: Pas encore.\nstatut: en_cours\n---\n",
        encoding="utf-8",
    )
    letter = build_letter(project, QUARTER, now=NOW)
    assert [c.slug for c in letter.studies] == ["livree-t4", "marche-immobilier-artois"]
    assert "Livrée le 15 novembre 2026" in letter.text()
    assert "CA de Lens-Liévin" in letter.html()


def test_empty_quarter_is_a_french_error(project_dir: Path) -> None:
    from observatoire.errors import InputError

    project = open_project(project_dir)
    with pytest.raises(InputError, match="rien à publier pour le 1er trimestre 2031"):
        build_letter(project, "2031T1", now=NOW)
    with pytest.raises(InputError, match="trimestre « 2026T5 » invalide"):
        build_letter(project, "2026T5", now=NOW)


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.html_lang: list[str | None] = []
        self.hrefs: list[str] = []
        self.styles: list[str] = []
        self.in_style = False
        self.in_title = False
        self.title = ""
        self.stylesheets = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] += 1
        if tag == "html":
            self.html_lang.append(attrs.get("lang"))
        if tag == "a":
            self.hrefs.append(attrs.get("href") or "")
        if tag == "link" and "stylesheet" in (attrs.get("rel") or ""):
            self.stylesheets += 1
        self.in_style = tag == "style"
        self.in_title = tag == "title"

    def handle_endtag(self, tag):
        self.in_style = self.in_title = False

    def handle_data(self, data):
        if self.in_style:
            self.styles.append(data)
        if self.in_title:
            self.title += data


def _structure(document: str) -> _Structure:
    parser = _Structure()
    parser.feed(document)
    parser.close()
    return parser


def _check_structure(document: str, *, absolute: bool) -> _Structure:
    s = _structure(document)
    assert s.html_lang == ["fr"]
    assert s.tags["title"] == 1 and "4e trimestre 2026" in s.title
    assert s.tags["table"] >= 2 and s.tags["script"] == 0 and s.stylesheets == 0
    assert s.tags["img"] == 0  # works without images: there are none
    # all CSS inline: at most one <style>, holding only a small media query
    assert s.tags["style"] <= 1
    for css in s.styles:
        assert css.strip().startswith("@media") and css.count("{") <= 4, css
    assert "max-width:600px" in document
    assert s.hrefs
    for href in s.hrefs:
        if absolute:
            assert href.startswith(SITE + "/"), href
        else:
            assert not urlsplit(href).scheme, href
    return s


def test_html_structure_and_links(project_dir: Path) -> None:
    project = open_project(project_dir)
    letter = build_letter(project, QUARTER, now=NOW)  # no adresse_site: relative preview
    html_path, text_path = write_letter(project, letter)
    assert html_path == project_dir / "sorties" / "lettres" / QUARTER / "lettre.html"
    assert text_path == html_path.with_name("lettre.txt")
    assert "LE CHIFFRE DU TRIMESTRE" in text_path.read_text(encoding="utf-8")
    _check_structure(html_path.read_text(encoding="utf-8"), absolute=False)
    assert "../../site/actualites/marche-immobilier.html" in html_path.read_text()
    _settings(project_dir, adresse_site=SITE)
    project = open_project(project_dir)
    letter = build_letter(project, QUARTER, now=NOW)
    s = _check_structure(letter.html(), absolute=True)
    assert f"{SITE}/actualites/marche-immobilier.html" in s.hrefs
    assert f"{SITE}/evenements/conference-centralites.html" in s.hrefs
    assert f"{SITE}/lettre/desinscrire" in s.hrefs
    assert f"{SITE}/actualites/marche-immobilier.html" in letter.text()


def test_html_renders_in_headless_chromium(project_dir: Path) -> None:
    from observatoire.publish.report import CHROMIUM_ARGS, chromium_path

    try:
        executable = chromium_path()
    except Exception as exc:
        pytest.skip(f"Chromium absent ({exc}) : .ci/run l'installe")
    from playwright.sync_api import sync_playwright

    _settings(project_dir, adresse_site=SITE)
    project = open_project(project_dir)
    letter = build_letter(project, QUARTER, now=NOW)
    document = letter.html(f"{SITE}/lettre/desinscrire?jeton=1.{'0' * 32}")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "lettre.html").write_text(document, encoding="utf-8")
    (ARTEFACTS / "lettre.txt").write_text(letter.text(), encoding="utf-8")
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            for name, width in (("ordinateur", 900), ("mobile", 375)):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.on("request", lambda r: requests.append(r.url))
                page.set_content(document, wait_until="load")
                assert page.locator("html").get_attribute("lang") == "fr"
                assert "Le chiffre du trimestre" in page.inner_text("body")
                box = page.evaluate(
                    "() => [...document.querySelectorAll('table')]"
                    ".map(t => t.getBoundingClientRect().width)"
                )
                inner = [w for w in box if w < width - 1]
                assert inner and max(inner) <= 600.5, box  # the letter's column
                overflow = page.evaluate("() => document.documentElement.scrollWidth")
                assert overflow <= width, (name, overflow)
                page.screenshot(path=str(ARTEFACTS / f"lettre-{name}.png"), full_page=True)
                page.close()
        finally:
            browser.close()
    assert [u for u in requests if not u.startswith(("about:", "data:"))] == []
    assert (ARTEFACTS / "lettre-mobile.png").stat().st_size > 10_000


# --------------------------------------------------------------------------- sending


def _parts(msg) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_content()
        for part in msg.walk()
        if part.get_content_maintype() == "text"
    }


def _token(msg) -> str:
    header = str(msg["List-Unsubscribe"])
    match = re.fullmatch(r"<([^>]+)>", header)
    assert match, header
    url = urlsplit(match.group(1))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{SITE}/lettre/desinscrire"
    return parse_qs(url.query)["jeton"][0]


def _assert_nothing_leaks(text: str, records: list[logging.LogRecord]) -> None:
    for address in [*CONFIRMED, PENDING, UNSUBSCRIBED]:
        assert address not in text
        for record in records:
            if record.name.startswith("mail.log"):  # the test server's own log
                continue
            assert address not in record.getMessage(), record.name


def test_send_delivers_one_personal_message_per_confirmed_subscriber(
    mailing, capsys, caplog
) -> None:
    project_dir, handler, audience = mailing
    caplog.set_level(logging.DEBUG)
    project = open_project(project_dir)
    report = send_letter(project, QUARTER, now=NOW, mailer=_no_wait)
    assert (report.confirmed, report.sent, report.failed, report.already) == (5, 5, 0, 0)
    received = {str(m["To"]): m for m in handler.messages}
    assert sorted(received) == sorted(CONFIRMED) and len(handler.messages) == 5
    tokens = {}
    for address, msg in received.items():
        assert str(msg["Subject"]) == letter_subject(project)
        assert msg.get_content_type() == "multipart/alternative"
        parts = _parts(msg)
        assert set(parts) == {"text/plain", "text/html"}
        assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        token = _token(msg)
        assert token in parts["text/plain"] and token in parts["text/html"]
        assert "%%" not in parts["text/html"] + parts["text/plain"]
        _check_structure(parts["text/html"], absolute=True)
        tokens[address] = token
    message_ids = {str(m["Message-ID"]) for m in handler.messages}
    assert len(message_ids) == 5
    # journal: every address accepted; a rerun sends nothing more
    assert audience.journal(QUARTER) == dict.fromkeys(CONFIRMED, "envoye")
    again = send_letter(project, QUARTER, now=NOW, mailer=_no_wait)
    assert (again.already, again.sent) == (5, 0) and len(handler.messages) == 5
    captured = capsys.readouterr()
    _assert_nothing_leaks(captured.out + captured.err, caplog.records)
    # each link unsubscribes its own address only; a token cannot be moved to another id
    first, second = CONFIRMED[0], CONFIRMED[1]
    ident_second = tokens[second].split(".")[0]
    forged = f"{ident_second}.{tokens[first].split('.')[1]}"
    assert audience.unsubscribe(forged) is None
    assert audience.unsubscribe(tokens[first].replace(".", ".f", 1)[:-1]) is None
    assert audience.unsubscribe(tokens[second]).email == second
    assert audience.unsubscribe(tokens[first]).email == first
    assert {s.email for s in audience.confirmed()} == set(CONFIRMED[2:])


def letter_subject(project) -> str:
    return f"{project.settings.nom} : la lettre du 4e trimestre 2026"


class Crash(Exception):
    """The process dies (power cut, kill): not a sending error."""


@pytest.mark.parametrize("when", ["apres-acceptation", "avant-remise"])
def test_resume_after_crash_never_sends_twice_nor_skips(mailing, when: str) -> None:
    project_dir, handler, audience = mailing
    project = open_project(project_dir)

    class CrashingMailer(Mailer):
        """Dies on the 3rd message: after the server accepted it, or before handing it."""

        calls = 0

        def send(self, msg) -> None:
            CrashingMailer.calls += 1
            if CrashingMailer.calls == 3 and when == "avant-remise":
                raise Crash
            super().send(msg)
            if CrashingMailer.calls == 3:
                raise Crash

    def crashing(config):
        fake = FakeClock()
        return CrashingMailer(config, sleep=fake.sleep, clock=fake.clock)

    with pytest.raises(Crash):
        send_letter(project, QUARTER, now=NOW, mailer=crashing)
    journal = audience.journal(QUARTER)
    assert Counter(journal.values()) == Counter({"envoye": 2, "en_cours": 1})
    interrupted = next(a for a, s in journal.items() if s == "en_cours")
    assert len(handler.messages) == (3 if when == "apres-acceptation" else 2)

    report = send_letter(project, QUARTER, now=NOW, mailer=_no_wait)
    assert (report.already, report.sent, report.resent, report.failed) == (2, 3, 1, 0)
    assert audience.journal(QUARTER) == dict.fromkeys(CONFIRMED, "envoye")
    # de-duplicated by Message-ID, every confirmed address has exactly one message
    by_address: dict[str, set[str]] = defaultdict(set)
    raw = Counter()
    for msg in handler.messages:
        by_address[str(msg["To"])].add(str(msg["Message-ID"]))
        raw[str(msg["To"])] += 1
    assert sorted(by_address) == sorted(CONFIRMED)
    assert all(len(ids) == 1 for ids in by_address.values()), by_address
    duplicated = {a for a, n in raw.items() if n > 1}
    assert duplicated == ({interrupted} if when == "apres-acceptation" else set())


def test_refused_recipient_is_reported_and_retried(mailing, capsys, caplog) -> None:
    project_dir, handler, audience = mailing
    caplog.set_level(logging.DEBUG)
    project = open_project(project_dir)
    refused = CONFIRMED[2]
    handler.refuse = {refused}
    report = send_letter(project, QUARTER, now=NOW, mailer=_no_wait)
    assert (report.sent, report.failed) == (4, 1)
    (reason,) = report.reasons
    assert reason.startswith("550") and "<adresse>" in reason and refused not in reason
    assert audience.journal(QUARTER)[refused] == "echec"
    _assert_nothing_leaks(capsys.readouterr().out, caplog.records)
    handler.refuse = set()
    again = send_letter(project, QUARTER, now=NOW, mailer=_no_wait)
    assert (again.already, again.sent, again.retried) == (4, 1, 1)
    assert sorted(str(m["To"]) for m in handler.messages) == sorted(CONFIRMED)


def test_rate_limit_waits_on_the_injected_clock(mailing) -> None:
    project_dir, handler, _ = mailing
    text = (project_dir / "observatoire.toml").read_text(encoding="utf-8")
    (project_dir / "observatoire.toml").write_text(
        text.replace("envois_par_minute = 60", "envois_par_minute = 6"), encoding="utf-8"
    )
    project = open_project(project_dir)
    fake = FakeClock()
    started = time.monotonic()
    send_letter(
        project,
        QUARTER,
        now=NOW,
        mailer=lambda config: Mailer(config, sleep=fake.sleep, clock=fake.clock),
    )
    assert len(handler.messages) == 5
    assert fake.sleeps == pytest.approx([10.0] * 4)  # 6 a minute: 10 s between messages
    assert time.monotonic() - started < 30


def test_send_needs_the_site_address(project_dir: Path, smtp) -> None:
    _, port = smtp
    _settings(project_dir, expediteur="lettre@exemple.fr", smtp_hote="127.0.0.1", smtp_port=port)
    with pytest.raises(MailError, match="adresse_site"):
        send_letter(open_project(project_dir), QUARTER, now=NOW, mailer=_no_wait)


def test_test_send_goes_to_one_address_outside_the_campaign(mailing) -> None:
    project_dir, handler, audience = mailing
    project = open_project(project_dir)
    address = send_test(project, QUARTER, " Relecteur@Agence.FR ", now=NOW, mailer=_no_wait)
    assert address == "relecteur@agence.fr"
    (msg,) = handler.messages
    assert str(msg["To"]) == address and str(msg["Subject"]).startswith("[Essai] ")
    assert str(msg["List-Unsubscribe"]) == f"<{SITE}/lettre/desinscrire>"
    assert audience.journal(QUARTER) == {}
    send_test(project, QUARTER, address, now=NOW, mailer=_no_wait)
    assert len({str(m["Message-ID"]) for m in handler.messages}) == 2  # not de-duplicated


# --------------------------------------------------------------------------- command line


def test_cli_prepares_previews_and_sends(mailing, monkeypatch) -> None:
    from typer.testing import CliRunner

    from observatoire.cli import app

    project_dir, handler, _ = mailing
    settings = project_dir / "observatoire.toml"
    text = settings.read_text(encoding="utf-8")  # no real waiting between messages
    settings.write_text(text.replace("= 60\n", "= 100000\n"), encoding="utf-8")
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    runner = CliRunner()
    result = runner.invoke(
        app, ["lettre", "--trimestre", QUARTER, "--apercu", "-p", str(project_dir)]
    )
    assert result.exit_code == 0, result.output
    html_path = project_dir / "sorties" / "lettres" / QUARTER / "lettre.html"
    assert opened == [html_path.resolve().as_uri()]
    assert (html_path.parent / "lettre.txt").is_file()
    assert "Lettre du 4e trimestre 2026 écrite" in result.output
    result = runner.invoke(
        app, ["lettre", "envoyer", "--trimestre", QUARTER, "-p", str(project_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "5 abonnés confirmés" in result.output
    assert "5 messages acceptés" in result.output
    assert len(handler.messages) == 5
    _assert_nothing_leaks(result.output, [])
    result = runner.invoke(
        app, ["lettre", "envoyer", "--trimestre", QUARTER, "-p", str(project_dir)]
    )
    assert "5 adresses déjà servies" in result.output and len(handler.messages) == 5
    result = runner.invoke(
        app,
        ["lettre", "envoyer", "-t", QUARTER, "--essai", "moi@agence.fr", "-p", str(project_dir)],
    )
    assert result.exit_code == 0 and "moi@agence.fr" in result.output
