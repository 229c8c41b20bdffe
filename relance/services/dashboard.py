"""Figures for the dashboard: what is owed, how late, how far the reminders went, what failed, and the
automatic runs (the next one, the last ones, the ones with problems)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import cast

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from relance import clock
from relance.models import Answer, Invoice, Reminder, Run
from relance.services import settings as settings_service
from relance.services.engine import schedule as engine
from relance.services.sending import autorun

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
            whens.append((Invoice.due_date >= today - timedelta(days=cast(int, high)), key))  # "not_due": 0
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
    total = session.scalars(select(func.count()).select_from(Reminder).where(Reminder.status == "failed")).one()
    rows = session.scalars(
        select(Reminder).where(Reminder.status == "failed").order_by(Reminder.id.desc()).limit(limit)
    ).all()
    return total, list(rows)


@dataclass
class AutomaticRuns:
    next_at: datetime  # aware, local
    next_date: date
    next_count: int
    next_letters: int
    note: str
    last_run: Run | None
    letters_run: Run | None  # the latest run with a daily letters PDF
    problem_runs: list[Run]  # failed runs, or runs with failed reminders, in the last 7 days
    late: bool  # no run finished in the last 26 hours while one was due


def automatic_runs(session: Session, now: datetime | None = None) -> AutomaticRuns:
    """The automatic runs' panel (templates/autorun/_dashboard.html): the next run, the last ones, problems."""
    settings = settings_service.load(session)
    now = now or clock.now()
    last_date = autorun.last_completed(session)
    moment = autorun.next_run_at(settings, now, last_date)
    on = moment.date()
    upcoming = autorun.plan(session, on, engine.default_now(on, settings), settings)
    last_run = session.scalar(select(Run).where(Run.kind == autorun.KIND, Run.dry_run.is_(False))
                              .order_by(Run.run_date.desc(), Run.id.desc()).limit(1))
    letters_run = session.scalar(select(Run).where(Run.kind == autorun.KIND, Run.letters_pdf_path.is_not(None))
                                 .order_by(Run.run_date.desc(), Run.id.desc()).limit(1))
    week = (now.astimezone(UTC).replace(tzinfo=None) - timedelta(days=7)).date()
    problems = list(session.scalars(select(Run).where(
        Run.kind == autorun.KIND, Run.dry_run.is_(False), Run.run_date >= week,
        (Run.status == "failed") | (Run.failed > 0)).order_by(Run.run_date.desc())))
    return AutomaticRuns(
        next_at=moment, next_date=on, next_count=sum(len(c) for _, c in upcoming.items),
        next_letters=sum(1 for _, c in upcoming.items if "letter" in c), note=upcoming.note, last_run=last_run,
        letters_run=letters_run, problem_runs=problems, late=autorun.is_late(session, settings, now),
    )


def calls_to_make(session: Session) -> int:
    """The phone calls the levels asked for that nobody has made yet (their outcome not recorded)."""
    return session.scalar(select(func.count()).select_from(Reminder).where(Reminder.status == "to_call")) or 0


def open_answers(session: Session) -> dict[str, int]:
    """{kind: count} of the customers' answers waiting for an agent, and "total"."""
    counts = dict(session.execute(select(Answer.kind, func.count()).where(Answer.status == "open")
                                  .group_by(Answer.kind)).all())
    return {**counts, "total": sum(counts.values())} if counts else {}
