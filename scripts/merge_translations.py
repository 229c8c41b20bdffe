"""Merge translations into translations/*/messages.po, then report what is still missing.

- English: an empty msgstr gets the msgid (the code is written in English).
- French: msgstr taken from i18n/fr/*.json (msgid -> text; "singular|plural" -> [one, many]) when given, and every
  msgstr set in French typography (no-break spaces before : ; ! ?, relance/services/typography.py).
Run `make translations` before (extract + update) and after (compile).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relance.services.typography import french  # noqa: E402

# gettext's plural rule per language, kept whatever Babel's CLDR data says (Babel 2.19 gives French a third
# "many" form for millions, which no translation here fills)
PLURAL_FORMS = {"fr": (2, "(n > 1)"), "en": (2, "(n != 1)")}


def load_inbox() -> dict:
    inbox: dict = {}
    for path in sorted((ROOT / "i18n" / "fr").glob("*.json")):
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
    inbox = load_inbox()
    status = 0
    for language in ("en", "fr"):
        missing = fill(language, inbox)
        for key in missing:
            print(f"{language}: missing {key!r}")
        status |= bool(missing)
    return status


if __name__ == "__main__":
    sys.exit(main())
