"""Figures for the dashboard: what is owed, how late, how far the reminders went, what failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from relance.models import Invoice, Reminder

# (key, lowest days late, highest days late); None = no bound. "not_due" holds invoices not yet due.
BUCKETS = [("not_due", None, 0), ("1_30", 1, 30), ("31_60", 31, 60), ("61_90", 61, 90), ("90_plus", 91, None)]


@dataclass
class CurrencyAging:
    currency: str
    count: int = 0
    total: Decimal = Decimal("0.00")
    overdue_count: int = 0
    overdue: Decimal = Decimal("0.00")
    buckets: dict[str, Decimal] = field(default_factory=lambda: {key: Decimal("0.00") for key, _, _ in BUCKETS})
    bucket_counts: dict[str, int] = field(default_factory=lambda: {key: 0 for key, _, _ in BUCKETS})


def open_invoice_filter():
    return (Invoice.is_open, Invoice.due_date.is_not(None))


def aging(session: Session, today: date) -> list[CurrencyAging]:
    """Remaining due of open invoices per currency and lateness bucket, in one grouped query."""
    remaining = Invoice.remaining_due
    whens = []
    for key, low, high in BUCKETS:
        if low is None:
            whens.append((Invoice.due_date >= today - timedelta(days=high), key))
        elif high is None:
            whens.append((Invoice.due_date <= today - timedelta(days=low), key))
        else:
            whens.append((Invoice.due_date.between(today - timedelta(days=high), today - timedelta(days=low)), key))
    bucket = case(*whens, else_="not_due")
    rows = session.execute(
        select(Invoice.currency, bucket.label("bucket"), func.count(), func.sum(remaining))
        .where(*open_invoice_filter())
        .group_by(Invoice.currency, bucket)
    ).all()
    result: dict[str, CurrencyAging] = {}
    for currency, key, count, total in rows:
        total = Decimal(str(total)).quantize(Decimal("0.01"))
        entry = result.setdefault(currency, CurrencyAging(currency))
        entry.buckets[key] += total
        entry.bucket_counts[key] += count
        entry.count += count
        entry.total += total
        if key != "not_due":
            entry.overdue_count += count
            entry.overdue += total
    return sorted(result.values(), key=lambda a: (-a.total, a.currency))


def level_counts(session: Session) -> dict[int | None, int]:
    """Open invoices by the highest level of reminder sent (None: never reminded)."""
    last = (
        select(Reminder.invoice_id, func.max(Reminder.level).label("level"))
        .where(Reminder.status.in_(("sent", "posted")))  # reached the customer
        .group_by(Reminder.invoice_id)
        .subquery()
    )
    rows = session.execute(
        select(last.c.level, func.count())
        .select_from(Invoice)
        .outerjoin(last, last.c.invoice_id == Invoice.id)
        .where(*open_invoice_filter())
        .group_by(last.c.level)
    ).all()
    return {level: count for level, count in rows}


def reminders_today(session: Session, since: datetime) -> dict[str, int]:
    rows = session.execute(
        select(Reminder.status, func.count()).where(Reminder.created_at >= since).group_by(Reminder.status)
    ).all()
    return dict(rows)


def failed_reminders(session: Session, limit: int = 10) -> tuple[int, list[Reminder]]:
    total = session.scalar(select(func.count()).select_from(Reminder).where(Reminder.status == "failed"))
    rows = session.scalars(
        select(Reminder).where(Reminder.status == "failed").order_by(Reminder.id.desc()).limit(limit)
    ).all()
    return total, list(rows)
