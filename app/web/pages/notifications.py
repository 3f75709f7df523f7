"""The notifications page (the bell in the layout links here): the caller's own, newest first."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from app.api import DbSession
from app.notifications import service
from app.notifications.service import KINDS, PORTAL_PATHS
from app.web.deps import CsrfChecked, PagePrincipal, portal_router
from app.web.render import N_, NavItem, render

router = portal_router()
NAV: list[NavItem] = []  # reached through the bell in the layout
LABELS = {
    "notice.shared": N_("A notice was shared with your party."),
    "request.received": N_("Your party received a request for cooperation."),
    "request.message": N_("A new message was posted on a request of your party."),
    "request.status": N_("The status of a request of your party changed."),
    "request.due_soon": N_("A request of your party is due within 48 hours."),
    "request.overdue": N_("A request of your party is overdue."),
    "hit.received": N_("Your party holds a match for another party's enquiry."),
    "hit.answered": N_("A match for your party's enquiry was answered."),
    "directory.stale": N_("A directory contact of your party is due for confirmation."),
}

def label_of(kind: str) -> str:
    """The page's (translatable) phrase for a kind, else the service's own English one."""
    return LABELS.get(kind, KINDS.get(kind, kind))


@router.get("/notifications")
def notification_list(request: Request, session: DbSession, principal: PagePrincipal) -> Response:
    unread_only = request.query_params.get("unread") == "true"
    items = service.list_notifications(session, principal, unread=True if unread_only else None)
    links = {i.id: PORTAL_PATHS[i.object_type].format(id=i.object_id) for i in items}
    return render(request, "notifications/list.html", {
        "items": items, "links": links, "label_of": label_of, "unread_only": unread_only,
        "unread": service.unread_count(session, principal)})


@router.post("/notifications/{notification_id}/read", dependencies=[CsrfChecked])
def mark_read(request: Request, notification_id: str, session: DbSession,
              principal: PagePrincipal) -> Response:
    """Mark it read and open what it is about."""
    item = service.mark_read(session, principal, notification_id)
    return RedirectResponse(PORTAL_PATHS[item.object_type].format(id=item.object_id), status_code=303)
