"""Property: the set-wise claims (`penalties.claims_for_invoices`, `penalties.Claims`: what the selection uses) equal
the plain per-invoice reference `claim_for_invoice` to the last digit, periods and reasons included, on random
invoices and dates (both databases): amounts up to a million, four currencies (whole yen), issue and due dates
across the rate periods and before the first one (no rate: no interest and a reason), partial payments before and
after the due date (several on a day, some after the claim's date), credit notes, business and consumer customers
(consumer interest from a formal notice, at the consumer rate), penalties none / fixed / percent, the creditor
country's indemnity in its own currency, statutory interest off."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from relance.extensions import db
from relance.models import Customer, Invoice, Payment, Reminder, ReminderLevel, StatutoryRate
from relance.services import settings as settings_service
from relance.services.defaults import install_defaults
from relance.services.engine.penalties import Claims, claim_for_invoice, claims_for_invoices, load_rates

FIRST = date(2023, 6, 1)  # the rates start in 2024 (FR) or mid-2025 (GB): earlier days have none
LAST = date(2027, 3, 31)

payment_strategy = st.tuples(st.integers(-60, 500), st.integers(1, 100))  # days after due, percent of what is left
invoice_strategy = st.fixed_dictionaries({
    "cents": st.one_of(st.integers(1, 200_000), st.integers(1, 100_000_000)),
    "currency": st.sampled_from(["EUR", "EUR", "USD", "GBP", "JPY"]),
    "kind": st.sampled_from(["business", "business", "consumer"]),
    "credit_note": st.sampled_from([False] * 9 + [True]),
    "due": st.integers(0, (LAST - FIRST).days),
    "payments": st.lists(payment_strategy, max_size=4),
    "notice": st.one_of(st.none(), st.integers(-30, 400)),  # a formal notice done, days after due
    "level": st.integers(0, 3),
})
scenario = st.fixed_dictionaries({
    "country": st.sampled_from(["FR", "FR", "GB", "DE"]),
    "indemnities": st.sampled_from([{"FR": "40.00"}, {"FR": "40.00", "GB": "70.00 GBP", "DE": "40.00"},
                                    {"FR": "40.00 USD", "GB": "40.00"}, {}]),
    "interest": st.sampled_from([True, True, True, False]),
    "penalties": st.lists(st.tuples(st.sampled_from(["none", "fixed", "percent"]),
                                    st.sampled_from(["0", "10", "15.50", "2.5", "7.333"])), min_size=4, max_size=4),
    "on": st.integers(0, (LAST - FIRST).days),
    "invoices": st.lists(invoice_strategy, min_size=1, max_size=10),
})


def build(data) -> tuple[date, list[tuple[Invoice, ReminderLevel]]]:
    install_defaults(db.session)
    db.session.add_all([StatutoryRate(country="GB", kind="b2b", valid_from=date(2025, 7, 1), rate=Decimal("11.75")),
                        StatutoryRate(country="GB", kind="b2b", valid_from=date(2026, 7, 1), rate=Decimal("11.5")),
                        StatutoryRate(country="DE", kind="b2b", valid_from=date(2024, 1, 1), rate=Decimal("12.62")),
                        StatutoryRate(country="DE", kind="consumer", valid_from=date(2024, 1, 1),
                                      rate=Decimal("8.62"))])
    settings_service.save(db.session, {"company_country": data["country"], "statutory_interest": data["interest"],
                                       "indemnity_by_country": data["indemnities"]})
    levels = list(db.session.scalars(select(ReminderLevel).order_by(ReminderLevel.rank)))
    for level, (kind, value) in zip(levels, data["penalties"], strict=True):
        level.penalty_kind, level.penalty_value = kind, Decimal(value)
    customers = {kind: Customer(code=f"C-{kind}", name=kind, email=f"{kind}@customer.example", kind=kind)
                 for kind in ("business", "consumer")}
    db.session.add_all(customers.values())
    on = FIRST + timedelta(days=data["on"])
    invoices = []
    for index, values in enumerate(data["invoices"]):
        total = Decimal(values["cents"]) / 100
        due = FIRST + timedelta(days=values["due"])
        invoice = Invoice(number=f"FA{index:03d}", customer=customers[values["kind"]], issue_date=due - timedelta(30),
                          due_date=due, currency=values["currency"], total_excl_tax=total, total_incl_tax=total,
                          kind="credit_note" if values["credit_note"] else "invoice")
        db.session.add(invoice)
        db.session.flush()
        left = total
        for offset, percent in values["payments"]:
            amount = (left * percent / 100).quantize(Decimal("0.01"))
            if amount > 0:
                db.session.add(Payment(invoice_id=invoice.id, date=due + timedelta(days=offset), amount=amount))
                left -= amount
        if values["notice"] is not None:
            db.session.add(Reminder(key=f"notice-{index}", invoice_id=invoice.id, level=3, channel="letter",
                                    formal_notice=True, status="posted",
                                    reminder_date=due + timedelta(days=values["notice"])))
        invoices.append((invoice, levels[values["level"]]))
    db.session.flush()
    db.session.expire_all()  # amount_paid as the payment triggers left it
    return on, invoices


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=scenario)
def test_set_wise_claims_equal_the_reference(app, data):
    try:
        on, invoices = build(data)
        company = settings_service.load(db.session)
        fast = claims_for_invoices(db.session, invoices, on, company)
        for invoice, level in invoices:
            assert fast[invoice.id] == claim_for_invoice(db.session, invoice, level, on, company), invoice.number
        # the selection's way: figures without periods, the same amounts
        claims = Claims(on, company, load_rates(db.session, company.company_country))
        for invoice, level in invoices:
            plain = fast[invoice.id]
            figures = claims.figures(invoice.total_incl_tax, invoice.amount_paid,
                                     [(p.date, p.amount) for p in invoice.payments], invoice.due_date,
                                     invoice.customer.kind, level.penalty_kind, level.penalty_value,
                                     claims_notice(invoice, level, on), invoice.currency)
            assert figures == (plain.remaining_due, plain.days_late, plain.penalty, plain.interest, plain.indemnity,
                               plain.total_claimed, (), plain.reasons, plain.indemnity_currency)
    finally:
        db.session.rollback()


def claims_notice(invoice: Invoice, level: ReminderLevel, on: date) -> date | None:
    notices = [r.reminder_date for r in db.session.scalars(select(Reminder).where(Reminder.invoice_id == invoice.id))]
    return min(notices, default=None) or (on if level.formal_notice else None)


def test_published_examples_set_wise(app):
    """LAW.md examples A and B through the set-wise path: 18.77 and 19.43."""
    install_defaults(db.session)
    customer = Customer(code="C1", name="Atelier", email="a@customer.example", kind="business")
    a = Invoice(number="A", customer=customer, issue_date=date(2025, 12, 16), due_date=date(2026, 1, 15),
                total_excl_tax=Decimal("1000.00"), total_incl_tax=Decimal("1200.00"))
    b = Invoice(number="B", customer=customer, issue_date=date(2025, 5, 11), due_date=date(2025, 6, 10),
                total_excl_tax=Decimal("1000.00"), total_incl_tax=Decimal("1200.00"))
    db.session.add_all([a, b])
    db.session.flush()
    level = db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == 1)).one()
    company = settings_service.load(db.session)
    assert claims_for_invoices(db.session, [(a, level)], date(2026, 3, 3), company)[a.id].interest == Decimal("18.77")
    assert claims_for_invoices(db.session, [(b, level)], date(2025, 7, 27), company)[b.id].interest == Decimal("19.43")
    assert claims_for_invoices(db.session, [(a, level)], date(2026, 3, 3), company)[a.id].total_claimed == \
        Decimal("1258.77")
