"""An audit entry's canonical bytes (the Merkle leaf data), its leaf hash, and which entries await sealing.

Two versions, chosen by the entry's ``entry_format`` column (the version tag):

- ``arx-audit-entry/1`` (entries written before format 2 existed): the tag followed, for each column in
  ``CANONICAL_COLUMNS`` order, by ``~`` for NULL or ``<n>:<text>``, where text is the value as text
  (integers in decimal, binary in lowercase hex, ``created_at`` as ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC, the
  same on SQLite and PostgreSQL) and n its length in characters. It covers the detail's wrapped data key,
  so such a detail can never be rewrapped.
- ``arx-audit-entry/2`` (every new entry): the same rendering over ``CANONICAL_COLUMNS_V2`` — the detail's
  ``detail_key_id`` (a random id, also bound into the detail's associated data), nonce and ciphertext,
  but not the wrapped data key, which lives in ``audit_detail_key`` where ``arx keys rewrap`` may update
  it. What must never change (who, what, when, the sealed detail and which data key opens it) is covered;
  re-wrapping that data key under a new KEK changes no leaf, so a data KEK version can be retired.

The tag differs between versions and is part of the text, so changing ``entry_format`` changes the leaf.
The length prefixes make each encoding injective, so changing any covered column changes the leaf.
See docs/adr/0002-canonical-entry-text.md.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import ColumnElement, select

from app.audit.models import AuditEntry, AuditLeaf

CANONICAL_COLUMNS = ("id", "created_at", "username", "party", "role", "action", "object_id", "outcome",
                     "request_id", "detail_key_version", "detail_wrapped_key", "detail_nonce",
                     "detail_ciphertext")
ENTRY_TAG = "arx-audit-entry/1"
CANONICAL_COLUMNS_V2 = ("id", "created_at", "username", "party", "role", "action", "object_id", "outcome",
                        "request_id", "detail_key_id", "detail_nonce", "detail_ciphertext")
ENTRY_TAG_V2 = "arx-audit-entry/2"
ENTRY_FORMAT = 2  # what record() writes
_BINARY = ("detail_wrapped_key", "detail_nonce", "detail_ciphertext")
_INTEGER = ("id", "detail_key_version")


def _value_sql(dialect: str, column: str, alias: str) -> str:
    ref = f"{alias}.{column}"
    if dialect == "postgresql":
        if column == "created_at":
            return f"to_char({ref}, 'YYYY-MM-DD HH24:MI:SS.US')"
        if column in _BINARY:
            return f"encode({ref}, 'hex')"
        return f"{ref}::text" if column in _INTEGER else ref
    if column in _BINARY:
        return f"CASE WHEN {ref} IS NULL THEN NULL ELSE lower(hex({ref})) END"  # hex(NULL) is ''
    return f"CAST({ref} AS TEXT)" if column in _INTEGER else ref  # SQLite keeps created_at as that text


def canonical_entry_sql(dialect: str, alias: str = "e") -> str:
    """A SQL expression yielding an entry's canonical text (module doc) on dialect.

    The database renders it, so the sequencer and verification hash one string per row instead of
    building it from a dozen Python values (on PostgreSQL that work also runs beside Python, not in it).
    """
    v1 = _rendering(dialect, alias, ENTRY_TAG, CANONICAL_COLUMNS)
    v2 = _rendering(dialect, alias, ENTRY_TAG_V2, CANONICAL_COLUMNS_V2)
    return f"CASE WHEN {alias}.entry_format = 2 THEN {v2} ELSE {v1} END"


def _rendering(dialect: str, alias: str, tag: str, columns: tuple[str, ...]) -> str:
    # Both count characters; SQLite turns the integer into text by itself, PostgreSQL needs the cast.
    length = "CAST(char_length({}) AS TEXT)" if dialect == "postgresql" else "length({})"
    parts = [f"'{tag}'"]
    for column in columns:
        value = _value_sql(dialect, column, alias)
        parts.append(f"COALESCE({length.format(value)} || ':' || {value}, '~')")
    return "(" + " || ".join(parts) + ")"


def leaf_of(canonical: str) -> bytes:
    """The RFC 6962 leaf hash of an entry from its canonical text: SHA-256(0x00 ‖ UTF-8 text)."""
    return hashlib.sha256(b"\x00" + canonical.encode()).digest()


# An entry is sealed once it has an audit_leaf row. The sequencer and verification both ask which are not.
UNSEALED_SQL = "NOT EXISTS (SELECT 1 FROM audit_leaf l WHERE l.entry_id = e.id)"  # for audit_entry AS e
# The sequencer's form, for entries above its watermark :w: the leaf side is bounded too. Without it a
# prepared statement's generic plan anti-joined every leaf (a merge over the whole leaf index), so each
# seal round, twice a second per worker, cost more as the log grew.
UNSEALED_ABOVE_SQL = ("NOT EXISTS (SELECT 1 FROM audit_leaf l WHERE l.entry_id = e.id "
                      "AND l.entry_id > :w)")


def sealed(above: int | None = None) -> ColumnElement[bool]:
    """The ORM form of the same test: true for an AuditEntry that has its leaf (for entries with ids
    above `above`, when given: the lookup then never reads the leaves below it)."""
    leaf = select(AuditLeaf.entry_id).where(AuditLeaf.entry_id == AuditEntry.id)
    if above is not None:
        leaf = leaf.where(AuditLeaf.entry_id > above)
    return leaf.exists()
