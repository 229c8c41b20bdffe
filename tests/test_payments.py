"""The payment service: partial and full payments, refused ones with their message, nothing half-saved."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import Payment
from relance.services.payments import PaymentError, parse_amount, record_payment
from tests.factories import make_invoice

ON = date(2026, 2, 10)


def payment_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Payment))


def test_partial_then_full_payment_marks_paid(app):
    invoice = make_invoice(total="1200.00")
    record_payment(db.session, invoice, "200,50", ON, "CHQ 12")
    db.session.commit()
    assert invoice.amount_paid == Decimal("200.50")
    assert invoice.remaining_due == Decimal("999.50")
    assert invoice.status == "validated" and invoice.is_open
    record_payment(db.session, invoice, Decimal("999.50"), ON)
    db.session.commit()
    db.session.expire_all()
    assert invoice.amount_paid == Decimal("1200.00")
    assert invoice.status == "paid" and not invoice.is_open
    assert [p.amount for p in invoice.payments] == [Decimal("200.50"), Decimal("999.50")]
    assert invoice.payments[0].reference == "CHQ 12"


@pytest.mark.parametrize(
    ("kw", "amount", "message"),
    [
        ({}, "1200.01", "Overpayment: €1,200.01 is more than the remaining due of €1,200.00."),
        ({}, "0", "The amount must be greater than zero."),
        ({}, "-5", "The amount must be greater than zero."),
        ({}, "abc", "The amount must be a number, e.g. 150.00."),
        ({}, "10.001", "The amount cannot have more than two decimals."),
        ({}, "NaN", "The amount must be a number, e.g. 150.00."),
        ({"status": "cancelled"}, "10", "This invoice is cancelled: it cannot receive a payment."),
        ({"status": "draft"}, "10", "This invoice is a draft: validate it before recording a payment."),
        ({"kind": "credit_note"}, "10", "A credit note cannot receive a payment."),
        ({"status": "paid"}, "10", "This invoice is already fully paid."),
    ],
)
def test_refused_payments_save_nothing(app, kw, amount, message):
    paid = "1200.00" if kw.get("status") == "paid" else "0"
    invoice = make_invoice(total="1200.00", paid=paid, **kw)
    db.session.commit()
    before = payment_count()
    with pytest.raises(PaymentError) as excinfo:
        record_payment(db.session, invoice, amount, ON)
    db.session.rollback()
    assert str(excinfo.value) == message
    assert excinfo.value.field == "amount"
    assert payment_count() == before
    db.session.expire_all()
    assert invoice.amount_paid == Decimal(paid)


def test_overpayment_after_a_partial_payment(app):
    invoice = make_invoice(total="100.00", paid="60.00", currency="USD")
    db.session.commit()
    with pytest.raises(PaymentError, match=r"remaining due of \$40.00"):
        record_payment(db.session, invoice, "40.01", ON)


def test_parse_amount_accepts_french_and_english_writing():
    assert parse_amount("1 234,56") == Decimal("1234.56")
    assert parse_amount("1\u202f234,5") == Decimal("1234.50")
    assert parse_amount(" 99.9 ") == Decimal("99.90")
    assert parse_amount(7) == Decimal("7.00")
