"""Notification documents."""

from datetime import datetime

from pydantic import BaseModel


class NotificationRead(BaseModel):
    id: int
    kind: str
    object_type: str
    object_id: str
    created_at: datetime
    read: bool


class NotificationList(BaseModel):
    items: list[NotificationRead]
    unread: int
