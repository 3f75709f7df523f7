"""The e-mail outbox worker (a job: it owns its transactions). Requests only INSERT outbox rows.

A round claims due rows for a lease in one short transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so
several processes never claim the same row; SQLite: its write lock), sends them over one SMTP connection
outside any transaction (a slow server never holds a database lock), then records each outcome. A
failure is retried with exponential backoff until ``mail_max_attempts``, then given up; every failure is
logged with the outbox id and the error class, never an address or content. A process that dies while
sending leaves its claim to expire: the row is sent again (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from app.crypto.envelope import DecryptionError
from app.db import utcnow
from app.notifications.models import EmailOutbox, Notification
from app.notifications.service import KINDS, PORTAL_PATHS
from app.runtime import Runtime
from app.users.models import User
from app.users.service import email_aad

log = logging.getLogger("arx.mail")

BATCH = 50
LEASE_SECONDS = 300
MAX_BACKOFF_SECONDS = 3600.0
SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpTarget:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """smtp://host:port, smtp+starttls://host:port or smtps://host:port, optionally user:pass@."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError("ARX_SMTP_URL: expected smtp://, smtp+starttls:// or smtps://host:port")
    return SmtpTarget(parts.scheme, parts.hostname, parts.port or SCHEMES[parts.scheme],
                      unquote(parts.username) if parts.username else None,
                      unquote(parts.password) if parts.password else None)


@dataclass(frozen=True)
class Mail:
    outbox_id: int
    attempts: int
    to: str | None  # None: the address could not be read (or the user is gone or disabled)
    kind: str
    link: str


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def backoff(runtime: Runtime, attempts: int) -> timedelta:
    base = runtime.settings.mail_backoff_seconds
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempts - 1)))


def compose(runtime: Runtime, mail: Mail) -> EmailMessage:
    """The message: the kind and a link to the portal. Never a title, name, body or party's content."""
    settings = runtime.settings
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = mail.to or ""
    message["Subject"] = f"[ARX] {mail.kind}"
    message["Message-ID"] = make_msgid(domain="arx.invalid")
    message.set_content(f"{KINDS[mail.kind]}\n\nKind: {mail.kind}\nOpen ARX to read it: {mail.link}\n\n"
                        "This message carries no content by design; sign in to read it.\n")
    return message


def _claim(runtime: Runtime, now: datetime) -> list[Mail]:
    db = runtime.db
    with db.unit_of_work() as session:
        query = (select(EmailOutbox, Notification, User)
                 .join(Notification, Notification.id == EmailOutbox.notification_id)
                 .join(User, User.id == Notification.user_id)
                 .where(EmailOutbox.sent_at.is_(None), EmailOutbox.failed_at.is_(None),
                        EmailOutbox.next_attempt_at <= now,
                        (EmailOutbox.claimed_until.is_(None)) | (EmailOutbox.claimed_until < now))
                 .order_by(EmailOutbox.id).limit(BATCH))
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=EmailOutbox)
        mails = []
        for outbox, notification, user in session.execute(query).all():
            outbox.claimed_until = now + timedelta(seconds=LEASE_SECONDS)
            to = None
            sealed = user.email_sealed()
            if sealed is not None and not user.disabled:
                try:
                    to = runtime.envelope.open(sealed, email_aad(user.username)).decode()
                except DecryptionError:
                    log.error("notification e-mail address failed its integrity check",
                              extra={"outbox_id": outbox.id})
            path = PORTAL_PATHS[notification.object_type].format(id=notification.object_id)
            mails.append(Mail(outbox.id, outbox.attempts, to, notification.kind,
                              runtime.settings.public_url.rstrip("/") + path))
        return mails


def _connect(runtime: Runtime, target: SmtpTarget) -> smtplib.SMTP:
    settings = runtime.settings
    context = ssl.create_default_context(
        cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None)
    timeout = settings.smtp_timeout_seconds
    smtp: smtplib.SMTP
    if target.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(target.host, target.port, timeout=timeout)
        if target.scheme == "smtp+starttls":
            smtp.starttls(context=context)
    if target.username:
        smtp.login(target.username, target.password or "")
    return smtp


def _error_name(exc: BaseException) -> str:
    # The class and the SMTP code only: server replies may echo an address.
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__}{f' {code}' if code else ''}"[:200]


def _record(runtime: Runtime, outcomes: dict[int, str | None], mails: list[Mail], now: datetime,
            report: DeliveryReport) -> None:
    by_id = {m.outbox_id: m for m in mails}
    max_attempts = runtime.settings.mail_max_attempts
    with runtime.db.unit_of_work() as session:
        rows = session.scalars(select(EmailOutbox).where(EmailOutbox.id.in_(list(outcomes))))
        for row in rows:
            error = outcomes[row.id]
            row.claimed_until = None
            if error is None:
                row.sent_at = now
                row.attempts = by_id[row.id].attempts + 1
                report.sent += 1
                continue
            row.attempts = by_id[row.id].attempts + 1
            row.last_error = error
            if row.attempts >= max_attempts or by_id[row.id].to is None:
                row.failed_at = now
                report.failed += 1
                log.error("notification e-mail given up", extra={"outbox_id": row.id,
                                                                 "attempts": row.attempts,
                                                                 "error": error})
            else:
                row.next_attempt_at = now + backoff(runtime, row.attempts)
                report.retried += 1
                log.warning("notification e-mail failed; will retry",
                            extra={"outbox_id": row.id, "attempts": row.attempts, "error": error})


def deliver_pending(runtime: Runtime, *, now: datetime | None = None) -> DeliveryReport:
    """One round: send every due outbox row (in batches). Without ARX_SMTP_URL, does nothing."""
    report = DeliveryReport()
    if runtime.settings.smtp_url is None:
        return report
    target = parse_smtp_url(runtime.settings.smtp_url.get_secret_value())
    while True:
        moment = now or utcnow()
        mails = _claim(runtime, moment)
        if not mails:
            return report
        outcomes: dict[int, str | None] = {}
        smtp: smtplib.SMTP | None = None
        try:
            for mail in mails:
                if mail.to is None:
                    outcomes[mail.outbox_id] = "no readable address"
                    continue
                try:
                    if smtp is None:
                        smtp = _connect(runtime, target)
                    smtp.send_message(compose(runtime, mail), runtime.settings.smtp_from, [mail.to])
                    outcomes[mail.outbox_id] = None
                except (OSError, smtplib.SMTPException) as exc:
                    outcomes[mail.outbox_id] = _error_name(exc)
                    if smtp is not None and not isinstance(exc, smtplib.SMTPRecipientsRefused):
                        _quietly_close(smtp)
                        smtp = None
        finally:
            if smtp is not None:
                _quietly_close(smtp, polite=True)
            _record(runtime, outcomes, mails, moment, report)
        if len(mails) < BATCH or now is not None:
            return report


def _quietly_close(smtp: smtplib.SMTP, polite: bool = False) -> None:
    try:
        smtp.quit() if polite else smtp.close()
    except (OSError, smtplib.SMTPException):
        smtp.close()


@asynccontextmanager
async def run_mailer(runtime: Runtime) -> AsyncIterator[None]:
    """Deliver queued notification e-mails in the background for the app's lifetime (if configured)."""
    if runtime.settings.smtp_url is None:
        yield
        return
    parse_smtp_url(runtime.settings.smtp_url.get_secret_value())  # a bad URL fails start-up, loudly
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(deliver_pending, runtime)
            except Exception:
                log.exception("notification e-mail round failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), runtime.settings.mail_poll_seconds)
            except TimeoutError:
                pass

    task = asyncio.create_task(loop(), name="arx-mailer")
    try:
        yield
    finally:
        stop.set()
        await task
