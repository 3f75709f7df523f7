"""Which characters user-typed text may contain, and what search normalisation strips (issue 11, item 5).

Allowed among the invisible characters are exactly those real names and right-to-left text need:
ZWNJ (U+200C, Persian "زین‌العابدین"), ZWJ (U+200D), LRM (U+200E), RLM (U+200F) and the Arabic letter
mark ALM (U+061C), which phones insert around Arabic and Hebrew; plus newline and tab in free text
(narrative, asset description), where a CRLF line end is read as a newline. Refused everywhere else, with
a 422 naming the field: every other control (Cc) and format (Cf) character — BOM, word joiner, soft
hyphen, U+180E, bidi embeddings, overrides and isolates, invisible operators U+2061–2064, deprecated
U+206A–206F, interlinear annotations U+FFF9–FFFB — line and paragraph separators (Zl, Zp), tag
characters U+E0000–E007F, Hangul fillers (U+115F, U+1160, U+3164, U+FFA0), the combining grapheme
joiner U+034F, noncharacters (U+FDD0–FDEF and the last two code points of every plane) and lone
surrogates.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

ALLOWED_FORMAT = frozenset("\u200c\u200d\u200e\u200f\u061c")
FREE_TEXT_CONTROLS = frozenset("\n\t")
HANGUL_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
COMBINING_GRAPHEME_JOINER = "\u034f"
_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
TAGS = range(0xE0000, 0xE0080)
# Format characters only occur in planes 0, 1 and 14; the other planes are scanned for nothing.
_SCANNED = (range(0x20000), range(0xE0000, 0xE1000))


def is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _refused_codes() -> list[int]:
    codes = {c for scan in _SCANNED for c in scan if unicodedata.category(chr(c)) in _CATEGORIES}
    codes |= set(range(0xD800, 0xE000)) | set(TAGS) | {ord(c) for c in HANGUL_FILLERS}
    codes |= {ord(COMBINING_GRAPHEME_JOINER)}
    codes |= set(range(0xFDD0, 0xFDF0)) | {plane * 0x10000 + n for plane in range(17)
                                          for n in (0xFFFE, 0xFFFF)}
    return sorted(codes - {ord(c) for c in ALLOWED_FORMAT})


def _char_class(codes: list[int]) -> str:
    """A regular-expression character class of the code points, as ranges."""
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


@cache
def _refused() -> re.Pattern[str]:
    """Every refused character (built once, on first use: scanning takes a few tens of ms)."""
    return re.compile(f"[{_char_class(_refused_codes())}]")


@cache
def _invisible() -> re.Pattern[str]:
    """What search normalisation strips: the refused characters and the allowed format ones."""
    codes = sorted(set(_refused_codes()) | {ord(c) for c in ALLOWED_FORMAT})
    return re.compile(f"[{_char_class(codes)}]")


def refused_character(value: str, *, free_text: bool = False) -> str | None:
    """The first character value may not contain, or None."""
    for found in _refused().finditer(value):
        if not (free_text and found.group() in FREE_TEXT_CONTROLS):
            return found.group()
    return None


def describe(char: str) -> str:
    """U+XXXX and the character's name, for error messages (never the surrounding text)."""
    return f"U+{ord(char):04X}" + (f" {name}" if (name := unicodedata.name(char, "")) else "")


def strip_invisible(value: str) -> str:
    """value without any control, format, separator, tag, filler or noncharacter: "زین‌العابدین" with
    its ZWNJ and "زینالعابدین" become the same text. Controls and line separators become spaces."""
    return _invisible().sub(
        lambda m: " " if unicodedata.category(m.group()) in ("Cc", "Zl", "Zp") else "", value)

