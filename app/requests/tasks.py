"""The deadline job (a job: it owns its transactions): request.due_soon and request.overdue, once each.

Every ``request_deadline_poll_seconds`` each process tries to lead a round: on PostgreSQL with a
transaction-level advisory *try*-lock (the loser skips the round instead of waiting), on SQLite under
its single write lock. A round finds open requests entering the due-soon window or past due that have no
``request_deadline_notice`` row for their current due date, notifies, and writes that row in the same
transaction: running it twice, or in two processes, announces each deadline once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from app.audit.record import Action, record
from app.auth.principal import Principal, Role
from app.db import advisory_lock, utcnow
from app.notifications.service import notify
from app.requests.machine import FINAL
from app.requests.models import CooperationRequest, DeadlineNotice
from app.requests.service import overdue_sql
from app.runtime import Runtime

log = logging.getLogger("arx.requests")

ADVISORY_LOCK_KEY = 0x4152_5852_4551_4455  # "ARXREQDU": one deadline round at a time across processes
BATCH = 500
JOB = Principal(username="system:deadlines", party="-", role=Role.ADMIN, request_id="deadline-job")
CR = CooperationRequest


@dataclass
class DeadlineReport:
    led: bool = True
    due_soon: int = 0
    overdue: int = 0


def _pending(session: Session, kind: str, window: ColumnElement[bool]) -> list[CooperationRequest]:
    announced = select(DeadlineNotice.request_id).where(
        DeadlineNotice.request_id == CR.id, DeadlineNotice.kind == kind,
        DeadlineNotice.due_at == CR.due_at).exists()
    return list(session.scalars(select(CR).where(window, ~announced).order_by(CR.due_at, CR.id)
                                .limit(BATCH)))


def _announce(session: Session, request: CooperationRequest, kind: str, now: datetime) -> None:
    existing = session.get(DeadlineNotice, (request.id, kind))
    if existing is not None:  # the due date moved since: announce the new one
        existing.due_at, existing.created_at = request.due_at, now
    else:
        session.add(DeadlineNotice(request_id=request.id, kind=kind, due_at=request.due_at,
                                   created_at=now))
    parties = [request.addressee] if kind == "request.due_soon" else [request.addressee,
                                                                       request.requester]
    for party in parties:
        notify(session, party=party, kind=kind, object_type="request", object_id=request.id)


def run_deadlines(runtime: Runtime, *, now: datetime | None = None) -> DeadlineReport:
    """One round (batches of BATCH, one transaction each); led=False when another process leads."""
    report = DeadlineReport()
    now = now or utcnow()
    soon = timedelta(hours=runtime.settings.request_due_soon_hours)
    open_ = CR.status.not_in([str(s) for s in FINAL])
    while True:
        with runtime.db.unit_of_work() as session:
            if not advisory_lock(session, ADVISORY_LOCK_KEY, wait=False):
                report.led = False
                return report
            due_soon = _pending(session, "request.due_soon",
                                and_(open_, CR.due_at >= now, CR.due_at <= now + soon))
            overdue = _pending(session, "request.overdue", overdue_sql(now))
            for request in due_soon:
                _announce(session, request, "request.due_soon", now)
            for request in overdue:
                _announce(session, request, "request.overdue", now)
            if due_soon or overdue:
                record(session, JOB, Action.REQUEST_DEADLINES,
                       object_id=f"{len(due_soon)} due soon, {len(overdue)} overdue")
        report.due_soon += len(due_soon)
        report.overdue += len(overdue)
        if len(due_soon) < BATCH and len(overdue) < BATCH:
            return report


@asynccontextmanager
async def run_deadline_job(runtime: Runtime) -> AsyncIterator[None]:
    """Run deadline rounds in the background for the app's lifetime."""
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(run_deadlines, runtime)
            except Exception:
                log.exception("request deadline round failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), runtime.settings.request_deadline_poll_seconds)
            except TimeoutError:
                pass

    task = asyncio.create_task(loop(), name="arx-request-deadlines")
    try:
        yield
    finally:
        stop.set()
        await task
