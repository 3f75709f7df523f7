"""What enquiries seal and index, declared for the key jobs of app/keys/tables.py: enquiry documents and
decline reasons (`arx keys rewrap` moves their data keys, `retire` counts them), and the blind-index
terms of standing enquiries (`arx keys reindex` writes them under the new index version, `retire` purges
the old version's)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.crypto.columns import SealedTable, TermTable
from app.crypto.keyring import Keyring
from app.db import utcnow
from app.enquiries.matching import Probe
from app.enquiries.models import Enquiry, EnquiryTerm, Hit


def enquiry_aad(enquiry_id: str, party: str) -> bytes:
    """Binds an enquiry's sealed document to its row and its party."""
    return f"arx/enquiry|{enquiry_id}|{party}".encode()


def reason_aad(hit_id: str) -> bytes:
    """Binds a hit's sealed decline reason to the hit."""
    return f"arx/hit-reason|{hit_id}".encode()


def term_rows(keyring: Keyring, version: int, enquiry_id: str,
              subjects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The enquiry_term rows of an enquiry's subjects under one index version."""
    rows = []
    for no, subject in enumerate(subjects):
        ids, birth, names = Probe.of(subject).terms(keyring, version)
        rows += [{"enquiry_id": enquiry_id, "subject_no": no, "key_version": version, "term": t}
                 for t in sorted(ids | birth | names)]
    return rows


ENQUIRIES = SealedTable("enquiries", Enquiry, lambda row: enquiry_aad(row.id, row.party_code))
SEALED = (ENQUIRIES,
          SealedTable("hit_reasons", Hit, lambda row: reason_aad(row.id),
                      version="reason_key_version", wrapped="reason_wrapped_key"))
# Expired enquiries match nothing any more: their terms are not rebuilt.
TERMS = (TermTable("enquiries", ENQUIRIES, EnquiryTerm, "enquiry_id",
                   lambda ring, version, row, document: term_rows(ring, version, row.id,
                                                                  document["subjects"]),
                   keeps=lambda: Enquiry.open_until > utcnow()),)
