"""Key rotation for what enquiries seal: enquiry documents and decline reasons (used by
app/keys/rewrap.py and app/keys/dependents.py: `arx keys rewrap` moves them, `retire` counts them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crypto.envelope import DecryptionError
from app.enquiries.models import Enquiry, Hit
from app.runtime import Runtime


def _enquiry_aad(row: Any) -> bytes:
    return f"arx/enquiry|{row.id}|{row.party_code}".encode()


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
