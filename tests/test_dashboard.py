from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from relance.extensions import db
from relance.models import Reminder
from relance.services import dashboard
from tests.factories import make_customer, make_invoice

TODAY = date(2026, 3, 1)


def _invoices():
    customer = make_customer()
    make_invoice(customer, total="100.00", due=TODAY + timedelta(days=3))           # not due
    make_invoice(customer, total="200.00", due=TODAY)                               # due today: not late
    make_invoice(customer, total="300.00", due=TODAY - timedelta(days=1))           # 1-30
    make_invoice(customer, total="400.00", due=TODAY - timedelta(days=30), paid="100.00")  # 1-30, 300 left
    make_invoice(customer, total="500.00", due=TODAY - timedelta(days=31))          # 31-60
    make_invoice(customer, total="600.00", due=TODAY - timedelta(days=90))          # 61-90
    late = make_invoice(customer, total="700.00", due=TODAY - timedelta(days=91))   # 90+
    make_invoice(customer, total="800.00", due=TODAY - timedelta(days=200), currency="GBP")
    # never counted: paid, cancelled, draft, credit note, no due date
    make_invoice(customer, total="999.00", due=TODAY - timedelta(days=50), status="paid")
    make_invoice(customer, total="999.00", due=TODAY - timedelta(days=50), status="cancelled")
    make_invoice(customer, total="999.00", due=TODAY - timedelta(days=50), status="draft")
    make_invoice(customer, total="999.00", due=TODAY - timedelta(days=50), kind="credit_note")
    make_invoice(customer, total="999.00", due=None)
    return late


def test_aging_buckets_per_currency(app):
    _invoices()
    eur, gbp = dashboard.aging(db.session, TODAY)
    assert eur.currency == "EUR" and gbp.currency == "GBP"
    assert eur.buckets == {"not_due": Decimal("300.00"), "1_30": Decimal("600.00"), "31_60": Decimal("500.00"),
                           "61_90": Decimal("600.00"), "90_plus": Decimal("700.00")}
    assert eur.bucket_counts == {"not_due": 2, "1_30": 2, "31_60": 1, "61_90": 1, "90_plus": 1}
    assert (eur.count, eur.total, eur.overdue_count, eur.overdue) == (7, Decimal("2700.00"), 5, Decimal("2400.00"))
    assert (gbp.overdue_count, gbp.buckets["90_plus"]) == (1, Decimal("800.00"))


def test_level_counts_and_failed(app):
    late = _invoices()
    db.session.add_all([
        Reminder(key="a", invoice=late, level=1, channel="email", reminder_date=TODAY, status="sent"),
        Reminder(key="b", invoice=late, level=2, channel="email", reminder_date=TODAY, status="sent"),
        Reminder(key="c", invoice=late, level=3, channel="email", reminder_date=TODAY, status="failed",
                 error="550 mailbox unavailable"),
    ])
    db.session.flush()
    counts = dashboard.level_counts(db.session)
    assert counts[2] == 1 and counts[None] == 7
    total, failed = dashboard.failed_reminders(db.session)
    assert total == 1 and failed[0].error == "550 mailbox unavailable"


def test_dashboard_page(app, client, auth):
    late = _invoices()
    db.session.add(Reminder(key="f", invoice=late, level=1, channel="email", reminder_date=TODAY, status="failed",
                            error="550 <mailbox> unavailable"))
    db.session.commit()
    auth.login("viewer")
    html = client.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "<svg" in html and "Plus de 90 jours" in html
    assert "550 &lt;mailbox&gt; unavailable" in html
    assert "1 relance a échoué" in html
