"""The stale-contact reminder job: one process at a time, one transaction per run, idempotent.

Every ``directory_reminder_interval_seconds`` each process tries the job; on PostgreSQL only the one
holding a transaction-level advisory lock runs it (the others skip the round), on SQLite the write lock
serialises runs. A reminder is recorded per (contact, confirmation date), so however often the job runs,
a contact gets one reminder per time it went stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.record import Action, record
from app.auth.principal import Principal, Role
from app.db import advisory_lock
from app.directory.models import Contact, ContactReminder
from app.directory.service import stale_before
from app.notifications.service import notify
from app.runtime import Runtime

log = logging.getLogger("arx.directory")

REMINDER_LOCK_KEY = 0x4152_5844_4952_4543  # "ARXDIREC"
JOB = Principal(username="job:directory-reminders", party="-", role=Role.ADMIN,
                request_id="job-directory-reminders")


def send_stale_reminders(runtime: Runtime) -> int:
    """Remind each party of its contacts that went stale since the last run; returns how many."""
    with runtime.db.unit_of_work() as session:
        if not advisory_lock(session, REMINDER_LOCK_KEY, wait=False):
            return 0  # another process is the leader this round
        reminded = select(ContactReminder.contact_id).where(
            ContactReminder.contact_id == Contact.id,
            ContactReminder.confirmed_at == Contact.confirmed_at).exists()
        due = session.execute(select(Contact.id, Contact.party, Contact.confirmed_at).where(
            Contact.retired_at.is_(None), Contact.confirmed_at < stale_before(runtime), ~reminded)
            .order_by(Contact.party, Contact.id)).all()
        now = runtime.clock()
        for contact_id, party, confirmed_at in due:
            session.add(ContactReminder(contact_id=contact_id, confirmed_at=confirmed_at, sent_at=now))
            notify_stale(session, party, contact_id)
            record(session, JOB, Action.DIRECTORY_REMIND, object_id=contact_id)
        return len(due)


def notify_stale(session: Session, party: str, contact_id: str) -> None:
    """Tell the party's users that one of its contacts needs confirming (an id, never its content)."""
    notify(session, party=party, kind="directory.stale", object_type="contact", object_id=contact_id)


@asynccontextmanager
async def run_reminder_job(runtime: Runtime) -> AsyncIterator[None]:
    """Run the job at start and then periodically for the app's lifetime."""
    stop = asyncio.Event()
    interval = runtime.settings.directory_reminder_interval_seconds

    async def loop() -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(send_stale_reminders, runtime)
            except Exception:
                log.exception("directory reminder round failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass

    task = asyncio.create_task(loop(), name="arx-directory-reminders")
    try:
        yield
    finally:
        stop.set()
        await task
