"""HTTP for the caller's notification inbox."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.api import CurrentPrincipal, DbSession
from app.notifications import service
from app.notifications.models import Notification
from app.notifications.schemas import NotificationList, NotificationRead

router = APIRouter(prefix="/notifications", tags=["notifications"])


def _read(item: Notification) -> NotificationRead:
    return NotificationRead(id=item.id, kind=item.kind, object_type=item.object_type,
                            object_id=item.object_id, created_at=item.created_at,
                            read=item.read_at is not None)


@router.get("", response_model=NotificationList)
def list_notifications(session: DbSession, principal: CurrentPrincipal, unread: bool | None = None,
                       limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = service.DEFAULT_PAGE,
                       ) -> NotificationList:
    """The caller's own notifications, newest first; unread=true for the unread ones only."""
    items = service.list_notifications(session, principal, unread=unread, limit=limit)
    return NotificationList(items=[_read(i) for i in items],
                            unread=service.unread_count(session, principal))


@router.post("/{notification_id}/read", response_model=NotificationRead)
def mark_read(notification_id: str, session: DbSession, principal: CurrentPrincipal) -> NotificationRead:
    """Mark one of the caller's notifications read; anyone else's answers 404."""
    return _read(service.mark_read(session, principal, notification_id))
