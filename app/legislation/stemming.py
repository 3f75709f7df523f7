"""Full-text analysis computed in Python, so SQLite and PostgreSQL index and match the very same tokens.

SQLite's FTS5 has no French stemmer and PostgreSQL's English one leaves irregular forms apart
("frozen" vs "freez"). Every word is therefore reduced here, with the Snowball English *and* French
stemmers (a profile mixes languages: titles in the original, notes in English), after mapping a few
irregular English forms of the domain to their infinitive; stems are folded to ASCII. The databases
index the resulting token string with a plain tokenizer (FTS5 ``unicode61``, PostgreSQL ``simple``),
and a query term matches when any of its stems is present.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer  # type: ignore[import-untyped]
from unidecode import unidecode

_WORD = re.compile(r"\w+", re.UNICODE)
_STEMMERS = (snowballstemmer.stemmer("english"), snowballstemmer.stemmer("french"))
MAX_QUERY_TERMS = 12

# Irregular English forms the stemmer cannot relate to their verb.
_IRREGULAR = {"froze": "freeze", "frozen": "freeze", "seen": "see", "sought": "seek",
              "held": "hold", "laid": "lay", "taken": "take", "took": "take", "given": "give",
              "gave": "give", "brought": "bring", "sold": "sell",
              "kept": "keep", "made": "make", "found": "find", "stolen": "steal", "stole": "steal"}
_STOP = frozenset(["a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "in", "is", "it",
                   "of", "on", "or", "that", "the", "this", "to", "was", "were", "with", "au", "aux", "ce",
                   "ces", "dans", "de", "des", "du", "en", "et", "est", "il", "la", "le", "les", "leur",
                   "ou", "par", "pas", "pour", "qui", "que", "sa", "se", "ses", "son", "sur", "un", "une"])


@lru_cache(maxsize=65_536)
def stems(word: str) -> tuple[str, ...]:
    """The ASCII-folded English and French stems of one word (empty for stop words)."""
    word = unicodedata.normalize("NFC", word).casefold()
    if word in _STOP or len(word) < 2:
        return ()
    word = _IRREGULAR.get(word, word)
    out: list[str] = []
    for stemmer in _STEMMERS:
        stem = unidecode(stemmer.stemWord(word)).lower()
        stem = re.sub(r"[^a-z0-9]", "", stem)
        if stem and stem not in out:
            out.append(stem)
    return tuple(out)


def analyse(*texts: str | None) -> str:
    """The token string a document is indexed under: every stem of every word, space-separated."""
    tokens: list[str] = []
    for text in texts:
        for word in _WORD.findall(text or ""):
            tokens.extend(stems(word))
    return " ".join(tokens)


def query_terms(q: str) -> list[tuple[str, ...]]:
    """Each query word's stems (a word matches when any stem does; every word must match)."""
    terms: list[tuple[str, ...]] = []
    for word in _WORD.findall(q):
        found = stems(word)
        if found and found not in terms:
            terms.append(found)
    return terms[:MAX_QUERY_TERMS]


def fts5_query(terms: list[tuple[str, ...]]) -> str:
    """An FTS5 MATCH expression; stems are [a-z0-9]+ so quoting them is injection-free."""
    return " AND ".join("(" + " OR ".join(f'"{s}"' for s in alts) + ")" for alts in terms)


def tsquery(terms: list[tuple[str, ...]]) -> str:
    """The same expression as a PostgreSQL tsquery over the 'simple' configuration."""
    return " & ".join("(" + " | ".join(alts) + ")" for alts in terms)


def score(tokens: str, terms: list[tuple[str, ...]]) -> int:
    """How often the query's stems occur in a document's tokens (computed alike on both databases)."""
    padded = f" {tokens} "
    # str.count runs in C: far cheaper than splitting thousands of tokens per matching profile.
    return sum(max(padded.count(f" {s} ") for s in alts) for alts in terms)
