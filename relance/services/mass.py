"""The mass reminder page: rows of unpaid invoices, the per-user selection kept in `mass_selections`,
bulk toggles over every invoice matching the filters, and starting a run.

The selection is server-side so it survives pages and filters: a row is "selected" when its letter or email
box is ticked; its level is kept even when unticked. Bulk operations are a few set-based statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from relance.models import Contact, Customer, Invoice, MassSelection, Reminder, ReminderLevel, Run, User
from relance.services import recipients
from relance.services.levels import DONE_STATUSES
from relance.services.penalties import level_penalty

CHANNELS = ("letter", "email")


class SelectionError(ValueError):
    """The selection cannot be sent; `problems` lists one message per invoice at fault."""

    def __init__(self, message, problems: Sequence[str] = ()):
        super().__init__(str(message))
        self.message = message
        self.problems = list(problems)


def default_level(ranks: Sequence[int], reached: int | None) -> int | None:
    """The level above the last one done, else level 1 (else the first level above 0); the top level repeats."""
    if not ranks:
        return None
    if reached is None:
        return 1 if 1 in ranks else next((r for r in ranks if r > 0), ranks[0])
    return next((r for r in ranks if r > reached), ranks[-1])


def can_email(followup: str | None, billing: str | None, customer: str | None) -> bool:
    """Whether an email can go (the same sources as `recipients.for_invoice`: one valid address is enough)."""
    return any(recipients.split_addresses(raw)[0] for raw in (followup, billing, customer))


def invoice_can_email(invoice: Invoice) -> bool:
    return can_email(invoice.followup_contact.email if invoice.followup_contact else None,
                     invoice.billing_contact.email if invoice.billing_contact else None,
                     invoice.customer.email)


def levels_reached(session: Session, invoice_ids: Iterable[int]) -> dict[int, int]:
    ids = list(invoice_ids)
    if not ids:
        return {}
    return dict(session.execute(
        select(Reminder.invoice_id, func.max(Reminder.level))
        .where(Reminder.invoice_id.in_(ids), Reminder.status.in_(DONE_STATUSES))
        .group_by(Reminder.invoice_id)).all())


def last_reminders(session: Session, invoice_ids: Iterable[int]) -> dict[int, Reminder]:
    """The latest reminder of each invoice (any status), in one query."""
    ids = list(invoice_ids)
    if not ids:
        return {}
    latest = (select(func.max(Reminder.id)).where(Reminder.invoice_id.in_(ids))
              .group_by(Reminder.invoice_id).scalar_subquery())
    return {r.invoice_id: r for r in session.scalars(select(Reminder).where(Reminder.id.in_(latest)))}


@dataclass
class Row:
    """One line of the mass page."""

    invoice: Invoice
    reached: int | None
    last: Reminder | None
    level: ReminderLevel | None
    letter: bool
    email: bool
    email_ok: bool
    days_late: int

    @property
    def penalty(self) -> Decimal:
        if self.level is None:
            return Decimal("0.00")
        return level_penalty(self.level.penalty_kind, self.level.penalty_value, self.invoice.total_incl_tax)

    @property
    def with_penalty(self) -> Decimal:
        return self.invoice.remaining_due + self.penalty

    @property
    def selected(self) -> bool:
        return self.letter or self.email


def build_rows(session: Session, user_id: int, invoices: Sequence[Invoice], levels: Sequence[ReminderLevel],
               on: date) -> list[Row]:
    """Rows for the invoices of one page: level reached, last reminder and the user's choices (3 queries)."""
    ids = [i.id for i in invoices]
    reached = levels_reached(session, ids)
    last = last_reminders(session, ids)
    chosen = {s.invoice_id: s for s in session.scalars(
        select(MassSelection).where(MassSelection.user_id == user_id, MassSelection.invoice_id.in_(ids)))} \
        if ids else {}
    by_rank = {lvl.rank: lvl for lvl in levels}
    ranks = [lvl.rank for lvl in levels]
    rows = []
    for invoice in invoices:
        pick = chosen.get(invoice.id)
        rank = pick.level if pick is not None and pick.level in by_rank else \
            default_level(ranks, reached.get(invoice.id))
        email_ok = invoice_can_email(invoice)
        rows.append(Row(invoice, reached.get(invoice.id), last.get(invoice.id), by_rank.get(rank),
                        bool(pick and pick.letter), bool(pick and pick.email and email_ok), email_ok,
                        invoice.days_late(on)))
    return rows


def counts(session: Session, user_id: int) -> dict[str, int]:
    """Selected invoices, letters and emails of the user's selection (one query)."""
    invoices, letters, emails = session.execute(
        select(func.count(), func.count().filter(MassSelection.letter), func.count().filter(MassSelection.email))
        .where(MassSelection.user_id == user_id, (MassSelection.letter | MassSelection.email))).one()
    return {"invoices": invoices, "letters": letters, "emails": emails}


def save_row(session: Session, user_id: int, invoice: Invoice, rank: int, letter: bool, email: bool,
             ranks: Sequence[int]) -> None:
    """Keep one row's choice (the caller commits). Raises SelectionError for a level or channel not allowed."""
    if rank not in ranks:
        raise SelectionError(_l("Level %(rank)s does not exist.", rank=rank))
    if email and not invoice_can_email(invoice):
        raise SelectionError(_l("%(number)s: the customer has no email address, send a letter.",
                                number=invoice.number))
    row = session.get(MassSelection, (user_id, invoice.id))
    if row is None:
        session.add(MassSelection(user_id=user_id, invoice_id=invoice.id, level=rank, letter=letter, email=email))
    else:
        row.level, row.letter, row.email = rank, letter, email


def bulk(session: Session, user_id: int, invoice_select, action: str, ranks: Sequence[int]) -> int:
    """Apply "letters", "emails" or "none" to every invoice of `invoice_select` (a select of Invoice.id).

    Letters / emails tick that box (emails only where an address exists) and keep the other one; none
    unticks both. Returns how many invoices changed. The caller commits.
    """
    if action == "none":
        return session.execute(
            update(MassSelection).where(MassSelection.user_id == user_id, MassSelection.invoice_id.in_(invoice_select),
                                        (MassSelection.letter | MassSelection.email))
            .values(letter=False, email=False).execution_options(synchronize_session=False)).rowcount
    if action not in ("letters", "emails"):
        raise SelectionError(_l("Unknown action."))
    sub = invoice_select.subquery()
    followup, billing = aliased(Contact), aliased(Contact)
    reached = (select(func.max(Reminder.level))
               .where(Reminder.invoice_id == Invoice.id, Reminder.status.in_(DONE_STATUSES))
               .correlate(Invoice).scalar_subquery())
    rows = session.execute(
        select(Invoice.id, reached, followup.email, billing.email, Customer.email,
               MassSelection.level, MassSelection.letter, MassSelection.email)
        .join(sub, sub.c.id == Invoice.id)
        .join(Customer, Customer.id == Invoice.customer_id)
        .outerjoin(followup, followup.id == Invoice.followup_contact_id)
        .outerjoin(billing, billing.id == Invoice.billing_contact_id)
        .outerjoin(MassSelection, (MassSelection.invoice_id == Invoice.id) & (MassSelection.user_id == user_id))
    ).all()
    new, changed = [], []
    for invoice_id, level_reached, f_mail, b_mail, c_mail, level, letter, email in rows:
        if action == "letters":
            if letter:
                continue
            letter = True
        else:
            if email or not can_email(f_mail, b_mail, c_mail):
                continue
            email = True
        if level is None:
            new.append({"user_id": user_id, "invoice_id": invoice_id, "level": default_level(ranks, level_reached),
                        "letter": bool(letter), "email": bool(email)})
        else:
            changed.append(invoice_id)
    if new:
        session.execute(insert(MassSelection), new)
    field = MassSelection.letter if action == "letters" else MassSelection.email
    for start in range(0, len(changed), 1000):
        session.execute(update(MassSelection)
                        .where(MassSelection.user_id == user_id,
                               MassSelection.invoice_id.in_(changed[start:start + 1000]))
                        .values({field: True}).execution_options(synchronize_session=False))
    return len(new) + len(changed)


def clear(session: Session, user_id: int) -> None:
    session.execute(delete(MassSelection).where(MassSelection.user_id == user_id))


@dataclass
class Item:
    """One reminder to make in a run: invoice, level rank, channel."""

    invoice_id: int
    level: int
    channel: str


def checked_selection(session: Session, user_id: int, ranks: Sequence[int]) -> tuple[list[Item], list[str]]:
    """The reminders the user's selection asks for, and a note per invoice dropped because it is no longer
    unpaid. Raises SelectionError when nothing is selected or a row asks for something impossible."""
    rows = session.execute(
        select(MassSelection, Invoice).join(Invoice, Invoice.id == MassSelection.invoice_id)
        .where(MassSelection.user_id == user_id, (MassSelection.letter | MassSelection.email))
        .order_by(Invoice.customer_id, Invoice.due_date, Invoice.id)).all()
    if not rows:
        raise SelectionError(_l("Nothing is selected: tick \u201cby letter\u201d or \u201cby email\u201d on at "
                                "least one invoice."))
    items, dropped, problems = [], [], []
    for pick, invoice in rows:
        if not invoice.is_open:
            dropped.append(str(_l("%(number)s is no longer unpaid: left out.", number=invoice.number)))
            continue
        if pick.level not in ranks:
            problems.append(str(_l("%(number)s: level %(rank)s does not exist.", number=invoice.number,
                                   rank=pick.level)))
        if pick.email and not invoice_can_email(invoice):
            problems.append(str(_l("%(number)s: the customer has no email address, send a letter.",
                                   number=invoice.number)))
        for channel in CHANNELS:
            if getattr(pick, channel):
                items.append(Item(invoice.id, pick.level, channel))
    if problems:
        raise SelectionError(_l("The selection cannot be sent:"), problems)
    if not items:
        raise SelectionError(_l("None of the selected invoices is still unpaid."), dropped)
    return items, dropped


def create_run(session: Session, user: User, on: date, total: int) -> Run:
    run = Run(kind="mass", run_date=on, user=user, status="queued", total=total)
    session.add(run)
    session.flush()
    return run
