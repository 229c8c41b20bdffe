"""Amounts claimed on a late invoice: the level's penalty, statutory late interest and the recovery indemnity.

Everything is `Decimal`, rounded half-up to cents once, at the end. Rates come from the `statutory_rates`
table (data with effective dates): a day with no rate gives no amount (None) and a reason, never a guess.

Interest (Code de commerce L441-10): simple interest on the amount outstanding each day, from the day after the
due date to the given date; a payment lowers the base from the day after its date (an amount paid on day P
was late P - due days). The rate of a day is the rate valid on 1 January (first half-year) or 1 July (second).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from relance.models import Invoice, Reminder, ReminderLevel, StatutoryRate
from relance.services.levels import DONE_STATUSES

CENTS = Decimal("0.01")
ZERO = Decimal("0.00")
DAYS_IN_YEAR = Decimal(365)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)


def level_penalty(kind: str, value: Decimal, total_incl_tax: Decimal) -> Decimal:
    """The level's penalty: none, a fixed amount, or a percent of the invoice total incl. tax."""
    if kind == "fixed":
        return cents(Decimal(value))
    if kind == "percent":
        return cents(Decimal(total_incl_tax) * Decimal(value) / 100)
    return ZERO


def half_year_start(day: date) -> date:
    return date(day.year, 1 if day.month <= 6 else 7, 1)


class RateTable:
    """The statutory rates of one country and kind, sorted by `valid_from`; `rate_on(day)` or None."""

    def __init__(self, rows: Iterable[tuple[date, Decimal]]):
        pairs = sorted(rows)
        self.starts = [start for start, _ in pairs]
        self.rates = [Decimal(rate) for _, rate in pairs]
        self._half_years: dict[date, Decimal | None] = {}

    def rate_on(self, day: date) -> Decimal | None:
        index = bisect_right(self.starts, day) - 1
        return self.rates[index] if index >= 0 else None

    def for_half_year(self, day: date) -> Decimal | None:
        """The rate valid on 1 Jan / 1 Jul of the half-year containing `day`."""
        start = half_year_start(day)
        if start not in self._half_years:
            self._half_years[start] = self.rate_on(start)
        return self._half_years[start]


def load_rates(session: Session, country: str) -> dict[str, RateTable]:
    """{"b2b": RateTable, "consumer": RateTable} for a country, in one query."""
    rows: dict[str, list[tuple[date, Decimal]]] = {"b2b": [], "consumer": []}
    query = select(StatutoryRate.kind, StatutoryRate.valid_from, StatutoryRate.rate).where(
        StatutoryRate.country == country)
    for kind, valid_from, rate in session.execute(query):
        rows.setdefault(kind, []).append((valid_from, rate))
    return {kind: RateTable(pairs) for kind, pairs in rows.items()}


@dataclass(frozen=True)
class InterestPeriod:
    start: date  # first day counted
    end: date  # last day counted
    days: int
    base: Decimal  # amount outstanding during the period
    rate: Decimal  # annual percent


@dataclass(frozen=True)
class Interest:
    amount: Decimal | None  # None: a rate is missing (see `missing_from`)
    days: int  # days late of the invoice at the given date (or at its full payment)
    periods: tuple[InterestPeriod, ...] = ()
    missing_from: date | None = None  # first half-year with no rate

    @property
    def rate_missing(self) -> bool:
        return self.missing_from is not None


def _next_boundary(day: date) -> date:
    """The first day of the next half-year."""
    return date(day.year, 7, 1) if day.month <= 6 else date(day.year + 1, 1, 1)


def statutory_interest(
    total: Decimal,
    payments: Iterable[tuple[date, Decimal]],
    due_date: date,
    on: date,
    rates: RateTable,
    start: date | None = None,
) -> Interest:
    """Interest on the outstanding amount from the day after `due_date` (or from `start`) to `on` inclusive."""
    first = max(due_date + timedelta(days=1), start or date.min)
    outstanding = Decimal(total)
    changes: dict[date, Decimal] = {}
    for paid_on, amount in payments:
        if paid_on < first:
            outstanding -= Decimal(amount)  # paid before anything ran: never late
        else:  # still late on the payment day itself, not from the next one
            changes[paid_on + timedelta(days=1)] = changes.get(paid_on + timedelta(days=1), ZERO) + Decimal(amount)
    cuts = sorted({d for d in changes if first < d <= on})
    periods: list[InterestPeriod] = []
    amount = Decimal(0)
    last_late_day = None
    day = first
    while day <= on and outstanding > 0:
        end = min(on, _next_boundary(day) - timedelta(days=1))
        while cuts and cuts[0] <= day:
            cuts.pop(0)
        if cuts and cuts[0] <= end:
            end = cuts[0] - timedelta(days=1)
        rate = rates.for_half_year(day)
        if rate is None:
            return Interest(None, max(0, (on - due_date).days), (), half_year_start(day))
        days = (end - day).days + 1
        periods.append(InterestPeriod(day, end, days, outstanding, rate))
        amount += outstanding * rate * days / (100 * DAYS_IN_YEAR)
        last_late_day = end
        day = end + timedelta(days=1)
        outstanding -= changes.pop(day, ZERO)
    days_late = (last_late_day - due_date).days if last_late_day else 0
    return Interest(cents(amount), max(days_late, 0), tuple(_merge(periods)))


def _merge(periods: list[InterestPeriod]) -> list[InterestPeriod]:
    """Join consecutive periods with the same base and rate (a half-year cut with an unchanged rate)."""
    merged: list[InterestPeriod] = []
    for period in periods:
        last = merged[-1] if merged else None
        if last and last.rate == period.rate and last.base == period.base and last.end + timedelta(1) == period.start:
            merged[-1] = InterestPeriod(last.start, period.end, last.days + period.days, last.base, last.rate)
        else:
            merged.append(period)
    return merged


def recovery_indemnity(indemnity_by_country: dict, country: str, customer_kind: str, days_late: int) -> Decimal:
    """The fixed indemnity per late invoice (business customers only; 40 EUR in France)."""
    if customer_kind != "business" or days_late <= 0:
        return ZERO
    return cents(Decimal(str(indemnity_by_country.get(country) or "0")))


@dataclass(frozen=True)
class Claim:
    """What a reminder claims for one invoice on a date."""

    remaining_due: Decimal
    days_late: int
    penalty: Decimal
    interest: Decimal | None
    indemnity: Decimal
    total_claimed: Decimal
    interest_periods: tuple[InterestPeriod, ...] = ()
    reasons: tuple[str, ...] = field(default=())


def compute_claim(
    *,
    total: Decimal,
    amount_paid: Decimal,
    payments: Iterable[tuple[date, Decimal]],
    due_date: date,
    on: date,
    customer_kind: str,
    penalty_kind: str,
    penalty_value: Decimal,
    settings,
    rates: dict[str, RateTable],
    notice_date: date | None = None,
) -> Claim:
    """Penalty + statutory interest + indemnity for an invoice at a level, following the company settings.

    Consumers: no indemnity; interest only when the company has a consumer rate, and only from the formal
    notice (`notice_date`), as French law has it.
    """
    remaining = Decimal(total) - Decimal(amount_paid)
    days_late = max(0, (on - due_date).days)
    reasons: list[str] = []
    penalty = level_penalty(penalty_kind, penalty_value, total)
    interest: Decimal | None = ZERO
    periods: tuple[InterestPeriod, ...] = ()
    consumer = customer_kind == "consumer"
    table = rates.get("consumer" if consumer else "b2b") or RateTable([])
    if settings.statutory_interest and days_late > 0 and not (consumer and (not table.starts or not notice_date)):
        result = statutory_interest(total, payments, due_date, on, table,
                                    start=notice_date + timedelta(days=1) if consumer and notice_date else None)
        interest, periods = result.amount, result.periods
        if result.rate_missing:
            reasons.append(str(_l("No statutory interest rate from %(day)s in the rate table: interest not computed.",
                                  day=result.missing_from.isoformat())))
    indemnity = recovery_indemnity(settings.indemnity_by_country, settings.company_country, customer_kind, days_late)
    total_claimed = remaining + penalty + (interest or ZERO) + indemnity
    return Claim(cents(remaining), days_late, penalty, interest, indemnity, cents(total_claimed), periods,
                 tuple(reasons))


def notice_dates(session: Session, invoice_ids: list[int]) -> dict[int, date]:
    """Each invoice's first formal notice done (it starts consumer interest), in one query."""
    if not invoice_ids:
        return {}
    return dict(session.execute(
        select(Reminder.invoice_id, func.min(Reminder.reminder_date))
        .where(Reminder.invoice_id.in_(invoice_ids), Reminder.formal_notice, Reminder.status.in_(DONE_STATUSES))
        .group_by(Reminder.invoice_id)).all())


def notice_date(session: Session, invoice_id: int) -> date | None:
    """Date of the first formal notice made for an invoice (it starts consumer interest)."""
    return notice_dates(session, [invoice_id]).get(invoice_id)


def claim_for_invoice(session: Session, invoice: Invoice, level: ReminderLevel, on: date, settings,
                      rates: dict[str, RateTable] | None = None) -> Claim:
    """`compute_claim` for an Invoice row at a level (a formal notice level counts as the notice for consumers)."""
    notice = notice_date(session, invoice.id) if invoice.id else None
    if notice is None and level.formal_notice:
        notice = on
    return compute_claim(
        total=invoice.total_incl_tax, amount_paid=invoice.amount_paid,
        payments=[(p.date, p.amount) for p in invoice.payments], due_date=invoice.due_date, on=on,
        customer_kind=invoice.customer.kind, penalty_kind=level.penalty_kind, penalty_value=level.penalty_value,
        settings=settings, rates=rates if rates is not None else load_rates(session, settings.company_country),
        notice_date=notice,
    )
