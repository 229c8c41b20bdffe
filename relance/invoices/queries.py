"""Queries shared by the invoices and customers screens (lists, totals per currency, level reached)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from functools import cache

from sqlalchemy import Row, and_, case, func, or_, select, text
from sqlalchemy.orm import aliased

from relance.extensions import db
from relance.invoices.forms import CURRENCIES
from relance.models import INVOICE_STATUSES, Customer, Invoice, Reminder
from relance.search import any_contains, contains
from relance.services.engine.levels import DELIVERED_STATUSES

# "Level reached" is the highest level of the reminders that reached the customer (emails sent, letters posted).
COUNTED_REMINDER_STATUSES = DELIVERED_STATUSES
SORTS = ("due", "-due", "late", "remaining", "number", "-issue")
LEVELS = ("none", "0", "1", "2", "3")


# --- the invoices list's filters, conditions and order (also the mass reminder page's) -------------------------

def list_filters(args) -> dict:
    """The list's filters from the query string (unknown values are ignored)."""
    def one_of(name, allowed):
        value = args.get(name, "")
        return value if value in allowed else ""

    return {
        "q": args.get("q", "").strip(),
        "status": one_of("status", (*INVOICE_STATUSES, "open")),
        "overdue": args.get("overdue") == "1",
        "level": one_of("level", LEVELS),
        "currency": one_of("currency", CURRENCIES),
        "customer": args.get("customer", "").strip(),
        "sort": one_of("sort", SORTS) or "due",
    }


def list_conditions(f: dict, today: date) -> list:
    """WHERE terms that the covering index ix_invoices_list answers (customers and reminders via id subqueries)."""
    conditions: list = []
    if f["q"]:
        numbered = aliased(Invoice)
        conditions.append(or_(
            Invoice.id.in_(select(numbered.id).where(contains(numbered.number, f["q"]))),
            Invoice.customer_id.in_(select(Customer.id).where(any_contains((Customer.name, Customer.code), f["q"]))),
        ))
    if f["status"] == "open":
        conditions.append(Invoice.is_open)
    elif f["status"]:
        conditions.append(Invoice.status == f["status"])
    if f["overdue"]:
        conditions += [Invoice.is_open, Invoice.due_date < today]
    counted = Reminder.status.in_(COUNTED_REMINDER_STATUSES)
    if f["level"] == "none":
        conditions.append(Invoice.id.not_in(select(Reminder.invoice_id).where(counted)))
    elif f["level"]:
        conditions.append(Invoice.id.in_(
            select(Reminder.invoice_id).where(counted).group_by(Reminder.invoice_id)
            .having(func.max(Reminder.level) == int(f["level"]))))
    if f["currency"]:
        conditions.append(Invoice.currency == f["currency"])
    if f["customer"]:
        conditions.append(Invoice.customer_id.in_(select(Customer.id).where(Customer.code == f["customer"])))
    return conditions


def list_order(sort: str, today: date, overdue_only: bool = False, open_dated: bool = False) -> tuple:
    """ORDER BY terms of a sort key (one of SORTS). `overdue_only`: every row is late; `open_dated`: every row is
    unpaid with a due date (the mass page). Then "late" is the due date order too."""
    if (overdue_only or open_dated) and sort in ("due", "late", "-due"):
        # Every row has a due date: plain due date order, which the index gives without sorting.
        direction = Invoice.due_date.desc() if sort == "-due" else Invoice.due_date.asc()
        return direction, Invoice.id.desc() if sort == "-due" else Invoice.id.asc()
    late = and_(Invoice.is_open, Invoice.due_date < today)
    return {
        "due": (Invoice.due_date.is_(None), Invoice.due_date.asc(), Invoice.id.asc()),
        "-due": (Invoice.due_date.is_(None), Invoice.due_date.desc(), Invoice.id.desc()),
        # Most days late first: late invoices by oldest due date, then the others.
        "late": (case((late, 0), else_=1), Invoice.due_date.is_(None), Invoice.due_date.asc(), Invoice.id.asc()),
        "remaining": (case((Invoice.is_open, 0), else_=1), Invoice.remaining_due.desc(), Invoice.id.asc()),
        "number": (Invoice.number.asc(),),
        "-issue": (Invoice.issue_date.desc(), Invoice.id.desc()),
    }[sort]



@cache
def _open_currencies_select():
    """The statement of `open_currencies`, built once (building it took ten times as long as running it)."""
    seen = select(func.min(Invoice.currency).label("code")).cte("currencies", recursive=True)
    seen = seen.union_all(select(select(func.min(Invoice.currency)).where(Invoice.currency > seen.c.code)
                                 .scalar_subquery()).where(seen.c.code.is_not(None)))
    used = select(Invoice.id).where(Invoice.currency == seen.c.code, Invoice.is_open).exists()
    return select(seen.c.code).where(seen.c.code.is_not(None), used).order_by(seen.c.code)


def open_currencies() -> list[str]:
    """The currencies of the unpaid invoices, in order: one index seek per currency (a loose index scan written
    as a recursive query) instead of reading every open invoice."""
    return list(db.session.scalars(_open_currencies_select()))


def due_by_currency(*where) -> Sequence[Row[str, int, Decimal]]:
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




# The distinct currencies by walking the currency index (a few index seeks, not a scan of every invoice).
_CURRENCIES_SQL = text(
    "WITH RECURSIVE c(code) AS ("
    " SELECT MIN(currency) FROM invoices"
    " UNION ALL SELECT (SELECT MIN(currency) FROM invoices WHERE currency > c.code) FROM c WHERE c.code IS NOT NULL)"
    " SELECT code FROM c WHERE code IS NOT NULL"
)


def currencies_in_use() -> list[str]:
    return list(db.session.scalars(_CURRENCIES_SQL))
