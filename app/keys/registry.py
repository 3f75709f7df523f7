"""The guard every keyring passes before a process adopts it: it must match the database.

The database records each key version (kind, version, fingerprint): `arx init`, every start of a
command or of `arx serve`, and `arx keys rotate` (in its own transaction) record what is new. A keyring
lacking a recorded version, or holding a different key under its number (another deployment's keyring,
an old backup), is refused: adopting it would seal new data under keys
that vanish when the right keyring returns, or make old data unreadable.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.crypto.keyring import KINDS, Guard, Keyring, KeyringMismatch, KeyringUnverified
from app.db import Database
from app.keys.models import KeyVersionRecord


def mismatches(ring: Keyring, recorded: dict[tuple[str, int], str]) -> list[str]:
    """What the keyring lacks or holds differently, as `data v2 missing` / `index v1 differs`."""
    found: dict[tuple[str, int], str] = {(kind, v.version): v.fingerprint
                                         for kind in KINDS for v in ring.versions[kind]}
    problems = []
    for (kind, version), expected in sorted(recorded.items()):
        if (kind, version) not in found:
            problems.append(f"{kind} v{version} missing")
        elif expected and found[(kind, version)] and found[(kind, version)] != expected:
            problems.append(f"{kind} v{version} differs")
    return problems


def recorded_versions(session: Session) -> dict[tuple[str, int], str]:
    return {(k, v): fp for k, v, fp in session.execute(
        select(KeyVersionRecord.kind, KeyVersionRecord.version, KeyVersionRecord.fingerprint))}


def check_keyring(db: Database, ring: Keyring) -> None:
    """Refuse (KeyringMismatch) a keyring that lacks or changed a version the database recorded.

    Read-only, in its own connection: a reload may happen inside any request's transaction."""
    try:
        with db.reading() as session:
            recorded = recorded_versions(session)
    except SQLAlchemyError as exc:
        raise KeyringUnverified("keyring cannot be checked against the database "
                                f"({type(exc).__name__})") from None
    problems = mismatches(ring, recorded)
    if problems:
        raise KeyringMismatch("keyring does not match the database (" + ", ".join(problems[:6])
                              + "): refused; is it another deployment's keyring or an old backup?")


def record_keyring(session: Session, ring: Keyring) -> int:
    """Record in session's transaction every version of ring the database does not know yet."""
    recorded = recorded_versions(session)
    problems = mismatches(ring, recorded)
    if problems:
        raise KeyringMismatch("keyring does not match the database (" + ", ".join(problems[:6]) + ")")
    added = 0
    for kind in KINDS:
        for v in ring.versions[kind]:
            if (kind, v.version) not in recorded:
                session.add(KeyVersionRecord(kind=kind, version=v.version, fingerprint=v.fingerprint))
                added += 1
    session.flush()
    return added


def adopt_keyring(db: Database, ring: Keyring) -> None:
    """At start: record the versions of a keyring that passed the guard (concurrent starts agree)."""
    for _attempt in range(3):
        try:
            with db.unit_of_work() as session:
                record_keyring(session, ring)
            return
        except IntegrityError:
            continue  # another process recorded the same versions first: compare again


def database_guard(db: Database) -> Guard:
    """The guard for db, as FileKeyProvider takes it."""
    return lambda ring: check_keyring(db, ring)
