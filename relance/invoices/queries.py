"""Queries shared by the invoices and customers screens (lists, totals per currency, level reached)."""

from __future__ import annotations

from sqlalchemy import and_, func, select

from relance.extensions import db
from relance.models import Invoice, Reminder

# Reminders that count for "level reached": the ones made, not the cancelled or failed ones.
COUNTED_REMINDER_STATUSES = ("pending", "sent")


def remaining_expr():
    return Invoice.total_incl_tax - Invoice.amount_paid


def open_clause():
    """Counts as due: a validated invoice (never a credit note, draft or cancelled one) with something left."""
    return and_(Invoice.status == "validated", Invoice.kind == "invoice", Invoice.total_incl_tax > Invoice.amount_paid)


def level_reached_expr():
    """The highest reminder level made for the invoice (NULL when none), as a correlated subquery."""
    return (
        select(func.max(Reminder.level))
        .where(Reminder.invoice_id == Invoice.id, Reminder.status.in_(COUNTED_REMINDER_STATUSES))
        .correlate(Invoice)
        .scalar_subquery()
    )


def due_by_currency(*where) -> list[tuple[str, int, object]]:
    """[(currency, open invoice count, remaining due)] of the open invoices matching `where`."""
    return db.session.execute(
        select(Invoice.currency, func.count(), func.sum(remaining_expr()))
        .where(open_clause(), *where)
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    ).all()


def due_by_customer(customer_ids: list[int]) -> dict[int, list[tuple[str, int, object]]]:
    """{customer id: [(currency, open count, remaining due)]} for the given customers."""
    result: dict[int, list] = {}
    if not customer_ids:
        return result
    rows = db.session.execute(
        select(Invoice.customer_id, Invoice.currency, func.count(), func.sum(remaining_expr()))
        .where(open_clause(), Invoice.customer_id.in_(customer_ids))
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
