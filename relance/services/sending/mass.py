"""The mass reminder page: rows of unpaid invoices, the per-user selection kept in `mass_selections`,
bulk toggles over every invoice matching the filters, and starting a run.

The selection is server-side so it survives pages and filters: a row is "selected" when its letter or email
box is ticked; its level is kept even when unticked. Bulk operations are a few set-based statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import cast

from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from relance.models import Contact, Customer, Invoice, MassSelection, Payment, Run, User
from relance.services.engine import eligibility, recipients
from relance.services.engine.levels import channels_of
from relance.services.engine.penalties import Claim, compute_claim, load_rates
from relance.services.engine.schedule import Level, first_notice
from relance.services.errors import RelanceError

CHANNELS = ("letter", "email")


class SelectionError(RelanceError):
    """The selection cannot be sent; `problems` lists one message per invoice at fault."""

    def __init__(self, message, problems: Sequence[str] = ()):
        super().__init__(message)
        self.problems = list(problems)


def can_email(followup: str | None, billing: str | None, customer: str | None) -> bool:
    """Whether an email can go (the same sources as `recipients.for_invoice`: one valid address is enough)."""
    return any(recipients.split_addresses(raw)[0] for raw in (followup, billing, customer))


def invoice_can_email(invoice: Invoice) -> bool:
    return can_email(invoice.followup_contact.email if invoice.followup_contact else None,
                     invoice.billing_contact.email if invoice.billing_contact else None,
                     invoice.customer.email)


@dataclass
class Row:
    """One line of the mass page: the user's choice and what the rulebook says of it."""

    invoice: Invoice
    last: object | None  # the latest reminder (any status): a light row with its date, level, next date and note
    level: Level | None  # the chosen level (the engine's when nothing was chosen and it is due)
    letter: bool
    email: bool
    email_ok: bool
    days_late: int
    proposal: eligibility.Verdict  # what the engine would send today (ok: due today)
    verdict: eligibility.Verdict | None  # the chosen level and ticked channels (None: no level chosen)
    override: bool = False
    override_reason: str = ""
    claim: Claim | None = None  # the one claim computation at the chosen level (None: no level chosen)

    @property
    def due(self) -> bool:
        return self.proposal.ok

    @property
    def refused(self) -> bool:
        """The chosen level is refused by the rules (it goes only with "send anyway" and a reason)."""
        return self.verdict is not None and not self.verdict.ok

    @property
    def penalty(self) -> Decimal:
        return self.claim.penalty if self.claim else Decimal("0.00")

    @property
    def with_penalty(self) -> Decimal:
        """What the letter and the email claim in the invoice's currency: remaining due + penalty + interest +
        indemnity (an indemnity in another currency is `indemnity_apart`, not in this amount)."""
        return self.claim.total_claimed if self.claim else self.invoice.remaining_due

    @property
    def indemnity_apart(self) -> bool:
        return bool(self.claim and self.claim.indemnity_apart)

    @property
    def extra(self) -> Decimal:
        return self.with_penalty - self.invoice.remaining_due

    @property
    def selected(self) -> bool:
        return self.letter or self.email


def _verdict(invoice: Invoice, done, rank: int | None, letter: bool, email: bool, rules) -> eligibility.Verdict | None:
    """The rulebook on a chosen level for the ticked channels (their refusals together)."""
    if rank is None:
        return None
    channels: list[str | None] = [c for c, ticked in (("letter", letter), ("email", email)) if ticked] or [None]
    verdicts = [eligibility.judge(invoice, done, rank, channel, rules) for channel in channels]
    refusals = tuple(dict.fromkeys(r for v in verdicts for r in v.refusals))
    first = verdicts[0]
    return eligibility.Verdict(first.invoice_id, rank, None, first.proposed, refusals, first.not_before)


def _payments(session: Session, invoices: Sequence[Invoice]) -> dict[int, list[tuple[date, Decimal]]]:
    """The payments of the invoices that have some (`amount_paid` is their sum; the engine reads them so too), in
    one light query, none when nothing was paid: no Payment objects for a page's claims."""
    found: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    paid = [i.id for i in invoices if i.amount_paid]
    if paid:
        for invoice_id, day, amount in session.execute(
                select(Payment.invoice_id, Payment.date, Payment.amount).where(Payment.invoice_id.in_(paid))):
            found[invoice_id].append((day, amount))
    return found


def build_rows(session: Session, user_id: int, invoices: Sequence[Invoice], on: date, rules=None) -> list[Row]:
    """Rows for the invoices of one page: the engine's proposal, the last reminder and the user's choices."""
    ids = [i.id for i in invoices]
    rules = rules or eligibility.day_rules(session, on)
    every = eligibility.done_reminders(session, ids, every=True)  # in id order
    done = {i: [r for r in found if eligibility.is_done(r)] for i, found in every.items()}
    chosen = {s.invoice_id: s for s in session.scalars(
        select(MassSelection).where(MassSelection.user_id == user_id, MassSelection.invoice_id.in_(ids)))} \
        if ids else {}
    rates = load_rates(session, rules.settings.company_country)
    payments = _payments(session, invoices)
    rows = []
    for invoice in invoices:
        pick = chosen.get(invoice.id)
        by_rank = rules.ranked(invoice.customer.policy_id)
        proposal = eligibility.judge(invoice, done.get(invoice.id, []), None, None, rules)
        if pick is not None:
            rank = pick.level if pick.level in by_rank else None
        else:
            rank = proposal.rank if proposal.ok else None
        email_ok = invoice_can_email(invoice)
        letter, email = bool(pick and pick.letter), bool(pick and pick.email and email_ok)
        level = by_rank.get(rank)
        claim = None if level is None or invoice.due_date is None else compute_claim(  # no due date: no claim
            total=invoice.total_incl_tax, amount_paid=invoice.amount_paid,
            payments=payments.get(invoice.id, ()), due_date=invoice.due_date, on=on,
            customer_kind=invoice.customer.kind, penalty_kind=level.penalty_kind, penalty_value=level.penalty_value,
            settings=rules.settings, rates=rates, currency=invoice.currency,
            notice_date=first_notice(done.get(invoice.id, ())) or (on if level.formal_notice else None))
        same = rank == proposal.rank and not (letter or email)  # the proposal is already the verdict
        verdict = proposal if same else _verdict(invoice, done.get(invoice.id, []), rank, letter, email, rules)
        latest = every[invoice.id][-1] if every.get(invoice.id) else None
        rows.append(Row(invoice, latest, level, letter, email, email_ok, invoice.days_late(on),
                        proposal, verdict,
                        bool(pick and pick.override), pick.override_reason if pick else "", claim))
    return rows


def counts(session: Session, user_id: int) -> dict[str, int]:
    """Selected invoices, letters and emails of the user's selection (one query)."""
    invoices, letters, emails = session.execute(
        select(func.count(), func.count().filter(MassSelection.letter), func.count().filter(MassSelection.email))
        .where(MassSelection.user_id == user_id, (MassSelection.letter | MassSelection.email))).one()
    return {"invoices": invoices, "letters": letters, "emails": emails}


def save_row(session: Session, user_id: int, invoice: Invoice, rank: int | None, letter: bool, email: bool,
             ranks: Sequence[int], override: bool = False, reason: str = "") -> None:
    """Keep one row's choice (the caller commits). Raises SelectionError for a level or channel not allowed."""
    if rank is not None and rank not in ranks:
        raise SelectionError(_l("Level %(rank)s does not exist.", rank=rank))
    if rank is None and (letter or email):
        raise SelectionError(_l("%(number)s: choose a level.", number=invoice.number))
    if email and not invoice_can_email(invoice):
        raise SelectionError(_l("%(number)s: the customer has no email address, send a letter.",
                                number=invoice.number))
    values = {"level": -1 if rank is None else rank, "letter": letter, "email": email, "override": override,
              "override_reason": (reason or "").strip()[:2000]}
    row = session.get(MassSelection, (user_id, invoice.id))
    if row is None:
        session.add(MassSelection(user_id=user_id, invoice_id=invoice.id, **values))
    else:
        for key, value in values.items():
            setattr(row, key, value)


def bulk(session: Session, user_id: int, invoice_select, action: str, due: dict[int, int]) -> tuple[int, int]:
    """Apply "letters", "emails" or "none" to every invoice of `invoice_select` (a select of Invoice.id).

    Letters / emails tick that box (emails only where an address exists) on the invoices the engine sends today
    (`due`: {invoice id: level}, at that level) and keep the other box; none unticks both. Returns (how many
    invoices changed, how many were left out because nothing is due for them today). The caller commits.
    """
    if action == "none":
        return cast(CursorResult, session.execute(  # an UPDATE: a CursorResult (rowcount)
            update(MassSelection).where(MassSelection.user_id == user_id, MassSelection.invoice_id.in_(invoice_select),
                                        (MassSelection.letter | MassSelection.email))
            .values(letter=False, email=False).execution_options(synchronize_session=False))).rowcount, 0
    if action not in ("letters", "emails"):
        raise SelectionError(_l("Unknown action."))
    sub = invoice_select.subquery()
    followup, billing = aliased(Contact), aliased(Contact)
    rows = session.execute(
        select(Invoice.id, followup.email, billing.email, Customer.email,
               MassSelection.level, MassSelection.letter, MassSelection.email, MassSelection.override)
        .join(sub, sub.c.id == Invoice.id)
        .join(Customer, Customer.id == Invoice.customer_id)
        .outerjoin(followup, followup.id == Invoice.followup_contact_id)
        .outerjoin(billing, billing.id == Invoice.billing_contact_id)
        .outerjoin(MassSelection, (MassSelection.invoice_id == Invoice.id) & (MassSelection.user_id == user_id))
    ).all()
    new: list[dict] = []
    changed, not_due = [], 0
    for invoice_id, f_mail, b_mail, c_mail, level, letter, email, override in rows:
        if invoice_id not in due and not override:
            not_due += 1
            continue
        if action == "letters":
            if letter:
                continue
            letter = True
        else:
            if email or not can_email(f_mail, b_mail, c_mail):
                continue
            email = True
        if level is None:
            new.append({"user_id": user_id, "invoice_id": invoice_id, "level": due[invoice_id],
                        "letter": bool(letter), "email": bool(email), "override": False, "override_reason": ""})
        else:
            changed.append(invoice_id)
    if new:
        session.execute(insert(MassSelection), new)
    field = MassSelection.letter if action == "letters" else MassSelection.email
    by_level: dict[int, list[int]] = {}
    for invoice_id in changed:
        by_level.setdefault(due.get(invoice_id, -1), []).append(invoice_id)
    for rank, ids in by_level.items():
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            session.execute(update(MassSelection)
                            .where(MassSelection.user_id == user_id, MassSelection.invoice_id.in_(chunk))
                            .values({field: True}).execution_options(synchronize_session=False))
            if rank >= 0:  # a row not overridden goes at the level the engine sends
                session.execute(update(MassSelection)
                                .where(MassSelection.user_id == user_id, MassSelection.invoice_id.in_(chunk),
                                       MassSelection.override.is_(False))
                                .values(level=rank).execution_options(synchronize_session=False))
    return len(new) + len(changed), not_due


def clear(session: Session, user_id: int) -> None:
    session.execute(delete(MassSelection).where(MassSelection.user_id == user_id))


@dataclass
class Item:
    """One reminder to make in a run: invoice, level rank, channel, and the reason of a "send anyway"."""

    invoice_id: int
    level: int
    channel: str
    override: str = ""


def checked_selection(session: Session, user_id: int, on: date, rules=None) -> tuple[list[Item], list[str]]:
    """The reminders the user's selection asks for, each allowed by the rulebook or overridden with a reason, and
    a note per invoice dropped because it is no longer unpaid. Raises SelectionError when nothing is selected
    or a row asks for something the rules refuse."""
    rows = session.execute(
        select(MassSelection, Invoice).join(Invoice, Invoice.id == MassSelection.invoice_id)
        .where(MassSelection.user_id == user_id, (MassSelection.letter | MassSelection.email))
        .order_by(Invoice.customer_id, Invoice.due_date, Invoice.id)).all()
    if not rows:
        raise SelectionError(_l("Nothing is selected: tick \u201cby letter\u201d or \u201cby email\u201d on at "
                                "least one invoice."))
    rules = rules or eligibility.day_rules(session, on)
    done = eligibility.done_reminders(session, [invoice.id for _pick, invoice in rows])
    items, dropped, problems = [], [], []
    for pick, invoice in rows:
        if not invoice.is_open:
            dropped.append(str(_l("%(number)s is no longer unpaid: left out.", number=invoice.number)))
            continue
        levels = rules.ranked(invoice.customer.policy_id)
        if pick.level not in levels:
            problems.append(str(_l("%(number)s: choose a level.", number=invoice.number)))
            continue
        if pick.email and not invoice_can_email(invoice):
            problems.append(str(_l("%(number)s: the customer has no email address, send a letter.",
                                   number=invoice.number)))
        reason = (pick.override_reason or "").strip() if pick.override else ""
        for channel in picked_channels(pick, levels.get(pick.level)):
            verdict = eligibility.judge(invoice, done.get(invoice.id, []), pick.level, channel, rules)
            if verdict.refusals and not (verdict.may_override and reason):
                problems.append(refusal_problem(invoice, verdict, channel, pick.override))
                continue
            items.append(Item(invoice.id, pick.level, channel, reason if verdict.refusals else ""))
    if problems:
        raise SelectionError(_l("The selection cannot be sent:"), problems)
    if not items:
        raise SelectionError(_l("None of the selected invoices is still unpaid."), dropped)
    return items, dropped


def picked_channels(pick: MassSelection, level) -> list[str]:
    """The channels a row's ticks make at its level: the ticked ones, and the level's phone call (a call-only level:
    the tick asks for the call alone)."""
    ticked = [channel for channel in CHANNELS if getattr(pick, channel)]
    asked = channels_of(level) if level is not None else ()
    if asked == ("phone",):
        return ["phone"] if ticked else []
    return [*ticked, "phone"] if ticked and "phone" in asked else ticked


def refusal_problem(invoice: Invoice, verdict: eligibility.Verdict, channel: str, override: bool) -> str:
    """One line of the run's error box: what the rules say, and what the agent can do."""
    if not verdict.may_override:
        hint = ""
    elif override:
        hint = str(_l("Give the reason of the \u201csend anyway\u201d."))
    else:
        hint = str(_l("Choose another level, untick it, or tick \u201csend anyway\u201d and give a reason."))
    return str(_l("%(number)s (level %(rank)s %(channel)s): %(reasons)s", number=invoice.number,
                  rank=verdict.rank, channel=eligibility.channel_word(channel), reasons=str(verdict))) + \
        (" " + hint if hint else "")


class QueueDown(Exception):
    """The background worker's queue could not take the run: nothing was saved."""


@dataclass
class Started:
    run: Run
    dropped: list[str]  # notes on the invoices left out of the selection (paid meanwhile, ...)


def start(session: Session, user: User, token: str | None, on: date, next_date: date | None,
          enqueue: Callable[[Session, Run], None], run_url: Callable[[int], str]) -> Started:
    """Start the mass run of the user's checked selection, in one step that saves everything or nothing: the
    selection checked by the rulebook (`SelectionError` with the problems), the form's one-time token used
    (`once.AlreadyUsed` for a second submission), a queued Run holding the selection (the user's selection
    emptied), then `enqueue(session, run)` queues the run's task and commits (`QueueDown` when it cannot: the
    caller rolls back). The worker makes the reminders, each through the rulebook's guard (services/sending/runs.py)."""
    from relance.services.sending import once

    items, dropped = checked_selection(session, user.id, on)
    used = once.use(session, token, user.id)
    run = start_run(session, user, items, on, next_date)
    if used is not None:
        used.url = run_url(run.id)
    try:
        enqueue(session, run)
    except Exception as exc:  # noqa: BLE001 (the queue's storage is unreachable: redis, the SQLite file)
        raise QueueDown() from exc
    return Started(run, dropped)


def start_run(session: Session, user: User, items: list[Item], on: date, next_date: date | None) -> Run:
    """A queued run holding these items (the worker makes their reminders), the user's selection emptied."""
    from relance.services.sending import runs

    run = create_run(session, user, on, len(items))
    run.selection = runs.selection_of(items, next_date)
    clear(session, user_id=user.id)
    session.flush()
    return run


def create_run(session: Session, user: User, on: date, total: int) -> Run:
    run = Run(kind="mass", run_date=on, user=user, status="queued", total=total)
    session.add(run)
    session.flush()
    return run
