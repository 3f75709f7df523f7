"""`arx keys retire`: drop a version's secret material once nothing depends on it (RULES decide)."""

from __future__ import annotations

from dataclasses import dataclass

from app.audit.record import Action, Outcome, record
from app.auth.principal import Principal
from app.crypto.keyring import KeyKind, KeyringError
from app.errors import Conflict
from app.keys.jobs import await_propagation, object_id, parse_kind, parse_version
from app.keys.rules import RULES
from app.runtime import Runtime


@dataclass
class RetireReport:
    kind: KeyKind
    version: int
    purged_terms: int = 0
    abandoned_audit_details: int = 0


def retire_key(runtime: Runtime, principal: Principal, kind: str, version: str | int, *,
               abandon_audit_details: bool = False, wait: bool = True) -> RetireReport:
    """Drop a version's secret material; refused (Conflict, audited as denied) where data would be lost."""
    k = parse_kind(kind)
    v = version if isinstance(version, int) else parse_version(k, version)
    try:
        return _retire(runtime, principal, k, v, abandon_audit_details=abandon_audit_details, wait=wait)
    except Conflict:
        with runtime.db.unit_of_work() as session:
            record(session, principal, Action.KEY_RETIRE, object_id=object_id(k, v),
                   outcome=Outcome.DENIED)
        raise


def _retire(runtime: Runtime, principal: Principal, k: KeyKind, v: int, *, abandon_audit_details: bool,
            wait: bool) -> RetireReport:
    rules = RULES[k]
    ring = runtime.keys.refresh()
    try:
        target = ring.version(k, v)
    except KeyringError as exc:
        raise Conflict(str(exc)) from None
    if target.material is None and rules.resume_retired is not None:
        return RetireReport(k, v, purged_terms=rules.resume_retired(runtime, v))
    if v == ring.active_version(k):
        raise Conflict(f"{k} version {v} is active; run `arx keys rotate {k}` first")
    if target.material is None:
        raise Conflict(f"{k} version {v} is already retired")
    if wait and rules.retire_waits:
        await_propagation(runtime, k)
    report = RetireReport(k, v)
    with runtime.db.unit_of_work() as session:
        report.abandoned_audit_details = rules.check_retire(session, ring, v, abandon_audit_details)
        runtime.keys.update(lambda r: r.retired(k, v))
        record(session, principal, Action.KEY_RETIRE, object_id=object_id(k, v))
    if rules.after_retire is not None:
        report.purged_terms = rules.after_retire(runtime, v, target.material, wait)
    return report
