"""One way to page a list: `requested_page()` reads `?page=` (anything unreadable is page 1, anything huge the last
page, never an error), `paginate(statement, per_page)` counts and loads one page, and `Page` carries what the pager
shows (`{% from "macros.html" import pager %}`). Lists that load their page their own way (the invoices and mass
pages read the covering index) build a `Page` from the count and fill `items` for `Page.page`, which is already
clamped to the last page."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import request
from sqlalchemy import Select, func, select

from relance.extensions import db

MAX_PAGE = 1_000_000  # a bigger number asks for the last page (an OFFSET past 64 bits would fail in SQL)
_NUMBER = re.compile(r"\s*([+-]?)(\d+)\s*")


def page_number(raw: object) -> int:
    """A page number as typed in a URL or sent by a form: "3" -> 3; "", "abc", "0", "-3" -> 1; huge -> MAX_PAGE
    (then clamped to the last page by `Page`)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        number = raw
    elif isinstance(raw, str) and (match := _NUMBER.fullmatch(raw)):
        sign, digits = match.groups()
        digits = digits.lstrip("0") or "0"
        number = MAX_PAGE + 1 if len(digits) > len(str(MAX_PAGE)) else int(digits)
        number = -number if sign == "-" else number
    else:
        return 1
    return min(max(1, number), MAX_PAGE)


def requested_page(args: Mapping | None = None, name: str = "page") -> int:
    """The page asked for in `args` (the request's query string by default)."""
    return page_number((request.args if args is None else args).get(name, ""))


def kept_args(args: Mapping, drop: tuple[str, ...] = ("page",)) -> dict[str, str]:
    """The non-empty query arguments, without `drop`: what the pager and sort links keep."""
    return {k: v for k, v in args.items() if k not in drop and v not in ("", None)}


@dataclass
class Page:
    """One page of a list and what the pager needs. `page` is clamped to 1..pages (a page past the end shows the
    last one); `args` are the other query arguments the pager's links keep (filters, sort)."""

    page: int
    per_page: int
    total: int
    items: list = field(default_factory=list)
    args: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.page = min(page_number(self.page), self.pages)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1

    def url_args(self, number: int) -> dict:
        """The query arguments of the link to page `number`."""
        return {**self.args, "page": number}


def paginate(statement: Select, per_page: int, page: int | None = None, args: Mapping | None = None) -> Page:
    """Count the rows of `statement`, then load the asked page (the last one when asked past the end). `page`
    defaults to the one asked in `args` (the request's query string by default), which the pager's links keep."""
    args = request.args if args is None else args
    total = db.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    result = Page(page=requested_page(args) if page is None else page, per_page=per_page, total=total,
                  args=kept_args(args))
    if total:
        result.items = list(db.session.scalars(statement.limit(per_page).offset(result.offset)).unique())
    return result
