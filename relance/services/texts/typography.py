"""French typography, applied once where texts are made (the reminder texts, the French catalogue):
a no-break space before `:` and inside « », a narrow no-break space before `; ! ?`.

Only punctuation that ends a word and is followed by a space or the end of the text is touched, so URLs
(`https://`), times (`10:30`), query strings (`?a=1`) and HTML entities (`&amp;`) stay as they are.
"""

from __future__ import annotations

import re

NBSP, NNBSP = "\u00a0", "\u202f"
_ENTITY = re.compile(r"(&#?\w+;)")
_SPACES = " \u00a0\u202f"
_BEFORE = re.compile(rf"(?<=[^\s;:!?«])[{_SPACES}]?([:;!?])(?=[\s!?)»<]|$)")
_OPEN = re.compile(rf"«[{_SPACES}]?")
_CLOSE = re.compile(rf"[{_SPACES}]?»")
_TOUCHED = re.compile("[:;!?«»]")  # a text without these (a number, a date, an amount) is left as it is at once


def _fix(part: str) -> str:
    part = _BEFORE.sub(lambda m: (NBSP if m.group(1) == ":" else NNBSP) + m.group(1), part)
    return _CLOSE.sub(NBSP + "»", _OPEN.sub("«" + NBSP, part))


def french(text: str) -> str:
    """The text with French spacing around punctuation (HTML entities left alone)."""
    if not text or not _TOUCHED.search(text):
        return text
    return "".join(part if _ENTITY.fullmatch(part) else _fix(part) for part in _ENTITY.split(text))


def for_language(text: str, language: str | None) -> str:
    """`french(text)` for French (fr, fr_BE, ...), the text unchanged otherwise."""
    return french(text) if (language or "").lower().startswith("fr") else text
