"""Queries shared by the invoices and customers screens (lists, totals per currency, level reached)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import func, select, text

from relance.extensions import db
from relance.models import Invoice

# "Level reached" is the highest level of the reminders really sent (not pending, failed or cancelled ones).
COUNTED_REMINDER_STATUS = "sent"


def due_by_currency(*where) -> list[tuple[str, int, object]]:
    """[(currency, open invoice count, remaining due)] of the open invoices matching `where`."""
    return db.session.execute(
        select(Invoice.currency, func.count(), func.sum(Invoice.remaining_due))
        .where(Invoice.is_open, *where)
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    ).all()


def due_by_customer(customer_ids: list[int]) -> dict[int, list[tuple[str, int, object]]]:
    """{customer id: [(currency, open count, remaining due)]} for the given customers."""
    result: dict[int, list] = {}
    if not customer_ids:
        return result
    rows = db.session.execute(
        select(Invoice.customer_id, Invoice.currency, func.count(), func.sum(Invoice.remaining_due))
        .where(Invoice.is_open, Invoice.customer_id.in_(customer_ids))
        .group_by(Invoice.customer_id, Invoice.currency)
        .order_by(Invoice.customer_id, Invoice.currency)
    ).all()
    for customer_id, currency, count, total in rows:
        result.setdefault(customer_id, []).append((currency, count, total))
    return result


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with % and _ taken literally (escape character '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def page_args(args, drop=("page",)) -> dict[str, str]:
    """The non-empty query arguments, without `drop`: to build pager and sort links."""
    return {k: v for k, v in args.items() if k not in drop and v not in ("", None)}


@dataclass
class ListPage:
    """A page of a list, with what the pager needs (like Flask-SQLAlchemy's Pagination)."""

    page: int
    per_page: int
    total: int
    items: list = field(default_factory=list)

    def __post_init__(self):
        self.page = min(max(1, self.page), max(1, self.pages))

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

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


# The distinct currencies by walking the currency index (a few index seeks, not a scan of every invoice).
_CURRENCIES_SQL = text(
    "WITH RECURSIVE c(code) AS ("
    " SELECT MIN(currency) FROM invoices"
    " UNION ALL SELECT (SELECT MIN(currency) FROM invoices WHERE currency > c.code) FROM c WHERE c.code IS NOT NULL)"
    " SELECT code FROM c WHERE code IS NOT NULL"
)


def currencies_in_use() -> list[str]:
    return list(db.session.scalars(_CURRENCIES_SQL))
