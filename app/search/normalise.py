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
from itertools import combinations, groupby, pairwise

from unidecode import unidecode

from app.search.names import equivalents, join_compounds
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
MAX_WORDS = MAX_TOKENS * 2  # tokens, equivalent forms and joins together (the term budget of ADR 0004)
MAX_PAIR_TOKENS = 6

# The Arabic article is written joined to its noun; split it off before transliteration.
_ARABIC_ARTICLE = re.compile(r"(?<![\u0600-\u06ff])\u0627\u0644(?=[\u0600-\u06ff])")
# Harakat (short-vowel marks), superscript alef and tatweel: written in some records, not in others.
_ARABIC_MARKS = re.compile(r"[\u064b-\u065f\u0670\u0640]")
# Ta marbuta is pronounced t before a following word with the article (هداية الله = Hidayatullah),
# and a or ah at the end of a name (فاطمة = Fatima).
_TA_MARBUTA_CONSTRUCT = re.compile(r"\u0629(?=\s+\u0627\u0644)")
# Letters unidecode renders oddly or not the way Latin records of Arabic and Persian names write them
# (Unicode Arabic block; Persian alphabet per the Library of Congress ALA-LC Persian romanization
# table): Persian keheh and farsi yeh are k and y (unidecode gives kh for keheh), zhe is zh, hamza
# seats are their vowels; alef (which unidecode drops), its variants and alef maqsura are a.
_ARABIC_LETTERS = str.maketrans({
    "\u06a9": "\u0643", "\u06cc": "\u064a", "\u0698": "zh", "\u0649": "a", "\u0629": "a",
    "\u0627": "a", "\u0623": "a", "\u0625": "a", "\u0622": "a", "\u0671": "a",
    "\u0624": "\u0648", "\u0626": "\u064a", "\u0621": "", "\u06c1": "\u0647", "\u06be": "\u0647",
})
# Text with Persian-only letters is Persian: there ض, ذ and ظ sound z, ث sounds s and ق sounds gh
# (Sadeghi, Ghorbani, Rezaei; ALA-LC Persian romanization).
_PERSIAN = re.compile(r"[\u067e\u0686\u0698\u06af\u06a9\u06cc]")
_PERSIAN_SOUNDS = str.maketrans({"\u0636": "\u0632", "\u0630": "\u0632", "\u0638": "\u0632",
                                 "\u062b": "\u0633", "\u0642": "\u063a"})
_FALSE_DIGRAPH = re.compile(r"(?<=[\u0632\u0633\u0643\u062a\u063a\u062f\u062c\u0635\u0637\u0636"
                            r"\u0641\u0628\u067e\u0686])(?=\u0647)|(?<=\u062f)(?=\u062c)")
# Belarusian softens т and д to ц and дз before front vowels and the soft sign (Пуцін = Путин,
# Уладзімір = Владимир; Belarusian orthography, "цеканне" and "дзеканне"). Only text that is
# Belarusian by its letters (і or ў, and no Russian и) gets the Russian-form equivalent.
_BELARUSIAN = re.compile(r"[\u0456\u045e\u0406\u040e]")
_RUSSIAN_I = re.compile(r"[\u0438\u0418]")
_BE_SOFT_T = re.compile(r"\u0446(?=[\u0456\u0435\u044c\u044e\u044f\u0451])", re.IGNORECASE)
_BE_SOFT_D = re.compile(r"\u0434\u0437(?=[\u0456\u0435\u044c\u044e\u044f\u0451])", re.IGNORECASE)
_ABJAD = re.compile(r"[\u0590-\u05ff\u0600-\u06ff]")
_APOSTROPHES = re.compile(r"['`\u2018\u2019\u02bc\u02bb\u00b4]")
_WORDS = re.compile(r"[\s,;:.()/\\\[\]\"-]+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_NOT_ID = re.compile(r"[^A-Z0-9]+")

# Digraphs first (longest first), then single letters; vowels, y and a w between consonants (Arabic
# waw and ya are long vowels that unidecode writes as consonants) are dropped after. Arabic script has
# no p (بوتين is Putin) and no v (فلاديمير is Vladimir): p joins b, v joins f. A j between a
# consonant and a vowel, or closing "ij"/"yj", is the softness sign of German, Polish and Czech-style
# transliterations of Cyrillic (Svjatlana, Pjotr, Dmitrij), not a consonant.
_DIGRAPHS = (("sch", "s"), ("tch", "k"), ("dzh", "j"), ("zh", "j"), ("dj", "j"), ("sh", "s"),
             ("ch", "k"), ("kh", "h"), ("gh", "g"), ("ph", "f"), ("th", "t"), ("ck", "k"))
_LETTERS = str.maketrans({"c": "k", "q": "k", "x": "ks", "z": "s", "v": "f", "p": "b"})
# Prentice, Cecil: c between a vowel (or the start) and e, i, y is s (Arabic script writes س); after
# a consonant it is more often a folded č (Ševčenko), left alone.
_SOFT_C = re.compile(r"(?:^|(?<=[aeiou]))c(?=[eiy])")
_SOFT_J = re.compile(r"(?<=[b-df-hk-np-tv-xz])j(?=[aeiou])|(?<=[iy])j$")
# Beside a written vowel, w is a consonant (Polish/German Wiktor, Sokolow); unidecode's Arabic waw
# stands between consonants and is a vowel there.
_CONSONANT_W = re.compile(r"(?<=[aeiou])w|w(?=[aeiou])")
_VOWELS = re.compile(r"[aeiouyw]")


def _arabic(text: str) -> str:
    if not any("\u0600" <= ch <= "\u06ff" for ch in text):
        return text
    text = _TA_MARBUTA_CONSTRUCT.sub("\u062a", _ARABIC_MARKS.sub("", text))
    if _PERSIAN.search(text):
        text = text.translate(_PERSIAN_SOUNDS)
    # Two letters that unidecode would write as one Latin digraph (ز ه = z h, not zh; د ج = d j,
    # not dj) get an alef between them: the skeleton drops it, and it keeps الزهراني = Zahrani.
    text = _ARABIC_ARTICLE.sub("al ", _FALSE_DIGRAPH.sub("a", text))
    return text.translate(_ARABIC_LETTERS)


def fold(text: str) -> str:
    """Invisible characters stripped, NFKC, Arabic-script letters mapped (article split off),
    transliterated to ASCII Latin, case-folded, apostrophes removed, other marks to spaces."""
    text = _arabic(unicodedata.normalize("NFKC", strip_invisible(text)))
    text = unidecode(text).casefold()
    return _NON_ALNUM.sub(" ", _APOSTROPHES.sub("", text)).strip()


@lru_cache(maxsize=65_536)
def phonetic(token: str) -> str:
    """Consonant skeleton of a folded token: the part transliterations of one name tend to share."""
    token = _SOFT_C.sub("s", _SOFT_J.sub("", token))
    for digraph, replacement in _DIGRAPHS:
        token = token.replace(digraph, replacement)
    token = _CONSONANT_W.sub("f", token.translate(_LETTERS))
    skeleton = "".join(k for k, _ in groupby(_VOWELS.sub("", token)))  # repeats collapsed
    # A leading h comes and goes between scripts (Heracles/Erakles, Harun/Arabic "hrwn").
    return skeleton.removeprefix("h")


@dataclass(frozen=True)
class NameForm:
    """A normalised name: content tokens in written order, equivalent forms of them (the Russian form
    of a Ukrainian given name, a patronymic's common spelling) and adjacent-token joins."""

    tokens: tuple[str, ...]
    joins: tuple[str, ...]
    alts: tuple[str, ...] = ()
    # Written in an abjad (Arabic, Persian, Hebrew script): vowels were not written, so a consonant
    # skeleton agreeing is all the agreement there can be.
    abjad: bool = False

    @property
    def words(self) -> tuple[str, ...]:
        """Tokens, equivalent forms and joins: what exact-token terms are made of."""
        return self.tokens + self.alts + self.joins

    def pairs(self) -> set[str]:
        """Unordered pairs of the tokens' phonetic keys: selective where single tokens are common."""
        keys = sorted({phonetic(t) if len(phonetic(t)) >= 2 else t
                       for t in self.tokens[:MAX_PAIR_TOKENS]})
        return {f"{a}|{b}" for a, b in combinations(keys, 2)}


def _is_title(word: str) -> bool:
    # Only a word written in Latin letters is a title: Arabic "Omar" transliterates to "mr".
    return word.isascii() and fold(word) in HONORIFICS


def _belarusian_alt(word: str) -> str | None:
    """The Russian-form spelling of a Belarusian Cyrillic word whose t/d were softened, if any."""
    if not _BELARUSIAN.search(word) or _RUSSIAN_I.search(word):
        return None
    hard = _BE_SOFT_D.sub("\u0434", _BE_SOFT_T.sub("\u0442", word))
    return fold(hard).replace(" ", "") if hard != word else None


@lru_cache(maxsize=8192)  # a searched or decrypted name recurs within a search, rarely beyond it
def name_form(text: str) -> NameForm:
    """Tokens of a name, whatever its script, punctuation, honorifics or order (invisible
    characters such as a Persian ZWNJ are stripped first, so they never split or change a token).
    Arabic compound names are joined the way Latin records write them (عبد الله, Abd Allah and
    Abdallah all give "abdullah"), and equivalent forms of Slavic given names, patronymics and Baltic
    surname endings are added beside the tokens (app/search/names.py)."""
    text = _arabic(unicodedata.normalize("NFKC", strip_invisible(text)))
    raw = [w for w in _WORDS.split(text) if w]
    content: list[str] = []
    extra: list[str] = []
    for w in raw:
        if _is_title(w):
            continue
        content += [t for t in fold(w).split() if not t.isdigit()]
        if (be := _belarusian_alt(w)) is not None:
            extra.append(be)
    if not content:
        content = [t for t in fold(text).split() if not t.isdigit()]
    content = join_compounds(content[: MAX_TOKENS * 2])
    tokens = [w for w in content if w not in PARTICLES and len(w) > 1] or [w for w in content
                                                                            if len(w) > 1]
    tokens = list(dict.fromkeys(tokens[:MAX_TOKENS]))
    alts = [a for t in [*tokens, *extra] for a in equivalents(t)] + extra
    alts = [a for a in dict.fromkeys(alts) if a not in tokens][: MAX_WORDS - len(tokens)]
    # "Jean Pierre"/"Jean-Pierre"/"Jeanpierre" and "Xi Jin Ping"/"Xi Jinping" differ only in spacing.
    joins = {a + b for a, b in pairwise(content)} - set(tokens) - set(alts)
    room = min(MAX_TOKENS, MAX_WORDS - len(tokens) - len(alts))
    return NameForm(tokens=tuple(tokens), joins=tuple(sorted(joins))[:max(0, room)],
                    alts=tuple(alts), abjad=_ABJAD.search(text) is not None)


def identifier_key(value: str) -> str:
    """An identifier reduced to upper-case letters and digits (spacing and dashes vary by writer)."""
    return _NOT_ID.sub("", unidecode(unicodedata.normalize("NFKC", strip_invisible(value))).upper())
