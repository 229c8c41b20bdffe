"""In Chromium: a manager edits the level-1 English email with a variable and the live preview; an agent is refused."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import Invoice, ReminderLevel, Template, User
from relance.services.sending import dunning
from tests.factories import install_live_defaults, make_customer, make_invoice

pytestmark = pytest.mark.browser


def _data(app):
    with app.app_context():
        install_live_defaults(db.session)
        bakery = make_customer(name="Boulangerie Petit", language="en", email="compta@petit.example")
        make_invoice(bakery, number="FA-2026-0042", due=date(2026, 1, 15))
        make_invoice(make_customer(name="Garage Martin"), number="FA-2026-0077", due=date(2026, 2, 1))
        db.session.commit()
        return db.session.scalar(select(ReminderLevel.id).where(ReminderLevel.rank == 1))


def test_manager_edits_the_first_english_email_with_live_preview(live_server, page):
    level_id = _data(live_server.app)
    live_server.login(page, "manager")
    page.goto(live_server.url + "/admin/templates")
    page.click(f"a[href='/admin/templates/{level_id}/email/en']")
    page.wait_for_selector("#tpl-body")
    # the preview starts with the most recently due invoice; pick the bakery's through the search box
    assert "FA-2026-0077" in page.inner_text("#preview")
    page.fill("#invoice-q", "boulang")
    page.click("button.pick-invoice:has-text('FA-2026-0042')")
    page.wait_for_function("document.querySelector('#preview').innerText.includes('FA-2026-0042')")
    # write a new text and insert a variable from the list at the cursor
    page.fill("#tpl-subject", "Invoice __REF_FACTURE__: payment reminder")
    page.fill("#tpl-body", "Dear , your payment is late.")
    page.eval_on_selector("#tpl-body", "el => { el.focus(); el.setSelectionRange(5, 5); }")
    page.click("button.var[data-var='__CUSTOMER_NAME__']")
    assert page.input_value("#tpl-body") == "Dear __CUSTOMER_NAME__, your payment is late."
    page.wait_for_function(
        "document.querySelector('#preview-body') && "
        "document.querySelector('#preview-body').innerText.includes('Dear Boulangerie Petit, your payment is late.')")
    assert page.inner_text("#preview-subject") == "Invoice FA-2026-0042: payment reminder"
    # save: a real form POST (with its CSRF token)
    page.click("#tpl-form button.primary")
    page.wait_for_selector(".flash-success")
    assert "2" in page.inner_text(".flash-success")
    with live_server.app.app_context():
        template = db.session.scalar(select(Template).where(
            Template.level_id == level_id, Template.channel == "email", Template.language == "en"))
        assert template.version == 2 and template.body == "Dear __CUSTOMER_NAME__, your payment is late."
        # an individual reminder made now uses the new text
        invoice = db.session.scalar(select(Invoice).where(Invoice.number == "FA-2026-0042"))
        manager = db.session.scalar(select(User).where(User.role == "manager"))
        level = db.session.get(ReminderLevel, level_id)
        reminder = dunning.create_reminder(db.session, invoice, level, "email", date(2026, 2, 2), user=manager)
        assert reminder.subject == "Invoice FA-2026-0042: payment reminder"
        assert reminder.body == "Dear Boulangerie Petit, your payment is late."


def test_unknown_variable_shows_in_the_preview_and_is_refused(live_server, page):
    level_id = _data(live_server.app)
    live_server.login(page, "manager")
    page.goto(f"{live_server.url}/admin/templates/{level_id}/email/en")
    page.fill("#tpl-body", "Pay __NOPE__ now")
    page.wait_for_function("document.querySelector('#preview').innerText.includes('__NOPE__')")
    page.click("#tpl-form button.primary")
    page.wait_for_selector(".error-box")
    assert "__NOPE__" in page.inner_text(".error-box")
    with live_server.app.app_context():
        assert db.session.scalar(select(Template.version).where(Template.level_id == level_id,
                                                                Template.channel == "email",
                                                                Template.language == "en")) == 1


def test_agent_gets_403_on_admin_pages(live_server, page):
    level_id = _data(live_server.app)
    live_server.login(page, "agent")
    for path in ("/admin/templates", f"/admin/templates/{level_id}/email/en", "/admin/settings", "/admin/levels"):
        response = page.goto(live_server.url + path)
        assert response.status == 403, path
