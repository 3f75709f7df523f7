"""`arx keys rotate` (a new version of a kind, active for new writes at once) and `restore-backup`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.audit.record import Action, record
from app.auth.principal import Principal
from app.keys.jobs import object_id, parse_kind
from app.keys.registry import record_keyring
from app.runtime import Runtime


def rotate_key(session: Session, runtime: Runtime, principal: Principal, kind: str) -> int:
    """Add a new version of kind and make it active; returns it. Audited in session's transaction."""
    k = parse_kind(kind)
    ring = runtime.keys.update(lambda r: r.rotated(k))
    version = ring.active_version(k)
    record_keyring(session, ring)
    record(session, principal, Action.KEY_ROTATE, object_id=object_id(k, version))
    return version


def restore_keyring_backup(session: Session, runtime: Runtime, principal: Principal) -> None:
    """Bring back the previous keyring generation (refused if it does not match the database)."""
    runtime.keys.restore_backup()
    record(session, principal, Action.KEY_RESTORE_BACKUP, object_id="keyring")
