"""Amounts claimed on a late invoice: the level's penalty, statutory late interest and the recovery indemnity.

Everything is `Decimal`, rounded half-up once, at the end, to the precision of the invoice's currency (ISO 4217
through Babel: cents for EUR, GBP and USD, whole yen for JPY; amounts are stored with at most two decimals).
Rates come from the `statutory_rates` table (data with effective dates): a day with no rate gives no amount
(None) and a reason, never a guess.

The recovery indemnity is the creditor's country's rule (setting `indemnity_by_country`, keyed by the company's
country: "40.00" or "40.00 EUR"; without a currency, the country's own: 40 EUR in France, 40 GBP in the United
Kingdom). It is claimed in its own currency whatever the invoice's: an indemnity in the invoice's currency is part
of the total claimed, one in another currency (40 EUR on a USD invoice) is its own line, never added to it.

Interest (Code de commerce L441-10): simple interest on the amount outstanding each day, from the day after the
due date to the given date; a payment lowers the base from the day after its date (an amount paid on day P
was late P - due days). The rate of a day is the rate valid on 1 January (first half-year) or 1 July (second).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import cast

from babel.numbers import get_currency_precision, get_territory_currencies
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from relance.models import Invoice, Payment, Reminder, ReminderLevel, StatutoryRate
from relance.services.engine.levels import DONE_STATUSES

CENTS = Decimal("0.01")
ZERO = Decimal("0.00")
DAYS_IN_YEAR = Decimal(365)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)


@lru_cache(maxsize=256)
def money_step(currency: str) -> Decimal:
    """The smallest amount of a currency as Relance stores it: 0.01 (EUR, USD, GBP), 1 (JPY); never below a
    cent (money columns have two decimals: a dinar's third decimal is not kept)."""
    return Decimal(1).scaleb(-min(get_currency_precision((currency or "EUR").upper()), 2))


def rounded(value: Decimal, currency: str = "EUR") -> Decimal:
    """An amount rounded half-up to its currency's precision: 151038.63 JPY -> 151039, 18.765 EUR -> 18.77."""
    return Decimal(value).quantize(money_step(currency), rounding=ROUND_HALF_UP)


def level_penalty(kind: str, value: Decimal, total_incl_tax: Decimal, currency: str = "EUR") -> Decimal:
    """The level's penalty: none, a fixed amount, or a percent of the invoice total incl. tax (in the invoice's
    currency, rounded to its precision)."""
    if kind == "fixed":
        return rounded(Decimal(value), currency)
    if kind == "percent":
        return rounded(Decimal(total_incl_tax) * Decimal(value) / 100, currency)
    return rounded(ZERO, currency)


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
    currency: str = "EUR",
) -> Interest:
    """Interest on the outstanding amount from the day after `due_date` (or from `start`) to `on` inclusive,
    rounded to the precision of `currency`."""
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
    return Interest(rounded(amount, currency), max(days_late, 0), tuple(_merge(periods)))


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


@dataclass(frozen=True)
class IndemnityRule:
    """The creditor country's fixed recovery indemnity per late invoice: 40 EUR in France."""

    amount: Decimal
    currency: str


@lru_cache(maxsize=256)
def country_currency(country: str) -> str:
    """The currency of a country today (Babel's territory data): FR -> EUR, GB -> GBP; EUR when unknown."""
    found = get_territory_currencies((country or "").upper()) if country else []
    return found[0] if found else "EUR"


def parse_indemnity(value, country: str) -> IndemnityRule | None:
    """A stored value, "40.00" or "40.00 EUR" (the currency defaults to the country's), or None when unreadable."""
    return _parse_indemnity(str(value or ""), country or "")


@lru_cache(maxsize=256)
def _parse_indemnity(value: str, country: str) -> IndemnityRule | None:
    parts = value.split()
    if not parts or len(parts) > 2:
        return None
    try:
        amount = Decimal(parts[0])
    except ArithmeticError:
        return None
    if not amount.is_finite():
        return None
    currency = parts[1].upper() if len(parts) == 2 else country_currency(country)
    return IndemnityRule(rounded(amount, currency), currency)


def indemnity_rule(indemnity_by_country: dict, country: str) -> IndemnityRule | None:
    """The rule of the creditor's country (the company's), or None: no fixed indemnity there."""
    rule = parse_indemnity((indemnity_by_country or {}).get(country), country)
    return rule if rule is not None and rule.amount > 0 else None


def recovery_indemnity(indemnity_by_country: dict, country: str, customer_kind: str, days_late: int) -> Decimal:
    """The fixed indemnity per late invoice (business customers only; 40 EUR in France), in the currency of
    `indemnity_rule(...)`."""
    rule = indemnity_rule(indemnity_by_country, country)
    if rule is None or customer_kind != "business" or days_late <= 0:
        return ZERO
    return rule.amount


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
    currency: str = ""  # the invoice's: every amount but the indemnity ("": the indemnity's too)
    indemnity_currency: str = ""  # "": the invoice's currency

    @property
    def indemnity_apart(self) -> bool:
        """The indemnity is claimed in another currency than the invoice's: its own line, not in the total."""
        return indemnity_apart(self.indemnity, self.indemnity_currency, self.currency)


def indemnity_apart(indemnity: Decimal, indemnity_currency: str, currency: str) -> bool:
    """True when an indemnity in `indemnity_currency` is not part of a total in `currency`."""
    return bool(indemnity) and bool(indemnity_currency) and bool(currency) and indemnity_currency != currency


def claims_together(claims: Sequence[Claim]) -> Claim:
    """What a message for several invoices of one currency claims: the amounts added, the longest delay, every
    interest period (each with its own base and dates) and reason; interest not computed when one is not."""
    first = claims[0]
    interests = [c.interest for c in claims]
    return Claim(
        remaining_due=sum((c.remaining_due for c in claims), ZERO), days_late=max(c.days_late for c in claims),
        penalty=sum((c.penalty for c in claims), ZERO),
        interest=None if None in interests else sum((i for i in interests if i is not None), ZERO),
        indemnity=sum((c.indemnity for c in claims), ZERO),
        total_claimed=sum((c.total_claimed for c in claims), ZERO),
        interest_periods=tuple(p for c in claims for p in c.interest_periods),
        reasons=tuple(dict.fromkeys(r for c in claims for r in c.reasons)), currency=first.currency,
        indemnity_currency=next((c.indemnity_currency for c in claims if c.indemnity), first.indemnity_currency),
    )


def missing_rate_reason(day: date) -> str:
    """The words of a claim without interest: no rate for the half-year starting on `day` (current locale)."""
    return str(_l("No statutory interest rate from %(day)s in the rate table: interest not computed.",
                  day=day.isoformat()))


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
    currency: str = "EUR",
) -> Claim:
    """Penalty + statutory interest + indemnity for an invoice at a level, following the company settings.

    Amounts in the invoice's `currency`, rounded to its precision; the indemnity in the creditor country's
    rule's currency, added to the total only when that is the invoice's currency.
    Consumers: no indemnity; interest only when the company has a consumer rate, and only from the formal
    notice (`notice_date`), as French law has it.
    """
    remaining = Decimal(total) - Decimal(amount_paid)
    days_late = max(0, (on - due_date).days)
    reasons: list[str] = []
    penalty = level_penalty(penalty_kind, penalty_value, total, currency)
    interest: Decimal | None = rounded(ZERO, currency)
    periods: tuple[InterestPeriod, ...] = ()
    consumer = customer_kind == "consumer"
    table = rates.get("consumer" if consumer else "b2b") or RateTable([])
    if settings.statutory_interest and days_late > 0 and not (consumer and (not table.starts or not notice_date)):
        result = statutory_interest(total, payments, due_date, on, table,
                                    start=notice_date + timedelta(days=1) if consumer and notice_date else None,
                                    currency=currency)
        interest, periods = result.amount, result.periods
        if result.missing_from is not None:  # result.rate_missing, spelt out for the type checker
            reasons.append(missing_rate_reason(result.missing_from))
    rule = indemnity_rule(settings.indemnity_by_country, settings.company_country)
    indemnity = recovery_indemnity(settings.indemnity_by_country, settings.company_country, customer_kind, days_late)
    indemnity_currency = rule.currency if indemnity and rule is not None else currency  # no rule: no indemnity
    remaining = rounded(remaining, currency)
    total_claimed = remaining + penalty + (interest or ZERO)
    if not indemnity_apart(indemnity, indemnity_currency, currency):
        total_claimed += indemnity
    return Claim(remaining, days_late, penalty, interest, indemnity, rounded(total_claimed, currency), periods,
                 tuple(reasons), currency, indemnity_currency)


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
                      rates: dict[str, RateTable] | None = None, notices: dict[int, date] | None = None) -> Claim:
    """`compute_claim` for an Invoice row at a level (a formal notice level counts as the notice for consumers).
    `rates` (`load_rates`) and `notices` (`notice_dates` of the invoices at hand) read once for many invoices."""
    if notices is not None:
        notice = notices.get(invoice.id)
    else:
        notice = notice_date(session, invoice.id) if invoice.id else None
    if notice is None and level.formal_notice:
        notice = on
    return compute_claim(
        total=invoice.total_incl_tax, amount_paid=invoice.amount_paid,
        # only invoices with a due date are reminded (eligibility refuses the others first)
        payments=[(p.date, p.amount) for p in invoice.payments], due_date=cast(date, invoice.due_date), on=on,
        customer_kind=invoice.customer.kind, penalty_kind=level.penalty_kind, penalty_value=level.penalty_value,
        settings=settings, rates=rates if rates is not None else load_rates(session, settings.company_country),
        notice_date=notice, currency=invoice.currency,
    )


# --- many claims on one date (the selection, a run): the same amounts, computed set-wise -----------------------

@dataclass(frozen=True, slots=True)
class _Segment:
    """One half-year piece of the late days from a first late day to the claim's date, with its rate."""

    start: date
    end: date
    days: int
    rate: Decimal | None  # None: no rate for that half-year
    rate_days: Decimal | None  # rate x days (exact: the numerator of the interest before the base)


class Claims:
    """`compute_claim` for many invoices on one date `on`, with what they share worked out once.

    The half-year pieces from a first late day to `on` and their rates (one bisect per half-year) are cut once per
    distinct first late day and rate table, not once per invoice; the indemnity rule, the level penalties and the
    reasons' words once per run. An invoice with no payment after its first late day (almost all) then costs one
    multiplication, division and addition per half-year: `base x (rate x days) / 36500`, summed in the same order
    and rounded once as `statutory_interest` does, so the amounts are the same to the last digit (rate x days and
    base x rate x days are exact in Decimal; the same quotients are added in the same order). An invoice with
    payments inside its late period walks the same pieces cut at the payment days. `claim_for_invoice` (one
    invoice, plainly) stays the reference: `tests/test_claims_property.py` compares both on random invoices.
    """

    def __init__(self, on: date, settings, rates: dict[str, RateTable]):
        self.on = on
        self.settings = settings
        self.rates = dict(rates)  # a kind without rates gets an empty table, as in compute_claim
        self.interest_on = bool(settings.statutory_interest)
        self.rule = indemnity_rule(settings.indemnity_by_country, settings.company_country)
        self._segments: dict[tuple[str, date], tuple[_Segment, ...]] = {}
        self._penalties: dict[tuple, Decimal] = {}
        self._steps: dict[str, Decimal] = {}

    def _table(self, kind: str) -> RateTable:
        table = self.rates.get(kind)
        if table is None:
            table = self.rates[kind] = RateTable([])
        return table

    def segments(self, kind: str, first: date) -> tuple[_Segment, ...]:
        """The half-year pieces from `first` to `on` with the rate of each (table `kind`: "b2b" or "consumer")."""
        key = (kind, first)
        found = self._segments.get(key)
        if found is None:
            table, pieces, day = self._table(kind), [], first
            while day <= self.on:
                end = min(self.on, _next_boundary(day) - timedelta(days=1))
                rate = table.for_half_year(day)
                days = (end - day).days + 1
                pieces.append(_Segment(day, end, days, rate, None if rate is None else rate * days))
                day = end + timedelta(days=1)
            found = self._segments[key] = tuple(pieces)
        return found

    def penalty(self, kind: str, value: Decimal, total: Decimal, currency: str) -> Decimal:
        key = (kind, value, currency) if kind != "percent" else (kind, value, total, currency)
        found = self._penalties.get(key)
        if found is None:
            found = self._penalties[key] = level_penalty(kind, value, total, currency)
        return found

    def claim(self, *, total: Decimal, amount_paid: Decimal, payments: Iterable[tuple[date, Decimal]],
              due_date: date, customer_kind: str, penalty_kind: str, penalty_value: Decimal,
              notice_date: date | None = None, currency: str = "EUR", periods: bool = True) -> Claim:
        """`compute_claim(...)` for one invoice on `self.on` (the same arguments); `periods=False` leaves
        `interest_periods` empty (the selection does not show them)."""
        (remaining, days_late, penalty, interest, indemnity, total_claimed, found, reasons,
         indemnity_currency) = self.figures(total, amount_paid, payments, due_date, customer_kind, penalty_kind,
                                            penalty_value, notice_date, currency, periods)
        return Claim(remaining, days_late, penalty, interest, indemnity, total_claimed, found, reasons, currency,
                     indemnity_currency)

    def figures(self, total: Decimal, amount_paid: Decimal, payments: Iterable[tuple[date, Decimal]],
                due_date: date, customer_kind: str, penalty_kind: str, penalty_value: Decimal,
                notice_date: date | None, currency: str, periods: bool = False) -> tuple:
        """`claim(...)` as a plain tuple (remaining_due, days_late, penalty, interest, indemnity, total_claimed,
        interest_periods, reasons, indemnity_currency): what the selection reads, without making a Claim."""
        days_late = (self.on - due_date).days
        if days_late < 0:
            days_late = 0
        step = self._steps.get(currency)
        if step is None:
            step = self._steps[currency] = money_step(currency)
        penalty = self.penalty(penalty_kind, penalty_value, total, currency)
        interest: Decimal | None = ZERO.quantize(step, rounding=ROUND_HALF_UP)
        found: tuple[InterestPeriod, ...] = ()
        reasons: tuple[str, ...] = ()
        consumer = customer_kind == "consumer"
        if self.interest_on and days_late > 0:
            kind = "consumer" if consumer else "b2b"
            if not (consumer and (not self._table(kind).starts or not notice_date)):
                first = due_date + timedelta(days=1)
                if consumer and notice_date is not None and notice_date >= first:
                    first = notice_date + timedelta(days=1)
                amount, found, missing = self._interest(Decimal(total), payments, first, kind, periods)
                if missing is not None:
                    interest = None
                    found = ()
                    reasons = (missing_rate_reason(missing),)
                else:
                    interest = amount.quantize(step, rounding=ROUND_HALF_UP)
        rule = self.rule
        if rule is not None and days_late > 0 and customer_kind == "business":
            indemnity, indemnity_currency = rule.amount, rule.currency
        else:
            indemnity, indemnity_currency = ZERO, currency
        remaining = (Decimal(total) - Decimal(amount_paid)).quantize(step, rounding=ROUND_HALF_UP)
        total_claimed = remaining + penalty + (interest or ZERO)
        if not indemnity_apart(indemnity, indemnity_currency, currency):
            total_claimed += indemnity
        total_claimed = total_claimed.quantize(step, rounding=ROUND_HALF_UP)
        return remaining, days_late, penalty, interest, indemnity, total_claimed, found, reasons, indemnity_currency

    def _interest(self, total: Decimal, payments: Iterable[tuple[date, Decimal]], first: date, kind: str,
                  periods: bool) -> tuple[Decimal, tuple[InterestPeriod, ...], date | None]:
        """(unrounded amount, merged periods, first half-year without a rate) as `statutory_interest` has them."""
        outstanding = total
        changes: dict[date, Decimal] = {}
        for paid_on, paid in payments:
            if paid_on < first:
                outstanding -= Decimal(paid)
            else:
                after = paid_on + timedelta(days=1)
                changes[after] = changes.get(after, ZERO) + Decimal(paid)
        segments = self.segments(kind, first)
        amount = Decimal(0)
        if not changes or min(changes) > self.on:  # one base over the whole late period (the common case)
            if outstanding <= 0:
                return amount, (), None
            for segment in segments:
                if segment.rate_days is None:
                    return amount, (), half_year_start(segment.start)
                amount += outstanding * segment.rate_days / _DIVISOR
            if not periods:
                return amount, (), None
            return amount, tuple(_merge([InterestPeriod(s.start, s.end, s.days, outstanding, cast(Decimal, s.rate))
                                         for s in segments])), None
        cuts = sorted(d for d in changes if d <= self.on)
        found: list[InterestPeriod] = []
        for segment in segments:  # each half-year, cut at the days after the payments in it
            day = segment.start
            while day <= segment.end:
                if outstanding <= 0:
                    return amount, tuple(_merge(found)), None
                end = segment.end
                while cuts and cuts[0] <= day:
                    cuts.pop(0)
                if cuts and cuts[0] <= end:
                    end = cuts[0] - timedelta(days=1)
                if segment.rate is None:
                    return amount, (), half_year_start(day)
                days = (end - day).days + 1
                if periods:
                    found.append(InterestPeriod(day, end, days, outstanding, segment.rate))
                amount += outstanding * segment.rate * days / _DIVISOR
                day = end + timedelta(days=1)
                outstanding -= changes.pop(day, ZERO)
        return amount, tuple(_merge(found)), None


_DIVISOR = 100 * DAYS_IN_YEAR


def payments_of(session: Session, invoice_ids: Iterable[int]) -> dict[int, list[tuple[date, Decimal]]]:
    """Each invoice's payments (date, amount), in one query per 5,000 invoices."""
    found: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    ids = list(invoice_ids)
    for start in range(0, len(ids), 5000):
        query = select(Payment.invoice_id, Payment.date, Payment.amount).where(
            Payment.invoice_id.in_(bindparam("ids", ids[start:start + 5000], expanding=True)))
        for invoice_id, day, amount in session.execute(query):
            found[invoice_id].append((day, amount))
    return found


def claims_for_invoices(session: Session, items: Iterable[tuple[Invoice, ReminderLevel]], on: date, settings,
                        rates: dict[str, RateTable] | None = None) -> dict[int, Claim]:
    """`claim_for_invoice` of many (invoice, level) pairs at once: {invoice id: Claim}, set-wise (`Claims`): the
    rates, the payments (grouped per invoice) and the formal notices read in one query each."""
    pairs = list(items)
    ids = [invoice.id for invoice, _ in pairs]
    payments = payments_of(session, ids)
    notices = notice_dates(session, ids)
    claims = Claims(on, settings, rates if rates is not None else load_rates(session, settings.company_country))
    found: dict[int, Claim] = {}
    for invoice, level in pairs:
        notice = notices.get(invoice.id)
        if notice is None and level.formal_notice:
            notice = on
        found[invoice.id] = claims.claim(
            total=invoice.total_incl_tax, amount_paid=invoice.amount_paid, payments=payments.get(invoice.id, ()),
            due_date=cast(date, invoice.due_date), customer_kind=invoice.customer.kind,
            penalty_kind=level.penalty_kind, penalty_value=level.penalty_value, notice_date=notice,
            currency=invoice.currency)
    return found
