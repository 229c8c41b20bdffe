"""Every string of the code is translated in French and English, and the compiled catalogs are current."""

from __future__ import annotations

import re
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


READER_LANGUAGES = ("de", "es", "it", "nl")  # the customers' languages with letter and email words (not the screens)


def _reader_messages() -> set[str]:
    """What a letter or a reminder email shows (scripts/merge_translations.py `reader_messages`: the letter, invoice
    and email templates, and the words the texts and letters code writes for a reader)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("merge_translations", ROOT / "scripts" / "merge_translations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reader_messages()


def test_letter_and_email_words_are_translated_in_the_customers_languages():
    wanted = _reader_messages()
    assert {"Summary of the amounts due", "Principal (remaining due)", "Total due", "Our reference", "Invoice",
            "Days late", "%(num)d day", "principal outstanding: %(amount)s", "FORMAL NOTICE"} <= wanted
    assert "Invoice number" not in wanted  # a variable's description: the text editor's screen, not the letter
    for language in READER_LANGUAGES:
        catalog = _catalog(language)
        missing = []
        for key in wanted:
            entry = catalog.get(key)
            strings = entry.string if entry else None
            if not entry or not (all(strings) if isinstance(strings, (list, tuple)) else strings) or entry.fuzzy:
                missing.append(key)
            elif isinstance(entry.id, str):  # the same %(names)s on both sides
                assert set(re.findall(r"%\((\w+)\)", entry.id)) == set(re.findall(r"%\((\w+)\)", strings)), key
        assert missing == [], f"{language}: letter words untranslated (i18n/{language}/*.json): {sorted(missing)}"


def test_the_customers_catalogs_are_compiled_too():
    for language in READER_LANGUAGES:
        with (ROOT / "translations" / language / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
            compiled = {_hashable(m.id): _hashable(m.string) for m in read_mo(fh) if m.id}
        source = {_hashable(m.id): _hashable(m.string) for m in _catalog(language)
                  if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, (list, tuple)) else m.string)}
        # an untranslated plural is compiled as its English (Babel's write_mo), the same as no entry at all
        compiled = {key: value for key, value in compiled.items() if key not in source and value != key} | {
            key: value for key, value in compiled.items() if key in source}
        assert compiled == source, f"{language}: run the translations steps to compile"
