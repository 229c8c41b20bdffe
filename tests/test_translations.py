"""Every string of the code is translated in French and English, and the compiled catalogs are current."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None,
            "lazy_ngettext": (1, 2)}
METHODS = [("relance/**.py", "python"), ("relance/templates/**.html", "jinja2"),
           ("relance/templates/**.txt", "jinja2")]


def _code_messages() -> set:
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=METHODS, keywords=KEYWORDS
    ):
        found.add(tuple(message) if isinstance(message, (list, tuple)) else message)
    return found


def _hashable(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _catalog(language: str):
    with (ROOT / "translations" / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=language)


def test_every_string_is_translated():
    messages = _code_messages()
    assert len(messages) > 40
    for language in ("fr", "en"):
        catalog = _catalog(language)
        missing = []
        for message in messages:
            key = message[0] if isinstance(message, tuple) else message
            entry = catalog.get(key)
            strings = entry.string if entry else None
            if not entry or not (all(strings) if isinstance(strings, (list, tuple)) else strings) or entry.fuzzy:
                missing.append(key)
        assert missing == [], f"{language}: untranslated (run `make translations`): {sorted(missing)[:20]}"


def test_compiled_catalogs_match_the_po_files():
    for language in ("fr", "en"):
        with (ROOT / "translations" / language / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
            compiled = {_hashable(m.id): _hashable(m.string) for m in read_mo(fh) if m.id}
        source = {_hashable(m.id): _hashable(m.string) for m in _catalog(language) if m.id and not m.fuzzy}
        assert compiled == source, f"{language}: run `make translations` to compile"
