"""One rule for control characters, shared by the web forms, the CSV import and the API, and applied again when a
message is built: a single-line text (invoice number, names, subjects) holds none (a carriage return would start
a new email header); a multi-line text keeps its line breaks and tabs."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # in a single line: tabs and line breaks too
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # in a multi-line text: line breaks and tabs pass


def control_error(value: str | None, multiline: bool = False):
    """The message refusing control characters in `value`, or None."""
    if not isinstance(value, str) or not (CONTROL_IN_TEXT if multiline else CONTROL).search(value):
        return None
    return _l("Control characters are not allowed.") if multiline else \
        _l("Control characters (line breaks, tabs...) are not allowed here.")


def single_line(value: str | None) -> str:
    """A text made safe for a header or a one-line PDF field: control characters become spaces."""
    return CONTROL.sub(" ", value or "")
