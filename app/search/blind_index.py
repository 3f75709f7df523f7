"""Blind-index terms: truncated keyed HMAC-SHA256 of normalised name parts, birth data and identifiers.

Each purpose has its own HKDF sub-key of the ``index`` key (``keyring.derive("index", v, purpose)``), so
equal inputs under different purposes never share a term, and every term is truncated to TERM_BITS so
that, at the design size, each stored term value is shared by several unrelated inputs (README,
"Search and blind indexes").
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from enum import StrEnum
from functools import lru_cache

from app.crypto.keyring import Keyring
from app.notices.schemas import Subject
from app.search.normalise import identifier_key, name_form, phonetic

# 22 bits: ~4.2 M distinct values. At the 1 M-subject design size (~20 M term rows) each value is
# shared by ~5 rows (CipherSweet's planner asks for at least 2), while one lookup still reads only a
# handful of false positives. Stored in 3 bytes with the low 2 bits zero.
TERM_BITS = 22
TERM_BYTES = (TERM_BITS + 7) // 8
_LAST_MASK = (0xFF << (TERM_BYTES * 8 - TERM_BITS)) & 0xFF
MIN_PHONETIC = 2  # a one-consonant skeleton ("Ali" -> "l") selects nothing useful
# Name and aliases indexed per subject: with at most ~47 terms a name, a hostile notice (200 subjects
# of 50 aliases) cannot make one write insert hundreds of thousands of index rows.
MAX_INDEXED_NAMES = 10


class Purpose(StrEnum):
    TOKEN = "name-token"
    PHONETIC = "name-phonetic"
    PAIR = "name-pair"
    BIRTH_DATE = "birth-date"
    BIRTH_YEAR = "birth-year"
    IDENTIFIER = "identifier"


# How much a query term agreeing says about a candidate (pre-ranking only; the final score is
# computed on the decrypted subject). A full birth date outweighs a name token and its skeleton: with it,
# a partly agreeing name (Belal Haddad for Bilal Jamaluddin Haddad, 1950-09-10) outranks namesakes born
# on other days, which at a million subjects otherwise filled the candidates.
WEIGHTS = {Purpose.TOKEN: 3.0, Purpose.PHONETIC: 2.0, Purpose.PAIR: 4.0, Purpose.BIRTH_DATE: 5.0,
           Purpose.BIRTH_YEAR: 0.5, Purpose.IDENTIFIER: 8.0}


def _keys(keyring: Keyring, version: int) -> dict[Purpose, bytes]:
    return {p: keyring.derive("index", version, f"subject/{p}") for p in Purpose}


@lru_cache(maxsize=64)
def _keyed(key: bytes) -> hmac.HMAC:
    # Keyed once: copying a prepared HMAC skips re-deriving its inner and outer pads for every term.
    return hmac.new(key, digestmod=hashlib.sha256)


def _term(key: bytes, value: str) -> bytes:
    mac = _keyed(key).copy()
    mac.update(value.encode())
    digest = mac.digest()[:TERM_BYTES]
    return digest[:-1] + bytes([digest[-1] & _LAST_MASK])


def _name_values(text: str) -> dict[Purpose, set[str]]:
    form = name_form(text)
    return {Purpose.TOKEN: set(form.words),
            Purpose.PHONETIC: {k for k in map(phonetic, form.words) if len(k) >= MIN_PHONETIC},
            Purpose.PAIR: form.pairs()}


def _values(names: list[str], birth_date: date | None,
            identifiers: list[str]) -> dict[Purpose, set[str]]:
    values: dict[Purpose, set[str]] = {p: set() for p in Purpose}
    for text in names:
        for purpose, found in _name_values(text).items():
            values[purpose] |= found
    if birth_date is not None:
        values[Purpose.BIRTH_DATE].add(birth_date.isoformat())
        values[Purpose.BIRTH_YEAR].add(str(birth_date.year))
    values[Purpose.IDENTIFIER] = {k for k in map(identifier_key, identifiers) if len(k) >= 4}
    return values


def subject_terms(keyring: Keyring, version: int, subject: Subject) -> set[bytes]:
    """Every term one subject (name and aliases alike) is indexed under with index key version."""
    values = _values([subject.name, *subject.aliases][:MAX_INDEXED_NAMES], subject.birth_date,
                     [i.value for i in subject.identifiers])
    keys = _keys(keyring, version)
    return {_term(keys[p], v) for p, found in values.items() for v in found}


def query_terms(keyring: Keyring, version: int, *, name: str,
                birth_date: date | None = None) -> dict[bytes, float]:
    """Terms a search computes, each with its pre-ranking weight (the query text may also be an
    identifier, e.g. a passport number typed into the name field)."""
    values = _values([name], birth_date, [name])
    keys = _keys(keyring, version)
    weights: dict[bytes, float] = {}
    for purpose, found in values.items():
        for value in found:
            term = _term(keys[purpose], value)
            weights[term] = max(weights.get(term, 0.0), WEIGHTS[purpose])
    return weights


def purpose_terms(keyring: Keyring, version: int, purpose: Purpose, values: set[str]) -> set[bytes]:
    """Terms of already normalised values under one purpose (what the indexer wrote for them)."""
    key = _keys(keyring, version)[purpose]
    return {_term(key, v) for v in values}


def name_terms(keyring: Keyring, version: int, name: str) -> set[bytes]:
    """The token, phonetic and pair terms one name is indexed under."""
    keys = _keys(keyring, version)
    return {_term(keys[p], v) for p, found in _name_values(name).items() for v in found}
