"""The write side of the served site: newsletter double opt-in, one-click unsubscribe, event
registration (capacity under concurrent requests), attendee export, privacy of logs and pages.

Each test works on a copy of the demo project's settings, territories and contents (the
warehouse is not needed by the forms); messages go to a local SMTP server (aiosmtpd on
127.0.0.1) and are read back from it."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from observatoire.project import Project, init_project, open_project
from observatoire.publish.audience import Audience
from observatoire.publish.mail import Mailer
from observatoire.publish.site.forms import MAX_BODY, form_routes, scrub
from observatoire.settings import Mailing

TOKEN = "jeton-organisateur-assez-long"
SITE_URL = "http://observatoire.test"
ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
SMALL = "atelier-test"  # capacity 5, registrations open, in a month
PAST = "atelier-passe"  # registrations open but the date has passed
WHEN = "jeudi 10 décembre 2026 de 18\u00a0h à 20\u00a0h"  # the agenda's French dates
FIXED_NOW = datetime(2026, 11, 1, 12, 0)  # before the demo's conference (2026-12-10 18:00)


# --------------------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Inbox:
    """Messages received by the local SMTP server."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(msg)
        return "250 OK"

    def wait(self, count: int, timeout: float = 10.0) -> list:
        deadline = time.time() + timeout
        while len(self.messages) < count and time.time() < deadline:
            time.sleep(0.05)
        return list(self.messages)


@pytest.fixture(scope="module")
def smtp():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def inbox(smtp) -> Inbox:
    box, _ = smtp
    with box.lock:
        box.messages.clear()
    return box


@pytest.fixture
def mailing(smtp) -> Mailing:
    _, port = smtp
    return Mailing(
        site_url=SITE_URL,
        sender="Agence d'urbanisme <lettre@agence.test>",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="aucune",
        rate_per_minute=100000,
    )


def _event_file(title: str, when: datetime, capacity: int | None, status: str) -> str:
    capacity_line = f"capacite: {capacity}\n" if capacity else ""
    return (
        f"---\ntitre: {title}\ndate: {when:%Y-%m-%d %H:%M}\nlieu: Arras, salle du conseil\n"
        f"resume: Atelier de test.\n{capacity_line}inscriptions: {status}\n---\nAtelier.\n"
    )


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project's settings, territories and contents — what ``observatoire demo``
    starts from (``init_project(example="artois")``), without its warehouse and outputs,
    which the forms never read."""
    return init_project(tmp_path_factory.mktemp("demo") / "artois", example="artois")


def _copy(demo_files: Path, root: Path) -> Path:
    shutil.copytree(demo_files, root, ignore=shutil.ignore_patterns("*.sqlite*", ".obs*"))
    return root


@pytest.fixture
def project(demo_files: Path, tmp_path: Path, mailing: Mailing) -> Project:
    """A copy of the demo project with a [lettre] section and two more events: a small one
    in a month, and a past one."""
    root = _copy(demo_files, tmp_path / "projet")
    with (root / "observatoire.toml").open("a", encoding="utf-8") as handle:
        handle.write(
            f'\n[lettre]\nadresse_site = "{mailing.site_url}"\nexpediteur = "{mailing.sender}"\n'
            f'smtp_hote = "127.0.0.1"\nsmtp_port = {mailing.smtp_port}\nsmtp_securite = "aucune"\n'
        )
    events = root / "contenus" / "evenements"
    soon = (datetime.now() + timedelta(days=30)).replace(hour=9, minute=30)
    (events / f"{SMALL}.md").write_text(
        _event_file("Atelier de test", soon, 5, "ouvertes"), encoding="utf-8"
    )
    (events / f"{PAST}.md").write_text(
        _event_file("Atelier passé", datetime(2020, 1, 6, 10, 0), 10, "ouvertes"),
        encoding="utf-8",
    )
    return open_project(root)


class Recorder:
    """A test client that keeps every response, to check none shows an address."""

    def __init__(self, app) -> None:
        self.app = app
        self.client = TestClient(app)
        self.responses: list[httpx.Response] = []

    def __getattr__(self, verb: str):
        method = getattr(self.client, verb)

        def call(*args, **kwargs):
            response = method(*args, **kwargs)
            self.responses.append(response)
            return response

        return call


@pytest.fixture
def client(project: Project, mailing: Mailing) -> Recorder:
    routes = form_routes(
        project,
        token=TOKEN,
        mailer_factory=lambda: Mailer(mailing),
        clock=lambda: FIXED_NOW,
        posts_per_window=1000,
    )
    return Recorder(Starlette(routes=routes))


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def _assert_private(client: Recorder, logs, addresses: list[str] = ()) -> None:
    """No e-mail address in any response nor in any log line of the application, the server
    or the HTTP client (the test SMTP server's own log, ``mail.log``, is not ours)."""
    for response in client.responses:
        found = ADDRESS.findall(response.text)
        assert not found, (response.request.url.path, found)
        assert response.headers.get("cache-control") in ("no-store", "private, no-store")
    lines = [r.getMessage() for r in logs.records if not r.name.startswith("mail.log")]
    for line in lines:
        assert not ADDRESS.search(line), line
        for address in addresses:
            assert address.lower() not in line.lower(), line


def _link(msg) -> str:
    text = msg.get_body(("plain",)).get_content()
    match = re.search(rf"{re.escape(SITE_URL)}(/lettre/confirmer\?jeton=[0-9a-f.]+)", text)
    assert match, text
    return match.group(1)


def _status(project: Project, address: str) -> str | None:
    import sqlite3

    Audience(project.root)  # the store, created if no form was used yet
    con = sqlite3.connect(project.root / "communication.sqlite")
    try:
        row = con.execute("SELECT statut FROM abonnes WHERE email = ?", (address,)).fetchone()
    finally:
        con.close()
    return row[0] if row else None


def _signup(client: Recorder, address: str, **extra: str) -> httpx.Response:
    return client.post(
        "/lettre/inscription", data={"email": address, "consentement": "oui", **extra}
    )


# --------------------------------------------------------------------------- newsletter


def test_double_opt_in_end_to_end(client: Recorder, project: Project, inbox: Inbox, logs):
    form = client.get("/lettre/inscription")
    assert form.status_code == 200
    assert 'name="email"' in form.text and 'name="consentement"' in form.text
    assert 'name="site_web"' in form.text  # the honeypot
    assert not re.search(r'(src|href)="(https?:)?//', form.text)  # no third-party resource
    assert "<form" in form.text and "action=" not in form.text  # posts to itself

    first = _signup(client, "Camille.Martin@Exemple.fr")
    assert first.status_code == 200
    assert "Vérifiez votre messagerie" in first.text
    assert _status(project, "camille.martin@exemple.fr") == "en_attente"
    [msg] = inbox.wait(1)
    assert msg["To"] == "camille.martin@exemple.fr"
    assert "Confirmez votre inscription" in msg["Subject"]
    assert msg.get_body(("html",)) is not None
    link = _link(msg)
    assert link in msg.get_body(("html",)).get_content()

    # following the link (or a mail scanner prefetching it) changes nothing: a button does
    shown = client.get(link)
    assert shown.status_code == 200 and "Confirmer mon inscription" in shown.text
    assert _status(project, "camille.martin@exemple.fr") == "en_attente"
    confirmed = client.post(link)
    assert confirmed.status_code == 200
    assert "Inscription confirmée" in confirmed.text
    assert _status(project, "camille.martin@exemple.fr") == "confirme"
    assert client.post(link).status_code == 200  # a second click changes nothing

    # the same neutral answer for a confirmed address (no message) and a new one
    again = _signup(client, "camille.martin@exemple.fr")
    other = _signup(client, "dominique.petit@exemple.fr")
    assert again.status_code == other.status_code == 200
    assert again.text == other.text == first.text
    messages = inbox.wait(2)
    assert [m["To"] for m in messages] == [
        "camille.martin@exemple.fr",
        "dominique.petit@exemple.fr",
    ]
    _assert_private(client, logs, ["camille.martin@exemple.fr", "dominique.petit@exemple.fr"])


def test_pending_address_gets_one_confirmation_per_ten_minutes(client: Recorder, inbox: Inbox):
    for _ in range(3):
        assert _signup(client, "alex@exemple.fr").status_code == 200
    time.sleep(0.3)
    assert len(inbox.messages) == 1


def test_invalid_submissions_are_refused_in_french(
    client: Recorder, project: Project, inbox: Inbox, logs
):
    no_consent = client.post("/lettre/inscription", data={"email": "a@exemple.fr"})
    assert no_consent.status_code == 400 and "consentement" in no_consent.text
    bad = client.post("/lettre/inscription", data={"email": "pas une adresse", "consentement": "1"})
    assert bad.status_code == 400 and "Adresse e-mail invalide" in bad.text
    assert "pas une adresse" not in bad.text  # nothing typed is echoed back

    robot = _signup(client, "robot@exemple.fr", site_web="http://spam.example")
    assert robot.status_code == 200 and "Vérifiez votre messagerie" in robot.text
    assert _status(project, "robot@exemple.fr") is None

    huge = client.post(
        "/lettre/inscription",
        content=b"email=a%40exemple.fr&consentement=oui&x=" + b"a" * MAX_BODY,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413 and "trop volumineux" in huge.text
    with_file = client.post(
        "/lettre/inscription",
        data={"email": "a@exemple.fr", "consentement": "oui"},
        files={"piece": ("x.txt", b"contenu")},
    )
    assert with_file.status_code == 400 and "Formulaire illisible" in with_file.text
    multipart = client.post(
        "/lettre/inscription",
        files={"email": (None, "multi@exemple.fr"), "consentement": (None, "oui")},
    )
    assert multipart.status_code == 200
    assert _status(project, "multi@exemple.fr") == "en_attente"
    time.sleep(0.3)
    assert [m["To"] for m in inbox.messages] == ["multi@exemple.fr"]
    _assert_private(client, logs)


def test_forged_or_altered_tokens_are_refused(client: Recorder, project: Project, inbox: Inbox):
    _signup(client, "victime@exemple.fr")
    _signup(client, "attaquant@exemple.fr")
    victim, attacker = inbox.wait(2)
    assert victim["To"] == "victime@exemple.fr"
    victim_id = int(_link(victim).split("=")[1].split(".")[0])
    own = _link(attacker).split("=", 1)[1]  # the attacker's valid token
    ident, signature = own.split(".")
    audience = Audience(project.root)
    foreign = Audience(project.root, secret=b"un autre secret")
    forged = [
        f"{victim_id}.{signature}",  # the attacker's signature on the victim's id
        f"{ident}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}",  # one digit changed
        f"{victim_id}.{'0' * 32}",
        foreign.token("confirmer", victim_id, "victime@exemple.fr"),  # another secret
        audience.token("desinscrire", victim_id, "victime@exemple.fr"),  # another purpose
        audience.token("confirmer", victim_id, "attaquant@exemple.fr"),  # another address
        "",
        "1",
        "abc.def",
        "1." + "g" * 32,
        "<script>",
    ]
    for token in forged:
        response = client.get("/lettre/confirmer", params={"jeton": token})
        assert response.status_code == 400, token
        assert "Lien invalide" in response.text
        assert "<script>" not in response.text
    assert _status(project, "victime@exemple.fr") == "en_attente"

    client.post(_link(victim))  # the victim confirms
    unsubscribe_forged = [
        audience.token("confirmer", victim_id, "victime@exemple.fr"),  # wrong purpose
        foreign.token("desinscrire", victim_id, "victime@exemple.fr"),
        f"{victim_id}.{audience.token('desinscrire', int(ident), 'attaquant@exemple.fr')[-32:]}",
    ]
    for token in unsubscribe_forged:
        assert client.get("/lettre/desinscrire", params={"jeton": token}).status_code == 400
        posted = client.post(
            f"/lettre/desinscrire?jeton={token}", data={"List-Unsubscribe": "One-Click"}
        )
        assert posted.status_code == 400 and "Lien invalide" in posted.text
    assert (
        client.post("/lettre/desinscrire", data={"List-Unsubscribe": "One-Click"}).status_code
        == 400
    )
    assert _status(project, "victime@exemple.fr") == "confirme"


def test_one_click_unsubscribe(client: Recorder, project: Project, inbox: Inbox, logs):
    audience = Audience(project.root)
    people = ["un@exemple.fr", "deux@exemple.fr", "trois@exemple.fr"]
    tokens = {}
    for address in people:
        _signup(client, address)
    for msg in inbox.wait(3):
        client.post(_link(msg))
    for subscriber in audience.confirmed():
        tokens[subscriber.email] = audience.token("desinscrire", subscriber.id, subscriber.email)
    assert set(tokens) == set(people)

    # the page of the link: one button, nothing changed yet (a mail scanner may open it)
    page = client.get("/lettre/desinscrire", params={"jeton": tokens["un@exemple.fr"]})
    assert page.status_code == 200 and "Me désinscrire" in page.text
    assert _status(project, "un@exemple.fr") == "confirme"
    # the button posts the page's own address (jeton in the query string)
    button = client.post(f"/lettre/desinscrire?jeton={tokens['un@exemple.fr']}")
    assert button.status_code == 200 and "Désinscription enregistrée" in button.text
    assert _status(project, "un@exemple.fr") == "desinscrit"

    # RFC 8058: the mail client posts List-Unsubscribe=One-Click to the header's address
    urlencoded = client.post(
        f"/lettre/desinscrire?jeton={tokens['deux@exemple.fr']}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert urlencoded.status_code == 200
    multipart = client.post(
        f"/lettre/desinscrire?jeton={tokens['trois@exemple.fr']}",
        files={"List-Unsubscribe": (None, "One-Click")},
    )
    assert multipart.status_code == 200
    assert [_status(project, a) for a in people] == ["desinscrit"] * 3
    assert audience.confirmed() == []

    # an old confirmation link no longer re-subscribes; signing up again does
    stale = audience.token("confirmer", 1, "un@exemple.fr")
    assert client.post("/lettre/confirmer", params={"jeton": stale}).status_code == 410
    _signup(client, "un@exemple.fr")
    assert _status(project, "un@exemple.fr") == "en_attente"
    _assert_private(client, logs, people)


def test_newsletter_closed_without_mail_settings(demo_files: Path, tmp_path: Path):
    root = _copy(demo_files, tmp_path / "projet")
    app = Starlette(routes=form_routes(open_project(root), token=None))
    client = TestClient(app)
    assert client.get("/lettre/inscription").status_code == 503
    refused = _signup(Recorder(app), "a@exemple.fr")
    assert refused.status_code == 503 and "ne sont pas ouvertes" in refused.text


def test_a_mail_failure_answers_the_same_page_and_logs_no_address(
    project: Project, mailing: Mailing, logs
):
    from dataclasses import replace

    down = replace(mailing, smtp_port=_free_port())  # nobody listens there
    client = Recorder(
        Starlette(routes=form_routes(project, token=None, mailer_factory=lambda: Mailer(down)))
    )
    response = _signup(client, "perdu@exemple.fr")
    assert response.status_code == 200 and "Vérifiez votre messagerie" in response.text
    assert any("message non envoyé" in r.getMessage() for r in logs.records)
    _assert_private(client, logs, ["perdu@exemple.fr"])


# --------------------------------------------------------------------------- events


def test_event_registration_form_and_confirmation(
    client: Recorder, project: Project, inbox: Inbox, logs
):
    page = client.get("/evenements/conference-centralites/inscription")
    assert page.status_code == 200
    assert "Places restantes : 80 sur 80" in page.text
    assert WHEN in page.text
    assert "Saint-Pol-sur-Ternoise, salle des fêtes" in page.text
    for field_name in ("nom", "organisation", "email", "consentement", "site_web"):
        assert f'name="{field_name}"' in page.text
    assert 'href="../../evenements/conference-centralites.html"' in page.text

    ok = client.post(
        "/evenements/conference-centralites/inscription",
        data={
            "nom": "Claude Durand",
            "organisation": "Mairie de Béthune",
            "email": "claude.durand@exemple.fr",
            "consentement": "oui",
        },
    )
    assert ok.status_code == 200 and "Inscription enregistrée" in ok.text
    [msg] = inbox.wait(1)
    assert msg["To"] == "claude.durand@exemple.fr"
    assert "Conférence-débat" in msg["Subject"]
    text = msg.get_body(("plain",)).get_content()
    assert "Bonjour," in text and "Claude Durand" not in text  # no typed name in the mail
    assert WHEN in text
    assert "Saint-Pol-sur-Ternoise, salle des fêtes" in text
    assert f"{SITE_URL}/evenements/conference-centralites.html" in text
    assert "jeudi 10 décembre 2026" in msg.get_body(("html",)).get_content()
    assert "79 sur 80" in client.get("/evenements/conference-centralites/inscription").text

    duplicate = client.post(
        "/evenements/conference-centralites/inscription",
        data={"nom": "Autre", "email": "CLAUDE.DURAND@exemple.fr", "consentement": "oui"},
    )
    assert duplicate.status_code == 409 and "déjà inscrite" in duplicate.text

    invalid = client.post(
        "/evenements/conference-centralites/inscription",
        data={"nom": "<b>Léa</b>", "organisation": "Ville", "email": "x", "consentement": "oui"},
    )
    assert invalid.status_code == 400 and "Adresse e-mail invalide" in invalid.text
    assert "&lt;b&gt;Léa&lt;/b&gt;" in invalid.text and "<b>Léa" not in invalid.text
    no_name = client.post(
        "/evenements/conference-centralites/inscription",
        data={"nom": " ", "email": "lea@exemple.fr", "consentement": "oui"},
    )
    assert no_name.status_code == 400 and "Indiquez votre nom" in no_name.text
    no_consent = client.post(
        "/evenements/conference-centralites/inscription",
        data={"nom": "Léa", "email": "lea@exemple.fr"},
    )
    assert no_consent.status_code == 400 and "consentement" in no_consent.text
    robot = client.post(
        "/evenements/conference-centralites/inscription",
        data={"nom": "R", "email": "r@exemple.fr", "consentement": "oui", "site_web": "x"},
    )
    assert robot.status_code == 200
    assert Audience(project.root).taken("conference-centralites") == 1
    time.sleep(0.3)
    assert len(inbox.messages) == 1
    _assert_private(client, logs, ["claude.durand@exemple.fr"])


def test_unknown_closed_and_past_events(client: Recorder, project: Project):
    unknown = client.get("/evenements/inconnu/inscription")
    assert unknown.status_code == 404 and "Événement introuvable" in unknown.text
    assert client.post("/evenements/inconnu/inscription", data={}).status_code == 404
    closed = client.get("/evenements/club-observatoire/inscription")  # inscriptions: fermees
    assert closed.status_code == 200 and "Inscriptions fermées" in closed.text
    assert "<form" not in closed.text
    past = client.get(f"/evenements/{PAST}/inscription")
    assert "Inscriptions fermées" in past.text and "<form" not in past.text
    refused = client.post(
        f"/evenements/{PAST}/inscription",
        data={"nom": "A", "email": "a@exemple.fr", "consentement": "oui"},
    )
    assert refused.status_code == 403
    assert Audience(project.root).taken(PAST) == 0


def test_registrations_close_when_the_event_starts(project: Project, mailing: Mailing):
    start = datetime(2026, 12, 10, 18, 0)
    for now, status in ((start - timedelta(minutes=1), 200), (start, 403)):
        routes = form_routes(project, token=None, clock=lambda now=now: now)
        response = TestClient(Starlette(routes=routes)).post(
            "/evenements/conference-centralites/inscription",
            data={"nom": "A", "email": f"a{status}@exemple.fr", "consentement": "oui"},
        )
        assert response.status_code == status


@pytest.fixture
def live_server(project: Project, mailing: Mailing):
    """The form routes behind a real uvicorn server on 127.0.0.1 (access log on, through the
    standard logging so that the test sees it)."""
    import uvicorn

    # An earlier uvicorn run in the session (default logging config) may have stopped its
    # loggers from reaching the root, where caplog listens: let them through for this test.
    saved = {}
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        saved[name] = (logger.propagate, logger.disabled, logger.level)
        logger.propagate, logger.disabled = True, False
        logger.setLevel(logging.INFO)
    app = Starlette(
        routes=form_routes(
            project, token=TOKEN, mailer_factory=lambda: Mailer(mailing), posts_per_window=1000
        )
    )
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, log_level="info", access_log=True
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    for name, (propagate, disabled, level) in saved.items():
        logger = logging.getLogger(name)
        logger.propagate, logger.disabled = propagate, disabled
        logger.setLevel(level)


def test_capacity_holds_under_concurrent_registrations(
    live_server: str, project: Project, inbox: Inbox, logs
):
    people = [f"participant{i:02d}@exemple.fr" for i in range(30)]
    barrier = threading.Barrier(len(people))
    results: dict[str, httpx.Response] = {}

    def submit(address: str) -> None:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            barrier.wait()
            results[address] = http.post(
                f"/evenements/{SMALL}/inscription",
                data={"nom": address.split("@")[0], "email": address, "consentement": "oui"},
            )

    threads = [threading.Thread(target=submit, args=(a,)) for a in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    statuses = sorted(r.status_code for r in results.values())
    assert len(statuses) == 30
    assert statuses.count(200) == 5 and statuses.count(409) == 25, statuses
    assert all("complet" in r.text for r in results.values() if r.status_code == 409)
    registered = Audience(project.root).registrations(SMALL)
    assert len(registered) == 5
    winners = {a for a, r in results.items() if r.status_code == 200}
    assert {r.email for r in registered} == winners
    received = inbox.wait(5)
    assert sorted(m["To"] for m in received) == sorted(winners)

    with httpx.Client(base_url=live_server) as http:
        full = http.get(f"/evenements/{SMALL}/inscription")
    assert full.status_code == 200 and "Événement complet" in full.text
    for response in [*results.values(), full]:
        assert not ADDRESS.search(response.text)
    access = [r for r in logs.records if r.name == "uvicorn.access"]
    assert len(access) >= 31  # the server did log every request…
    lines = [r.getMessage() for r in logs.records if not r.name.startswith("mail.log")]
    assert not [line for line in lines if ADDRESS.search(line)]  # …and no address anywhere


# --------------------------------------------------------------------------- export


def test_attendee_export_requires_the_server_token(
    client: Recorder, project: Project, inbox: Inbox, logs
):
    url = "/evenements/conference-centralites/inscrits.csv"
    for name, organisation, address in (
        ("Claude Durand", "Mairie de Béthune", "claude@exemple.fr"),
        ("=HYPERLINK(1)", "+33 Agence", "formule@exemple.fr"),
    ):
        client.post(
            "/evenements/conference-centralites/inscription",
            data={"nom": name, "organisation": organisation, "email": address, "consentement": "1"},
        )
    assert client.get(url).status_code == 401
    wrong = client.get(url, headers={"Authorization": "Bearer mauvais-jeton"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    assert "Accès refusé" in wrong.text
    assert client.get(url, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get(url, headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    unknown = client.get(
        "/evenements/inconnu/inscrits.csv", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert unknown.status_code == 404

    export = TestClient(client.app).get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert export.status_code == 200
    assert export.headers["cache-control"] == "private, no-store"
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    assert export.content.startswith(b"\xef\xbb\xbf")
    lines = export.content.decode("utf-8-sig").split("\r\n")
    assert lines[0] == "nom;organisation;email;date_inscription"
    assert lines[1].startswith("Claude Durand;Mairie de Béthune;claude@exemple.fr;20")
    assert lines[2].startswith("'=HYPERLINK(1);'+33 Agence;formule@exemple.fr;")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", lines[1].split(";")[3])
    assert lines[3:] == [""]
    _assert_private(client, logs, ["claude@exemple.fr", "formule@exemple.fr"])

    # a server started without a token has no export at all
    bare = TestClient(Starlette(routes=form_routes(project, token=None)))
    assert bare.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


# --------------------------------------------------------------------------- helpers


def test_log_lines_are_scrubbed() -> None:
    assert (
        scrub("refusé par smtp pour lettre@agence.fr (x)") == "refusé par smtp pour [adresse] (x)"
    )
    assert scrub("abonné n° 12, jeton 12.0a1b") == "abonné n° 12, jeton 12.0a1b"


def test_form_submissions_are_throttled_per_client(project: Project, mailing: Mailing) -> None:
    from observatoire.publish.site.forms import POSTS_PER_WINDOW

    routes = form_routes(project, token=None, mailer_factory=lambda: Mailer(mailing))
    client = TestClient(Starlette(routes=routes))
    codes = [
        client.post("/lettre/inscription", data={"email": f"p{i}@exemple.fr"}).status_code
        for i in range(POSTS_PER_WINDOW + 1)
    ]
    assert 429 not in codes[:POSTS_PER_WINDOW] and codes[-1] == 429
