"""The key jobs over every table a feature declares (app/crypto/columns.py): rewrap the data keys of
sealed rows, reindex and purge blind-index terms. Jobs: one transaction per batch, resumable,
idempotent; a row whose key does not unwrap is counted and left, never fatal.

A feature lists its tables next to their associated data (``SEALED`` and ``TERMS``, e.g.
app/enquiries/keys.py) and is registered here once; tests/test_architecture.py fails on a declared table
missing below, since `arx keys retire` would then drop a key that table still needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from app.crypto.columns import SealedTable, TermTable
from app.crypto.keyring import Keyring
from app.enquiries import keys as enquiry_keys
from app.keys.jobs import PURGE_BATCH, grouped, run_batches
from app.requests import keys as request_keys
from app.runtime import Runtime
from app.users import service as user_service

SEALED_TABLES: tuple[SealedTable, ...] = (*user_service.SEALED, *enquiry_keys.SEALED, *request_keys.SEALED)
TERM_TABLES: tuple[TermTable, ...] = (*request_keys.TERMS, *enquiry_keys.TERMS)


def sealed_dependents(session: Session) -> dict[str, dict[int, int]]:
    """Rows of each sealed table by the KEK version wrapping their data key."""
    return {t.name: grouped(session, getattr(t.model, t.version)) for t in SEALED_TABLES}


def sealed_pending(session: Session, active: int) -> int:
    """Rows of the sealed tables whose data key is not under the active KEK."""
    return sum(int(session.scalar(select(func.count()).select_from(t.model)
                                  .where(getattr(t.model, t.version) != active)) or 0)
               for t in SEALED_TABLES)


def _rewrap_batch(session: Session, runtime: Runtime, table: SealedTable, active: int, after: Any,
                  batch_size: int) -> tuple[int, int, Any]:
    """Re-wrap the next batch of table's data keys not under the active KEK: (done, unreadable, cursor)."""
    model, version = table.model, getattr(table.model, table.version)
    query = select(model).where(version.is_not(None), version != active)
    if after is not None:
        query = query.where(model.id > after)
    rows = list(session.scalars(query.order_by(model.id).limit(batch_size)))
    new, wrapped = runtime.envelope.rewrap_many(
        (getattr(row, table.version), getattr(row, table.wrapped), table.aad(row)) for row in rows)
    done = 0
    for row, again in zip(rows, wrapped, strict=True):
        # Retired or damaged keys are left as they are and counted, never guessed at.
        if again is not None:
            setattr(row, table.version, new)
            setattr(row, table.wrapped, again)
            done += 1
    return done, len(rows) - done, rows[-1].id if len(rows) == batch_size else None


def rewrap_sealed(runtime: Runtime, table: SealedTable, active: int, batch_size: int,
                  advance: Callable[[int], None]) -> tuple[int, int]:
    """Re-wrap every data key of table not under the active KEK: (rewrapped, unreadable)."""
    return run_batches(runtime, lambda session, after: _rewrap_batch(session, runtime, table, active,
                                                                     after, batch_size), advance)


def reindex_terms(runtime: Runtime, ring: Keyring, table: TermTable, version: int, batch_size: int) -> int:
    """Write table's terms under index version for every owner that has none yet; how many owners got
    terms (a job: one transaction per batch, resumable)."""
    owner, terms = table.owner.model, table.terms
    has = select(terms.id).where(getattr(terms, table.owner_id) == owner.id,
                                 terms.key_version == version).exists()
    written, after = 0, None
    while True:
        with runtime.db.unit_of_work() as session:
            query = select(owner).where(~has)
            if table.keeps is not None:
                query = query.where(table.keeps())
            if after is not None:
                query = query.where(owner.id > after)
            owners = list(session.scalars(query.order_by(owner.id).limit(batch_size)))
            rows = []
            for row in owners:
                document = json.loads(runtime.envelope.open(row.sealed(), table.owner.aad(row)))
                found = table.rows(ring, version, row, document)
                written += bool(found)
                rows += found
            if rows:
                session.execute(insert(terms), rows)
        if len(owners) < batch_size:
            return written
        after = owners[-1].id


def purge_terms(runtime: Runtime, terms: type[Any], version: int, *, batch_size: int = PURGE_BATCH) -> int:
    """Delete an index version's rows of a term model in batches (short transactions; resumable)."""
    purged = 0
    while True:
        with runtime.db.unit_of_work() as session:
            ids = list(session.scalars(select(terms.id).where(terms.key_version == version)
                                       .order_by(terms.id).limit(batch_size)))
            if not ids:
                return purged
            session.execute(delete(terms).where(terms.key_version == version,
                                                terms.id.between(ids[0], ids[-1])))
            purged += len(ids)
