"""The agency's audience: newsletter subscribers, event registrations, sending journal.

Stored in ``communication.sqlite`` in the project folder (SQLite in WAL mode: the served site
writes to it from several threads and processes; each write is one short transaction), never
in the warehouse, never in the static site, never in logs.

- ``abonnes``: ``id, email (unique, lower case), statut (en_attente, confirme, desinscrit),
  cree, confirme, desinscrit`` — double opt-in: a sign-up is ``en_attente`` until its
  confirmation link is followed; an unsubscribe link works in one click.
- ``inscriptions``: ``id, evenement, email, nom, organisation, consentement, cree`` — one per
  e-mail and event; :meth:`Audience.register` enforces the event's capacity inside an
  ``IMMEDIATE`` transaction, so concurrent submissions never exceed it.
- ``envois``: ``campagne, email, statut, horodatage`` — the sending journal of the newsletter
  (:mod:`observatoire.publish.newsletter`): an address is written ``en_cours`` before its
  message is handed to the SMTP server and ``envoye`` after; a resumed campaign skips the
  ``envoye`` ones and never skips an address. The one ambiguous window — a crash between the
  server's acceptance and the ``envoye`` write — can give one duplicate, resent with the same
  ``Message-ID`` (receiving systems that de-duplicate drop it).

Links carry **signed tokens**: ``<id>.<HMAC-SHA256(secret, purpose:id:email)>`` (hex, 32
characters). The secret comes from ``OBSERVATOIRE_SECRET`` or from ``.observatoire-secret`` in
the project (created once, readable by its owner only): a token cannot be forged without it,
and a token for one purpose (``confirmer``) is refused for another (``desinscrire``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from observatoire.errors import InputError

STORE_FILE = "communication.sqlite"
SECRET_FILE = ".observatoire-secret"
SECRET_ENV = "OBSERVATOIRE_SECRET"
PURPOSES = ("confirmer", "desinscrire", "inscription")
# ASCII only: an internationalised address needs SMTPUTF8, which many servers lack
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS abonnes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    statut TEXT NOT NULL CHECK (statut IN ('en_attente', 'confirme', 'desinscrit')),
    cree TEXT NOT NULL,
    confirme TEXT,
    desinscrit TEXT
);
CREATE TABLE IF NOT EXISTS inscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    evenement TEXT NOT NULL,
    email TEXT NOT NULL,
    nom TEXT NOT NULL,
    organisation TEXT NOT NULL DEFAULT '',
    consentement INTEGER NOT NULL,
    cree TEXT NOT NULL,
    UNIQUE (evenement, email)
);
CREATE TABLE IF NOT EXISTS envois (
    campagne TEXT NOT NULL,
    email TEXT NOT NULL,
    statut TEXT NOT NULL CHECK (statut IN ('en_cours', 'envoye', 'echec')),
    horodatage TEXT NOT NULL,
    erreur TEXT,
    PRIMARY KEY (campagne, email)
);
"""


class RegistrationError(InputError):
    """A registration refused (full, closed, duplicate): the message is shown to the user."""


def valid_email(email: str) -> str:
    """The address normalised (trimmed, lower case) or :class:`InputError`."""
    text = (email or "").strip().lower()
    if not _EMAIL.match(text):
        raise InputError("adresse e-mail invalide")
    return text


MIN_SECRET = 32  # characters of a usable signing secret


def project_secret(root: Path) -> bytes:
    """The signing secret: ``OBSERVATOIRE_SECRET``, else the project's secret file, created
    atomically with 256 random bits on first use (mode 600: written to a temporary file, then
    linked into place, so no process ever reads a half-written secret). A secret shorter than
    32 characters is refused (tokens signed with it could be guessed)."""
    env = os.environ.get(SECRET_ENV)
    if env is not None:
        if len(env.strip()) < MIN_SECRET:
            raise InputError(
                f"{SECRET_ENV} trop court : au moins {MIN_SECRET} caractères aléatoires "
                '(python -c "import secrets; print(secrets.token_hex(32))")'
            )
        return env.strip().encode("utf-8")
    path = root / SECRET_FILE
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=root, prefix=".secret-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp: mode 600
                handle.write(secrets.token_hex(32))
            # another process may have created it first: theirs is kept
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < MIN_SECRET:
        raise InputError(
            f"secret de signature trop court : au moins {MIN_SECRET} caractères attendus "
            "(supprimez le fichier pour en créer un nouveau ; les liens déjà envoyés ne "
            "seront plus valides)",
            path=path,
        )
    return secret.encode("utf-8")


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    status: str


@dataclass(frozen=True)
class Registration:
    id: int
    event: str
    email: str
    name: str
    organisation: str
    created: str


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


class Audience:
    """The store of one project (``root``: the project folder)."""

    def __init__(self, root: Path, *, secret: bytes | None = None) -> None:
        self.path = Path(root) / STORE_FILE
        self.secret = secret if secret is not None else project_secret(Path(root))
        with self._connect() as con:
            con.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self.path.exists():  # personal data: readable by the project's owner only
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA busy_timeout=30000")
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction (writers queue; committed on success)."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # ------------------------------------------------------------------ tokens

    def token(self, purpose: str, ident: int, email: str) -> str:
        if purpose not in PURPOSES:
            raise ValueError(purpose)
        message = f"{purpose}:{ident}:{email}".encode()
        return f"{ident}.{hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]}"

    def check(self, purpose: str, token: str) -> tuple[int, str] | None:
        """(id, e-mail) of a valid subscriber token for ``purpose``, else None (nothing
        changes)."""
        return self._check(purpose, token, "abonnes")

    def _check(self, purpose: str, token: str, table: str) -> tuple[int, str] | None:
        match = re.fullmatch(r"(\d{1,12})\.([0-9a-f]{32})", token or "")
        if not match:
            return None
        ident = int(match.group(1))
        with self._connect() as con:
            row = con.execute(f"SELECT email FROM {table} WHERE id = ?", (ident,)).fetchone()
        if row is None:
            return None
        expected = self.token(purpose, ident, row[0]).split(".", 1)[1]
        if not hmac.compare_digest(expected, match.group(2)):
            return None
        return ident, row[0]

    # ------------------------------------------------------------------ subscribers

    def subscribe(self, email: str) -> tuple[Subscriber, bool]:
        """Record a sign-up (pending); returns the subscriber and whether a confirmation
        e-mail should be sent (not for an address already confirmed)."""
        email = valid_email(email)
        with self.transaction() as con:
            row = con.execute("SELECT id, statut FROM abonnes WHERE email = ?", (email,)).fetchone()
            if row is None:
                cursor = con.execute(
                    "INSERT INTO abonnes (email, statut, cree) VALUES (?, 'en_attente', ?)",
                    (email, _now()),
                )
                return Subscriber(int(cursor.lastrowid or 0), email, "en_attente"), True
            ident, status = int(row[0]), row[1]
            if status == "desinscrit":
                con.execute(
                    "UPDATE abonnes SET statut = 'en_attente', desinscrit = NULL WHERE id = ?",
                    (ident,),
                )
                status = "en_attente"
            return Subscriber(ident, email, status), status == "en_attente"

    def confirm(self, token: str) -> Subscriber | None:
        found = self._check("confirmer", token, "abonnes")
        if found is None:
            return None
        ident, email = found
        with self.transaction() as con:
            con.execute(
                "UPDATE abonnes SET statut = 'confirme', confirme = ? "
                "WHERE id = ? AND statut = 'en_attente'",
                (_now(), ident),
            )
            status = con.execute("SELECT statut FROM abonnes WHERE id = ?", (ident,)).fetchone()
        return Subscriber(ident, email, status[0])

    def unsubscribe(self, token: str) -> Subscriber | None:
        found = self._check("desinscrire", token, "abonnes")
        if found is None:
            return None
        ident, email = found
        with self.transaction() as con:
            con.execute(
                "UPDATE abonnes SET statut = 'desinscrit', desinscrit = ? WHERE id = ?",
                (_now(), ident),
            )
        return Subscriber(ident, email, "desinscrit")

    def confirmed(self) -> list[Subscriber]:
        """Confirmed subscribers, by id (the order a campaign sends in)."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT id, email, statut FROM abonnes WHERE statut = 'confirme' ORDER BY id"
            ).fetchall()
        return [Subscriber(int(i), e, s) for i, e, s in rows]

    def counts(self) -> dict[str, int]:
        with self._connect() as con:
            rows = con.execute("SELECT statut, count(*) FROM abonnes GROUP BY statut").fetchall()
        return {status: int(n) for status, n in rows}

    # ------------------------------------------------------------------ registrations

    def register(
        self,
        event: str,
        *,
        email: str,
        name: str,
        organisation: str = "",
        consent: bool,
        capacity: int | None,
    ) -> Registration:
        """Register to ``event`` within its ``capacity`` (None = unlimited), atomically."""
        email = valid_email(email)
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise RegistrationError("nom obligatoire (200 caractères au plus)")
        organisation = (organisation or "").strip()[:200]
        if not consent:
            raise RegistrationError(
                "consentement requis : cochez la case pour que l'agence conserve votre inscription"
            )
        with self.transaction() as con:
            taken = con.execute(
                "SELECT count(*) FROM inscriptions WHERE evenement = ?", (event,)
            ).fetchone()[0]
            exists = con.execute(
                "SELECT 1 FROM inscriptions WHERE evenement = ? AND email = ?", (event, email)
            ).fetchone()
            if exists:
                raise RegistrationError("cette adresse est déjà inscrite à l'événement")
            if capacity is not None and taken >= capacity:
                raise RegistrationError("l'événement est complet")
            created = _now()
            cursor = con.execute(
                "INSERT INTO inscriptions (evenement, email, nom, organisation, consentement, "
                "cree) VALUES (?, ?, ?, ?, 1, ?)",
                (event, email, name, organisation, created),
            )
        return Registration(int(cursor.lastrowid or 0), event, email, name, organisation, created)

    def registrations(self, event: str) -> list[Registration]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT id, evenement, email, nom, organisation, cree FROM inscriptions "
                "WHERE evenement = ? ORDER BY id",
                (event,),
            ).fetchall()
        return [Registration(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def taken(self, event: str) -> int:
        with self._connect() as con:
            return int(
                con.execute(
                    "SELECT count(*) FROM inscriptions WHERE evenement = ?", (event,)
                ).fetchone()[0]
            )

    # ------------------------------------------------------------------ sending journal

    def journal(self, campaign: str) -> dict[str, str]:
        """E-mail → status of ``campaign`` (``en_cours``, ``envoye``, ``echec``)."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT email, statut FROM envois WHERE campagne = ?", (campaign,)
            ).fetchall()
        return {email: status for email, status in rows}

    def mark(self, campaign: str, email: str, status: str, error: str | None = None) -> None:
        with self.transaction() as con:
            con.execute(
                "INSERT INTO envois (campagne, email, statut, horodatage, erreur) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (campagne, email) DO UPDATE SET "
                "statut = excluded.statut, horodatage = excluded.horodatage, "
                "erreur = excluded.erreur",
                (campaign, email, status, _now(), error),
            )
