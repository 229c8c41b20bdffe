"""Merge translations into translations/*/messages.po, then report what is still missing.

- English: an empty msgstr gets the msgid (the code is written in English).
- French: msgstr taken from i18n/fr/*.json (msgid -> text; "singular|plural" -> [one, many]) when given, and every
  msgstr set in French typography (no-break spaces before : ; ! ?, relance/services/typography.py).
- German, Spanish, Italian, Dutch (the customers' languages: letters and reminder emails; the screens stay in French
  and English): msgstr taken from i18n/<language>/*.json the same way; only the words a letter or a reminder email
  shows (`reader_messages`: tests/test_translations.py) must be there.
Run `make translations` before (extract + update) and after (compile).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relance.services.texts.typography import french  # noqa: E402

# gettext's plural rule per language, kept whatever Babel's CLDR data says (Babel 2.19 gives French a third
# "many" form for millions, which no translation here fills)
PLURAL_FORMS = {"fr": (2, "(n > 1)"), "en": (2, "(n != 1)"), "de": (2, "(n != 1)"), "es": (2, "(n != 1)"),
                "it": (2, "(n != 1)"), "nl": (2, "(n != 1)")}
UI_LANGUAGES = ("en", "fr")  # every string translated
READER_LANGUAGES = ("de", "es", "it", "nl")  # the words of letters and reminder emails (`reader_messages`)

# what a letter, a reminder email or the customer's page (relance/portal) shows, in its reader's language: every
# gettext call of these templates, and in these modules the calls made while writing for a reader (placeholders'
# `_l` are the variables' descriptions, for the text editor's screen)
READER_TEMPLATES = ("relance/templates/pdf/invoice.html",
                    "relance/templates/email/reminder.html", "relance/templates/portal/layout.html",
                    "relance/templates/portal/page.html", "relance/templates/portal/missing.html")
READER_MODULES = {"relance/services/texts/placeholders.py": ("_", "gettext", "ngettext"),
                  "relance/services/texts/formatting.py": ("_", "gettext", "ngettext", "_l"),
                  "relance/services/letters/content.py": ("_", "gettext", "ngettext", "_l"),
                  "relance/services/letters/printing.py": ("_", "gettext", "ngettext", "_l"),
                  "relance/services/letters/sheet.py": ("_", "gettext", "ngettext", "_l"),
                  "relance/services/answers.py": ("_", "gettext", "ngettext", "_l")}


def reader_messages() -> set[str]:
    """The msgids (the singular of a plural) a letter or a reminder email may show."""
    from babel.messages.extract import extract_from_file

    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None}
    found: set[str] = set()
    sources = [(path, "jinja2", tuple(keywords)) for path in READER_TEMPLATES]
    sources += [(path, "python", names) for path, names in READER_MODULES.items()]
    for path, method, names in sources:
        for _lineno, message, _comments, _context in extract_from_file(
                method, str(ROOT / path), keywords={k: keywords[k] for k in names}):
            found.add(message[0] if isinstance(message, (list, tuple)) else message)
    return found


def load_inbox(language: str = "fr") -> dict:
    inbox: dict = {}
    for path in sorted((ROOT / "i18n" / language).glob("*.json")):
        inbox.update(json.loads(path.read_text(encoding="utf-8")))
    return inbox


def fill(language: str, inbox: dict) -> list[str]:
    path = ROOT / "translations" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    catalog.fuzzy = False
    if language in PLURAL_FORMS:
        catalog._num_plurals, catalog._plural_expr = PLURAL_FORMS[language]
    missing = []
    for message in catalog:
        if not message.id:
            continue
        plural = isinstance(message.id, (list, tuple))
        key = "|".join(message.id) if plural else message.id
        if plural and isinstance(message.string, tuple):
            message.string = tuple(message.string[:catalog.num_plurals])
        if language == "en":
            if plural and not all(message.string):
                message.string = tuple(message.id)
            elif not plural and not message.string:
                message.string = message.id
        elif key in inbox:
            value = inbox[key]
            message.string = tuple(value) if plural else value
        if language == "fr" and message.string:
            message.string = tuple(map(french, message.string)) if plural else french(message.string)
        if message.fuzzy:
            message.flags.discard("fuzzy")
        if (plural and not all(message.string)) or (not plural and not message.string):
            missing.append(key)
    with path.open("wb") as fh:
        write_po(fh, catalog, no_location=True, sort_output=True, width=110)
    return missing


def main() -> int:
    status = 0
    for language in UI_LANGUAGES:
        missing = fill(language, load_inbox(language))
        for key in missing:
            print(f"{language}: missing {key!r}")
        status |= bool(missing)
    wanted = reader_messages()
    for language in READER_LANGUAGES:
        if not (ROOT / "translations" / language / "LC_MESSAGES" / "messages.po").exists():
            continue
        missing = [key for key in fill(language, load_inbox(language)) if key.split("|")[0] in wanted]
        for key in missing:
            print(f"{language}: missing {key!r} (a letter or an email shows it)")
        status |= bool(missing)
    return status


if __name__ == "__main__":
    sys.exit(main())
