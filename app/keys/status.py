"""`arx keys status`: per kind, the active version and what still depends on every version."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.crypto.keyring import KINDS
from app.keys.rules import RULES
from app.runtime import Runtime


def key_status(session: Session, runtime: Runtime) -> dict[str, Any]:
    """Per kind: the active version and every version with what still depends on it (CONTRACT.md)."""
    ring = runtime.keys.refresh()
    status: dict[str, Any] = {}
    for kind in KINDS:
        rules = RULES[kind]
        details = rules.survey(session, runtime, ring)
        versions = [{"version": kv.version, "dependents": rules.dependents(details[kv.version]),
                     "retired": not kv.usable, "created_at": kv.created_at, **details[kv.version]}
                    for kv in sorted(ring.versions[kind], key=lambda v: v.version)]
        status[kind] = {"active": ring.active_version(kind), "versions": versions}
    return status
