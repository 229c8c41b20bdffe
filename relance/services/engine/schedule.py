"""Which reminder is due for which invoice on a date, and why (not).

Rules, for an open invoice (validated, kind invoice, with a due date and something left to pay):
- its next level is the lowest active level above the highest level done (a "done" reminder is pending or
  sent); the before-due level (rank 0) is skipped once the due date has passed. One level per run, so a missed
  week of runs catches up one level at a time, and level 2+ only comes after the level below was done;
- the level's date = its delay applied to the due date (basis "due_date") or to the last reminder's date
  (basis "previous"; the due date when there is none); it must have come;
- at least `min_days_between` days since the last reminder of the invoice;
- when the last reminder was made by hand with a "next reminder date", nothing before that date;
- automatic runs only: a reminder made by hand in the last `manual_cancels_hours` hours cancels the automatic
  one, the level must be automatic, the invoice and the customer must accept automatic reminders, and with the
  business-day setting nothing is sent on a weekend or public holiday (dates falling on one move to the next
  business day);
- exclusions, with their reason: customer paused until a date, direct debit customers (setting), consumer
  customers on a penalty level (setting), remaining due below the minimum (setting);
- go-live (`services/golive.py` records it): the automatic view sends nothing until the go-live step is done
  (setting `auto_start_date` empty) nor before that date; an invoice whose due date is before the go-live date
  (`go_live_date`) was already overdue when the company went live: it is never chased automatically
  (`before_go_live`) until a person brings it into the automatic schedule from a level (`Invoice.auto_from_rank`:
  its next level is then the lowest active level at or above that one, in both views).

`schedule()` selects in one set-based SQL query (plus a constant number of small ones); `reference_schedule()`
is the plain per-invoice version the tests and the bench compare it with; `explain()` says it in words.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property, lru_cache
from operator import itemgetter
from types import SimpleNamespace
from typing import NamedTuple, cast
from zoneinfo import ZoneInfo

import holidays
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Date, DateTime, and_, bindparam, case, func, literal, not_, null, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session, aliased

from relance.models import (
    Answer,
    Contact,
    Customer,
    Invoice,
    Policy,
    Reminder,
    ReminderLevel,
    Template,
    User,
    customer_sales_reps,
)
from relance.models.reminder import level_label
from relance.services import gc_pause
from relance.services import settings as settings_service
from relance.services.engine import recipients as recipients_service
from relance.services.engine.holds import HOLD_CODES, held_ids, hold_of, holds
from relance.services.engine.levels import (
    CHANNEL_LABELS,
    DELIVERED_STATUSES,
    DONE_STATUSES,
    channels_of,
    default_policy_id,
    delay_text,
    no_level_message,
    parse_delay,
    written_channels,
)
from relance.services.engine.penalties import Claims, compute_claim, load_rates, payments_of

SKIP_CODES = ("invoice_no_auto", "customer_no_auto", "manual_level", "recent_manual", "before_go_live", "paused",
              *HOLD_CODES, "direct_debit", "consumer_penalty", "below_minimum")


# --- results ------------------------------------------------------------------------------------------------

class DueReminder(NamedTuple):
    """One reminder to make: what senders need (amounts in Decimal, addresses validated).

    A named tuple rather than a frozen dataclass: the selection makes up to a million of them, and a tuple is made
    from its values in one step (`tuple.__new__(DueReminder, values)`: 0.15 us, where setting the fields of a
    frozen dataclass one by one took over 1 us); its fields read as attributes all the same, it is as immutable."""

    invoice_id: int
    invoice_number: str
    customer_id: int
    customer_code: str
    customer_name: str
    level: int  # rank
    level_name: str
    channels: tuple[str, ...]
    automatic: bool  # the level is automatic
    due_date: date
    remaining_due: Decimal
    days_late: int
    penalty: Decimal
    interest: Decimal | None  # None: rate missing (see reasons)
    indemnity: Decimal
    total_claimed: Decimal
    currency: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    sender: str
    language: str
    reasons: tuple[str, ...] = ()
    indemnity_currency: str = ""  # "": the invoice's (an indemnity in another currency is not in the total)
    level_id: int = 0  # the level (of the customer's policy) whose rank is `level`

    @property
    def indemnity_apart(self) -> bool:
        """The indemnity is in another currency than the invoice's (not part of `total_claimed`)."""
        return bool(self.indemnity) and self.indemnity_currency not in ("", self.currency)

    def as_json(self) -> dict:
        money = lambda v: None if v is None else f"{v:.2f}"  # noqa: E731
        return {"invoice": self.invoice_number, "customer": self.customer_code, "level": self.level,
                "channels": list(self.channels), "remaining_due": money(self.remaining_due),
                "days_late": self.days_late, "penalty": money(self.penalty), "interest": money(self.interest),
                "indemnity": money(self.indemnity), "total_claimed": money(self.total_claimed),
                "currency": self.currency, "indemnity_currency": self.indemnity_currency or self.currency,
                "to": list(self.to), "cc": list(self.cc), "language": self.language}


@dataclass(frozen=True)
class Skipped:
    """An invoice whose next level's date has come but that is excluded, with the reason."""

    invoice_id: int
    invoice_number: str
    customer_code: str
    level: int
    code: str  # one of SKIP_CODES
    reason: str


@dataclass
class Schedule:
    on: date
    due: list[DueReminder] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    note: str = ""  # e.g. not a business day


# --- facts shared by the set-based query and the reference ----------------------------------------------------

@dataclass(slots=True)
class Facts:
    """What the rules need about one open invoice, gathered one by one (the reference, explain, the rulebook's
    checks); the set-based selection reads the same values from its rows (`_build_rows`)."""

    invoice_id: int
    number: str
    customer_id: int
    customer_code: str
    customer_name: str
    customer_kind: str
    customer_language: str
    customer_email: str
    customer_no_auto: bool
    paused_until: date | None
    direct_debit: bool
    invoice_no_auto: bool
    due_date: date
    currency: str
    total: Decimal
    amount_paid: Decimal
    followup_contact: str | None
    billing_contact: str | None
    followup_user: str | None
    creator: str | None
    max_rank: int | None  # highest level done
    last_date: date | None  # date of the last reminder done
    # from the invoice's done reminders, for the selected invoices only (`reduce_done`)
    recent_manual: bool = False  # a reminder made by hand in the last N hours
    notice_date: date | None = None  # first formal notice done
    manual_next: date | None = None  # "next reminder date" of the last reminder when it was made by hand
    in_flight: int | None = None  # the highest level done when none of its reminders is delivered yet
    auto_from_rank: int | None = None  # brought into the automatic schedule from this level (go-live)
    hold: tuple[str, tuple] | None = None  # a customer's answer holding the reminders (`holds.hold_of`)
    policy_id: int | None = None  # the customer's policy (None: the default one)

    @property
    def remaining(self) -> Decimal:
        return self.total - self.amount_paid


def default_now(on: date, settings) -> datetime:
    """The moment of the automatic run on `on` (its hour in its time zone), as naive UTC like `created_at`."""
    local = datetime.combine(on, time(settings.auto_hour), tzinfo=ZoneInfo(settings.auto_timezone))
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


@lru_cache(maxsize=64)
def _holidays(country: str, year: int):
    try:
        return holidays.country_holidays(country, years=year)
    except NotImplementedError:
        return {}


def is_business_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(country, day.year)


def next_business_day(day: date, country: str) -> date:
    while not is_business_day(day, country):
        day += timedelta(days=1)
    return day


@dataclass(frozen=True)
class Level:
    """A read-only copy of a ReminderLevel for one run (no ORM access per invoice)."""

    rank: int
    names: dict
    delay: str
    basis: str
    automatic: bool
    channels: str
    penalty_kind: str
    penalty_value: Decimal
    formal_notice: bool
    phone_call: bool = False
    id: int = 0
    policy_id: int = 0

    @classmethod
    def of(cls, level: ReminderLevel) -> Level:
        return cls(level.rank, dict(level.names or {}), level.delay, level.basis, level.automatic, level.channels,
                   level.penalty_kind, level.penalty_value, level.formal_notice, bool(level.phone_call), level.id,
                   level.policy_id)

    def name(self, language: str) -> str:  # as ReminderLevel.name
        return level_label(self.names, language, self.rank)


@dataclass(frozen=True)
class _Rules:
    """The settings and levels of one run, read once."""

    on: date
    now: datetime
    automatic: bool
    settings: SimpleNamespace
    policies: dict[int, tuple[Level, ...]]  # {policy id: its active levels by rank}
    default_policy: int
    chosen: tuple[int, ...] = ()  # the other policies some customers follow (the selection tells them apart)

    @cached_property
    def go_live(self) -> date | None:
        """The go-live date: invoices due before it were overdue then (None: the go-live step is not done)."""
        return _iso_day(self.settings.go_live_date)

    @cached_property
    def auto_start(self) -> date | None:
        """The first day the automatic runs send (None: the go-live step is not done)."""
        return _iso_day(self.settings.auto_start_date)

    def policy(self, policy_id: int | None) -> int:
        """The policy a customer's `policy_id` stands for (None, or one no longer there: the default; a policy without
        active levels stays itself: its customers are not reminded)."""
        return policy_id if policy_id in self.policies else self.default_policy

    def levels_of(self, policy_id: int | None = None) -> tuple[Level, ...]:
        """The active levels of a customer's policy (None: the default policy), by rank."""
        return self.policies[self.policy(policy_id)]

    def ranks(self, policy_id: int | None = None) -> list[int]:
        return [level.rank for level in self.levels_of(policy_id)]

    def level(self, rank: int, policy_id: int | None = None) -> Level:
        return self.by_rank[self.policy(policy_id)][rank]

    def ranked(self, policy_id: int | None = None) -> dict[int, Level]:
        """{rank: level} of a customer's policy (None: the default policy)."""
        return self.by_rank[self.policy(policy_id)]

    @cached_property
    def by_rank(self) -> dict[int | None, dict[int, Level]]:
        """{policy id: {rank: level}}; None: the default policy's."""
        found: dict[int | None, dict[int, Level]] = {pid: {level.rank: level for level in levels}
                                                     for pid, levels in self.policies.items()}
        found[None] = found[self.default_policy]
        return found


def _iso_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:  # a setting edited by hand into nonsense: treated as not done
        return None


def _rules(session: Session, on: date, now: datetime | None, automatic: bool) -> _Rules:
    settings = SimpleNamespace(**settings_service.load(session).as_dict())  # plain attributes: read per row
    default = default_policy_id(session)
    policies: dict[int, list[Level]] = {policy: [] for policy in session.scalars(select(Policy.id))}
    for level in session.scalars(select(ReminderLevel).where(ReminderLevel.active)
                                 .order_by(ReminderLevel.policy_id, ReminderLevel.rank)):
        policies.setdefault(level.policy_id, []).append(Level.of(level))
    chosen = tuple(sorted(policy for policy in session.scalars(
        select(Customer.policy_id).where(Customer.policy_id.is_not(None)).distinct())
        if policy is not None and policy != default))
    return _Rules(on, now or default_now(on, settings), automatic, settings,
                  {policy: tuple(levels) for policy, levels in policies.items()}, default, chosen)


def next_rank(max_rank: int | None, due_date: date, rules: _Rules, from_rank: int | None = None,
              policy_id: int | None = None) -> int | None:
    """The lowest active rank of the customer's policy above the highest done; rank 0 only until the due date; with
    `from_rank` (an invoice brought into the automatic schedule from that level) none below it."""
    for rank in rules.ranks(policy_id):
        if (rank > (-1 if max_rank is None else max_rank) and (rank > 0 or due_date >= rules.on)
                and (from_rank is None or rank >= from_rank)):
            return rank
    return None


def earliest_date(facts: Facts, level: Level, rules: _Rules) -> date:
    """When the level may be made: its date, the minimum gap and a manual next date (no business-day move)."""
    base = facts.last_date if level.basis == "previous" and facts.last_date else facts.due_date
    dates = [parse_delay(level.delay).apply(base)]
    if facts.last_date:
        dates.append(facts.last_date + timedelta(days=rules.settings.min_days_between))
    if facts.manual_next:
        dates.append(facts.manual_next)
    return max(dates)


def exclusions(facts: Facts, level: Level, rules: _Rules) -> list[tuple[str, tuple]]:
    """(code, arguments of its reason) of every exclusion that applies to the invoice at that level."""
    return _exclusions(level, rules, facts.invoice_no_auto, facts.customer_no_auto, facts.recent_manual,
                       facts.due_date, facts.auto_from_rank, facts.paused_until, facts.direct_debit,
                       facts.customer_kind, facts.remaining, facts.hold)


def _exclusions(level: Level, rules: _Rules, invoice_no_auto: bool, customer_no_auto: bool, recent_manual: bool,
                due_date: date, auto_from_rank: int | None, paused_until: date | None, direct_debit: bool,
                customer_kind: str, remaining: Decimal, hold: tuple[str, tuple] | None) -> list[tuple[str, tuple]]:
    """`exclusions` on the facts' values themselves (the set-based selection has them in its rows: no Facts)."""
    settings = rules.settings
    found: list[tuple[str, tuple]] = []
    if rules.automatic:
        if invoice_no_auto:
            found.append(("invoice_no_auto", ()))
        if customer_no_auto:
            found.append(("customer_no_auto", ()))
        if not level.automatic:
            found.append(("manual_level", (level.rank,)))
        if recent_manual:
            found.append(("recent_manual", (settings.manual_cancels_hours,)))
        go_live = rules.go_live
        if go_live is not None and due_date < go_live and auto_from_rank is None:
            found.append(("before_go_live", (go_live,)))
    if paused_until and paused_until >= rules.on:
        found.append(("paused", (paused_until.isoformat(),)))
    if hold is not None:
        found.append(hold)
    if settings.skip_direct_debit and direct_debit:
        found.append(("direct_debit", ()))
    if settings.skip_consumer_penalties and customer_kind == "consumer" and level.penalty_kind != "none":
        found.append(("consumer_penalty", (level.rank,)))
    if remaining < settings.min_amount:
        found.append(("below_minimum", (str(settings.min_amount),)))
    return found


def reason_text(code: str, args: tuple) -> str:
    """The words of an exclusion, in the current locale."""
    if code == "invoice_no_auto":
        return _("The invoice is marked \"no automatic reminders\".")
    if code == "customer_no_auto":
        return _("The customer is marked \"no automatic reminders\".")
    if code == "manual_level":
        return _("Level %(rank)s is not automatic: make it by hand.", rank=args[0])
    if code == "recent_manual":
        return _("A reminder was made by hand in the last %(hours)s hours.", hours=args[0])
    if code == "before_go_live":
        return _("Overdue before go-live on %(day)s: not chased automatically until a person brings it into the "
                 "automatic schedule (or reminds it by hand).", day=format_date(args[0], "medium"))
    if code == "paused":
        return _("Reminders to this customer are paused until %(day)s.", day=args[0])
    if code == "disputed":
        return _("The customer disputes this invoice (since %(day)s): no reminder until an agent resolves the "
                 "dispute.", day=format_date(args[0], "medium"))
    if code == "paid_claimed":
        return _("The customer says it was paid on %(paid)s: reminders wait for the bank until %(day)s.",
                 paid=format_date(args[0], "medium") if args[0] else "-", day=format_date(args[1], "medium"))
    if code == "promised":
        return _("The customer promised to pay on %(promise)s: reminders wait until %(day)s.",
                 promise=format_date(args[0], "medium") if args[0] else "-", day=format_date(args[1], "medium"))
    if code == "direct_debit":
        return _("The customer pays by direct debit.")
    if code == "consumer_penalty":
        return _("Level %(rank)s has a penalty and the customer is a consumer.", rank=args[0])
    return _("The remaining due is below the minimum amount (%(amount)s).", amount=args[0])


# --- the set-based selection --------------------------------------------------------------------------------

_STATEMENTS: dict[tuple, object] = {}


def _selection(rules: _Rules):
    """The statement (built once per level configuration) and its parameters for this run."""
    key = tuple((policy, tuple((level.rank, level.basis) for level in rules.levels_of(policy)))
                for policy in (rules.default_policy, *rules.chosen))
    if key not in _STATEMENTS:
        _STATEMENTS[key] = _statement(rules)
    return _STATEMENTS[key], _params(rules)


def _params(rules: _Rules) -> dict:
    on, settings = rules.on, rules.settings
    params = {"on": on, "now": rules.now, "since": rules.now - timedelta(hours=settings.manual_cancels_hours),
              "gap_limit": on - timedelta(days=settings.min_days_between)}
    for policy in (rules.default_policy, *rules.chosen):
        for level in rules.levels_of(policy):
            params[_threshold(level)] = start = parse_delay(level.delay).latest_start(on)
            if rules.chosen:  # the latest start of a rank and basis in any policy (`_any_policy`)
                name = f"threshold_any_{level.rank}_{level.basis}"
                params[name] = max(params.get(name, start), start)
    return params


def _threshold(level: Level) -> str:
    return f"threshold_{level.policy_id}_{level.rank}"


def _policies_timing(rules: _Rules, param) -> tuple:
    """(the next level's rank, its date has come) of an invoice as SQL expressions, by its customer's policy: the
    default policy's `_timing` alone when no customer follows another one (the statement of a single policy),
    else a CASE on the customer's policy (the customers of each other policy: one set read once per query)."""
    def pair(policy: int) -> tuple:
        timing = _timing(rules.levels_of(policy), param)
        return (case(*timing, else_=null()) if timing else null(),
                or_(*[condition for condition, _rank in timing]) if timing else literal(False))

    rank, come = pair(rules.default_policy)
    if not rules.chosen:
        return rank, come
    members = {policy: Invoice.customer_id.in_(select(Customer.id).where(Customer.policy_id == policy))
               for policy in rules.chosen}
    others = {policy: pair(policy) for policy in rules.chosen}
    return (case(*[(members[policy], others[policy][0]) for policy in rules.chosen], else_=rank),
            and_(_any_policy(rules, param),  # most rows fail it: the CASE below is read for the few others
                 case(*[(members[policy], others[policy][1]) for policy in rules.chosen], else_=come)))


def _any_policy(rules: _Rules, param):
    """A condition every invoice whose next level's date has come meets, whatever its customer's policy, and cheap:
    a level of some policy above the levels done whose start is on or before the latest threshold of its rank and
    basis in any policy (each policy's `_timing` implies it)."""
    done_rank, from_rank = func.coalesce(Invoice.reminder_level, -1), func.coalesce(Invoice.auto_from_rank, -1)
    terms = []
    for rank, basis in sorted({(level.rank, level.basis) for policy in (rules.default_policy, *rules.chosen)
                               for level in rules.levels_of(policy)}):
        start = func.coalesce(Invoice.last_reminder_date, Invoice.due_date) if basis == "previous" \
            else Invoice.due_date
        term = and_(done_rank < rank, from_rank <= rank, start <= param(f"threshold_any_{rank}_{basis}"))
        terms.append(and_(term, Invoice.due_date >= param("on")) if rank == 0 else term)
    return or_(*terms) if terms else literal(False)


def _statement(rules: _Rules):
    """One SELECT: open invoices whose next level's date has come, with every fact the rules need.

    The timing rules keep the invoices from the reminder state the database keeps on each invoice (highest level
    done, last reminder date, the next date a person set on the last reminder: relance/models/reminder_state.py),
    and every column read here is in the covering index `ix_invoices_list`: the open invoices are read from the
    index alone, in (due date, number) order without a sort, never from the table (a table lookup per selected
    invoice cost more than the rest of the query on a first run with a million open invoices). For the invoices
    with a reminder done, a few index lookups in their reminders (a recent manual reminder, the formal notice date).
    """
    on = bindparam("on", type_=Date)
    since, now = bindparam("since", type_=DateTime), bindparam("now", type_=DateTime)
    next_level, come = _policies_timing(rules, lambda name: bindparam(name, type_=Date))
    r = aliased(Reminder)
    done = and_(r.invoice_id == Invoice.id, r.status.in_(DONE_STATUSES))  # the invoice's done reminders
    recent_manual = select(r.id).where(done, r.user_id.is_not(None), r.created_at > since,
                                       r.created_at <= now).exists()
    notice_date = select(func.min(r.reminder_date)).where(done, r.formal_notice).scalar_subquery()
    never = Invoice.reminder_level.is_(None)  # no reminder done (the state the triggers keep): nothing to look up
    return (
        select(  # see `_selected`; the customers' columns and the contacts' and users' addresses come apart
            Invoice.id, Invoice.number, Invoice.customer_id, Invoice.no_auto_reminders, Invoice.due_date,
            Invoice.currency, _cents(Invoice.total_incl_tax), _cents(Invoice.amount_paid), Invoice.followup_contact_id,
            Invoice.billing_contact_id, Invoice.followup_user_id, Invoice.creator_id,
            case((never, literal(False)), else_=recent_manual),
            case((never, null()), else_=notice_date), Invoice.auto_from_rank, next_level,
        )
        .where(*_timing_conditions(come, bindparam("gap_limit", type_=Date)),
               # the next date a person set on the last reminder, still ahead, holds the invoice
               or_(Invoice.manual_next_date.is_(None), Invoice.manual_next_date <= on))
        .order_by(Invoice.due_date, Invoice.number)
    )


def _cents(amount):
    """A money column as a whole number of cents (`_Amounts` makes the Decimal): a million invoices share a few
    thousand amounts, and the Decimal of an SQLite float costs as much as the rest of its row."""
    return sql_cast(func.round(amount * 100), BigInteger)


class _Amounts(dict):
    """{cents: Decimal with two decimals, as the money columns read}: one Decimal per distinct amount (the remaining
    due too: `amounts[total - paid]`, without a Decimal subtraction per invoice)."""

    def __missing__(self, cents: int) -> Decimal:
        amount = self[cents] = Decimal(cents).scaleb(-2)
        return amount


class _Dates(dict):
    """{a date as the driver gives it: date}: PostgreSQL's drivers give dates, SQLite's its text (`YYYY-MM-DD`, as
    SQLAlchemy writes it); one date object per distinct day."""

    def __missing__(self, value) -> date:
        day = self[value] = value if isinstance(value, date) else date.fromisoformat(value)
        return day


def _timing(levels: tuple[Level, ...], param) -> list[tuple]:
    """[(the level is the invoice's next one and its date has come, its rank)] over the invoice's own columns
    (its reminder state); `param(name)` gives the value of "on" and of each level's threshold (`_threshold`)."""
    on = param("on")
    done_rank, last = func.coalesce(Invoice.reminder_level, -1), Invoice.last_reminder_date
    # brought into the automatic schedule from a level: the levels below it are passed over (NULL: none)
    from_rank = func.coalesce(Invoice.auto_from_rank, -1)
    timing = []
    for level in levels:  # the next level is this one and its date has come (start <= a threshold)
        above_done = and_(done_rank < level.rank, from_rank <= level.rank)
        below = [lower.rank for lower in levels if lower.rank < level.rank]
        is_next = and_(above_done, *[or_(done_rank >= rank, from_rank > rank) for rank in below if rank > 0])
        if level.rank == 0:
            is_next = and_(is_next, Invoice.due_date >= on)
        elif 0 in below:  # level 0 is passed over once the due date has gone by
            is_next = and_(is_next, or_(done_rank >= 0, Invoice.due_date < on, from_rank > 0))
        start = func.coalesce(last, Invoice.due_date) if level.basis == "previous" else Invoice.due_date
        timing.append((and_(is_next, start <= param(_threshold(level))), level.rank))
    return timing


def _timing_conditions(come, gap_limit) -> list:
    """Open, with a due date, its next level's date come (`come`: `_policies_timing`), the minimum gap since the last
    reminder passed and the last level delivered."""
    last = Invoice.last_reminder_date
    return [Invoice.is_open, Invoice.due_date.is_not(None), come,
            or_(last.is_(None), last <= gap_limit),
            # the highest level done is delivered (`in_flight`): NULL delivered level = nothing delivered yet
            or_(Invoice.reminder_level.is_(None), Invoice.delivered_level >= Invoice.reminder_level)]


def first_notice(done) -> date | None:
    """The date of the first formal notice among an invoice's done reminders (it starts consumer interest)."""
    return min((r.reminder_date for r in done if r.formal_notice), default=None)


def reduce_done(facts: Facts, done, rules: _Rules) -> Facts:
    """Fill in the facts that come from the invoice's done reminders (rows or Reminder objects)."""
    last = max(done, key=lambda r: (r.reminder_date, r.id), default=None)
    since = rules.now - timedelta(hours=rules.settings.manual_cancels_hours)
    facts.max_rank = max((r.level for r in done), default=None)
    facts.last_date = last.reminder_date if last else None
    facts.manual_next = last.next_date if last and last.user_id is not None else None
    facts.recent_manual = any(r.user_id is not None and since < r.created_at <= rules.now for r in done)
    facts.notice_date = first_notice(done)
    facts.in_flight = in_flight(done)
    return facts


def in_flight(done) -> int | None:
    """The highest level done when none of its reminders is delivered yet (an email pending, a letter pending or
    printed but not posted): the next level waits for it. None when it is delivered (or nothing is done)."""
    top = max((r.level for r in done), default=None)
    if top is None or any(r.level == top and r.status in DELIVERED_STATUSES for r in done):
        return None
    return top


def _by_id(session: Session, columns, ids: set) -> dict:
    """{id: the rest of its row} of the rows of a table (its id column first; the rest: the one value when there is
    one, else a tuple) whose id is in `ids` (the whole table, in one scan, when `ids` holds more than 5,000 and a
    quarter of it or more). Through Core, as the selection itself: no ORM step per row (a first run reads 100,000
    customers)."""
    ids.discard(None)
    if not ids:
        return {}
    query, connection = select(*columns), session.connection()
    if len(ids) > 5000 and 4 * len(ids) >= (session.scalar(select(func.count()).select_from(columns[0].table)) or 0):
        chunks = [connection.execute(query).all()]
    else:
        chunks = [connection.execute(query.where(columns[0].in_(bindparam("ids", chunk, expanding=True)))).all()
                  for chunk in _chunks(sorted(ids))]
    if len(columns) == 2:
        return {key: value for chunk in chunks for key, value in chunk}
    return {row[0]: tuple(row[1:]) for chunk in chunks for row in chunk}


def _closed(rules: _Rules) -> str:
    """Why nothing is sent at all that day (the automatic view before go-live or on a day that is not a business
    day), or ""."""
    settings = rules.settings
    if rules.automatic:
        note = live_note(rules)
        if note:
            return note
    if rules.automatic and settings.business_days and not is_business_day(rules.on, settings.business_country):
        return _("%(day)s is not a business day: nothing is sent.", day=rules.on.isoformat())
    return ""


def live_note(rules: _Rules) -> str:
    """Why the automatic view sends nothing on `rules.on` because of go-live (not done, or not started), or ""."""
    if rules.auto_start is None:
        return _("The go-live step is not done: nothing is sent automatically. A manager completes it under "
                 "Administration > Go-live.")
    if rules.on < rules.auto_start:
        return _("Automatic sending starts on %(day)s (go-live): nothing is sent automatically before.",
                 day=format_date(rules.auto_start, "medium"))
    return ""


def automatic_note(session: Session, on: date) -> str:
    """Why no automatic run sends anything on `on` because of go-live, or "" (the worker's tick asks it)."""
    return live_note(_rules(session, on, None, automatic=True))


def _selected(session: Session, rules: _Rules) -> tuple[Sequence, dict[int, tuple], dict, dict, dict[int, tuple]]:
    """The set-based selection: the rows of `_statement` (every invoice whose next level's date has come), with
    their customers' columns {id: (code, name, kind, language, email, no_auto_reminders, paused_until,
    direct_debit, policy_id)}, the addresses of the contacts and of the users they name ({id: email}, None: None)
    and the answers holding some of them ({invoice id: hold}: `holds.holds`).

    One query gives the invoices' own columns (through Core, read from the driver's cursor: no ORM rows, no Row
    objects, whose making and type processing cost a fifth of the query on a first run of a million invoices); the
    values are the driver's: a date may be text (SQLite: `_Dates` makes it a date), a flag 0 or 1. Their customers,
    contacts and users are read once each (a customer has many invoices: its columns are not repeated on every row).
    The rows stay plain rows, no Facts: a first run of a million invoices selects half a million."""
    statement, params = _selection(rules)
    result = session.connection().execute(statement, params)
    try:  # the driver's own rows (plain tuples, dates as it gives them: `_Dates`): no Row object per invoice
        rows = result.cursor.fetchall()
    finally:
        result.close()
    customers = _by_id(session, (Customer.id, Customer.code, Customer.name, Customer.kind, Customer.language,
                                 Customer.email, Customer.no_auto_reminders, Customer.paused_until,
                                 Customer.direct_debit, Customer.policy_id), set(map(itemgetter(2), rows)))
    # the contacts and users the rows name, from their distinct combinations (one pass; most name none)
    named = set(map(itemgetter(8, 9, 10, 11), rows))
    contact = _by_id(session, (Contact.id, Contact.email), {key for keys in named for key in keys[:2]})
    user = _by_id(session, (User.id, User.email), {key for keys in named for key in keys[2:]})
    contact[None] = user[None] = None
    held = holds(session, rules.on) if rows else {}  # the customers' answers holding some of them (few)
    return rows, customers, contact, user, held


def schedule(session: Session, on: date, now: datetime | None = None, automatic: bool = True) -> Schedule:
    """Due and skipped reminders on `on` (set-based). `automatic=False` is the view of a person (mass page)."""
    rules = _rules(session, on, now, automatic)
    note = _closed(rules)
    if note:
        return Schedule(on, note=note)
    with gc_pause.paused(keep=True):
        return _build_rows(session, *_selected(session, rules), rules)


def due_ranks(session: Session, on: date, now: datetime | None = None, automatic: bool = True) -> dict[int, int]:
    """{invoice id: level} of the due reminders of `on`, without their amounts and recipients (the mass page)."""
    rules = _rules(session, on, now, automatic)
    if _closed(rules):
        return {}
    found = {}
    with gc_pause.paused(keep=True):
        rows, customers, _contacts, _users, held = _selected(session, rules)
        amounts, dates = _Amounts(), _Dates()
        for (invoice_id, _number, customer_id, no_auto, due_date, _currency, total, paid, *_addresses,
             recent_manual, _notice, auto_from_rank, rank) in rows:
            due_date = dates[due_date]
            _code, _name, kind, _language, _email, customer_no_auto, paused_until, direct_debit, policy = \
                customers[customer_id]
            if not _exclusions(rules.level(rank, policy), rules, no_auto, customer_no_auto, recent_manual, due_date,
                               auto_from_rank, paused_until, direct_debit, kind, amounts[total - paid],
                               held.get(invoice_id)):
                found[invoice_id] = rank
    return found


def due_conditions(rules: _Rules) -> list:
    """WHERE terms over `invoices` alone that keep the invoices a person would send on `rules.on` (the manual
    view): the engine's timing, the next date a person set, and its exclusions, written on the invoice's own
    columns (its reminder state) and id subqueries of customers. A page adds them to its own filters and counts,
    orders and pages in one query (the property tests check them against the reference)."""
    on, settings = rules.on, rules.settings
    params = _params(rules)
    next_level, come = _policies_timing(rules, lambda name: literal(params[name], Date))
    customers = select(Customer.id)
    conditions = [
        *_timing_conditions(come, literal(params["gap_limit"], Date)),
        or_(Invoice.manual_next_date.is_(None), Invoice.manual_next_date <= on),
        Invoice.customer_id.not_in(customers.where(Customer.paused_until >= on)),
        Invoice.id.not_in(held_ids(on)),
    ]
    if settings.min_amount > 0:  # an open invoice has something left to pay: a minimum of 0 keeps it
        # rounded to cents: SQLite computes with floats (0.30 - 0.10 is less than 0.20 there)
        conditions.append(func.round(Invoice.total_incl_tax - Invoice.amount_paid, 2) >= settings.min_amount)
    if settings.skip_direct_debit:
        conditions.append(Invoice.customer_id.not_in(customers.where(Customer.direct_debit.is_not(False))))
    if settings.skip_consumer_penalties:
        conditions.extend(_consumer_penalties(rules, next_level, customers.where(Customer.kind == "consumer")))
    return conditions


def _consumer_penalties(rules: _Rules, next_level, consumers) -> list:
    """Not a consumer's invoice whose next level has a penalty, in the customer's policy."""
    penalties = {policy: [level.rank for level in rules.levels_of(policy) if level.penalty_kind != "none"]
                 for policy in (rules.default_policy, *rules.chosen)}
    if not rules.chosen:
        ranks = penalties[rules.default_policy]
        return [or_(Invoice.customer_id.not_in(consumers), next_level.not_in(ranks))] if ranks else []
    followers = {policy: Customer.policy_id == policy for policy in rules.chosen}
    followers[rules.default_policy] = or_(Customer.policy_id.is_(None), Customer.policy_id == rules.default_policy)
    return [not_(and_(Invoice.customer_id.in_(consumers.where(followers[policy])), next_level.in_(ranks)))
            for policy, ranks in penalties.items() if ranks]


def due_select(session: Session, on: date, rules: _Rules | None = None):
    """A SELECT of the ids of the invoices a person would send on `on` (`due_conditions`)."""
    return select(Invoice.id).where(*due_conditions(rules or _rules(session, on, None, automatic=False)))


def due_reminders(session: Session, on: date, now: datetime | None = None, automatic: bool = True) -> list[DueReminder]:
    return schedule(session, on, now, automatic).due


# --- from the selection to results: per invoice (the reference) and set-wise --------------------------------

def _build(session: Session, selected: list[tuple[Facts, int]], rules: _Rules) -> Schedule:
    """The due reminders (amounts, recipients, language) and the skipped ones of the selected invoices, one at a
    time (the reference): `compute_claim` and `recipients.choose` for every invoice."""
    result = Schedule(rules.on)
    due: list[tuple[Facts, Level]] = []
    words: dict[tuple, str] = {}
    for facts, rank in selected:
        level = rules.level(rank, facts.policy_id)
        found = exclusions(facts, level, rules)
        if found:
            result.skipped.append(_skipped(words, facts.invoice_id, facts.number, facts.customer_code, rank, found))
        else:
            due.append((facts, level))
    if not due:
        return result
    settings = rules.settings
    payments = payments_of(session, [f.invoice_id for f, _ in due if f.amount_paid])
    reps = _sales_reps(session, {f.customer_id for f, _ in due}) if settings.copy_to_sales else {}
    texts = text_languages(session)
    rates = load_rates(session, settings.company_country)
    languages: dict[tuple, tuple[str, str | None]] = {}
    result.due.extend(_due_reminder(facts, level, rules, payments.get(facts.invoice_id, ()),
                                    reps.get(facts.customer_id, ()), texts, rates, languages) for facts, level in due)
    return result


def _skipped(words: dict, invoice_id: int, number: str, customer_code: str, rank: int, found: list) -> Skipped:
    """An excluded invoice with its first exclusion, in words (made once per run for each distinct one)."""
    first = found[0]
    if first not in words:
        words[first] = reason_text(*first)
    return Skipped(invoice_id, number, customer_code, rank, first[0], words[first])


def choose_language(available: set[str], wanted: str | None, default: str) -> tuple[str | None, str | None]:
    """(language to use, reason when it is not the wanted one); (None, reason) when no text exists at all.
    The order: the wanted language, its plain language (de for de_CH: the same words, the country's formats come
    from the customer's country), the company's language (`default`), then any language there is."""
    if wanted and wanted in available:
        return wanted, None
    plain = (wanted or "").split("_")[0]
    if plain and plain != wanted and plain in available:
        return plain, None
    from relance.services.engine.readiness import language_name  # imports this module

    if default in available:
        return default, str(_l("No text in %(wanted)s: the company language (%(used)s) is used.",
                               wanted=language_name(wanted) if wanted else "?", used=language_name(default)))
    if available:
        used = sorted(available)[0]
        return used, str(_l("No text in %(wanted)s nor %(default)s: %(used)s is used.",
                            wanted=language_name(wanted) if wanted else "?", default=language_name(default),
                            used=language_name(used)))
    return None, None


def _language(level: Level, channels, wanted: str, rules: _Rules, texts) -> tuple[str, str | None]:
    channels = written_channels(channels)  # a phone call has no text
    if not channels:
        return wanted or rules.settings.default_language, None
    available = set.intersection(*(texts.get((level.id, ch), set()) for ch in channels))
    language, reason = choose_language(available, wanted, rules.settings.default_language)
    if language is None:
        return rules.settings.default_language, _("Level %(rank)s has no text for %(channels)s.", rank=level.rank,
                                                  channels=", ".join(channels))
    return language, reason


def _build_rows(session: Session, rows: Sequence, customers: dict[int, tuple], contact: dict, user: dict,
                held: dict[int, tuple], rules: _Rules) -> Schedule:
    """`_build` for the rows of `_selected`, set-wise and in one pass over the rows (no Facts): the same results
    (`tests/test_engine_property.py` compares them with the reference).

    What many invoices share is worked out once: the claim of an invoice without payments (`penalties.Claims`)
    once per amounts, due date, customer kind, level and notice date (a first run of a million invoices has about
    a thousand of those), and the fields that come from the customer, the contacts and users the invoice names and
    the level (recipients, language, level name) once per customer, contacts, users and level. The exclusions are
    looked for (`_exclusions`) only when a few comparisons say one may apply (`_suspects`). Each result is made
    from its values in field order (`tuple.__new__`)."""
    result = Schedule(rules.on)
    if not rows:
        return result
    settings, on = rules.settings, rules.on
    payments = payments_of(session, [row[0] for row in rows if row[7]])
    reps = _sales_reps(session, set(customers)) if settings.copy_to_sales else {}
    texts = text_languages(session)
    figures = Claims(on, settings, load_rates(session, settings.company_country)).figures
    by_rank = rules.by_rank
    automatic, suspects, go_live, min_cents = _suspects(customers, rules)
    amounts, dates = _Amounts(), _Dates()
    words: dict[tuple, str] = {}
    claims: dict[tuple, tuple] = {}
    parts: dict[tuple, tuple] = {}
    # {level id: {customer id: part}} of the invoices naming no contact nor user (most): no key to make per invoice
    plain_parts: dict[int, dict[int, tuple]] = defaultdict(dict)
    addressees: dict[tuple, tuple] = {}
    sending = recipients_service.sender(settings.sender_email, None, settings.company_email)
    languages: dict[tuple, tuple] = {}
    skipped, due, new = result.skipped, result.due, tuple.__new__
    for (invoice_id, number, customer_id, no_auto, due_date, currency, total_cents, paid_cents, followup_contact,
         billing_contact, followup_user, creator, recent_manual, notice, auto_from_rank, rank) in rows:
        due_date = dates[due_date]
        code, name, kind, language, email, customer_no_auto, paused_until, direct_debit, policy = \
            customers[customer_id]
        level = (by_rank.get(policy) or by_rank[None])[rank]
        if ((automatic and (no_auto or recent_manual or not level.automatic
                            or (due_date < go_live and auto_from_rank is None)))
                or customer_id in suspects or total_cents - paid_cents < min_cents or invoice_id in held):
            found = _exclusions(level, rules, no_auto, customer_no_auto, recent_manual, due_date, auto_from_rank,
                                paused_until, direct_debit, kind, amounts[total_cents - paid_cents],
                                held.get(invoice_id))
            if found:
                skipped.append(_skipped(words, invoice_id, number, code, rank, found))
                continue
        notice = dates[notice] if notice else on if level.formal_notice else None
        payments_made = payments.get(invoice_id) if paid_cents else None  # nothing paid: no payments
        same_claim = (total_cents, paid_cents, due_date, kind, level.id, notice, currency)
        claim = None if payments_made else claims.get(same_claim)
        if claim is None:
            (remaining, days_late, penalty, interest, indemnity, total_claimed, _periods, claim_reasons,
             indemnity_currency) = figures(amounts[total_cents], amounts[paid_cents], payments_made or (), due_date,
                                           kind, level.penalty_kind, level.penalty_value, notice, currency)
            claim = ((remaining, days_late, penalty, interest, indemnity, total_claimed), claim_reasons,
                     indemnity_currency)
            if not payments_made:
                claims[same_claim] = claim
        if followup_contact is None and billing_contact is None and followup_user is None and creator is None:
            by_customer = plain_parts[level.id]
            part = by_customer.get(customer_id)
            if part is None:
                part = by_customer[customer_id] = _shared_part(
                    customer_id, code, name, language, email, None, None, None, None, reps.get(customer_id, ()),
                    level, rules, texts, languages, addressees, sending)
        else:
            same_part = (customer_id, followup_contact, billing_contact, followup_user, creator, level.id)
            part = parts.get(same_part)
            if part is None:
                part = parts[same_part] = _shared_part(
                    customer_id, code, name, language, email, contact[followup_contact], contact[billing_contact],
                    user[followup_user], user[creator], reps.get(customer_id, ()), level, rules, texts, languages,
                    addressees, sending)
        amounts_due, claim_reasons, indemnity_currency = claim
        head, tail, reasons = part
        due.append(new(DueReminder, [invoice_id, number, *head, due_date, *amounts_due, currency, *tail,
                                     (*claim_reasons, *reasons) if claim_reasons else reasons, indemnity_currency,
                                     level.id]))
    return result


def _suspects(customers: dict[int, tuple], rules: _Rules) -> tuple[bool, set[int], date, int]:
    """What `_build_rows` compares an invoice's values with before it looks for exclusions: (the automatic view,
    the customers whose state may exclude their invoices, the go-live date (`date.min`: none), the minimum amount in
    cents). When none of the comparisons holds, `_exclusions` finds nothing: each exclusion it knows implies one of
    them (the invoice's and the customer's "no automatic reminders", a manual level, a recent manual reminder, due
    before go-live, paused, held, direct debit, a consumer customer, below the minimum)."""
    settings, on = rules.settings, rules.on
    consumers = settings.skip_consumer_penalties
    suspects = {customer_id for customer_id, (_code, _name, kind, _language, _email, no_auto, paused_until,
                                              direct_debit, _policy) in customers.items()
                if (rules.automatic and no_auto) or (paused_until is not None and paused_until >= on)
                or (settings.skip_direct_debit and direct_debit) or (consumers and kind == "consumer")}
    # the remaining due in cents below the minimum: cents < min_amount x 100, i.e. below its ceiling
    return rules.automatic, suspects, rules.go_live or date.min, math.ceil(settings.min_amount * 100)


def _shared_part(customer_id: int, code: str, name: str, language: str, email: str, followup_contact: str | None,
                 billing_contact: str | None, followup_user: str | None, creator: str | None, reps, level: Level,
                 rules: _Rules, texts, languages: dict, addressees: dict, sending: tuple[str, tuple]) -> tuple:
    """The fields of a due reminder that come from its customer, the addresses its invoice names and its level:
    ((customer_id ... automatic), (to ... language), the reasons of the recipients and language), as
    `recipients.choose` has them: the addressees chosen once per distinct set of addresses, the sender (`sending`:
    (address, reasons)) once per run, the language and level name once per level and customer language."""
    sources = (followup_contact, billing_contact, email)
    found = addressees.get(sources)
    if found is None:
        found = addressees[sources] = recipients_service.addressees(*sources)
    to, reasons = found
    cc: tuple[str, ...] = ()
    if rules.settings.copy_to_sales:
        cc, cc_reasons = recipients_service.copies(followup_user, reps, creator, to)
        reasons += cc_reasons
    sender, sender_reasons = sending
    reasons += sender_reasons
    key = (level.id, language)
    if key not in languages:
        channels = channels_of(level)
        used, reason = _language(level, channels, language, rules, texts)
        languages[key] = (used, reason, level.name(used), channels)
    used, language_reason, level_name, channels = languages[key]
    return ((customer_id, code, name, level.rank, level_name, channels, level.automatic),
            (to, cc, sender, used), (*reasons, language_reason) if language_reason else reasons)


def _due_reminder(facts: Facts, level: Level, rules: _Rules, payments, reps, texts, rates,
                  languages: dict) -> DueReminder:
    """One due reminder, plainly (the reference): its claim by `compute_claim`, its recipients by
    `recipients.choose`, its language (`languages`: once per level and customer language)."""
    settings, on = rules.settings, rules.on
    notice = facts.notice_date or (on if level.formal_notice else None)
    claim = compute_claim(total=facts.total, amount_paid=facts.amount_paid, payments=payments,
                          due_date=facts.due_date, on=on, customer_kind=facts.customer_kind,
                          penalty_kind=level.penalty_kind, penalty_value=level.penalty_value, settings=settings,
                          rates=rates, notice_date=notice, currency=facts.currency)
    who = recipients_service.choose(
        followup_contact=facts.followup_contact, billing_contact=facts.billing_contact,
        customer=facts.customer_email, followup_user=facts.followup_user, sales_reps=reps, creator=facts.creator,
        copy_to_sales=settings.copy_to_sales, default_sender=settings.sender_email,
        company=settings.company_email)
    channels = channels_of(level)
    key = (level.id, facts.customer_language)
    if key not in languages:
        languages[key] = _language(level, channels, facts.customer_language, rules, texts)
    language, language_reason = languages[key]
    reasons = tuple(r for r in (*claim.reasons, *who.reasons, language_reason) if r)
    return DueReminder(
        invoice_id=facts.invoice_id, invoice_number=facts.number, customer_id=facts.customer_id,
        customer_code=facts.customer_code, customer_name=facts.customer_name, level=level.rank,
        level_name=level.name(language), channels=channels, automatic=level.automatic, due_date=facts.due_date,
        remaining_due=claim.remaining_due, days_late=claim.days_late, penalty=claim.penalty,
        interest=claim.interest, indemnity=claim.indemnity, total_claimed=claim.total_claimed,
        currency=facts.currency, to=who.to, cc=who.cc, sender=who.sender, language=language, reasons=reasons,
        indemnity_currency=claim.indemnity_currency, level_id=level.id,
    )


def _chunks(ids: list[int], size: int = 5000):
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _sales_reps(session: Session, customer_ids: set[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(sorted(customer_ids)):
        query = (select(customer_sales_reps.c.customer_id, User.email)
                 .join(User, User.id == customer_sales_reps.c.user_id)
                 .where(User.active, customer_sales_reps.c.customer_id.in_(bindparam("ids", chunk, expanding=True)))
                 .order_by(customer_sales_reps.c.customer_id, User.id))
        for customer_id, email in session.execute(query):
            found[customer_id].append(email)
    return found


def text_languages(session: Session) -> dict[tuple[int, str], set[str]]:
    """{(level id, channel): {languages with a non-empty subject and body}}."""
    found: dict[tuple[int, str], set[str]] = defaultdict(set)
    query = (select(Template.level_id, Template.channel, Template.language)
             .where(func.length(func.trim(Template.subject)) > 0, func.length(func.trim(Template.body)) > 0))
    for level_id, channel, language in session.execute(query):
        found[(level_id, channel)].add(language)
    return found


# --- the plain per-invoice reference ------------------------------------------------------------------------

def facts_for(session: Session, invoice: Invoice, rules: _Rules) -> Facts:
    """The facts of one invoice, gathered the plain way (its reminders loaded and reduced in Python)."""
    done = list(session.scalars(select(Reminder).where(Reminder.invoice_id == invoice.id,
                                                       Reminder.status.in_(DONE_STATUSES))))
    customer = invoice.customer
    facts = Facts(
        invoice_id=invoice.id, number=invoice.number, customer_id=customer.id, customer_code=customer.code,
        customer_name=customer.name, customer_kind=customer.kind, customer_language=customer.language,
        customer_email=customer.email, customer_no_auto=customer.no_auto_reminders,
        paused_until=customer.paused_until, direct_debit=customer.direct_debit,
        # callers pass invoices with a due date (reference_schedule and explain check it first)
        invoice_no_auto=invoice.no_auto_reminders, due_date=cast(date, invoice.due_date), currency=invoice.currency,
        total=invoice.total_incl_tax, amount_paid=invoice.amount_paid,
        followup_contact=invoice.followup_contact.email if invoice.followup_contact else None,
        billing_contact=invoice.billing_contact.email if invoice.billing_contact else None,
        followup_user=invoice.followup_user.email if invoice.followup_user else None,
        creator=invoice.creator.email if invoice.creator else None,
        max_rank=None, last_date=None, auto_from_rank=invoice.auto_from_rank, policy_id=customer.policy_id,
        hold=hold_of(session.scalars(select(Answer).where(Answer.invoice_id == invoice.id)), rules.on),
    )
    return reduce_done(facts, done, rules)


def reference_schedule(session: Session, on: date, now: datetime | None = None, automatic: bool = True) -> Schedule:
    """The same result as `schedule`, one invoice at a time in Python (for tests and the bench)."""
    rules = _rules(session, on, now, automatic)
    if _closed(rules):
        return Schedule(on, note=_closed(rules))
    selected = []
    for invoice in session.scalars(select(Invoice).order_by(Invoice.id)):
        if not invoice.is_open or invoice.due_date is None:
            continue
        facts = facts_for(session, invoice, rules)
        rank = next_rank(facts.max_rank, facts.due_date, rules, facts.auto_from_rank, facts.policy_id)
        if (rank is not None and facts.in_flight is None
                and earliest_date(facts, rules.level(rank, facts.policy_id), rules) <= on):
            selected.append((facts, rank))
    selected.sort(key=lambda item: (item[0].due_date, item[0].number))
    return _build(session, selected, rules)


# --- explain ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Explanation:
    status: str  # "due", "skipped", "waiting", "closed"
    lines: tuple[str, ...]
    level: int | None = None
    next_date: date | None = None  # when the next reminder can be made (business day when that rule is on)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def explain(session: Session, invoice: Invoice, on: date, now: datetime | None = None, automatic: bool = True,
            language: str | None = None) -> Explanation:
    """Why the invoice is or is not due on `on`, and when its next reminder will be, in words."""
    rules = _rules(session, on, now, automatic)
    with force_locale(language or rules.settings.default_language):
        return _explain(session, invoice, rules)


def _explain(session: Session, invoice: Invoice, rules: _Rules) -> Explanation:
    on, settings = rules.on, rules.settings
    head = _("Invoice %(number)s on %(day)s:", number=invoice.number, day=on.isoformat())
    closed = None
    if invoice.kind != "invoice":
        closed = _("it is a credit note: credit notes are never reminded.")
    elif invoice.status != "validated":
        closed = _("its status is %(status)s: only validated invoices are reminded.", status=invoice.status)
    elif invoice.due_date is None:
        closed = _("it has no due date: it is never reminded.")
    elif invoice.remaining_due <= 0:
        closed = _("nothing is left to pay.")
    if closed:
        return Explanation("closed", (head, closed))
    facts = facts_for(session, invoice, rules)
    lines = [head]
    lines.append(_("Highest level done: %(rank)s; last reminder: %(day)s.",
                   rank="-" if facts.max_rank is None else facts.max_rank,
                   day=facts.last_date.isoformat() if facts.last_date else "-"))
    if len(rules.policies) > 1:  # which set of levels the customer follows
        policy = session.get(Policy, rules.policy(facts.policy_id))
        if policy is not None:
            lines.append(_("Reminder policy: %(name)s.", name=policy.name))
    rank = next_rank(facts.max_rank, facts.due_date, rules, facts.auto_from_rank, facts.policy_id)
    if rank is None:
        if not rules.levels_of(facts.policy_id):
            lines.append(no_level_message())
        elif facts.max_rank is None:  # only the before-due level is active, and the due date has passed
            lines.append(_("No active level comes after the due date (%(day)s): nothing will be sent. Activate or "
                           "create levels under Administration > Reminder levels.", day=facts.due_date.isoformat()))
        else:
            lines.append(_("No level is left after level %(rank)s: nothing more will be sent automatically.",
                           rank=facts.max_rank))
        return Explanation("waiting", tuple(lines))
    if facts.auto_from_rank is not None:
        lines.append(_("Brought into the automatic schedule from level %(rank)s.", rank=facts.auto_from_rank))
    if 0 in rules.ranks(facts.policy_id) and facts.max_rank is None and rank > 0 and facts.auto_from_rank is None:
        lines.append(_("The reminder before the due date is skipped: the due date (%(day)s) has passed.",
                       day=facts.due_date.isoformat()))
    level = rules.level(rank, facts.policy_id)
    base = facts.last_date if level.basis == "previous" and facts.last_date else facts.due_date
    level_date = parse_delay(level.delay).apply(base)
    lines.append(_("Next level: %(rank)s (%(name)s), %(delay)s from %(base)s = %(day)s.", rank=rank,
                   name=level.name(settings.default_language), delay=delay_text(level.delay),
                   base=_("the last reminder") if base != facts.due_date else _("the due date"),
                   day=level_date.isoformat()))
    from relance.services.engine import readiness  # imports this module

    lines.extend(readiness.level_lines(session, level, facts.customer_language, settings.default_language))
    if facts.last_date:
        lines.append(_("At least %(days)s days between two reminders: not before %(day)s.",
                       days=settings.min_days_between,
                       day=(facts.last_date + timedelta(days=settings.min_days_between)).isoformat()))
    if facts.manual_next:
        lines.append(_("The last reminder, made by hand, set the next reminder date to %(day)s.",
                       day=facts.manual_next.isoformat()))
    from relance.services.engine import eligibility  # the one rulebook decides; the lines above say why

    verdict = eligibility.judge(invoice, eligibility.done_reminders(session, [invoice.id]).get(invoice.id, []),
                                rank, None, rules)
    earliest = verdict.not_before or on
    when = earliest
    if rules.automatic and settings.business_days:
        when = next_business_day(max(earliest, on), settings.business_country)
        if earliest > on and when != earliest:
            lines.append(_("%(day)s is not a business day: moved to %(next)s.", day=earliest.isoformat(),
                           next=when.isoformat()))
    others = [r.text for r in verdict.refusals if r.code not in eligibility.TIMING_CODES]
    if "not_delivered" in verdict.codes:  # waits for the last level to be delivered, not for a date
        lines.extend(others)
        return Explanation("waiting", tuple(lines), rank, None)
    if earliest > on:
        lines.append(_("Not due yet: the next reminder (level %(rank)s) will be on %(day)s.", rank=rank,
                       day=when.isoformat()))
        lines.extend(others)
        return Explanation("waiting", tuple(lines), rank, when)
    if rules.automatic and settings.business_days and not is_business_day(on, settings.business_country):
        lines.append(_("%(day)s is not a business day: the reminder will be sent on %(next)s.",
                       day=on.isoformat(), next=when.isoformat()))
        return Explanation("waiting", tuple(lines), rank, when)
    if verdict.refusals:
        lines.append(_("Level %(rank)s would be due, but it is not sent:", rank=rank))
        lines.extend(others)
        return Explanation("skipped", tuple(lines), rank, None)
    lines.append(_("Due: level %(rank)s today (%(channels)s).", rank=rank,
                   channels=", ".join(str(CHANNEL_LABELS[c]) for c in channels_of(level))))
    return Explanation("due", tuple(lines), rank, on)

