"""Portal message catalogs: extract messages from app/web into the .po files, and check them.

    python -m tools.i18n update   # extract, then merge into every language's .po (keeps translations)
    python -m tools.i18n check    # exit 1 naming every message a language lacks

Domains follow the code: app/web/pages/<name>.py and app/web/templates/<name>/ feed <name>.po; the
layout (app/web/*.py, app/web/templates/*.html) feeds portal.po. So each feature edits its own file.
The catalogs are compiled in memory when the app starts (app/web/i18n.py): no build step.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "app" / "web"
TRANSLATIONS = WEB / "translations"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}


def _domain(path: Path) -> str:
    relative = path.relative_to(WEB)
    if relative.parts[0] == "pages" and path.stem != "__init__":
        return path.stem
    if relative.parts[0] == "templates" and len(relative.parts) > 2:
        return relative.parts[1]
    return "portal"


def _sources() -> list[tuple[Path, str]]:
    files = [(p, "python") for p in sorted(WEB.rglob("*.py"))]
    files += [(p, "jinja2.ext:babel_extract") for p in sorted((WEB / "templates").rglob("*.html"))]
    return files


def extract() -> dict[str, Catalog]:
    """One template catalog per domain."""
    catalogs: dict[str, Catalog] = defaultdict(lambda: Catalog(project="ARX", fuzzy=False))
    for path, method in _sources():
        options = JINJA_OPTIONS if method != "python" else {}
        for lineno, message, comments, context in extract_from_file(
                method, str(path), keywords=KEYWORDS, options=options, strip_comment_tags=True):
            catalogs[_domain(path)].add(message, None, [(str(path.relative_to(ROOT)), lineno)],
                                        auto_comments=comments, context=context)
    return dict(catalogs)


def languages() -> list[str]:
    return sorted(p.name for p in TRANSLATIONS.iterdir() if p.is_dir())


def _po(lang: str, domain: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / f"{domain}.po"


def update() -> None:
    for domain, template in extract().items():
        for lang in languages():
            path = _po(lang, domain)
            if path.exists():
                with path.open("rb") as source:
                    catalog = read_po(source, locale=lang)
            else:
                catalog = Catalog(locale=lang, project="ARX", fuzzy=False)
            catalog.update(template, no_fuzzy_matching=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as target:
                write_po(target, catalog, width=100, omit_header=False, sort_output=False, no_location=True,
                         ignore_obsolete=True, include_previous=False)


def missing(lang: str) -> list[str]:
    """Messages of the code that lang's catalogs lack (absent, empty or fuzzy)."""
    translated: set[str] = set()
    for path in sorted((TRANSLATIONS / lang / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as source:
            for message in read_po(source, locale=lang):
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                if message.id and all(strings) and not message.fuzzy:
                    translated.add(message.id if isinstance(message.id, str) else message.id[0])
    wanted = {m.id if isinstance(m.id, str) else m.id[0]
              for catalog in extract().values() for m in catalog if m.id}
    return sorted(wanted - translated)


def main(argv: list[str]) -> int:
    if argv[:1] == ["update"]:
        update()
        return 0
    if argv[:1] == ["check"]:
        bad = {lang: missing(lang) for lang in languages() if lang != "en"}
        for lang, messages in bad.items():
            for message in messages:
                print(f"{lang}: untranslated: {message!r}")
        return 1 if any(bad.values()) else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
