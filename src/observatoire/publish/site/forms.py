"""The write side of the served site: newsletter sign-up, event registration, attendee export.

:func:`form_routes` returns the Starlette routes that :func:`~observatoire.publish.site.server.
create_app` mounts next to the read-only pages:

- ``/lettre/inscription`` (GET form, POST sign-up): double opt-in through
  :class:`~observatoire.publish.audience.Audience`; when a confirmation is due, a message
  carrying ``<adresse_site>/lettre/confirmer?jeton=…`` is sent *after* the response (the
  answer, and its timing, are the same whether the address was known or not: no enumeration);
  the same address gets at most one confirmation message every ten minutes;
- ``/lettre/confirmer?jeton=…`` (GET): the signed token confirms the sign-up;
- ``/lettre/desinscrire?jeton=…``: GET shows one button, POST unsubscribes — also the
  RFC 8058 one-click POST (``List-Unsubscribe=One-Click``) a mail client sends by itself;
- ``/evenements/{slug}/inscription`` (GET form, POST registration): the capacity is enforced by
  :meth:`Audience.register` inside one ``IMMEDIATE`` transaction (nothing is counted here before
  inserting), a full event or an address already registered is a 409 page; a confirmation
  message (title, French date and time, place) follows a registration; registrations close
  when the event starts (at the end of its day when it has no time) or with
  ``inscriptions: fermees``;
- ``/evenements/{slug}/inscrits.csv`` (GET): the attendees for the organiser, only with
  ``Authorization: Bearer <jeton du serveur>`` (404 when the server has no token, 401 for a
  wrong or missing one); ``;`` separator, UTF-8 with a BOM, for Excel.

Privacy: no e-mail address is written in a log line (every message is scrubbed) nor shown in
a page — not even back to the person who typed it; pages are French, HTML-escaped, carry no
third-party resource and are sent with ``Cache-Control: no-store``. Request bodies are
limited to :data:`MAX_BODY` bytes; a hidden field (:data:`HONEYPOT`) filled in marks a robot,
which gets the ordinary answer while nothing is recorded.

Events are read from ``contenus/evenements`` when the routes are created (restart the server
to take a new event into account), like the rest of the served site; the store
(``communication.sqlite`` and the signing secret) is opened at the first form request.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import io
import logging
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from observatoire.errors import InputError
from observatoire.project import Project
from observatoire.publish.audience import Audience, RegistrationError, Subscriber, valid_email
from observatoire.publish.contents import Content, load_contents
from observatoire.publish.mail import Mailer, MailError, check_config, message
from observatoire.publish.site.editorial import fr_event
from observatoire.publish.site.pages import text_on
from observatoire.settings import Mailing

MAX_BODY = 16 * 1024
"""Largest accepted request body (bytes): the forms hold a few short fields."""
MAX_FIELDS = 20
HONEYPOT = "site_web"
"""Name of the hidden field that people never fill in and robots do."""
RESEND_AFTER = 600.0
"""Seconds before the same address can be sent another newsletter confirmation."""

log = logging.getLogger(__name__)
_ADDRESS = re.compile(r"[^\s<>\"'(),;:\[\]@]+@[^\s<>\"'(),;:\[\]@]+")
_NO_STORE = {"Cache-Control": "no-store"}
_INVALID_EMAIL = "Adresse e-mail invalide : vérifiez qu'elle est complète et sans espace."

MailerFactory = Callable[[], AbstractContextManager[Any]]
Endpoint = Callable[[Request], Awaitable[Response]]


def scrub(text: str) -> str:
    """``text`` with every e-mail address replaced by ``[adresse]`` (for log lines)."""
    return _ADDRESS.sub("[adresse]", text)


def _log(level: int, text: str, *args: object) -> None:
    log.log(level, "%s", scrub(text % args if args else text))


POSTS_PER_WINDOW = 20  # form submissions per client address …
WINDOW_SECONDS = 600.0  # … every 10 minutes


class _Refused(Exception):
    """A request answered with a French error page (status, title, sentence)."""

    def __init__(self, status: int, title: str, text: str) -> None:
        super().__init__(title)
        self.status, self.title, self.text = status, title, text


def _clean(text: str, limit: int = 200) -> str:
    """A one-line text: control characters turned to spaces, spaces collapsed."""
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text or "")
    return " ".join(text.split())[:limit]


def _csv_cell(text: str) -> str:
    """A spreadsheet cannot run a cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a form post (first value of each name), at most :data:`MAX_BODY` bytes.

    ``application/x-www-form-urlencoded`` (what browsers send) and ``multipart/form-data``
    without files (what RFC 8058 one-click clients may send); any other body is no field."""
    too_large = _Refused(
        413, "Formulaire trop volumineux", "Le formulaire envoyé dépasse la taille autorisée."
    )
    invalid = _Refused(400, "Formulaire illisible", "Le formulaire envoyé n'a pas pu être lu.")
    length = request.headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise invalid
        if int(length) > MAX_BODY:
            raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise too_large
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    pairs: Iterable[tuple[str, Any]] = ()
    if kind == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(
                bytes(body).decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise invalid from exc
    elif kind == "multipart/form-data":
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        try:
            form = await Request(request.scope, replay).form(
                max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_BODY
            )
        except (HTTPException, MultiPartException) as exc:
            raise invalid from exc
        pairs = form.multi_items()
    fields: dict[str, str] = {}
    for name, value in pairs:
        if isinstance(value, str):
            fields.setdefault(name, value)
    return fields


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("observatoire.publish.site", "templates/forms"),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), disabled_extensions=("txt.j2",), default=True
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


class _Forms:
    """State shared by the routes of one application."""

    def __init__(
        self,
        project: Project,
        *,
        token: str | None,
        mailer_factory: MailerFactory | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.root = project.root
        self._audience: Audience | None = None
        self.posts_per_window = POSTS_PER_WINDOW
        self._posts: dict[str, list[float]] = {}
        self._throttle_lock = threading.Lock()
        self.events: dict[str, Content] = {
            event.slug: event for event in load_contents(project).of("evenements")
        }
        self.mailing: Mailing = project.settings.mailing
        self.site_url = self.mailing.site_url.rstrip("/")
        self.token = token or None
        self.clock = clock
        self.mailer_factory: MailerFactory = mailer_factory or (lambda: Mailer(self.mailing))
        self.can_mail = True
        try:
            if mailer_factory is None:
                check_config(self.mailing)
            elif not self.site_url:
                raise MailError("réglage adresse_site absent de la section [lettre]")
        except MailError as exc:
            self.can_mail = False
            _log(logging.INFO, "lettre : inscriptions fermées, aucun message envoyé (%s)", exc)
        charte = project.settings.charte
        self.site = {
            "titre": charte.titre,
            "nom": project.settings.nom,
            "principale": charte.couleur_principale,
            "secondaire": charte.couleur_secondaire,
            "texte_entete": text_on(charte.couleur_principale),
        }
        self._sent: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def audience(self) -> Audience:
        """The store, opened at the first form request (serving the read-only pages never
        creates ``communication.sqlite`` nor the secret in the project)."""
        if self._audience is None:
            with self._lock:
                if self._audience is None:
                    self._audience = Audience(self.root)
        return self._audience

    # ------------------------------------------------------------------ rendering

    def render(self, template: str, **values: Any) -> str:
        return _environment().get_template(template).render(site=self.site, **values)

    def page(
        self,
        template: str,
        *,
        root: str,
        status: int = 200,
        background: BackgroundTask | None = None,
        **values: Any,
    ) -> HTMLResponse:
        html = self.render(template, root=root, honeypot=HONEYPOT, **values)
        return HTMLResponse(html, status_code=status, headers=_NO_STORE, background=background)

    def message(
        self,
        title: str,
        *paragraphs: str,
        root: str,
        status: int = 200,
        links: Iterable[tuple[str, str]] = (),
        alert: bool = False,
        background: BackgroundTask | None = None,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        response = self.page(
            "message.html.j2",
            root=root,
            status=status,
            background=background,
            title=title,
            paragraphs=paragraphs,
            links=list(links),
            alert=alert,
        )
        response.headers.update(headers or {})
        return response

    def _throttle(self, request: Request) -> None:
        """At most ``posts_per_window`` form submissions per client address every
        ``WINDOW_SECONDS`` (in memory, per process): filling an event or sending mail in a
        loop from one address is refused with 429."""
        client = request.client.host if request.client else "?"
        now = time.monotonic()
        with self._throttle_lock:
            recent = [t for t in self._posts.get(client, []) if now - t < WINDOW_SECONDS]
            if len(recent) >= self.posts_per_window:
                self._posts[client] = recent
                raise _Refused(
                    429,
                    "Trop de demandes",
                    "Trop de formulaires envoyés depuis votre connexion : réessayez dans "
                    "quelques minutes.",
                )
            recent.append(now)
            self._posts[client] = recent

    def guard(self, handler: Endpoint, *, root: str) -> Endpoint:
        """``handler`` whose refusals become French pages and whose failures are logged
        without any personal data (a 500 page, never a trace shown)."""

        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            try:
                if request.method == "POST":
                    self._throttle(request)
                return await handler(request)
            except _Refused as refused:
                return self.message(
                    refused.title, refused.text, root=root, status=refused.status, alert=True
                )
            except Exception as exc:
                _log(
                    logging.ERROR,
                    "%s %s : erreur %s",
                    request.method,
                    request.url.path,
                    exc.__class__.__name__,
                )
                return self.message(
                    "Erreur du serveur",
                    "La demande n'a pas pu être traitée. Réessayez dans quelques minutes.",
                    root=root,
                    status=500,
                    alert=True,
                )

        return endpoint

    # ------------------------------------------------------------------ e-mail

    def _deliver(self, what: str, ident: int, build: Callable[[Mailing], EmailMessage]) -> None:
        """Send one message (run after the response); failures are logged, never raised."""
        try:
            with self.mailer_factory() as mailer:
                mailer.send(build(getattr(mailer, "config", self.mailing)))
        except MailError as exc:
            _log(logging.WARNING, "%s n° %d : message non envoyé (%s)", what, ident, exc)
        except Exception as exc:
            _log(
                logging.ERROR,
                "%s n° %d : message non envoyé (erreur %s)",
                what,
                ident,
                exc.__class__.__name__,
            )
        else:
            _log(logging.INFO, "%s n° %d : message de confirmation envoyé", what, ident)

    def _first_in_a_while(self, email: str) -> bool:
        """Whether a newsletter confirmation may go to ``email`` now (one per
        :data:`RESEND_AFTER` seconds; keyed by a keyed hash, not the address)."""
        key = hmac.new(self.audience.secret, email.encode(), hashlib.sha256).hexdigest()
        now = time.monotonic()
        with self._lock:
            if len(self._sent) > 10_000:
                self._sent = {k: t for k, t in self._sent.items() if now - t < RESEND_AFTER}
            last = self._sent.get(key)
            if last is not None and now - last < RESEND_AFTER:
                return False
            self._sent[key] = now
            return True

    def _confirmation(self, subscriber: Subscriber) -> Callable[[Mailing], EmailMessage]:
        token = self.audience.token("confirmer", subscriber.id, subscriber.email)
        link = f"{self.site_url}/lettre/confirmer?jeton={token}"
        values = {"link": link}

        def build(config: Mailing) -> EmailMessage:
            return message(
                config,
                to=subscriber.email,
                subject=f"Confirmez votre inscription à la lettre de {self.site['titre']}",
                text=self.render("mail_lettre.txt.j2", **values),
                html=self.render("mail_lettre.html.j2", **values),
                key=f"confirmer:{subscriber.id}:{secrets.token_hex(8)}",
                headers={"Auto-Submitted": "auto-generated"},
            )

        return build

    def _registration_mail(
        self, event: Content, name: str, email: str, ident: int
    ) -> Callable[[Mailing], EmailMessage]:
        values = {
            "event": event,
            "name": name,
            "when": fr_event(event) if event.date else "",
            "link": f"{self.site_url}/{event.url}" if self.site_url else "",
        }

        def build(config: Mailing) -> EmailMessage:
            return message(
                config,
                to=email,
                subject=f"Inscription confirmée : {event.title}",
                text=self.render("mail_evenement.txt.j2", **values),
                html=self.render("mail_evenement.html.j2", **values),
                key=f"inscription:{event.slug}:{ident}",
                headers={"Auto-Submitted": "auto-generated"},
            )

        return build

    # ------------------------------------------------------------------ newsletter

    def _signup_closed(self) -> HTMLResponse:
        return self.message(
            "Lettre d'information",
            "Les inscriptions à la lettre d'information ne sont pas ouvertes sur ce site.",
            root="../",
            status=503,
        )

    async def signup(self, request: Request) -> Response:
        title = "S'inscrire à la lettre d'information"
        if not self.can_mail:
            return self._signup_closed()
        if request.method != "POST":
            return self.page("lettre_inscription.html.j2", root="../", title=title, error="")
        fields = await read_form(request)
        done = self.message(
            "Vérifiez votre messagerie",
            "Merci. Si cette adresse peut recevoir la lettre, un message vient de lui être "
            "envoyé : suivez son lien pour confirmer l'inscription. Sans confirmation, aucune "
            "lettre ne sera envoyée.",
            "Si vous êtes déjà abonné(e), vous n'avez rien à faire. Le message peut mettre "
            "quelques minutes à arriver ; pensez à regarder dans les indésirables.",
            root="../",
        )
        if fields.get(HONEYPOT, "").strip():
            _log(logging.INFO, "lettre : envoi de robot ignoré (champ piège rempli)")
            return done

        def refuse(error: str) -> Response:
            return self.page(
                "lettre_inscription.html.j2", root="../", title=title, error=error, status=400
            )

        if not fields.get("consentement"):
            return refuse("Cochez la case de consentement pour vous inscrire.")
        try:
            email = valid_email(fields.get("email", "")[:320])
        except InputError:
            return refuse(_INVALID_EMAIL)
        subscriber, due = await run_in_threadpool(self.audience.subscribe, email)
        if due and self._first_in_a_while(email):
            done.background = BackgroundTask(
                self._deliver, "lettre : abonné", subscriber.id, self._confirmation(subscriber)
            )
        _log(logging.INFO, "lettre : demande d'inscription (abonné n° %d)", subscriber.id)
        return done

    async def confirm(self, request: Request) -> Response:
        token = request.query_params.get("jeton", "")
        if request.method != "POST":
            # A GET (a link followed, or prefetched by a mail scanner) changes nothing: the
            # subscriber confirms with the button.
            if await run_in_threadpool(self.audience.check, "confirmer", token):
                return self.page(
                    "lettre_confirmer.html.j2", root="../", title="Confirmer l'inscription"
                )
            raise _bad_link()
        fields = await read_form(request)
        subscriber = await run_in_threadpool(
            self.audience.confirm, token or fields.get("jeton", "")
        )
        if subscriber is None:
            raise _bad_link()
        if subscriber.status != "confirme":
            return self.message(
                "Lien expiré",
                "Cette inscription a été annulée depuis l'envoi du lien. Pour recevoir à "
                "nouveau la lettre, inscrivez-vous une nouvelle fois.",
                root="../",
                status=410,
                links=[("inscription", "S'inscrire à la lettre d'information")],
            )
        _log(logging.INFO, "lettre : inscription confirmée (abonné n° %d)", subscriber.id)
        return self.message(
            "Inscription confirmée",
            "Votre inscription à la lettre d'information est confirmée : vous recevrez la "
            "prochaine lettre.",
            "Chaque lettre contient un lien pour vous désinscrire en un clic.",
            root="../",
        )

    async def unsubscribe(self, request: Request) -> Response:
        token = request.query_params.get("jeton", "")
        if request.method != "POST":
            # A GET (a link followed, or prefetched by a mail scanner) changes nothing.
            if await run_in_threadpool(self.audience.check, "desinscrire", token):
                return self.page("lettre_desinscrire.html.j2", root="../", title="Se désinscrire")
            raise _bad_link()
        fields = await read_form(request)  # RFC 8058: List-Unsubscribe=One-Click, or the button
        subscriber = await run_in_threadpool(
            self.audience.unsubscribe, token or fields.get("jeton", "")
        )
        if subscriber is None:
            raise _bad_link()
        _log(logging.INFO, "lettre : désinscription (abonné n° %d)", subscriber.id)
        return self.message(
            "Désinscription enregistrée",
            "Vous ne recevrez plus la lettre d'information de l'observatoire.",
            root="../",
            links=[("inscription", "Se réinscrire")],
        )

    # ------------------------------------------------------------------ events

    def _event(self, request: Request) -> Content:
        event = self.events.get(request.path_params["slug"])
        if event is None:
            raise _Refused(
                404, "Événement introuvable", "Cet événement n'existe pas ou n'est plus publié."
            )
        return event

    def _closed(self, event: Content) -> bool:
        if not event.registration_open or event.date is None:
            return True
        start = event.date
        timed = (start.hour, start.minute) != (0, 0)
        return self.clock() >= (start if timed else start + timedelta(days=1))

    async def register(self, request: Request) -> Response:
        event = self._event(request)
        root = "../../"
        back = [(f"{root}{event.url}", "Retour à la présentation de l'événement")]
        when = fr_event(event) if event.date else ""
        if self._closed(event):
            return self.message(
                "Inscriptions fermées",
                f"Les inscriptions à « {event.title} » sont fermées.",
                root=root,
                status=403 if request.method == "POST" else 200,
                links=back,
            )

        async def form(error: str = "", values: dict[str, str] | None = None, status: int = 200):
            taken = await run_in_threadpool(self.audience.taken, event.slug)
            remaining = None if event.capacity is None else max(event.capacity - taken, 0)
            if remaining == 0 and not error:
                return self.message(
                    "Événement complet",
                    f"Toutes les places de « {event.title} » sont prises.",
                    root=root,
                    links=back,
                )
            return self.page(
                "evenement_inscription.html.j2",
                root=root,
                status=status,
                title="Inscription à l'événement",
                event=event,
                when=when,
                remaining=remaining,
                error=error,
                values=values or {"nom": "", "organisation": ""},
            )

        if request.method != "POST":
            return await form()
        fields = await read_form(request)
        success = self.message(
            "Inscription enregistrée",
            f"Votre inscription à « {event.title} » est enregistrée.",
            f"{when[:1].upper()}{when[1:]} — {event.place}.",
            "Un message de confirmation vous est envoyé."
            if self.can_mail
            else "Conservez cette page : elle vaut confirmation.",
            root=root,
            links=back,
        )
        if fields.get(HONEYPOT, "").strip():
            _log(logging.INFO, "événement %s : envoi de robot ignoré (champ piège)", event.slug)
            return success
        values = {"nom": _clean(fields.get("nom", "")), "organisation": ""}
        values["organisation"] = _clean(fields.get("organisation", ""))
        if not values["nom"]:
            return await form("Indiquez votre nom.", values, 400)
        if not fields.get("consentement"):
            return await form("Cochez la case de consentement pour vous inscrire.", values, 400)
        try:
            email = valid_email(fields.get("email", "")[:320])
        except InputError:
            return await form(_INVALID_EMAIL, values, 400)
        try:  # the capacity is checked and the row inserted in one transaction
            registration = await run_in_threadpool(
                functools.partial(
                    self.audience.register,
                    event.slug,
                    email=email,
                    name=values["nom"],
                    organisation=values["organisation"],
                    consent=True,
                    capacity=event.capacity,
                )
            )
        except RegistrationError as exc:
            text = str(exc)
            return self.message(
                "Inscription impossible",
                f"{text[:1].upper()}{text[1:]}.",
                root=root,
                status=409,
                links=back,
                alert=True,
            )
        _log(logging.INFO, "événement %s : inscription n° %d", event.slug, registration.id)
        if self.can_mail:
            success.background = BackgroundTask(
                self._deliver,
                f"événement {event.slug} : inscription",
                registration.id,
                self._registration_mail(event, registration.name, email, registration.id),
            )
        return success

    async def attendees(self, request: Request) -> Response:
        if self.token is None:  # no organiser token: the export does not exist
            raise _Refused(404, "Page introuvable", "Cette adresse n'existe pas.")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode(), self.token.encode()
        ):
            return self.message(
                "Accès refusé",
                "Jeton d'accès absent ou invalide : envoyez l'en-tête « Authorization: Bearer "
                "JETON » avec le jeton du serveur (option --jeton).",
                root="../../",
                status=401,
                alert=True,
                headers={"WWW-Authenticate": 'Bearer realm="observatoire"'},
            )
        event = self._event(request)
        rows = await run_in_threadpool(self.audience.registrations, event.slug)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
        writer.writerow(["nom", "organisation", "email", "date_inscription"])
        for row in rows:
            writer.writerow(
                [
                    _csv_cell(row.name),
                    _csv_cell(row.organisation),
                    _csv_cell(row.email),
                    row.created.replace("T", " "),
                ]
            )
        _log(logging.INFO, "événement %s : export des %d inscrits", event.slug, len(rows))
        return Response(
            ("\ufeff" + buffer.getvalue()).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={
                "Cache-Control": "private, no-store",
                "Content-Disposition": f'attachment; filename="inscrits-{event.slug}.csv"',
                "Vary": "Authorization",
            },
        )


def _bad_link() -> _Refused:
    return _Refused(
        400,
        "Lien invalide",
        "Ce lien est invalide ou incomplet : copiez-le en entier depuis le message reçu.",
    )


def form_routes(
    project: Project,
    *,
    token: str | None,
    mailer_factory: MailerFactory | None = None,
    clock: Callable[[], datetime] = datetime.now,
    posts_per_window: int | None = None,
) -> list[Route]:
    """The routes of the forms of ``project`` (see the module's documentation).

    ``token``: the server's access token, which also opens the attendee export (``None``: no
    export); ``mailer_factory()``: a context manager with a ``send(message)`` method (default
    ``Mailer(project.settings.mailing)``); ``clock``: the local time, to close registrations
    once an event has started; ``posts_per_window``: form submissions allowed per client
    address every ``WINDOW_SECONDS`` (default ``POSTS_PER_WINDOW``)."""
    forms = _Forms(project, token=token, mailer_factory=mailer_factory, clock=clock)
    if posts_per_window is not None:
        forms.posts_per_window = posts_per_window
    read_write = ["GET", "POST"]
    return [
        Route("/lettre/inscription", forms.guard(forms.signup, root="../"), methods=read_write),
        Route("/lettre/confirmer", forms.guard(forms.confirm, root="../"), methods=read_write),
        Route(
            "/lettre/desinscrire", forms.guard(forms.unsubscribe, root="../"), methods=read_write
        ),
        Route(
            "/evenements/{slug}/inscription",
            forms.guard(forms.register, root="../../"),
            methods=read_write,
        ),
        Route(
            "/evenements/{slug}/inscrits.csv",
            forms.guard(forms.attendees, root="../../"),
            methods=["GET"],
        ),
    ]
