"""`arx keys rotate`: a new version of a kind, active for new writes at once (a use case)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.audit.service import Action, record
from app.auth.principal import Principal
from app.keys.jobs import object_id, parse_kind
from app.runtime import Runtime


def rotate_key(session: Session, runtime: Runtime, principal: Principal, kind: str) -> int:
    """Add a new version of kind and make it active; returns it. Audited in session's transaction."""
    k = parse_kind(kind)
    ring = runtime.keys.update(lambda r: r.rotated(k))
    version = ring.active_version(k)
    record(session, principal, Action.KEY_ROTATE, object_id=object_id(k, version))
    return version
