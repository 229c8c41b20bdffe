"""The one rulebook: may this invoice get this level through this channel on this day, and if not, why not.

Every way a reminder leaves asks it: the mass page (its preselection and the run), the reminder form, the API,
the automatic run and its test page, and `explain`; `dunning.create_reminder` asks it again at the bottom, so no
caller can bypass it. The answer is a `Verdict`: allowed, or the list of refusals, each with a code and its words
in the current locale. A refusal marked `hard` can never be overridden (a paid invoice, a credit note, an unknown
level); the others can, by a person who says why ("send anyway" with a reason, kept on the reminder and audited).

The rules are the engine's (`schedule.py`: the next level, its date, the minimum gap between reminders, a manual
next date, the exclusions), applied to one invoice and one level:
- the level and channel were already sent (any day), or a higher level was: never again;
- the level is above the engine's next level (the level below is not done): not yet;
- the highest level done is not delivered yet (an email still pending, a letter not marked posted): the next
  level waits for it;
- its date, the minimum gap since the last reminder or a manual next date is still ahead: not yet;
- the engine's exclusions (paused customer, a customer's answer holding the invoice: a dispute until resolved, a
  paid claim or a promise until its day has passed (`holds`), direct debit, consumer on a penalty level, below the
  minimum, and for the automatic view the no-automatic flags, non-automatic levels, a recent manual reminder,
  business days, go-live: nothing before the go-live step is done and automatic sending has started, and no
  invoice already overdue on the go-live date unless a person brought it into the automatic schedule).
The other channel of a level made today (a level sent "by email and letter") belongs to the same step and is
allowed, unless that step went out by an override (then the other channel needs one too). So `judge(rank=None)`
(the engine's proposal) is allowed exactly when the engine selects the invoice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from relance.models import Invoice, Reminder
from relance.services.engine import schedule as engine
from relance.services.engine.holds import hold_of
from relance.services.engine.levels import DONE_STATUSES, delay_text, parse_delay

HARD_CODES = ("credit_note", "not_validated", "paid", "no_due_date", "no_level", "unknown_level",
              "before_due_passed")
TIMING_CODES = ("not_yet", "too_soon", "next_date", "not_business_day")
CODES = (*HARD_CODES, "already_sent", "level_passed", "level_skipped", "not_delivered", "not_yet", "too_soon",
         "next_date", "not_live",
         "not_business_day", *engine.SKIP_CODES)


@dataclass(frozen=True)
class Refusal:
    code: str  # one of CODES
    text: str
    hard: bool = False

    def as_json(self) -> dict:
        return {"code": self.code, "reason": self.text, "overridable": not self.hard}


@dataclass(frozen=True)
class Verdict:
    invoice_id: int
    rank: int | None  # the level judged (None: no level is left)
    channel: str | None  # None: any channel of the level
    proposed: int | None  # the level the engine would send next (whatever the day)
    refusals: tuple[Refusal, ...] = ()
    not_before: date | None = None  # when the judged level's date, gap and manual next date allow it

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def may_override(self) -> bool:
        """Refused, but only by rules a person may override with a reason."""
        return bool(self.refusals) and not any(r.hard for r in self.refusals)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(r.text for r in self.refusals)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.refusals)

    def __str__(self) -> str:
        return " ".join(self.reasons)


def day_rules(session: Session, on: date, automatic: bool = False, now: datetime | None = None):
    """The settings and active levels of a day, read once, for many verdicts."""
    return engine._rules(session, on, now, automatic)


# --- facts ---------------------------------------------------------------------------------------------------


def done_reminders(session: Session, invoice_ids: Iterable[int], every: bool = False) -> dict[int, list]:
    """Each invoice's done reminders (pending, sent, to post, posted) as light rows, in one query per 5,000;
    `every`: all its reminders, whatever their status (with `status` and `note`; keep `is_done` ones to judge)."""
    found: dict[int, list] = defaultdict(list)
    ids = sorted(set(invoice_ids))
    extra = (Reminder.note,) if every else ()
    for start in range(0, len(ids), 5000):
        query = (select(Reminder.id, Reminder.invoice_id, Reminder.level, Reminder.channel, Reminder.reminder_date,
                        Reminder.user_id, Reminder.next_date, Reminder.created_at, Reminder.formal_notice,
                        (Reminder.override_reason != "").label("overridden"), Reminder.status, *extra)
                 .where(Reminder.invoice_id.in_(bindparam("ids", ids[start:start + 5000], expanding=True)))
                 .order_by(Reminder.id))
        if not every:
            query = query.where(Reminder.status.in_(DONE_STATUSES))
        for row in session.execute(query):
            found[row.invoice_id].append(row)
    return found


def is_done(reminder) -> bool:
    return reminder.status in DONE_STATUSES


def _facts(invoice: Invoice, done: Sequence, rules) -> engine.Facts:
    customer = invoice.customer
    facts = engine.Facts(
        invoice_id=invoice.id, number=invoice.number, customer_id=customer.id, customer_code=customer.code,
        customer_name=customer.name, customer_kind=customer.kind, customer_language=customer.language,
        customer_email=customer.email, customer_no_auto=customer.no_auto_reminders,
        paused_until=customer.paused_until, direct_debit=customer.direct_debit,
        # judge() asks only after closed_refusal(), which refuses an invoice without a due date
        invoice_no_auto=invoice.no_auto_reminders, due_date=cast(date, invoice.due_date), currency=invoice.currency,
        total=invoice.total_incl_tax, amount_paid=invoice.amount_paid, followup_contact=None, billing_contact=None,
        followup_user=None, creator=None, max_rank=None, last_date=None, auto_from_rank=invoice.auto_from_rank,
        hold=hold_of(invoice.answers, rules.on), policy_id=customer.policy_id,
    )
    return engine.reduce_done(facts, done, rules)


def closed_refusal(invoice: Invoice) -> Refusal | None:
    """Why an invoice is never reminded (whatever the level), or None while it is open."""
    if invoice.kind != "invoice":
        return Refusal("credit_note", _("%(number)s is a credit note: credit notes are never reminded.",
                                        number=invoice.number), hard=True)
    if invoice.status == "paid" or (invoice.status == "validated" and invoice.remaining_due <= 0):
        return Refusal("paid", _("Invoice %(number)s is paid: there is nothing to remind.", number=invoice.number),
                       hard=True)
    if invoice.status != "validated":
        return Refusal("not_validated", _("Invoice %(number)s is not validated (draft or cancelled): it cannot be "
                                          "reminded.", number=invoice.number), hard=True)
    if invoice.due_date is None:
        return Refusal("no_due_date", _("Invoice %(number)s has no due date: it is never reminded.",
                                        number=invoice.number), hard=True)
    return None


def _day(day: date) -> str:
    """A date in the reader's language (15 Jan 2026, 15 janv. 2026)."""
    return format_date(day, "medium")


def channel_word(channel: str) -> str:
    if channel == "phone":
        return _("by phone")
    return _("by email") if channel == "email" else _("by letter")


# --- the verdict ---------------------------------------------------------------------------------------------


def judge(invoice: Invoice, done: Sequence, rank: int | None, channel: str | None, rules,
          level_id: int | None = None) -> Verdict:
    """The verdict for one invoice (with its done reminders) at `rank` (None: the engine's next level); `level_id`:
    the level that would be made, which must be that rank's level in the customer's policy."""
    closed = closed_refusal(invoice)
    if closed is not None:
        return Verdict(invoice.id, rank, channel, None, (closed,))
    on, settings = rules.on, rules.settings
    facts = _facts(invoice, done, rules)
    proposed = engine.next_rank(facts.max_rank, facts.due_date, rules, facts.auto_from_rank, facts.policy_id)
    if rank is None:
        rank = proposed
    if rank is None:
        return Verdict(invoice.id, None, channel, None, (Refusal(
            "no_level", _("No level is left after level %(rank)s: nothing more is sent.", rank=facts.max_rank),
            hard=True),))
    if rank not in rules.ranks(facts.policy_id):
        return Verdict(invoice.id, rank, channel, proposed, (Refusal(
            "unknown_level", _("Level %(rank)s does not exist or is not active.", rank=rank), hard=True),))
    level = rules.level(rank, facts.policy_id)
    if level_id is not None and level_id != level.id:
        return Verdict(invoice.id, rank, channel, proposed, (Refusal(
            "unknown_level", _("This level %(rank)s belongs to another reminder policy than the customer's.",
                               rank=rank), hard=True),))
    refusals: list[Refusal] = []
    same = [r for r in done if r.level == rank]
    # the other channel of a level made today joins its step, unless the step went out only by an override
    same_step = (bool(same) and rank == facts.max_rank and all(r.reminder_date == on for r in same)
                 and not any(r.overridden for r in same))
    sent_here = [r for r in same if channel is None or r.channel == channel]
    if sent_here and (channel is not None or not same_step):
        refusals.append(_already_sent(rank, sent_here))
    elif facts.max_rank is not None and rank < facts.max_rank:
        refusals.append(Refusal("level_passed", _(
            "Level %(reached)s was already reached: level %(rank)s would go backwards.", reached=facts.max_rank,
            rank=rank)))
    elif same and not same_step:  # the level went out by the other channel, on another day or by an override
        refusals.append(_already_sent(rank, same))
    not_before = None
    if not refusals and not same_step:
        if rank == 0 and facts.due_date < on:
            refusals.append(Refusal("before_due_passed", _(
                "The due date (%(day)s) has passed: the reminder before the due date no longer applies.",
                day=_day(facts.due_date)), hard=True))
        elif proposed is not None and rank > proposed:
            refusals.append(Refusal("level_skipped", _(
                "Level %(next)s comes first: level %(rank)s only follows it.", next=proposed, rank=rank)))
        else:
            if facts.in_flight is not None and rank > facts.in_flight:
                refusals.append(_not_delivered(facts.in_flight, done))
            refusals.extend(_timing(facts, level, rules))
            not_before = engine.earliest_date(facts, level, rules)
    found = engine.exclusions(facts, level, rules)
    refusals.extend(Refusal(code, engine.reason_text(code, args)) for code, args in found)
    if rules.automatic and engine.live_note(rules):  # the go-live step not done, or automatic sending not started
        refusals.append(Refusal("not_live", engine.live_note(rules)))
    if rules.automatic and settings.business_days and not engine.is_business_day(on, settings.business_country):
        refusals.append(Refusal("not_business_day", _("%(day)s is not a business day: nothing is sent.",
                                                      day=_day(on))))
    return Verdict(invoice.id, rank, channel, proposed, tuple(refusals), not_before)


def _not_delivered(rank: int, done: Sequence) -> Refusal:
    """The last level is not delivered yet: the next one waits (an escalation needs the level below received)."""
    if any(r.level == rank and r.status == "to_call" for r in done) and not any(
            r.level == rank and r.status in ("pending", "to_post") for r in done):
        text = _("Level %(rank)s is a phone call not made yet: the next level waits until its outcome is recorded "
                 "(Calls to make).", rank=rank)
    elif any(r.level == rank and r.status == "to_post" for r in done):
        text = _("Level %(rank)s is printed but not marked posted: the next level waits until it is posted.",
                 rank=rank)
    else:
        text = _("Level %(rank)s is not delivered yet (still being sent): the next level waits for it.", rank=rank)
    return Refusal("not_delivered", text)


def _already_sent(rank: int, sent: Sequence) -> Refusal:
    last = max(sent, key=lambda r: (r.reminder_date, r.id))
    return Refusal("already_sent", _("Level %(rank)s was already sent %(channel)s on %(day)s.", rank=rank,
                                     channel=channel_word(last.channel), day=_day(last.reminder_date)))


def _timing(facts: engine.Facts, level, rules) -> list[Refusal]:
    """The level's date, the minimum gap and a manual next date: each one still ahead is a refusal."""
    on, found = rules.on, []
    base = facts.last_date if level.basis == "previous" and facts.last_date else facts.due_date
    level_date = parse_delay(level.delay).apply(base)
    if level_date > on:
        found.append(Refusal("not_yet", _("Level %(rank)s is due on %(day)s (%(delay)s from %(base)s).",
                                          rank=level.rank, day=_day(level_date), delay=delay_text(level.delay),
                                          base=_("the last reminder") if base != facts.due_date else
                                          _("the due date"))))
    if facts.last_date:
        gap_end = facts.last_date + timedelta(days=rules.settings.min_days_between)
        if gap_end > on:
            found.append(Refusal("too_soon", _(
                "The last reminder was on %(last)s: at least %(days)s days between two reminders, not before "
                "%(day)s.", last=_day(facts.last_date), days=rules.settings.min_days_between,
                day=_day(gap_end))))
    if facts.manual_next and facts.manual_next > on:
        found.append(Refusal("next_date", _("The next reminder date set by hand is %(day)s.",
                                            day=_day(facts.manual_next))))
    return found


def check(session: Session, invoice: Invoice, rank: int | None, channel: str | None, on: date, *,
          automatic: bool = False, rules=None, level_id: int | None = None) -> Verdict:
    """The verdict for one invoice on `on` (its done reminders read now)."""
    rules = rules or day_rules(session, on, automatic)
    done = done_reminders(session, [invoice.id]).get(invoice.id, [])
    return judge(invoice, done, rank, channel, rules, level_id)


def check_many(session: Session, invoices: Sequence[Invoice], on: date, *, automatic: bool = False,
               rules=None) -> dict[int, Verdict]:
    """The engine's proposal for many invoices (their customers loaded), their reminders read in one query."""
    rules = rules or day_rules(session, on, automatic)
    done = done_reminders(session, [i.id for i in invoices])
    return {i.id: judge(i, done.get(i.id, []), None, None, rules) for i in invoices}


def due_select(session: Session, on: date, rules=None):
    """A SELECT of the ids of the invoices the engine sends on `on`, for a person (filter and count in SQL)."""
    return engine.due_select(session, on, rules)


def due_conditions(rules) -> list:
    """The same as WHERE terms over `invoices` (a page adds its own filters, counts and orders in one query)."""
    return engine.due_conditions(rules)


def due_ranks(session: Session, on: date, automatic: bool = False) -> dict[int, int]:
    """{invoice id: level} of every invoice the engine sends on `on` (set-based, without the amounts)."""
    return engine.due_ranks(session, on, automatic=automatic)
