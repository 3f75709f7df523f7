"""Name normalisation for suspect search: one Latin, case-folded, order-free form per name.

Every script is transliterated to ASCII Latin (unidecode), so "Виктор Янукович", "Viktor Yanukovych" and
"VIKTOR IANUKOVICH" meet on comparable tokens; a consonant skeleton then bridges the transliteration
variants that survive (Yanukovych/Ianukovich, Mohamed/Muhammad/mhmd, Haroun/Harun, Victor/Viktor).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations, pairwise

from unidecode import unidecode

from app.unicode_policy import strip_invisible

# Titles, ranks and honorifics carry no identity: dropped (when a real name token remains).
HONORIFICS = frozenset([
    "mr", "mrs", "ms", "miss", "mx", "mme", "mlle", "mgr", "dr", "prof", "sir", "dame", "lord",
    "lady", "herr", "frau", "sr", "sra", "srta", "sheikh", "shaikh", "sheik",
    "cheikh", "haji", "hajji", "hadji", "hajj", "sayyid", "sayed", "excellency", "hon",
    "honourable", "general", "gen", "colonel", "col", "major", "maj", "captain", "capt",
    "lieutenant", "lt", "president", "minister", "senator", "jr", "jnr", "snr", "ii", "iii", "iv"
])
# Name particles: dropped as tokens (spelled, spaced and omitted inconsistently), but kept inside the
# joined forms so "al-Bashir", "Albashir" and the Arabic-script "lbshyr" still meet.
PARTICLES = frozenset([
    "de", "del", "della", "dei", "der", "den", "des", "di", "da", "das", "dos", "do", "du", "la",
    "le", "lo", "van", "vom", "von", "zu", "zum", "ten", "ter", "al", "el", "ul", "bin", "ben",
    "bn", "ibn", "bint", "binti", "ould", "ag"
])

MAX_TOKENS = 8  # bounds the terms one (possibly hostile, 300-character) name can produce
MAX_PAIR_TOKENS = 6

# The Arabic article is written joined to its noun; split it off before transliteration.
_ARABIC_ARTICLE = re.compile(r"(?<![\u0600-\u06ff])\u0627\u0644(?=[\u0600-\u06ff])")
_APOSTROPHES = re.compile(r"['`\u2018\u2019\u02bc\u02bb\u00b4]")
_WORDS = re.compile(r"[\s,;:.()/\\\[\]\"-]+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_NOT_ID = re.compile(r"[^A-Z0-9]+")

# Digraphs first (longest first), then single letters; vowels, y and a w between consonants (Arabic
# waw and ya are long vowels that unidecode writes as consonants) are dropped after.
_DIGRAPHS = (("sch", "s"), ("tch", "k"), ("dzh", "j"), ("zh", "j"), ("dj", "j"), ("sh", "s"),
             ("ch", "k"), ("kh", "h"), ("gh", "g"), ("ph", "f"), ("th", "t"), ("ck", "k"))
_LETTERS = str.maketrans({"c": "k", "q": "k", "x": "ks", "z": "s", "v": "f"})
# Beside a written vowel, w is a consonant (Polish/German Wiktor, Sokolow); unidecode's Arabic waw
# stands between consonants and is a vowel there.
_CONSONANT_W = re.compile(r"(?<=[aeiou])w|w(?=[aeiou])")
_VOWELS = re.compile(r"[aeiouyw]")
_REPEATS = re.compile(r"(.)\1+")


def fold(text: str) -> str:
    """Invisible characters stripped, NFKC, transliterated to ASCII Latin, case-folded, apostrophes
    removed, other marks to spaces."""
    text = _ARABIC_ARTICLE.sub("al ", unicodedata.normalize("NFKC", strip_invisible(text)))
    text = unidecode(text).casefold()
    return _NON_ALNUM.sub(" ", _APOSTROPHES.sub("", text)).strip()


@lru_cache(maxsize=65_536)
def phonetic(token: str) -> str:
    """Consonant skeleton of a folded token: the part transliterations of one name tend to share."""
    for digraph, replacement in _DIGRAPHS:
        token = token.replace(digraph, replacement)
    token = _CONSONANT_W.sub("f", token.translate(_LETTERS))
    skeleton = _REPEATS.sub(r"\1", _VOWELS.sub("", token))
    # A leading h comes and goes between scripts (Heracles/Erakles, Harun/Arabic "hrwn").
    return skeleton.removeprefix("h")


@dataclass(frozen=True)
class NameForm:
    """A normalised name: content tokens in written order, and adjacent-token joins."""

    tokens: tuple[str, ...]
    joins: tuple[str, ...]

    @property
    def words(self) -> tuple[str, ...]:
        """Tokens and joins: what exact-token terms are made of."""
        return self.tokens + self.joins

    def pairs(self) -> set[str]:
        """Unordered pairs of the tokens' phonetic keys: selective where single tokens are common."""
        keys = sorted({phonetic(t) if len(phonetic(t)) >= 2 else t
                       for t in self.tokens[:MAX_PAIR_TOKENS]})
        return {f"{a}|{b}" for a, b in combinations(keys, 2)}


def _is_title(word: str) -> bool:
    # Only a word written in Latin letters is a title: Arabic "Omar" transliterates to "mr".
    return word.isascii() and fold(word) in HONORIFICS


def name_form(text: str) -> NameForm:
    """Tokens of a name, whatever its script, punctuation, honorifics or order (invisible
    characters such as a Persian ZWNJ are stripped first, so they never split or change a token)."""
    text = strip_invisible(text)
    raw = [w for w in _WORDS.split(unicodedata.normalize("NFKC", text)) if w]
    content = [t for w in raw if not _is_title(w) for t in fold(w).split() if not t.isdigit()]
    if not content:
        content = [t for t in fold(text).split() if not t.isdigit()]
    content = content[: MAX_TOKENS * 2]
    tokens = [w for w in content if w not in PARTICLES and len(w) > 1] or [w for w in content
                                                                            if len(w) > 1]
    # "Jean Pierre"/"Jean-Pierre"/"Jeanpierre" and "Xi Jin Ping"/"Xi Jinping" differ only in spacing.
    joins = {a + b for a, b in pairwise(content)} - set(tokens)
    return NameForm(tokens=tuple(dict.fromkeys(tokens[:MAX_TOKENS])),
                    joins=tuple(sorted(joins))[:MAX_TOKENS])


def identifier_key(value: str) -> str:
    """An identifier reduced to upper-case letters and digits (spacing and dashes vary by writer)."""
    return _NOT_ID.sub("", unidecode(unicodedata.normalize("NFKC", strip_invisible(value))).upper())
