"""The customers' answers hold the chase: a promise until its day + grace, a paid claim until the bank had time, a
dispute until resolved; the set-based selection, the reference, the rulebook, the mass page's SQL and explain agree
(both databases)."""

from datetime import date, datetime

import pytest
from flask_babel import force_locale

from relance.extensions import db
from relance.models import Answer
from relance.services.engine import eligibility
from relance.services.engine.schedule import due_select, explain
from tests.factories import make_customer, make_invoice
from tests.test_engine_schedule import due_on, engine, remind, skipped_on  # noqa: F401 (the fixture)

DUE = date(2026, 1, 15)  # level 1 (+15 days) on 30 Jan, level 2 (+30) on 14 Feb


def answer(invoice, kind, hold_until=None, status="open", **kw) -> Answer:
    made = Answer(invoice_id=invoice.id, customer_id=invoice.customer_id, kind=kind, status=status,
                  hold_until=hold_until, created_at=datetime(2026, 1, 31, 10), **kw)
    db.session.add(made)
    db.session.flush()
    return made


def verdict(invoice, on):
    db.session.expire(invoice, ["answers"])
    return eligibility.check(db.session, invoice, None, None, on)


@pytest.mark.usefixtures("engine")
@pytest.mark.parametrize("automatic", [True, False])
def test_a_promise_holds_until_its_day_and_grace_then_the_next_level_goes(automatic):
    invoice = make_invoice(make_customer("ACME"), number="FA-1", due=DUE)
    remind(invoice, 1, date(2026, 1, 30))
    # promised on 31 Jan to pay on 20 Feb, 3 days of grace: held through 23 Feb
    answer(invoice, "promise", promise_date=date(2026, 2, 20), hold_until=date(2026, 2, 23))
    for day in (date(2026, 2, 14), date(2026, 2, 23)):
        assert due_on(day, automatic=automatic) == {}
        assert skipped_on(day, automatic=automatic) == {"FA-1": (2, "promised")}
        refused = verdict(invoice, day)
        assert refused.codes == ("promised",) and refused.may_override
        assert set(db.session.scalars(due_select(db.session, day))) == set()
    with force_locale("en"):
        assert "promised to pay on Feb 20, 2026: reminders wait until Feb 23, 2026" in str(
            explain(db.session, invoice, date(2026, 2, 14), automatic=automatic, language="en"))
    # the promise is broken: the chase resumes at the next level
    assert due_on(date(2026, 2, 24), automatic=automatic) == {"FA-1": 2}
    assert verdict(invoice, date(2026, 2, 24)).ok
    assert set(db.session.scalars(due_select(db.session, date(2026, 2, 24)))) == {invoice.id}


@pytest.mark.usefixtures("engine")
def test_a_dispute_holds_until_an_agent_resolves_it():
    invoice = make_invoice(make_customer("ACME"), number="FA-1", due=DUE)
    other = make_invoice(make_customer("BETA"), number="FA-2", due=DUE)
    dispute = answer(invoice, "dispute", reason="wrong_amount", message="We ordered 3, not 4.")
    for day in (date(2026, 1, 30), date(2026, 6, 30), date(2027, 1, 30)):
        assert due_on(day) == {"FA-2": 1}
        assert skipped_on(day)["FA-1"][1] == "disputed"
        assert set(db.session.scalars(due_select(db.session, day))) == {other.id}
    assert "disputes this invoice" in str(explain(db.session, invoice, date(2026, 6, 30), language="en"))
    dispute.status = "rejected"  # the agent rejected the dispute: the chase goes on
    db.session.flush()
    assert due_on(date(2026, 6, 30)) == {"FA-1": 1, "FA-2": 1}


@pytest.mark.usefixtures("engine")
def test_a_paid_claim_holds_for_the_bank_and_closed_answers_hold_nothing():
    invoice = make_invoice(make_customer("ACME"), number="FA-1", due=DUE)
    answer(invoice, "paid", paid_on=date(2026, 1, 29), hold_until=date(2026, 2, 6))
    answer(invoice, "promise", status="broken", hold_until=date(2026, 3, 1))
    answer(invoice, "dispute", status="resolved")
    assert skipped_on(date(2026, 2, 6)) == {"FA-1": (1, "paid_claimed")}
    assert "says it was paid on Jan 29, 2026: reminders wait for the bank until Feb 6, 2026" in verdict(
        invoice, date(2026, 2, 6)).refusals[0].text
    assert due_on(date(2026, 2, 7)) == {"FA-1": 1}


@pytest.mark.usefixtures("engine")
def test_the_longest_hold_is_the_one_told():
    invoice = make_invoice(make_customer("ACME"), number="FA-1", due=DUE)
    answer(invoice, "promise", promise_date=date(2026, 2, 1), hold_until=date(2026, 2, 4))
    answer(invoice, "paid", paid_on=date(2026, 2, 1), hold_until=date(2026, 2, 10))
    assert skipped_on(date(2026, 2, 3)) == {"FA-1": (1, "paid_claimed")}
    assert due_on(date(2026, 2, 11)) == {"FA-1": 1}


@pytest.mark.usefixtures("engine")
def test_the_automatic_run_makes_nothing_for_a_held_invoice():
    from relance.models import Reminder
    from relance.services.sending import autorun

    held = make_invoice(make_customer("ACME", email="a@acme.example"), number="FA-1", due=DUE)
    make_invoice(make_customer("BETA", email="b@beta.example"), number="FA-2", due=DUE)
    answer(held, "dispute")
    db.session.commit()
    run = autorun.run_auto(db.session, date(2026, 2, 2), send=False)
    made = db.session.scalars(db.select(Reminder.invoice_id).where(Reminder.run_id == run.id)).all()
    assert held.id not in made and len(made) == 1
    assert run.skipped_reasons.get("disputed") == 1
