"""The payment service: partial and full payments, refused ones with their message, nothing half-saved; the
amount paid and the paid status kept by the database whatever writes the payments (relance/models/paid_state.py)."""

import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from relance.extensions import db
from relance.models import Invoice, Payment, paid_state
from relance.services.payments import PaymentError, delete_payment, parse_amount, record_payment
from tests.factories import make_invoice

ON = date(2026, 2, 10)


def payment_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Payment))


def test_partial_then_full_payment_marks_paid(app):
    invoice = make_invoice(total="1200.00")
    record_payment(db.session, invoice, "200,50", ON, "CHQ 12")
    assert invoice.amount_paid == Decimal("200.50")  # as the trigger left it, before any commit
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


def paid(invoice) -> tuple:
    return tuple(db.session.execute(select(Invoice.amount_paid, Invoice.status).where(Invoice.id == invoice.id)).one())


def sql(statement: str) -> None:
    db.session.execute(text(statement))


def insert_sql(invoice, amount: str, reference: str = "") -> int:
    sql("INSERT INTO payments (invoice_id, date, amount, reference, created_at) VALUES "
        f"({invoice.id}, '2026-02-10', {amount}, '{reference}', '2026-02-10 12:00:00')")
    return db.session.scalar(select(func.max(Payment.id)))


def test_amount_paid_and_status_follow_payments_written_with_sql(app):
    """Raw SQL, no application code: inserts, changes of amount, moves to another invoice, deletes (one and many)."""
    a, b = make_invoice(total="100.00"), make_invoice(total="50.00")
    marked = make_invoice(total="80.00", status="paid")  # marked paid by a person, no payment recorded
    db.session.commit()
    first = insert_sql(a, "40.00")
    assert paid(a) == (Decimal("40.00"), "validated")
    second = insert_sql(a, "60.00")
    assert paid(a) == (Decimal("100.00"), "paid")
    sql(f"UPDATE payments SET amount = 59.99 WHERE id = {second}")
    assert paid(a) == (Decimal("99.99"), "validated")  # no longer settled
    sql(f"UPDATE payments SET amount = 60.00 WHERE id = {second}")
    assert paid(a) == (Decimal("100.00"), "paid")
    sql(f"UPDATE payments SET reference = 'VIR' WHERE id = {second}")  # not an amount: nothing moves
    assert paid(a) == (Decimal("100.00"), "paid")
    sql(f"UPDATE payments SET invoice_id = {b.id} WHERE id = {first}")
    assert (paid(a), paid(b)) == ((Decimal("60.00"), "validated"), (Decimal("40.00"), "validated"))
    sql(f"UPDATE payments SET amount = 50.00 WHERE id = {first}")
    assert paid(b) == (Decimal("50.00"), "paid")
    sql(f"DELETE FROM payments WHERE id = {second}")
    assert paid(a) == (Decimal("0.00"), "validated")
    for cents in ("0.10", "0.20", "0.30", "99.40"):  # in binary floating point 0.1 + 0.2 > 0.3: summed in cents
        insert_sql(a, cents)
    assert paid(a) == (Decimal("100.00"), "paid")
    insert_sql(marked, "30.00")
    assert paid(marked) == (Decimal("30.00"), "paid")  # a partial payment does not undo what a person set
    sql(f"DELETE FROM payments WHERE invoice_id IN ({a.id}, {b.id})")
    assert (paid(a), paid(b)) == ((Decimal("0.00"), "validated"), (Decimal("0.00"), "validated"))
    db.session.commit()


def test_a_wrong_amount_paid_heals_at_the_next_payment_change_and_by_the_backfill(app):
    invoice = make_invoice(total="100.00")
    db.session.commit()
    sql(f"UPDATE invoices SET amount_paid = 77 WHERE id = {invoice.id}")  # wrong, written by hand
    payment = insert_sql(invoice, "25.00")
    assert paid(invoice) == (Decimal("25.00"), "validated")  # recomputed, never added to
    sql(f"UPDATE invoices SET amount_paid = 0 WHERE id = {invoice.id}")
    for sql_text in paid_state.backfill(db.engine.dialect.name):
        sql(sql_text)
    assert paid(invoice) == (Decimal("25.00"), "validated")
    delete_payment(db.session, db.session.get(Payment, payment))
    assert (invoice.amount_paid, invoice.status) == (Decimal("0.00"), "validated")


def test_two_payments_at_once_on_one_invoice_add_up(app):
    """Two transactions pay the same invoice at once: the second waits for the first (PostgreSQL: the trigger locks
    the invoice before it reads the sum; SQLite: one writer) and counts its payment."""
    invoice = make_invoice(total="100.00")
    db.session.commit()
    insert = ("INSERT INTO payments (invoice_id, date, amount, reference, created_at) VALUES "
              f"({invoice.id}, '2026-02-10', {{}}, '', '2026-02-10 12:00:00')")
    postgresql = db.engine.dialect.name == "postgresql"
    with db.engine.connect() as one, db.engine.connect() as two:
        pid = two.execute(text("SELECT pg_backend_pid()")).scalar() if postgresql else None
        two.commit()
        one.execute(text(insert.format("40.00")))
        errors = []

        def pay():
            try:
                two.execute(text(insert.format("60.00")))
                two.commit()
            except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
                errors.append(exc)

        thread = threading.Thread(target=pay)
        thread.start()
        deadline = time.monotonic() + 10
        waiting = False
        while not waiting and time.monotonic() < deadline:
            time.sleep(0.05)
            if postgresql:
                waiting = db.session.execute(text(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar()
                db.session.commit()
            else:
                waiting = thread.is_alive()
        assert waiting, "the second payment did not wait for the first"
        one.commit()
        thread.join(30)
        assert not thread.is_alive() and errors == []
    db.session.expire_all()
    assert paid(invoice) == (Decimal("100.00"), "paid")
