"""In Chromium (CSP and CSRF on): a manager copies the default policy as "Short", makes its level 2 come ten days
after the due date, puts a customer on "Short" in the customer form, sees it on the customer page, and the engine's
explanation of the customer's invoice (the automatic run's test page) follows Short's level 2."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import Customer, Policy, Reminder, ReminderLevel
from relance.services.texts import wording
from tests.factories import install_live_defaults, make_customer, make_invoice

pytestmark = pytest.mark.browser


def _data(app) -> int:
    with app.app_context():
        install_live_defaults(db.session)
        wording.install_default_texts(db.session)
        bakery = make_customer(code="PETIT", name="Boulangerie Petit", email="compta@petit.example")
        invoice = make_invoice(bakery, number="FA-2026-0042", due=date(2026, 1, 15))
        db.session.add(Reminder(key="first", invoice_id=invoice.id, level=1, channel="email", status="sent",
                                reminder_date=date(2026, 1, 30)))
        db.session.commit()
        return bakery.id


def test_a_manager_copies_a_policy_changes_it_and_puts_a_customer_on_it(live_server, page):
    customer_id = _data(live_server.app)
    live_server.login(page, "manager")
    page.goto(live_server.url + "/admin/levels")
    page.fill("#policy-name", "Short")
    assert page.locator("#policy-source option:checked").get_attribute("value") != ""  # a copy of the one shown
    page.locator("form[action^='/admin/policies/new'] button[type=submit]").click()
    page.wait_for_selector(".flash-success")
    with live_server.app.app_context():
        short = db.session.scalar(select(Policy).where(Policy.name == "Short"))
        second = db.session.scalar(select(ReminderLevel).where(ReminderLevel.policy_id == short.id,
                                                               ReminderLevel.rank == 2))
        short_id, second_id = short.id, second.id
    assert page.url.endswith(f"/admin/levels?policy={short_id}")
    assert page.locator(".policy-tabs a[aria-current=page]").inner_text().startswith("Short")
    # level 2 of Short: ten days after the due date, saved inline (an htmx POST carrying the CSRF token)
    card = page.locator(f"#level-{second_id}")
    card.locator(f"#l{second_id}-delay").fill("+10 days")
    card.locator(f"#l{second_id}-delay").press("Tab")
    page.locator(f"#level-{second_id} .badge.ok[role=status]").wait_for()
    with live_server.app.app_context():
        assert db.session.get(ReminderLevel, second_id).delay == "+10 days"
        standard_second = db.session.scalar(select(ReminderLevel).join(Policy).where(
            Policy.is_default, ReminderLevel.rank == 2))
        assert standard_second.delay == "+30 days"
    # the customer follows Short
    page.goto(f"{live_server.url}/customers/{customer_id}")
    page.select_option("#reminder_policy", label="Short")
    page.locator(f"form[action='/customers/{customer_id}/edit'] button.primary").click()
    page.wait_for_selector(".flash-success")
    assert page.locator(".page-head .badge.policy").inner_text().endswith("Short")
    assert page.locator("#reminder_policy option:checked").inner_text() == "Short"
    with live_server.app.app_context():
        assert db.session.get(Customer, customer_id).policy_id == short_id
    # the engine's explanation of its invoice: Short's level 2, ten days after the due date
    page.goto(f"{live_server.url}/auto/test?invoice=FA-2026-0042&date=2026-01-31")
    explanation = page.locator("ul.explanation").inner_text()
    assert "Short" in explanation
    assert re.search(r"\b2 \([^)]*\), \+10 \w+ [^=]*= 2026-01-25", explanation), explanation
