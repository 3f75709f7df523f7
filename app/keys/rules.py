"""One table of what differs between key kinds: what depends on a version, and when it may be retired.

Adding a fifth kind means adding one row to ``RULES`` (and its material to app/crypto/keyring.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from app.crypto.keyring import KeyKind, Keyring
from app.errors import Conflict
from app.keys import dependents as facts
from app.keys.jobs import await_propagation
from app.keys.reindex import purge_index_terms
from app.runtime import Runtime

# version -> what depends on it (shown by `arx keys status` beside the total)
Survey = Callable[[Session, Runtime, Keyring], dict[int, dict[str, Any]]]
# raises Conflict when the version may not go; returns how many audit details are abandoned
RetireCheck = Callable[[Session, Keyring, int, bool], int]
# runs after the keyring was written: (runtime, version, retired material, wait) -> purged index terms
AfterRetire = Callable[[Runtime, int, bytes, bool], int]


@dataclass(frozen=True)
class KindRules:
    survey: Survey
    dependents: Callable[[dict[str, Any]], int]
    check_retire: RetireCheck
    # A compromised signing key must go at once; the others wait out services' stale keyrings.
    retire_waits: bool = True
    after_retire: AfterRetire | None = None
    # Retiring an already retired version again finishes what an interrupted retirement left.
    resume_retired: Callable[[Runtime, int], int] | None = None


def restored(kind: KeyKind, version: int, material: bytes) -> Callable[[Keyring], Keyring]:
    """A keyring change putting a version's material back (undoing a retirement that lost a race)."""

    def change(current: Keyring) -> Keyring:
        versions = tuple(replace(v, material=material, retired_at=None) if v.version == version else v
                         for v in current.versions[kind])
        return Keyring(active=dict(current.active), versions={**current.versions, kind: versions})

    return change


# -- data ----------------------------------------------------------------------------------------------
def _survey_data(session: Session, runtime: Runtime, ring: Keyring) -> dict[int, dict[str, Any]]:
    deps = facts.data_dependents(session)
    return {v.version: {name: by_version.get(v.version, 0) for name, by_version in deps.items()}
            for v in ring.versions["data"]}


def _check_data(session: Session, ring: Keyring, version: int, abandon_audit_details: bool) -> int:
    deps = facts.data_dependents(session)
    rows = sum(deps[name].get(version, 0) for name in facts.REWRAPPABLE)
    if rows:
        raise Conflict(f"data version {version} still wraps {rows} data key(s); run `arx keys rewrap` first")
    details = deps["legacy_audit_details"].get(version, 0)
    if details and not abandon_audit_details:
        raise Conflict(f"data version {version} still wraps {details} audit detail(s) written before "
                       "audit entry format 2, whose wrapped keys their leaves cover (they cannot be "
                       "rewrapped); pass --abandon-audit-details to retire it anyway (those details "
                       "become unreadable)")
    return details


def _after_data(runtime: Runtime, version: int, material: bytes, wait: bool) -> int:
    # A request that sealed under version just before the check may have committed since: undo, refuse.
    with runtime.db.unit_of_work() as session:
        gained = facts.rewrappable_dependents(session, version)
    if gained:
        runtime.keys.update(restored("data", version, material))
        raise Conflict(f"data version {version} gained new dependents while retiring and was restored; "
                       "run `arx keys rewrap` and retry")
    return 0


# -- index ---------------------------------------------------------------------------------------------
def _survey_index(session: Session, runtime: Runtime, ring: Keyring) -> dict[int, dict[str, Any]]:
    terms, complete = facts.index_terms(session), facts.completed_builds(session)
    return {v.version: {"terms": terms.get(v.version, 0), "complete": v.version in complete}
            for v in ring.versions["index"]}


def _check_index(session: Session, ring: Keyring, version: int, abandon_audit_details: bool) -> int:
    newer = {v for v in ring.usable_versions("index") if v > version}
    if not newer & facts.completed_builds(session):
        raise Conflict("no newer index version has a complete build; run `arx keys reindex` first "
                       f"(index version {version} still answers searches)")
    return 0


def _after_index(runtime: Runtime, version: int, material: bytes, wait: bool) -> int:
    if wait:
        await_propagation(runtime, "index")
    return purge_index_terms(runtime, version)


# -- signing -------------------------------------------------------------------------------------------
def _survey_signing(session: Session, runtime: Runtime, ring: Keyring) -> dict[int, dict[str, Any]]:
    tokens = facts.live_tokens(session, runtime, ring)
    return {v.version: {"live_tokens": tokens.get(v.version, 0), "kid": f"signing-v{v.version}"}
            for v in ring.versions["signing"]}


def _check_signing(session: Session, ring: Keyring, version: int, abandon_audit_details: bool) -> int:
    return 0  # live tokens die with it: that is what retiring a signing key is for


# -- audit ---------------------------------------------------------------------------------------------
def _survey_audit(session: Session, runtime: Runtime, ring: Keyring) -> dict[int, dict[str, Any]]:
    signed = facts.checkpoints_signed(session)
    return {v.version: {"checkpoints": signed.get(v.version, 0)} for v in ring.versions["audit"]}


def _check_audit(session: Session, ring: Keyring, version: int, abandon_audit_details: bool) -> int:
    gap = facts.countersign_gap(session, version)
    if gap is not None and (gap[1] is None or gap[1] < gap[0]):
        raise Conflict(f"audit version {version} signed checkpoints up to tree size {gap[0]} that no "
                       "newer audit key has countersigned yet; wait for the next checkpoint and retry")
    return 0


RULES: dict[KeyKind, KindRules] = {
    "data": KindRules(survey=_survey_data, dependents=lambda d: sum(d.values()), check_retire=_check_data,
                      after_retire=_after_data),
    "index": KindRules(survey=_survey_index, dependents=lambda d: d["terms"], check_retire=_check_index,
                       after_retire=_after_index, resume_retired=purge_index_terms),
    "signing": KindRules(survey=_survey_signing, dependents=lambda d: d["live_tokens"],
                         check_retire=_check_signing, retire_waits=False),
    "audit": KindRules(survey=_survey_audit, dependents=lambda d: d["checkpoints"],
                       check_retire=_check_audit),
}
