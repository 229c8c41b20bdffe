"""The calls page in Chromium (Playwright): from the menu to a customer's card, an outcome recorded through htmx (the
request carries the CSRF token), the card replaced by what was recorded, the promise kept as the customer's answer."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import Answer, Contact, Reminder, ReminderLevel
from relance.services.sending import dunning
from tests.factories import TODAY, install_live_defaults, make_customer, make_invoice

pytestmark = [pytest.mark.browser, pytest.mark.clock]  # the app runs at tests.factories.NOW: TODAY is its today


@pytest.fixture
def call(live_server):
    """Level 1 is a call only; ACME has one to make (made through the rulebook's guard, as the runs make it)."""
    with live_server.app.app_context():
        install_live_defaults(db.session)
        first = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
        first.channels = "phone"
        acme = make_customer(code="ACME", name="Acme Industries", phone="+33 1 40 00 00 00")
        acme.contacts.append(Contact(name="Durand", first_name="Paul", phone="+33 6 00 00 00 01", role="billing"))
        invoice = make_invoice(acme, number="FA-CALL", total="1500.00", due=TODAY - timedelta(days=20))
        db.session.commit()
        reminder = dunning.create_reminder(db.session, invoice, first, "phone", TODAY)
        db.session.commit()
        return {"customer": acme.id, "invoice": invoice.id, "reminder": reminder.id}


def test_an_agent_records_a_promise_from_the_calls_page(live_server, page, call):
    live_server.login(page, "agent")
    page.click("button[name=language][value=en]")
    page.wait_for_load_state()
    page.click("nav.mainnav >> text=Calls")
    page.wait_for_url("**/calls/")
    card = page.locator(f"#call-{call['customer']}")
    assert "Acme Industries" in card.inner_text() and "+33 6 00 00 00 01" in card.inner_text()
    assert "FA-CALL" in card.inner_text()
    prefix = f"c{call['customer']}-"
    card.locator(f"input[name='{prefix}outcome'][value=promise]").check()
    card.locator(f"#{prefix}promise_date").fill((TODAY + timedelta(days=10)).isoformat())
    card.locator(f"#{prefix}note").fill("Paul confirms a transfer next week")
    card.locator("button[type=submit]").click()
    page.locator(f"#call-{call['customer']}.done", has_text="recorded: Promise to pay on a date").wait_for()
    assert page.url.endswith("/calls/")  # swapped in place, no reload
    with live_server.app.app_context():
        reminder = db.session.get(Reminder, call["reminder"])
        assert (reminder.status, reminder.outcome, reminder.outcome_note) == (
            "called", "promise", "Paul confirms a transfer next week")
        answer = db.session.scalars(select(Answer).where(Answer.invoice_id == call["invoice"])).one()
        assert (answer.kind, answer.promise_date) == ("promise", TODAY + timedelta(days=10))
    page.goto(f"{live_server.url}/calls/")
    assert "No call to make." in page.locator("main").inner_text()
    page.goto(f"{live_server.url}/invoices/{call['invoice']}/reminders")
    assert "Paul confirms a transfer next week" in page.locator(".reminders-table").inner_text()
