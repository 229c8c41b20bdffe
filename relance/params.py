"""Ids, ranks, whole numbers and dates from query strings and forms, parsed in one place with their bounds.

A value out of bounds never reaches the database or the date arithmetic (an id past the database's integer range,
the year 9999 plus thirty days) and never answers 500:
- a query parameter: `int_arg`, `date_arg`, `id_arg` answer 400 (`BadParameter`, its message naming the parameter
  and the value, shown by the 400 handler, in JSON under /api/); an id past the database's integer range names
  nothing: 404, in a query string (`id_arg`) as in the path (`IdConverter`, the `int` converter of every route);
- a filter form that shows its errors itself (the follow-up list, the change history, the automatic run's test and
  dry run: 422): `parse_int` / `parse_date` raise `ParamError`, `collect` gathers the messages;
- a web form: `relance.forms.Form` checks every `DateField`, `relance.forms.Within` a whole number (422, the
  message on the field); an id a form sends is looked up with `lookup` / `valid_id` (None when it names nothing).
Page numbers are the pagination helper's (relance/pagination.py), not parsed here.

Dates: `FIRST_DAY`..`LAST_DAY` for the dates a page is asked about (filters, a test day); `DATA_FIRST_DAY`..
`DATA_LAST_DAY` for the dates a person stores (invoice, payment, pause, next reminder, a rate's start: the CSV
import's range, `importing.parse_date`).
"""

from __future__ import annotations

import re
from datetime import date

from flask import abort, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from relance.models.base import MAX_ID

MAX_RANK = 99  # reminder level ranks (the API's schema says the same)
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
DATA_FIRST_DAY, DATA_LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)

_WHOLE = re.compile(r"[+-]?[0-9]+")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ParamError(ValueError):
    """A value that cannot be used; `message` (translated) names the field and the value."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadParameter(BadRequest):
    """400: a query parameter out of bounds or unreadable; `description` is the message shown."""


def _shown(raw: str) -> str:
    raw = raw.strip()
    return raw if len(raw) <= 40 else raw[:39] + "\u2026"


def parse_int(raw: str | None, label: str, lo: int, hi: int) -> int | None:
    """A whole number between lo and hi; None when empty; else ParamError."""
    text = (raw or "").strip()
    if not text:
        return None
    if not _WHOLE.fullmatch(text):
        raise ParamError(_("%(field)s: %(value)s is not a whole number.", field=label, value=_shown(text)))
    if len(text) > 40 or not lo <= int(text) <= hi:  # (int() refuses more than 4,300 digits)
        raise ParamError(_("%(field)s: %(value)s is not between %(low)s and %(high)s.", field=label,
                           value=_shown(text), low=lo, high=hi))
    return int(text)


def parse_date(raw: str | None, label: str, lo: date = FIRST_DAY, hi: date = LAST_DAY) -> date | None:
    """A date written YYYY-MM-DD (the browser's date input) between lo and hi; None when empty; else ParamError."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        if not _ISO_DAY.fullmatch(text):
            raise ValueError(text)
        value = date.fromisoformat(text)
    except ValueError:
        raise ParamError(_("%(field)s: %(value)s is not a date (YYYY-MM-DD).", field=label,
                           value=_shown(text))) from None
    check_date(value, label, lo, hi)
    return value


def check_date(value: date, label: str, lo: date = FIRST_DAY, hi: date = LAST_DAY) -> date:
    """`value` itself, or ParamError when it is outside lo..hi."""
    if not lo <= value <= hi:
        raise ParamError(_("%(field)s: %(value)s is not between %(low)s and %(high)s.", field=label,
                           value=value.isoformat(), low=lo.isoformat(), high=hi.isoformat()))
    return value


def collect(errors: list, parse, *args):
    """`parse(*args)` (parse_int, parse_date), or None with its ParamError's message added to `errors`: for a page
    that shows its filters' errors in its own form."""
    try:
        return parse(*args)
    except ParamError as error:
        errors.append(error.message)
        return None


def valid_id(raw) -> int | None:
    """The id written in `raw` (a form or query value, an int) when it can name a row, else None: what a lookup
    uses, so nothing out of the database's integer range reaches a query."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw if raw is not None else "").strip()
        if not text.isascii() or not text.isdigit() or len(text) > 12:
            return None
        value = int(text)
    return value if 1 <= value <= MAX_ID else None


def lookup(model, raw):
    """The row of `model` whose id is written in `raw`, or None (also for anything that is not an id)."""
    from relance.extensions import db

    value = valid_id(raw)
    return db.session.get(model, value) if value is not None else None




def int_arg(name: str, lo: int, hi: int, default: int | None = None, label: str | None = None) -> int | None:
    """The query parameter `name` as a whole number in lo..hi (default when absent or empty), else 400."""
    try:
        value = parse_int(request.args.get(name), label or name, lo, hi)
    except ParamError as error:
        raise BadParameter(description=error.message) from None
    return default if value is None else value


def date_arg(name: str, lo: date = FIRST_DAY, hi: date = LAST_DAY, default: date | None = None,
             label: str | None = None) -> date | None:
    """The query parameter `name` as a date in lo..hi (default when absent or empty), else 400."""
    try:
        value = parse_date(request.args.get(name), label or name, lo, hi)
    except ParamError as error:
        raise BadParameter(description=error.message) from None
    return default if value is None else value


def id_arg(name: str, label: str | None = None) -> int | None:
    """The query parameter `name` as an id: None when absent or empty, 400 when not a whole number, 404 when out
    of the database's integer range (an id that names nothing)."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if not _WHOLE.fullmatch(raw):
        raise BadParameter(description=_("%(field)s: %(value)s is not a whole number.", field=label or name,
                                         value=_shown(raw)))
    value = valid_id(raw)
    if value is None:
        abort(404)
    return value


class IdConverter(IntegerConverter):
    """The `int` converter of every route: an id in the path past the database's integer range matches no route
    (404) instead of reaching a query (SQLite raises OverflowError, PostgreSQL "integer out of range")."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = MAX_ID,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app) -> None:
    """Before any route is added: `<int:...>` in a rule is an id (IdConverter)."""
    app.url_map.converters["int"] = IdConverter
