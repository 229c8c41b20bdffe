"""Credit notes allocated to the invoice they credit.

A credit note names the invoice it credits (`Invoice.credits_invoice_id`). Its amount then counts on that invoice
exactly as a payment on the credit note's issue date would: `sync` keeps one `Payment` row per allocated credit note
(`Payment.credit_note_id`; the credit note's issue date, total including tax and number as reference), so the amount
paid and the paid status (database triggers, `models/paid_state.py`), the engine's selection, the interest and the
rule that a paid invoice is closed apply to it unchanged: no second rulebook. An invoice a credit note settles is
paid, and shown credited (`Invoice.credited`).

`refusal` is the one check of an allocation, for every way in (the invoice form, the customer's page, the CSV import
and the API, e-invoices): the same customer and currency, an invoice (not a credit note, not itself, not a draft or
cancelled), a validated credit note, and no more than what is left to pay on the invoice. A larger credit note is
refused, not capped: the accountant decides where the rest goes (another invoice, a refund) or corrects it.
Every writer of a credit note calls `sync` after writing it; `allocate` does both for one credit note. The caller
commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from relance.models import Invoice, Payment
from relance.models.base import ZERO
from relance.services.data_in.plan import STATUS_LABELS, Money, chunks
from relance.services.errors import RelanceError

ALLOCATABLE = ("validated", "paid")  # the statuses of a credit note that credits an invoice
CENT = Decimal("0.01")


class CreditNoteError(RelanceError):
    """An allocation refused; `field` is the credit note's "credits_invoice"."""

    def __init__(self, message):
        super().__init__(message, field="credits_invoice")


@dataclass(frozen=True)
class Facts:
    """What the rules read of a credit note or of the invoice it credits, as they will be once saved."""

    number: str
    customer: str  # the customer's code
    kind: str
    status: str
    currency: str
    total: Decimal

    @classmethod
    def of(cls, invoice: Invoice) -> Facts:
        return cls(invoice.number, invoice.customer.code, invoice.kind, invoice.status, invoice.currency,
                   invoice.total_incl_tax)


def refusal(note: Facts, number: str, target: Facts | None, left: Decimal):
    """Why the credit note `note` cannot credit the invoice `number` (`target`: its facts, None when no invoice has
    this number; `left`: what is left to pay on it, this credit note's own share not counted), or None."""
    if note.kind != "credit_note":
        return _l("Only a credit note credits an invoice: make this a credit note or leave the credited invoice "
                  "empty.")
    if note.status == "draft":
        return _l("A draft credit note credits no invoice: validate it first.")
    if note.status not in ALLOCATABLE:
        return _l("A cancelled credit note credits no invoice: leave the credited invoice empty.")
    if target is None:
        return _l('Unknown invoice number "%(number)s".', number=number)
    if target.number == note.number:
        return _l("A credit note cannot credit itself.")
    if target.kind != "invoice":
        return _l('"%(number)s" is a credit note: a credit note credits an invoice.', number=number)
    if target.customer != note.customer:
        return _l("Invoice %(number)s is another customer's (%(customer)s).", number=number,
                  customer=target.customer)
    if target.status not in ALLOCATABLE:
        return _l("Invoice %(number)s is %(status)s: it cannot be credited.", number=number,
                  status=STATUS_LABELS[target.status])
    if target.currency != note.currency:
        return _l("Invoice %(number)s is in %(invoice)s, the credit note in %(note)s.", number=number,
                  invoice=target.currency, note=note.currency)
    if note.total > left:
        return _l("The credit note (%(amount)s) is more than what is left to pay on invoice %(number)s "
                  "(%(left)s): allocate it to another invoice or correct its amount.",
                  amount=Money(note.total, note.currency), number=number, left=Money(left, target.currency))
    return None


def left_to_credit(invoice: Invoice, note_id: int | None) -> Decimal:
    """What is left to pay on `invoice` for the credit note `note_id`: its remaining due, that credit note's own
    payment (when it already credits this invoice) added back."""
    own = sum((p.amount for p in invoice.payments if note_id is not None and p.credit_note_id == note_id), ZERO)
    return invoice.remaining_due + own


def credited_invoice(session: Session, note: Facts, note_id: int | None, number: str) -> Invoice | None:
    """The invoice `number` names (locked: PostgreSQL row lock, SQLite's write lock held by the request), once the
    credit note may credit it; None for an empty number. `CreditNoteError` when refused."""
    number = (number or "").strip()
    if not number:
        return None
    target = session.scalar(select(Invoice).where(Invoice.number == number).with_for_update()
                            .execution_options(populate_existing=True))
    facts = Facts.of(target) if target is not None else None
    message = refusal(note, number, facts, left_to_credit(target, note_id) if target is not None else ZERO)
    if message is not None:
        raise CreditNoteError(message)
    return target


def allocate(session: Session, note: Invoice, number: str) -> None:
    """Make the credit note `note` credit the invoice `number` ("" for none: undo) and its payment follow.
    `CreditNoteError` when refused (nothing changed). The caller commits."""
    target = credited_invoice(session, Facts.of(note), note.id, number)
    note.credits_invoice_id = target.id if target is not None else None
    sync(session, [note.id])


def unallocated(session: Session, customer_id: int) -> list[Invoice]:
    """The customer's validated credit notes that credit no invoice, oldest first."""
    return list(session.scalars(select(Invoice).where(
        Invoice.customer_id == customer_id, Invoice.kind == "credit_note", Invoice.credits_invoice_id.is_(None),
        Invoice.status.in_(ALLOCATABLE)).order_by(Invoice.issue_date, Invoice.id)))


def sync(session: Session, note_ids: Iterable[int]) -> None:
    """Make the payment rows of these invoices what they say now: one on the invoice each credit note credits (its
    issue date, its total, its number as reference), none for a credit note allocated to no invoice, not validated,
    or no longer a credit note (or deleted). Recomputed, never added to: running it again changes nothing. Flushes
    the session first; when a row changed, expires every object in it (the triggers changed amounts and statuses
    under them)."""
    ids = sorted(set(note_ids))
    session.flush()
    changed = False
    for chunk in chunks(ids):
        wanted = {
            row.id: {"invoice_id": row.credits_invoice_id, "date": row.issue_date,
                     "amount": Decimal(row.total_incl_tax).quantize(CENT), "reference": row.number[:120]}
            for row in session.execute(select(
                Invoice.id, Invoice.number, Invoice.kind, Invoice.status, Invoice.credits_invoice_id,
                Invoice.issue_date, Invoice.total_incl_tax).where(Invoice.id.in_(chunk)))
            if row.credits_invoice_id is not None and row.kind == "credit_note" and row.status in ALLOCATABLE}
        have = {row.credit_note_id: row for row in session.execute(select(
            Payment.id, Payment.credit_note_id, Payment.invoice_id, Payment.date, Payment.amount, Payment.reference)
            .where(Payment.credit_note_id.in_(chunk)))}
        gone = [row.id for note, row in have.items() if note not in wanted]
        new = [{"credit_note_id": note, **values} for note, values in wanted.items() if note not in have]
        moved = [{"id": have[note].id, **values} for note, values in wanted.items()
                 if note in have and values != {k: getattr(have[note], k) for k in values}]
        if gone:
            session.execute(delete(Payment).where(Payment.id.in_(gone)))
        if moved:
            session.execute(update(Payment), moved)
        if new:
            session.execute(insert(Payment), new)
        changed = changed or bool(gone or moved or new)
    if changed:
        session.expire_all()
