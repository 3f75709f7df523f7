"""Key rotation for what enquiries seal and index: enquiry documents and decline reasons (used by
app/keys/rewrap.py and app/keys/dependents.py: `arx keys rewrap` moves them, `retire` counts them), and
the blind-index terms of standing enquiries (`arx keys reindex` writes them under the new index version,
`retire` purges the old version's)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from app.crypto.envelope import DecryptionError
from app.crypto.keyring import Keyring
from app.db import utcnow
from app.enquiries.matching import Probe
from app.enquiries.models import Enquiry, EnquiryTerm, Hit
from app.runtime import Runtime


def enquiry_aad(enquiry_id: str, party: str) -> bytes:
    """Binds an enquiry's sealed document to its row and its party."""
    return f"arx/enquiry|{enquiry_id}|{party}".encode()


def _enquiry_aad(row: Any) -> bytes:
    return enquiry_aad(row.id, row.party_code)


def _reason_aad(row: Any) -> bytes:
    return f"arx/hit-reason|{row.id}".encode()


# where -> (model, version column name, wrapped-key column name, associated data of a row)
SEALED: dict[str, tuple[Any, str, str, Callable[[Any], bytes]]] = {
    "enquiries": (Enquiry, "key_version", "wrapped_key", _enquiry_aad),
    "hit_reasons": (Hit, "reason_key_version", "reason_wrapped_key", _reason_aad),
}


def rewrap_batch(session: Session, runtime: Runtime, where: str, active: int, after: str,
                 batch_size: int) -> tuple[int, int, str | None]:
    """Re-wrap the next batch of data keys not under the active KEK: (done, unreadable, cursor)."""
    model, version_name, wrapped_name, aad = SEALED[where]
    version_col = getattr(model, version_name)
    rows = list(session.scalars(select(model).where(version_col.is_not(None), version_col != active,
                                                    model.id > after)
                                .order_by(model.id).limit(batch_size)))
    if not rows:
        return 0, 0, None
    done = unreadable = 0
    for row in rows:
        try:
            new, wrapped = runtime.envelope.rewrapped(getattr(row, version_name),
                                                      getattr(row, wrapped_name), aad(row))
        except DecryptionError:
            unreadable += 1
            continue
        setattr(row, version_name, new)
        setattr(row, wrapped_name, wrapped)
        done += 1
    session.flush()
    return done, unreadable, rows[-1].id


def term_rows(keyring: Keyring, version: int, enquiry_id: str,
              subjects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The enquiry_term rows of an enquiry's subjects under one index version."""
    rows = []
    for no, subject in enumerate(subjects):
        ids, birth, names = Probe.of(subject).terms(keyring, version)
        rows += [{"enquiry_id": enquiry_id, "subject_no": no, "key_version": version, "term": t}
                 for t in sorted(ids | birth | names)]
    return rows


def reindex(runtime: Runtime, ring: Keyring, version: int, batch_size: int) -> int:
    """Write the terms of every standing enquiry that has none under index version yet (a job: one
    transaction per batch, resumable). Expired enquiries match nothing any more and are left alone."""
    written, after = 0, ""
    while True:
        with runtime.db.unit_of_work() as session:
            has = select(EnquiryTerm.id).where(EnquiryTerm.enquiry_id == Enquiry.id,
                                               EnquiryTerm.key_version == version).exists()
            enquiries = list(session.scalars(select(Enquiry).where(
                ~has, Enquiry.open_until > utcnow(), Enquiry.id > after).order_by(Enquiry.id)
                .limit(batch_size)))
            rows = []
            for enquiry in enquiries:
                document = json.loads(runtime.envelope.open(enquiry.sealed(), _enquiry_aad(enquiry)))
                rows += term_rows(ring, version, enquiry.id, document["subjects"])
            if rows:
                session.execute(insert(EnquiryTerm), rows)
            written += len(enquiries)
        if len(enquiries) < batch_size:
            return written
        after = enquiries[-1].id


def purge(runtime: Runtime, version: int) -> int:
    """Delete a retired index version's enquiry terms."""
    with runtime.db.unit_of_work() as session:
        result = session.execute(delete(EnquiryTerm).where(EnquiryTerm.key_version == version))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
