"""The languages a customer may read: any language Babel has locale data for, stored as its code ("de", "nl",
"de_CH"). Relance ships its default reminder texts and its letter and email words (the gettext catalogues) in
`SHIPPED`; a manager may write the texts of any other language; the user interface stays in French and English.

- `normalize(raw)`: a code as stored ("de-ch" -> "de_CH"), or None when Babel does not know it.
- `parse(raw)`: a code or a language's name, in the shipped languages or in its own ("allemand", "German",
  "Deutsch", "español", "Nederlands"), as the CSV import and the API accept it; `UnknownLanguage` otherwise.
- `language_label(code, reader)`: "German" / "Allemand" / "Deutsch (Schweiz)" in the reader's language.
- `choices(reader)`: the shipped languages first, then every other language by its name in the reader's language.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.localedata import locale_identifiers
from flask_babel import get_locale

SHIPPED = ("fr", "en", "de", "es", "it", "nl")  # default texts and letter/email catalogues
UI_LANGUAGES = ("fr", "en")  # the languages of the screens
MAX_CODE = 8  # the columns holding a language (customers, templates, reminders) are String(8)


class UnknownLanguage(ValueError):
    """Not a language Babel knows (or a code too long to be stored)."""


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", (text or "").strip().lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", text)


@lru_cache(maxsize=1024)
def normalize(raw: str | None) -> str | None:
    """The stored form of a language code (Babel's identifier: "de", "de_CH", "sr_Latn"), None when unknown."""
    text = (raw or "").strip().replace("-", "_")
    if not text or not re.fullmatch(r"[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8}){0,2}", text):
        return None
    try:
        code = str(Locale.parse(text))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    return code if len(code) <= MAX_CODE else None


def base(code: str) -> str:
    """The language without its region or script: de_CH -> de."""
    return (code or "").split("_")[0]


@lru_cache(maxsize=1)
def _known_codes() -> tuple[str, ...]:
    """The plain languages with locale data (no region variant: the customer's country gives the formats)."""
    return tuple(sorted(code for code in locale_identifiers() if "_" not in code and len(code) <= MAX_CODE))


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    """Folded name or code -> code: every known language by its code, its own name and its names in the shipped
    languages (the first name found wins when two languages share one)."""
    names: dict[str, str] = {}
    codes = _known_codes()
    for code in codes:
        names[code] = code
    for code in SHIPPED:  # the shipped languages' names first: "allemand" is German whatever else is called so
        for reader in SHIPPED:
            names.setdefault(_fold(Locale.parse(reader).languages.get(code, "")), code)
        names.setdefault(_fold(Locale.parse(code).get_display_name(code) or ""), code)
    for code in codes:
        names.setdefault(_fold(Locale.parse(code).get_display_name(code) or ""), code)
        for reader in SHIPPED:
            names.setdefault(_fold(Locale.parse(reader).languages.get(code, "")), code)
    names.pop("", None)
    return names


def parse(raw: str) -> str:
    """A code ("de", "DE", "de-CH") or a name ("allemand", "German", "Deutsch") -> the stored code."""
    code = normalize(raw)
    if code is None:
        code = _names().get(_fold(raw))
    if code is None:
        raise UnknownLanguage(raw)
    return code


def _reader(reader: str | None) -> str:
    return reader or str(get_locale() or "fr")


@lru_cache(maxsize=4096)
def _display(code: str, reader: str) -> str:
    """The name with a capital (a label, a list item): "Allemand", "German", "Deutsch (Schweiz)"."""
    try:
        name = Locale.parse(code).get_display_name(reader) or code
    except (UnknownLocaleError, ValueError):
        return code
    return name[:1].upper() + name[1:]


def language_label(code: str | None, reader: str | None = None) -> str:
    """The language's name in the reader's language (the current locale when None), as a label: "Allemand",
    "German". In a sentence: `engine.readiness.language_name` ("allemand")."""
    if not code:
        return ""
    return _display(code, str(_reader(reader)))


@lru_cache(maxsize=16)
def _choices(reader: str) -> tuple[tuple[str, str], ...]:
    shipped = [(code, _display(code, reader)) for code in SHIPPED]
    others = sorted(((code, _display(code, reader)) for code in _known_codes() if code not in SHIPPED),
                    key=lambda pair: (_fold(pair[1]), pair[0]))
    return (*shipped, *others)


def choices(reader: str | None = None, keep: str | None = None) -> list[tuple[str, str]]:
    """(code, name) for a select: the shipped languages first, then the others by name in the reader's language;
    `keep`: a stored code that is not in the list (a region variant like de_CH) is offered too, after the six."""
    listed = list(_choices(str(_reader(reader))))
    if keep and keep not in {code for code, _name in listed} and normalize(keep):
        listed.insert(len(SHIPPED), (keep, language_label(keep, reader)))
    return listed
