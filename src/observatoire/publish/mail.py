"""E-mail sending through the agency's SMTP server (``[lettre]`` of ``observatoire.toml``).

:func:`message` builds a ``multipart/alternative`` message (plain text first, then HTML) with
a deterministic ``Message-ID`` when given a key (a resent message keeps its identity);
:class:`Mailer` opens one SMTP connection (``starttls``, ``ssl`` or ``aucune``; login when a
user is set, password from ``OBSERVATOIRE_SMTP_MOT_DE_PASSE``), sends at most
``envois_par_minute`` messages per minute and reconnects once when the server dropped the
connection. Errors are :class:`MailError` with a French message (never the password, never
the recipient list).
"""

from __future__ import annotations

import contextlib
import email.policy
import hashlib
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

from observatoire.errors import ObservatoireError
from observatoire.settings import Mailing


class MailError(ObservatoireError):
    """Sending failed (server unreachable, refused, misconfigured)."""


def check_config(config: Mailing) -> None:
    missing = [
        key
        for key, value in (
            ("smtp_hote", config.smtp_host),
            ("expediteur", config.sender),
            ("adresse_site", config.site_url),
        )
        if not value
    ]
    if missing:
        raise MailError(
            "réglages d'envoi incomplets dans observatoire.toml, section [lettre] : "
            + ", ".join(missing)
        )


def message(
    config: Mailing,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A message from the configured sender (``key``: a stable Message-ID). Headers are
    folded only beyond RFC 5322's 998 characters: a long ``List-Unsubscribe`` address must
    not become encoded words, which mail clients do not decode in that header."""
    msg = EmailMessage(policy=email.policy.default.clone(max_line_length=998))
    name, address = parseaddr(config.sender)
    msg["From"] = formataddr((name, address)) if name else address
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    domain = address.rsplit("@", 1)[-1] if "@" in address else "observatoire.local"
    if key is not None:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        msg["Message-ID"] = f"<{digest}@{domain}>"
    for header, value in (headers or {}).items():
        msg[header] = value
    msg.set_content(text, charset="utf-8")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg


class Mailer:
    """One SMTP session (``with Mailer(config) as mailer: mailer.send(msg)``)."""

    def __init__(self, config: Mailing, *, sleep=time.sleep, clock=time.monotonic) -> None:
        check_config(config)
        self.config = config
        self._smtp: smtplib.SMTP | None = None
        self._sleep, self._clock = sleep, clock
        self._interval = 60.0 / config.rate_per_minute
        self._last: float | None = None

    def __enter__(self) -> Mailer:
        self._open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _open(self) -> None:
        c = self.config
        try:
            if c.smtp_security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    c.smtp_host, c.smtp_port, timeout=30, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=30)
                if c.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if c.smtp_user:
                smtp.login(c.smtp_user, c.smtp_password)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"authentification refusée par {c.smtp_host} pour {c.smtp_user} (mot de passe : "
                "variable OBSERVATOIRE_SMTP_MOT_DE_PASSE)"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"serveur d'envoi {c.smtp_host}:{c.smtp_port} injoignable "
                f"({exc.__class__.__name__})"
            ) from exc
        self._smtp = smtp

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None

    def _wait(self) -> None:
        now = self._clock()
        if self._last is not None:
            delay = self._last + self._interval - now
            if delay > 0:
                self._sleep(delay)
        self._last = self._clock()

    def send(self, msg: EmailMessage) -> None:
        """Send one message (rate-limited); :class:`MailError` when the server refuses it."""
        self._wait()
        for attempt in (1, 2):
            if self._smtp is None:
                self._open()
            try:
                assert self._smtp is not None
                self._smtp.send_message(msg)
                return
            except smtplib.SMTPServerDisconnected:
                self._smtp = None
                if attempt == 2:
                    raise MailError("le serveur d'envoi a fermé la connexion") from None
            except smtplib.SMTPRecipientsRefused as exc:
                raise MailError("destinataire refusé par le serveur d'envoi") from exc
            except (smtplib.SMTPNotSupportedError, UnicodeError, ValueError) as exc:
                # this message cannot be sent as is (an address the server cannot carry…)
                raise MailError(f"message non transmissible ({exc.__class__.__name__})") from exc
            except (OSError, smtplib.SMTPException) as exc:
                raise MailError(f"envoi refusé ({exc.__class__.__name__})") from exc
