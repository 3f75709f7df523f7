"""Notifications: the notify() use case other features call in their own transaction, and the inbox."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from functools import cache

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.orm import Session

from app import policy
from app.audit.record import Action, denied, record
from app.auth.principal import Principal
from app.db import utcnow
from app.errors import NotFound
from app.notifications.models import EmailOutbox, Notification
from app.users.models import User

# What a notification may say. Each kind names an event, never content; the e-mail repeats the phrase.
KINDS: dict[str, str] = {
    "notice.shared": "A notice was shared with your party.",
    "request.received": "Your party received a request for cooperation.",
    "request.message": "A new message was posted on a request of your party.",
    "request.status": "The status of a request of your party changed.",
    "request.due_soon": "A request of your party is due within 48 hours.",
    "request.overdue": "A request of your party is overdue.",
    "hit.received": "Your party holds a match for another party's enquiry.",
    "hit.answered": "A match for your party's enquiry was answered.",
    "hit.found": "A standing enquiry or a notice of your party has a new match.",
    "directory.stale": "A directory contact of your party is due for confirmation.",
}
# Where the portal shows each kind of object (the e-mail's link; an id, never content).
PORTAL_PATHS: dict[str, str] = {"notice": "/notices/{id}", "request": "/requests/{id}",
                                "hit": "/enquiries", "contact": "/directory/stale"}
MAX_PAGE = 200
DEFAULT_PAGE = 50


def notify(session: Session, *, party: str, kind: str, object_type: str, object_id: str) -> int:
    """One notification per active content-role user of party, in the caller's transaction, and an
    e-mail queued (outbox) for each that has an address. Returns how many users were notified."""
    return notify_parties(session, parties=[party], kind=kind, object_type=object_type,
                          object_id=object_id)


@cache
def _notified_users() -> Select[tuple[int, int | None]]:
    """(id, e-mail key version) of the active content-role users of the parties bound as `parties`;
    built once (every post and hit notifies)."""
    return (select(User.id, User.email_key_version)
            .where(User.party_code.in_(bindparam("parties", expanding=True)), User.disabled.is_(False),
                   User.role.in_([str(r) for r in policy.CONTENT_ROLES]))
            .order_by(User.id))


def notify_parties(session: Session, *, parties: Collection[str], kind: str, object_type: str,
                   object_id: str) -> int:
    """notify() for several parties in one query (a notice shared with every party)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if object_type not in PORTAL_PATHS:
        raise ValueError(f"unknown notification object type {object_type!r}")
    if not parties:
        return 0
    users = session.execute(_notified_users(), {"parties": sorted(parties)}).all()
    now = utcnow()
    rows = [Notification(user_id=uid, kind=kind, object_type=object_type, object_id=object_id,
                         created_at=now) for uid, _ in users]
    session.add_all(rows)
    mailed = [row for row, (_, email) in zip(rows, users, strict=True) if email is not None]
    if mailed:
        session.flush()  # ids for the outbox rows
        session.add_all([EmailOutbox(notification_id=row.id, next_attempt_at=now, created_at=now)
                         for row in mailed])
    return len(rows)


def list_notifications(session: Session, principal: Principal, *, unread: bool | None = None,
                       limit: int = DEFAULT_PAGE) -> list[Notification]:
    """The caller's own notifications, newest first."""
    query = select(Notification).where(policy.own_notifications(principal))
    if unread is True:
        query = query.where(Notification.read_at.is_(None))
    elif unread is False:
        query = query.where(Notification.read_at.is_not(None))
    limit = max(1, min(limit, MAX_PAGE))
    items = list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))
    record(session, principal, Action.NOTIFICATION_LIST)
    return items


def unread_count(session: Session, principal: Principal) -> int:
    return int(session.scalar(select(func.count()).select_from(Notification).where(
        policy.own_notifications(principal), Notification.read_at.is_(None))) or 0)


def mark_read(session: Session, principal: Principal, notification_id: str,
              *, now: datetime | None = None) -> Notification:
    """Mark one of the caller's notifications read (idempotent); anyone else's is 404, like absent."""
    item = None
    if notification_id.isdigit() and len(notification_id) <= 18:
        item = session.scalar(select(Notification).where(
            Notification.id == int(notification_id), policy.own_notifications(principal)))
    if item is None:
        attempted = notification_id[:64] if notification_id.isprintable() else None
        raise NotFound(on_rollback=denied(principal, Action.NOTIFICATION_READ, attempted))
    if item.read_at is None:
        session.execute(update(Notification).where(Notification.id == item.id,
                                                   Notification.read_at.is_(None))
                        .values(read_at=now or utcnow()))
        session.refresh(item)
    record(session, principal, Action.NOTIFICATION_READ, object_id=str(item.id))
    return item

