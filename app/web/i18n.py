"""Languages of the portal: Babel catalogs (.po in the repository, compiled in memory at start-up),
language choice (?lang= remembered in a cookie, else Accept-Language) and locale-aware formatting."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations

TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGES = ("en", "fr")  # the Court's working languages; add one by adding its catalogs
DEFAULT = "en"
LANG_COOKIE = "__Host-arx_lang"


def catalog_files(lang: str) -> list[Path]:
    """Every .po of a language: the portal's own and one per feature (no merge conflicts)."""
    return sorted((TRANSLATIONS / lang / "LC_MESSAGES").glob("*.po"))


@lru_cache
def translations(lang: str) -> Translations:
    """All catalogs of a language merged, compiled from the .po sources (works on a fresh clone)."""
    merged = Translations()
    for path in catalog_files(lang):
        with path.open("rb") as source:
            catalog = read_po(source, locale=lang)
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        buffer.seek(0)
        merged.merge(Translations(buffer))
    return merged


def direction(lang: str) -> str:
    """"rtl" for right-to-left scripts (Arabic, Hebrew…), from CLDR; "ltr" otherwise."""
    try:
        return "rtl" if Locale.parse(lang).character_order == "right-to-left" else "ltr"
    except (UnknownLocaleError, ValueError):
        return "ltr"


def supported(lang: str | None) -> str | None:
    if lang and lang.lower() in LANGUAGES:
        return lang.lower()
    return None


def from_accept_language(header: str | None) -> str:
    """The best of our languages for an Accept-Language header (q-values honoured)."""
    if not header:
        return DEFAULT
    wanted: list[tuple[float, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            wanted.append((-quality + position * 1e-6, tag.replace("_", "-")))
    preferred = [tag for _, tag in sorted(wanted)]
    return negotiate_locale(preferred, list(LANGUAGES), sep="-") or DEFAULT


class Formatter:
    """Dates, numbers and amounts as the reader's language writes them."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def date(self, value: date | str | None) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = date.fromisoformat(value)
        return format_date(value, format="medium", locale=self.lang)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return format_datetime(value, format="medium", tzinfo=UTC, locale=self.lang) + " UTC"

    def number(self, value: float | Decimal) -> str:
        return format_decimal(value, locale=self.lang)

    def percent(self, value: float) -> str:
        return format_percent(value, locale=self.lang)

    def money(self, amount: Decimal | str, currency: str) -> str:
        return format_currency(Decimal(str(amount)), currency, locale=self.lang)
