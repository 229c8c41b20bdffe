"""Text searches: "contains this text", case-insensitive, the one way every list and the API search.

What a person types is matched literally: `%` and `_` (LIKE's wildcards) and the escape character itself are
escaped, and the escape character is passed to the database with `escape=`, so a search for "100%" finds "100%"
and `q=%` finds only values holding a percent sign, never everything. tests/test_security.py checks that no
module of relance/ calls `.like(` or `.ilike(` but this one.
"""

from __future__ import annotations

from sqlalchemy import or_
from sqlalchemy.sql.elements import ColumnElement

ESCAPE = "\\"


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with % and _ taken literally (escape character `ESCAPE`)."""
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return f"%{escaped}%"


def contains(column, text: str) -> ColumnElement[bool]:
    """`column` holds `text` (any case: ILIKE on PostgreSQL, lower() LIKE lower() on SQLite)."""
    return column.ilike(like_pattern(text), escape=ESCAPE)


def any_contains(columns, text: str) -> ColumnElement[bool]:
    """One of `columns` holds `text`."""
    return or_(*(contains(column, text) for column in columns))
