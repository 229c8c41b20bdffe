"""The schedule: every rule of "which reminder is due", on SQLite and PostgreSQL, set-based and reference."""

import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import Contact, Reminder, ReminderLevel
from relance.services import settings as settings_service
from relance.services.engine.schedule import (
    default_now,
    due_reminders,
    explain,
    reference_schedule,
    schedule,
)
from tests.factories import install_live_defaults, make_customer, make_invoice, make_user

D = Decimal
_keys = itertools.count(1)


@pytest.fixture
def engine(app):
    """Default levels (0: -5 days, 1: +15, 2: +30 both, 3: +45 letter not automatic), rates and texts."""
    install_live_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example", "company_name": "Vendor SAS"})
    db.session.flush()
    return app


def level(rank) -> ReminderLevel:
    return db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == rank)).one()


def remind(invoice, rank, on, user=None, next_date=None, status="sent", created_at=None, channel="email"):
    reminder = Reminder(key=f"test-{next(_keys)}", invoice_id=invoice.id, level=rank, channel=channel,
                        user_id=user.id if user else None, reminder_date=on, next_date=next_date, status=status,
                        created_at=created_at or datetime.combine(on, datetime.min.time()) + timedelta(hours=9))
    db.session.add(reminder)
    db.session.flush()
    return reminder


def due_on(on, **kw):
    """{invoice number: level} due on `on`; checks the reference agrees on due and skipped."""
    result = schedule(db.session, on, **kw)
    reference = reference_schedule(db.session, on, **kw)
    assert result.due == reference.due
    assert result.skipped == reference.skipped
    assert result.due == due_reminders(db.session, on, **kw)
    return {d.invoice_number: d.level for d in result.due}


def skipped_on(on, **kw):
    return {s.invoice_number: (s.level, s.code) for s in schedule(db.session, on, **kw).skipped}


def set_settings(**values):
    settings_service.save(db.session, values)
    db.session.flush()


def test_before_due_level_then_skipped_once_past_due(engine):
    make_invoice(number="A", due=date(2026, 2, 10))
    assert due_on(date(2026, 2, 4)) == {}
    assert due_on(date(2026, 2, 5)) == {"A": 0}
    assert due_on(date(2026, 2, 10)) == {"A": 0}
    assert due_on(date(2026, 2, 11)) == {}  # rank 0 skipped after the due date; level 1 on 25 Feb
    assert due_on(date(2026, 2, 25)) == {"A": 1}


def test_one_level_per_run_and_catch_up_without_a_burst(engine):
    invoice = make_invoice(number="A", due=date(2026, 1, 1))
    assert due_on(date(2026, 4, 1)) == {"A": 1}  # levels 1, 2 and 3 all passed: only the next one
    remind(invoice, 1, date(2026, 4, 1))
    assert due_on(date(2026, 4, 2)) == {}  # at least 7 days between two reminders
    assert due_on(date(2026, 4, 8)) == {"A": 2}
    remind(invoice, 2, date(2026, 4, 8))
    assert due_on(date(2026, 4, 15)) == {}  # level 3 is not automatic
    assert skipped_on(date(2026, 4, 15)) == {"A": (3, "manual_level")}
    assert due_on(date(2026, 4, 15), automatic=False) == {"A": 3}
    remind(invoice, 3, date(2026, 4, 15), channel="letter")
    assert due_on(date(2026, 6, 1)) == {} and due_on(date(2026, 6, 1), automatic=False) == {}


def test_levels_2_and_up_only_after_the_level_below_was_done(engine):
    invoice = make_invoice(number="A", due=date(2026, 1, 1))
    remind(invoice, 1, date(2026, 1, 16), status="failed")
    remind(invoice, 1, date(2026, 1, 17), status="cancelled")
    assert due_on(date(2026, 2, 15)) == {"A": 1}  # failed and cancelled reminders are not done
    first = remind(invoice, 1, date(2026, 2, 15), status="pending")
    # made but not delivered yet: the next level waits for it (escalation needs the level below received)
    assert due_on(date(2026, 2, 22)) == {} and due_on(date(2026, 2, 22), automatic=False) == {}
    first.status = "sent"
    db.session.commit()
    assert due_on(date(2026, 2, 22)) == {"A": 2}


def test_a_printed_letter_not_posted_holds_the_next_level_until_posted(engine):
    invoice = make_invoice(number="A", due=date(2026, 1, 1))
    letter = remind(invoice, 1, date(2026, 1, 16), status="to_post", channel="letter")
    assert due_on(date(2026, 2, 22)) == {}
    from relance.services.engine import eligibility

    verdict = eligibility.check(db.session, invoice, 2, "email", date(2026, 2, 22))
    assert verdict.codes == ("not_delivered",) and verdict.may_override
    assert "printed but not marked posted" in str(verdict)
    letter.status = "posted"
    db.session.commit()
    assert due_on(date(2026, 2, 22)) == {"A": 2}
    # a level sent by email and letter: the email delivered it, the letter still to post does not hold it
    remind(invoice, 2, date(2026, 2, 22), status="sent")
    remind(invoice, 2, date(2026, 2, 22), status="to_post", channel="letter")
    assert due_on(date(2026, 4, 1), automatic=False) == {"A": 3}


def test_minimum_days_between_two_reminders_is_a_setting(engine):
    invoice = make_invoice(number="A", due=date(2026, 1, 1))
    remind(invoice, 1, date(2026, 1, 28))
    set_settings(min_days_between=10)
    assert due_on(date(2026, 2, 6)) == {}
    assert due_on(date(2026, 2, 7)) == {"A": 2}


def test_manual_next_reminder_date_postpones_the_automatic_one(engine):
    agent = make_user(role="agent")
    invoice = make_invoice(number="A", due=date(2026, 1, 1))
    remind(invoice, 1, date(2026, 1, 20), user=agent, next_date=date(2026, 3, 1))
    assert due_on(date(2026, 2, 15)) == {}  # level 2 date (31 Jan) has come, but the agent said 1 March
    assert due_on(date(2026, 3, 1)) == {"A": 2}
    # an automatic reminder made after it: the manual date no longer holds
    remind(invoice, 2, date(2026, 3, 1), next_date=date(2026, 9, 1))
    assert due_on(date(2026, 3, 8), automatic=False) == {"A": 3}


def test_reminder_made_by_hand_in_the_last_hours_cancels_the_automatic_one(engine):
    set_settings(min_days_between=0)
    agent = make_user(role="agent")
    invoice = make_invoice(number="A", due=date(2026, 1, 1))
    on = date(2026, 2, 10)
    now = default_now(on, settings_service.load(db.session))
    assert now == datetime(2026, 2, 10, 9, 0)  # 10:00 in Paris
    remind(invoice, 1, date(2026, 2, 9), user=agent, created_at=now - timedelta(hours=19))
    assert due_on(on) == {}
    assert skipped_on(on) == {"A": (2, "recent_manual")}
    assert due_on(on, automatic=False) == {"A": 2}  # a person may still send it
    assert due_on(on, now=now + timedelta(hours=2)) == {"A": 2}  # 21 hours later
    set_settings(manual_cancels_hours=30)
    assert due_on(on, now=now + timedelta(hours=2)) == {}


def test_business_days_rule(engine):
    set_settings(business_days=True, business_country="FR")
    make_invoice(number="A", due=date(2026, 4, 15))  # level 1 on Thursday 30 April
    assert due_on(date(2026, 4, 30)) == {"A": 1}
    make_invoice(number="B", due=date(2026, 4, 16))  # level 1 on Friday 1 May (Labour Day)
    assert schedule(db.session, date(2026, 5, 1)).due == []
    assert "not a business day" in schedule(db.session, date(2026, 5, 1)).note
    assert due_on(date(2026, 5, 2)) == {}  # Saturday
    assert due_on(date(2026, 5, 4)) == {"A": 1, "B": 1}  # Monday
    text = explain(db.session, make_invoice(number="C", due=date(2026, 4, 17)), date(2026, 4, 20), language="en")
    assert text.status == "waiting" and text.next_date == date(2026, 5, 4)  # 2 May is a Saturday
    assert "moved to 2026-05-04" in str(text)
    set_settings(business_days=False)
    assert due_on(date(2026, 5, 2)) == {"A": 1, "B": 1, "C": 1}


@pytest.mark.parametrize("change, setting, code", [
    ({"invoice": {"no_auto_reminders": True}}, {}, "invoice_no_auto"),
    ({"customer": {"no_auto_reminders": True}}, {}, "customer_no_auto"),
    ({"customer": {"paused_until": date(2026, 2, 20), "pause_reason": "Litige"}}, {}, "paused"),
    ({"customer": {"direct_debit": True}}, {}, "direct_debit"),
    ({"customer": {"kind": "consumer"}}, {}, "consumer_penalty"),
    ({}, {"min_amount": "1500"}, "below_minimum"),
])
def test_exclusions_come_with_their_reason(engine, change, setting, code):
    level(1).penalty_kind, level(1).penalty_value = "fixed", D("10")
    set_settings(**setting)
    customer = make_customer(**change.get("customer", {}))
    make_invoice(customer, number="A", due=date(2026, 1, 1), **change.get("invoice", {}))
    make_invoice(number="B", total="2000.00", due=date(2026, 1, 1))
    on = date(2026, 2, 20)
    assert due_on(on) == {"B": 1}
    assert skipped_on(on) == {"A": (1, code)}
    if code in ("invoice_no_auto", "customer_no_auto"):
        assert due_on(on, automatic=False) == {"A": 1, "B": 1}


def test_exclusions_that_end_or_are_switched_off(engine):
    level(1).penalty_kind, level(1).penalty_value = "fixed", D("10")
    make_invoice(make_customer(paused_until=date(2026, 2, 19)), number="A", due=date(2026, 1, 1))
    make_invoice(make_customer(direct_debit=True, kind="consumer"), number="B", due=date(2026, 1, 1))
    set_settings(skip_direct_debit=False, skip_consumer_penalties=False)
    assert due_on(date(2026, 2, 20)) == {"A": 1, "B": 1}


def test_only_open_invoices_are_reminded(engine):
    make_invoice(number="OPEN", due=date(2026, 1, 1))
    make_invoice(number="PART", due=date(2026, 1, 1), paid="1000.00")
    make_invoice(number="PAID", due=date(2026, 1, 1), paid="1200.00")
    make_invoice(number="DRAFT", due=date(2026, 1, 1), status="draft")
    make_invoice(number="CANCELLED", due=date(2026, 1, 1), status="cancelled")
    make_invoice(number="PAIDSTATUS", due=date(2026, 1, 1), status="paid")
    make_invoice(number="CREDIT", due=date(2026, 1, 1), kind="credit_note")
    make_invoice(number="NODUE", due=None, issue=date(2025, 12, 1))
    assert due_on(date(2026, 2, 20)) == {"OPEN": 1, "PART": 1}


def test_basis_previous_reminder_and_inactive_levels(engine):
    level(2).basis, level(2).delay = "previous", "+2 weeks"
    invoice = make_invoice(number="A", due=date(2026, 1, 1))
    remind(invoice, 1, date(2026, 3, 1))
    assert due_on(date(2026, 3, 14)) == {}
    assert due_on(date(2026, 3, 15)) == {"A": 2}
    level(2).active = False  # a disabled level is passed over: level 3 follows level 1
    assert due_on(date(2026, 3, 15), automatic=False) == {"A": 3}


def test_due_reminder_carries_amounts_recipients_and_language(engine):
    set_settings(copy_to_sales=True)
    rep = make_user(email="rep@vendor.example")
    customer = make_customer(code="C-GARAGE", language="pt", email="accounts@garage.example",
                             contacts=[Contact(name="Martin", first_name="Léa", role="billing", email="not-an-email"),
                                       Contact(name="Suivi", role="followup", email="suivi@garage.example")])
    customer.sales_reps.append(rep)
    invoice = make_invoice(customer, number="FA-1", total="1200.00", due=date(2026, 1, 15),
                           billing_contact=customer.contacts[0])
    remind(invoice, 1, date(2026, 2, 1))
    [item] = due_reminders(db.session, date(2026, 3, 3), automatic=False)
    assert (item.invoice_id, item.level, item.channels, item.days_late) == (invoice.id, 2, ("email", "letter"), 47)
    assert (item.remaining_due, item.interest, item.indemnity, item.penalty, item.total_claimed) == (
        D("1200.00"), D("18.77"), D("40.00"), D("0.00"), D("1258.77"))
    assert item.to == ("accounts@garage.example",)  # the invalid billing contact is passed over
    assert item.cc == ("rep@vendor.example",) and item.sender == "compta@vendor.example"
    assert item.language == "fr"
    assert any("not-an-email" in r for r in item.reasons) and any("company language" in r for r in item.reasons)
    assert item.as_json() == {
        "invoice": "FA-1", "customer": "C-GARAGE", "level": 2, "channels": ["email", "letter"],
        "remaining_due": "1200.00", "days_late": 47, "penalty": "0.00", "interest": "18.77", "indemnity": "40.00",
        "total_claimed": "1258.77", "currency": "EUR", "indemnity_currency": "EUR", "to": ["accounts@garage.example"],
        "cc": ["rep@vendor.example"], "language": "fr"}


def test_explain_in_words(engine):
    invoice = make_invoice(number="A", due=date(2026, 1, 1))
    waiting = explain(db.session, invoice, date(2026, 1, 10), language="en")
    assert waiting.status == "waiting" and waiting.level == 1 and waiting.next_date == date(2026, 1, 16)
    assert "reminder before the due date is skipped" in str(waiting)
    due = explain(db.session, invoice, date(2026, 1, 20), language="en")
    assert due.status == "due" and "Due: level 1" in str(due)
    invoice.no_auto_reminders = True
    skipped = explain(db.session, invoice, date(2026, 1, 20), language="en")
    assert skipped.status == "skipped" and "no automatic reminders" in str(skipped)
    invoice.status = "paid"
    assert explain(db.session, invoice, date(2026, 1, 20)).status == "closed"
