"""Record (or remove) a payment on an invoice.

`Invoice.amount_paid` (the payments' sum) and the paid status follow the payments by themselves: database triggers
(`relance/models/paid_state.py`) keep them whatever writes the payments; here the invoice's copies are expired after
the write so that they are read again. The session is passed in and the caller commits, so a refused payment leaves
nothing half-saved.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from relance.models import BankLine, Invoice, Payment, paid_state
from relance.models.base import ZERO
from relance.services.errors import RelanceError
from relance.services.texts.formatting import money_for_reader

CENT = Decimal("0.01")


class PaymentError(RelanceError):
    """A refused payment; `field` names the form field the message is about."""

    def __init__(self, field: str, message):
        super().__init__(message, field=field)


def parse_amount(raw: str | Decimal | int | None) -> Decimal:
    """'1 234,56', '1234.56' or a Decimal -> Decimal with cents; PaymentError otherwise."""
    if isinstance(raw, Decimal | int):
        value = Decimal(raw)
    else:
        text = (raw or "").strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if "," in text and "." not in text:
            text = text.replace(",", ".")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise PaymentError("amount", _l("The amount must be a number, e.g. 150.00.")) from None
    if not value.is_finite():
        raise PaymentError("amount", _l("The amount must be a number, e.g. 150.00."))
    if value != value.quantize(CENT):
        raise PaymentError("amount", _l("The amount cannot have more than two decimals."))
    return value.quantize(CENT)


def check_payment(invoice: Invoice, amount: Decimal) -> None:
    """Raise PaymentError when this amount cannot be paid on this invoice."""
    if invoice.kind == "credit_note":
        raise PaymentError("amount", _l("A credit note cannot receive a payment."))
    if invoice.status == "cancelled":
        raise PaymentError("amount", _l("This invoice is cancelled: it cannot receive a payment."))
    if invoice.status == "draft":
        raise PaymentError("amount", _l("This invoice is a draft: validate it before recording a payment."))
    if amount <= ZERO:
        raise PaymentError("amount", _l("The amount must be greater than zero."))
    remaining = invoice.remaining_due
    if remaining <= ZERO:
        raise PaymentError("amount", _l("This invoice is already fully paid."))
    if amount > remaining:
        raise PaymentError(
            "amount",
            _l("Overpayment: %(amount)s is more than the remaining due of %(remaining)s.",
               amount=money_for_reader(amount, invoice.currency),
               remaining=money_for_reader(remaining, invoice.currency)),
        )


def record_payment(session: Session, invoice: Invoice, amount, on: date | None, reference: str = "",
                   bank_line: BankLine | None = None) -> Payment:
    """Add a payment; a payment that settles the invoice marks it paid; `bank_line`: the statement line it comes
    from (the line's status is its caller's business). The caller commits."""
    amount = parse_amount(amount)
    if not isinstance(on, date):
        raise PaymentError("date", _l("The payment date is missing."))
    reference = (reference or "").strip()
    if len(reference) > 120:
        raise PaymentError("reference", _l("The reference is too long (120 characters at most)."))
    check_payment(invoice, amount)
    payment = Payment(date=on, amount=amount, reference=reference)
    invoice.payments.append(payment)
    session.add(payment)
    if bank_line is not None:
        payment.bank_line = bank_line
    session.flush()
    session.expire(invoice, paid_state.DERIVED)
    return payment


def delete_payment(session: Session, payment: Payment) -> Invoice:
    """Remove a payment recorded by mistake; a paid invoice that is no longer settled is due again; the bank line it
    came from, left without payment, is free again (proposed when it had candidates). The caller commits."""
    invoice = payment.invoice
    line = payment.bank_line
    invoice.payments.remove(payment)
    session.delete(payment)
    session.flush()
    session.expire(invoice, paid_state.DERIVED)
    if line is not None:
        session.expire(line, ["payments"])
    if line is not None and not line.payments and line.status == "recorded":
        line.status = "matched" if line.candidates else "new"
        line.automatic = False
    return invoice
