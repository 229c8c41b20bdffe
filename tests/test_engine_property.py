"""Property: the set-based selection and the plain per-invoice reference agree on random data (both databases),
customers following two reminder policies (the default one and a second with its own levels at some ranks)."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from relance.extensions import db
from relance.models import Answer, Contact, Customer, Invoice, Payment, Policy, Reminder, ReminderLevel, User
from relance.services import settings as settings_service
from relance.services.engine.levels import default_policy_id
from relance.services.engine.schedule import due_select, reference_schedule, schedule
from relance.services.texts.wording import install_default_texts
from tests.factories import install_live_defaults

BASE = date(2026, 3, 2)
rarely = st.sampled_from([False] * 5 + [True])
mostly = st.sampled_from([True] * 5 + [False])
DELAYS = ["-5 days", "-1 day", "+0 days", "+3 days", "+15 days", "+2 weeks", "+1 month", "+30 days", "+45 days"]

level_strategy = st.fixed_dictionaries({
    "active": mostly, "automatic": mostly, "basis": st.sampled_from(["due_date", "previous"]),
    "delay": st.sampled_from(DELAYS), "penalty_kind": st.sampled_from(["none", "fixed", "percent"]),
})
customer_strategy = st.fixed_dictionaries({
    "kind": st.sampled_from(["business", "business", "consumer"]), "direct_debit": rarely,
    "no_auto_reminders": rarely, "paused": st.one_of(st.none(), st.none(), st.none(), st.integers(-10, 10)),
    "language": st.sampled_from(["fr", "en", "de"]),
    # the reminder policy it follows: none chosen or the default one (the default's levels), or the short one
    "policy": st.sampled_from([None, None, "default", "short", "short"]),
})
reminder_strategy = st.fixed_dictionaries({
    "level": st.sampled_from([1, 0, 1, 2, 3]), "offset": st.one_of(st.integers(-12, 0), st.integers(-90, 0)),
    "manual": st.booleans(), "next": st.one_of(st.none(), st.integers(-20, 30)),
    "status": st.sampled_from(["sent", "sent", "pending", "failed", "cancelled"]),
    "hours_ago": st.one_of(st.integers(-3, 30), st.integers(-5, 60)),
})
answer_strategy = st.fixed_dictionaries({  # what the customer answered (an open one holds the reminders)
    "kind": st.sampled_from(["paid", "promise", "dispute"]), "status": st.sampled_from(["open", "open", "rejected"]),
    "hold": st.integers(-5, 10),
})
invoice_strategy = st.fixed_dictionaries({
    "customer": st.integers(0, 2), "status": st.sampled_from(["validated"] * 9 + ["draft", "paid", "cancelled"]),
    "kind": st.sampled_from(["invoice"] * 9 + ["credit_note"]), "due": st.one_of(st.integers(-120, 10), st.none()),
    "total": st.integers(1, 300_000), "paid": st.sampled_from([0, 0, 0, 25, 50, 100]),
    "no_auto_reminders": rarely, "reminders": st.lists(reminder_strategy, max_size=2),
    "answers": st.one_of(st.just([]), st.just([]), st.lists(answer_strategy, max_size=2)),
    "named": st.booleans(),  # the invoice names its billing contact and creator (else the customer's address)
})
scenario = st.fixed_dictionaries({
    "levels": st.lists(level_strategy, min_size=4, max_size=4),
    # a second policy: its own levels at some of the ranks (none at all: its customers are never reminded)
    "short_levels": st.lists(level_strategy, min_size=4, max_size=4),
    "short_ranks": st.sets(st.integers(0, 3), max_size=4),
    "min_days_between": st.integers(0, 10), "manual_cancels_hours": st.integers(0, 48),
    "skip_direct_debit": st.booleans(), "skip_consumer_penalties": st.booleans(),
    "min_amount": st.sampled_from(["0", "0", "100", "1000"]), "business_days": rarely,
    "customers": st.lists(customer_strategy, min_size=3, max_size=3),
    "invoices": st.lists(invoice_strategy, min_size=1, max_size=15),
    "on": st.integers(0, 14), "automatic": st.booleans(), "hour": st.integers(0, 23),
})


def build(data) -> tuple[date, datetime]:
    install_live_defaults(db.session)
    settings_service.save(db.session, {key: data[key] for key in (
        "min_days_between", "manual_cancels_hours", "skip_direct_debit", "skip_consumer_penalties", "min_amount",
        "business_days")})
    on = BASE + timedelta(days=data["on"])
    now = datetime.combine(on, datetime.min.time()) + timedelta(hours=data["hour"])
    for rank, values in enumerate(data["levels"]):
        level = db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == rank)).one()
        for key, value in values.items():
            setattr(level, key, value)
        if rank == 0 and values["basis"] == "due_date" and not values["delay"].startswith("-"):
            level.delay = "-5 days"
        level.penalty_value = Decimal("10")
    short = Policy(name="Short")
    for rank in sorted(data["short_ranks"]):
        values = dict(data["short_levels"][rank])
        if rank == 0 and values["basis"] == "due_date" and not values["delay"].startswith("-"):
            values["delay"] = "-1 day"
        db.session.add(ReminderLevel(policy=short, rank=rank, names={"fr": f"Court {rank}"}, channels="email",
                                     penalty_value=Decimal("25"), formal_notice=rank == 3, **values))
    db.session.add(short)
    db.session.flush()
    install_default_texts(db.session)
    policies = {None: None, "default": default_policy_id(db.session), "short": short.id}
    user = User(email="agent@vendor.example", role="agent")
    customers = []
    for index, values in enumerate(data["customers"]):
        paused = values["paused"]
        customer = Customer(code=f"C{index}", name=f"Customer {index}", email=f"c{index}@customer.example",
                            kind=values["kind"], direct_debit=values["direct_debit"], language=values["language"],
                            no_auto_reminders=values["no_auto_reminders"],
                            paused_until=None if paused is None else on + timedelta(days=paused),
                            policy_id=policies[values["policy"]])
        customer.contacts.append(Contact(name="Billing", role="billing", email=f"billing{index}@customer.example"))
        customers.append(customer)
    db.session.add_all([user, *customers])
    db.session.flush()
    for index, values in enumerate(data["invoices"]):
        total = Decimal(values["total"]) / 100
        paid = (total * values["paid"] / 100).quantize(Decimal("0.01"))
        due = None if values["due"] is None else on + timedelta(days=values["due"])
        invoice = Invoice(number=f"FA{index:03d}", customer=customers[values["customer"]], issue_date=BASE,
                          due_date=due, total_incl_tax=total, amount_paid=paid, status=values["status"],
                          kind=values["kind"], no_auto_reminders=values["no_auto_reminders"],
                          creator=user if values["named"] else None,
                          billing_contact=customers[values["customer"]].contacts[0] if values["named"] else None)
        if paid:
            invoice.payments.append(Payment(date=(due or BASE) + timedelta(days=3), amount=paid))
        db.session.add(invoice)
        db.session.flush()
        for number, r in enumerate(values["reminders"]):
            db.session.add(Reminder(
                key=f"{index}-{number}", invoice_id=invoice.id, level=r["level"], channel="email",
                user_id=user.id if r["manual"] else None, reminder_date=on + timedelta(days=r["offset"]),
                next_date=None if r["next"] is None else on + timedelta(days=r["next"]), status=r["status"],
                created_at=now - timedelta(hours=r["hours_ago"])))
        for a in values["answers"]:
            hold = None if a["kind"] == "dispute" else on + timedelta(days=a["hold"])
            db.session.add(Answer(invoice_id=invoice.id, customer_id=invoice.customer_id, kind=a["kind"],
                                  status=a["status"], hold_until=hold, created_at=now - timedelta(days=2),
                                  paid_on=on - timedelta(days=1) if a["kind"] == "paid" else None,
                                  promise_date=hold - timedelta(days=3) if a["kind"] == "promise" else None))
    db.session.flush()
    return on, now


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=scenario)
def test_set_based_and_reference_agree(app, data):
    try:
        on, now = build(data)
        automatic = data["automatic"]
        fast = schedule(db.session, on, now=now, automatic=automatic)
        plain = reference_schedule(db.session, on, now=now, automatic=automatic)
        assert fast.due == plain.due
        assert fast.skipped == plain.skipped
        assert fast.note == plain.note
        if not automatic:  # the mass page's "due today" filter, the same selection written in SQL
            assert set(db.session.scalars(due_select(db.session, on))) == {d.invoice_id for d in plain.due}
    finally:
        db.session.rollback()
