"""The phone calls to make (a level with the channel "phone" or `phone_call`) and their outcomes.

The automatic run and the mass run make a call as they make an email or a letter (the rulebook's guard, one key
per invoice + level + channel + day): a Reminder row of channel "phone", status "to_call", the numbers to call as its
recipients. Nothing sends it (`dunning.send` leaves it alone): an agent calls, then records the outcome here. The row
becomes "called" with its outcome and note, who and when (audited): the reminder's history entry; the level then
counts as delivered and the next one may follow. A promise to pay or a dispute heard on the phone is also recorded
as the customer's answer (`answers.promise`, `answers.dispute`, made by the agent), so the engine's holds apply.

The list (`due_customers`): one entry per customer with calls to make, the customers the user follows first (the
invoice's reminder follow-up user, or one of the customer's sales representatives), then the oldest call. The
caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from relance.models import (
    CALL_OUTCOMES,
    DISPUTE_REASONS,
    Answer,
    Customer,
    Invoice,
    Reminder,
    User,
    customer_sales_reps,
)
from relance.services import answers, audit
from relance.services.engine import recipients
from relance.services.errors import RelanceError

OUTCOME_LABELS = {
    "reached": _l("Reached"),
    "no_answer": _l("No answer"),
    "wrong_number": _l("Wrong number"),
    "promise": _l("Promise to pay on a date"),
    "dispute": _l("Dispute"),
    "note": _l("Note only"),
}
NOTE_MAX = 2000
LAST_ANSWERS = 5


class CallError(RelanceError):
    """An outcome that cannot be recorded; `field` names the form field at fault."""

    def __init__(self, field: str | None, message):
        super().__init__(message, field=field)


def _to_call():
    return (Reminder.channel == "phone") & (Reminder.status == "to_call")


def due_customers(user_id: int | None) -> Select:
    """The customers with calls to make, as a statement of Customer rows to page through: the ones `user_id`
    follows first (an invoice's reminder follow-up user, or the customer's sales representative), then by the
    oldest call, then by name."""
    theirs = exists().where(customer_sales_reps.c.customer_id == Invoice.customer_id,
                            customer_sales_reps.c.user_id == user_id)
    mine = case((or_(Invoice.followup_user_id == user_id, theirs), 0), else_=1)
    calls = (select(Invoice.customer_id.label("customer_id"), func.min(mine).label("mine"),
                    func.min(Reminder.reminder_date).label("first"))
             .join(Invoice, Invoice.id == Reminder.invoice_id).where(_to_call())
             .group_by(Invoice.customer_id).subquery())
    return (select(Customer).join(calls, calls.c.customer_id == Customer.id)
            .order_by(calls.c.mine, calls.c.first, Customer.name, Customer.id))


@dataclass
class CustomerCalls:
    """What an agent needs to call one customer: the calls to make (one per invoice and level), the numbers, the
    open invoices and the customer's last answers."""

    customer: Customer
    calls: list[Reminder]
    phones: list[str]
    invoices: list[Invoice]
    answers: list[Answer]
    mine: bool

    @property
    def call_ids(self) -> str:
        return ",".join(str(call.id) for call in self.calls)


def customer_calls(session: Session, customers: list[Customer], user_id: int | None) -> list[CustomerCalls]:
    """Each customer's calls to make and what the call needs, in the order given."""
    ids = [customer.id for customer in customers]
    if not ids:
        return []
    calls: dict[int, list[Reminder]] = {i: [] for i in ids}
    for call in session.scalars(
            select(Reminder).join(Invoice, Invoice.id == Reminder.invoice_id)
            .where(_to_call(), Invoice.customer_id.in_(ids))
            .options(selectinload(Reminder.invoice).selectinload(Invoice.followup_contact),
                     selectinload(Reminder.invoice).selectinload(Invoice.billing_contact))
            .order_by(Reminder.reminder_date, Reminder.level, Reminder.id)):
        calls[call.invoice.customer_id].append(call)
    invoices: dict[int, list[Invoice]] = {i: [] for i in ids}
    for invoice in session.scalars(select(Invoice).where(Invoice.customer_id.in_(ids), Invoice.is_open)
                                   .order_by(Invoice.due_date, Invoice.number)):
        invoices[invoice.customer_id].append(invoice)
    found: dict[int, list[Answer]] = {i: [] for i in ids}
    for answer in session.scalars(select(Answer).where(Answer.customer_id.in_(ids))
                                  .options(selectinload(Answer.invoice), selectinload(Answer.handled_by))
                                  .order_by(Answer.created_at.desc(), Answer.id.desc())):
        if len(found[answer.customer_id]) < LAST_ANSWERS:
            found[answer.customer_id].append(answer)
    cards = []
    for customer in customers:
        phones: list[str] = []
        for call in calls[customer.id]:  # the numbers as they are now (a contact's number may have been corrected)
            phones += [number for number in recipients.phone_numbers(call.invoice) if number not in phones]
        mine = any(call.invoice.followup_user_id == user_id for call in calls[customer.id]) or any(
            rep.id == user_id for rep in customer.sales_reps)
        cards.append(CustomerCalls(customer, calls[customer.id], phones, invoices[customer.id], found[customer.id],
                                   mine))
    return cards


def parse_ids(raw: str | None) -> list[int]:
    """The calls a form names ("12,13"); anything that is not an id is left out."""
    ids = []
    for part in (raw or "").split(","):
        part = part.strip()
        if part.isdigit() and len(part) < 10:
            ids.append(int(part))
    return ids


def record_outcome(session: Session, customer_id: int, call_ids: list[int], outcome: str, *, note: str,
                   promise_date: date | None, dispute_reason: str, user: User, now: datetime,
                   settings) -> list[Reminder]:
    """Record the outcome of a call to a customer on its calls still to make among `call_ids` (status "called",
    the outcome, note, agent and moment kept on each; audited). A promise or a dispute is also the customer's
    answer on each open invoice called about (made by `user`). Raises `CallError` (nothing changed) for a bad
    outcome, a missing note or date, or calls already recorded. The caller commits."""
    if outcome not in CALL_OUTCOMES:
        raise CallError("outcome", _l("Choose the outcome of the call."))
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise CallError("note", _l("The note is too long (%(max)s characters at most).", max=NOTE_MAX))
    if outcome == "note" and not note:
        raise CallError("note", _l("Write the note."))
    if outcome == "promise" and promise_date is None:
        raise CallError("promise_date", _l("Give the date the customer will pay."))
    if outcome == "dispute" and dispute_reason not in DISPUTE_REASONS:
        raise CallError("dispute_reason", _l("Choose the reason of the dispute."))
    rows = list(session.scalars(
        select(Reminder).join(Invoice, Invoice.id == Reminder.invoice_id)
        .where(Reminder.id.in_(call_ids or [-1]), _to_call(), Invoice.customer_id == customer_id)
        .order_by(Reminder.id)))
    if not rows:
        raise CallError(None, _l("These calls were already recorded (or are no longer to make)."))
    if outcome in ("promise", "dispute"):
        called_about: dict[int, Invoice] = {}
        for row in rows:
            if row.invoice.is_open:
                called_about.setdefault(row.invoice.id, row.invoice)
        try:
            for invoice in called_about.values():
                if outcome == "promise":
                    answers.promise(session, invoice, customer_id, promise_date=promise_date, message=note, now=now,
                                    settings=settings, user=user)
                else:
                    answers.dispute(session, invoice, customer_id, reason=dispute_reason, message=note, now=now,
                                    user=user)
        except answers.AnswerError as exc:
            raise CallError(exc.field, exc.message) from None
    for row in rows:
        row.status, row.outcome, row.outcome_note = "called", outcome, note
        row.called_by_id, row.called_at = user.id, now
        after: dict = {"status": "called", "outcome": outcome, "note": note}
        if outcome == "promise" and promise_date is not None:
            after["promise_date"] = promise_date.isoformat()
        if outcome == "dispute":
            after["reason"] = dispute_reason
        audit.record(session, user, "call", "reminder", row.id, {"status": "to_call"}, after)
    session.flush()
    return rows
