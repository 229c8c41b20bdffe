"""The one rulebook in Chromium, on a live server: right after the automatic run the mass page proposes nothing for
the invoices reminded today and says why; back + submit again and a double click send nothing new; "send anyway"
with a reason goes out once and is audited."""

from datetime import timedelta

import pytest
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import func, select

from relance import clock
from relance.extensions import db
from relance.models import AuditLog, Reminder
from relance.services.sending import autorun
from tests.factories import install_live_defaults, make_customer, make_invoice

pytestmark = pytest.mark.browser


@pytest.fixture
def data(live_server):
    with live_server.app.app_context():
        install_live_defaults(db.session)
        today = clock.today()
        acme = make_customer(code="ACME", name="Acme Industries", email="billing@acme.example")
        invoices = [make_invoice(acme, number=f"FA-{n}", total="1000.00", due=today - timedelta(days=20 + n))
                    for n in range(1, 4)]  # level 1 due on each
        db.session.commit()
        return [i.id for i in invoices]


def login(live_server, page):
    live_server.login(page, "agent")
    page.click("button[name=language][value=en]")
    page.wait_for_load_state()
    page.on("dialog", lambda dialog: dialog.accept())


def reminders(live_server, **where) -> list[Reminder]:
    with live_server.app.app_context():
        query = select(Reminder).order_by(Reminder.id)
        for name, value in where.items():
            query = query.where(getattr(Reminder, name) == value)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return rows


def outbox(live_server) -> int:
    from pathlib import Path

    return len(list(Path(live_server.app.config["OUTBOX_PATH"]).glob("*.eml")))


def test_after_the_automatic_run_the_mass_page_proposes_nothing_and_says_why(live_server, page, data):
    with live_server.app.app_context():
        autorun.run_auto(db.session, clock.today())
    assert len(reminders(live_server)) == 3 and outbox(live_server) == 3
    login(live_server, page)
    page.goto(f"{live_server.url}/reminders/mass")
    page.locator("#mass-list", has_text="Nothing is due today among these invoices").wait_for()
    page.select_option("#mass-due", "all")  # every unpaid invoice, greyed, each with its reason
    page.locator(f"#mass-row-{data[0]}.not-due").wait_for()
    for invoice_id in data:
        row = page.locator(f"#mass-row-{invoice_id}")
        assert "not-due" in row.get_attribute("class")
        assert "at least 7 days between two reminders" in row.locator(".not-due-reason").inner_text()
        assert row.locator("select option:checked").inner_text() == "— not due —"
    page.click("#bulk-emails")
    page.locator("#mass-list", has_text="3 not due today were left out").wait_for()
    assert page.locator("#mass-list input[type=checkbox]:checked").count() == 0
    page.click("#mass-send")
    page.locator("#run-error", has_text="Nothing is selected").wait_for()
    assert len(reminders(live_server)) == 3 and outbox(live_server) == 3


def test_back_and_submit_again_and_a_double_click_send_nothing_new(live_server, page, data):
    login(live_server, page)
    first, second = data[0], data[1]
    page.goto(f"{live_server.url}/reminders/new?invoice={first}")
    page.locator("#reminder-rules", has_text="The rules allow this reminder today.").wait_for()
    page.click("button[value=send]")
    page.wait_for_url(f"**/invoices/{first}/reminders")
    page.locator(".flash-success", has_text="sent to billing@acme.example").wait_for()
    page.go_back()  # the form again (from the cache or the server): sending it makes nothing new
    page.wait_for_url(f"**/reminders/new?invoice={first}")
    page.click("button[value=send]")
    page.wait_for_load_state()
    page.locator(".already-made, .flash-warning", has_text="already sent").first.wait_for()
    assert len(reminders(live_server, invoice_id=first)) == 1 and outbox(live_server) == 1
    page.goto(f"{live_server.url}/reminders/new?invoice={first}")  # the form again says what already left
    page.reload()
    page.locator(".already-made", has_text="Already sent today for FA-1").wait_for()
    page.locator("#reminder-rules", has_text="at least 7 days between two reminders").wait_for()
    # a double click on the send button of a fresh form sends once
    page.goto(f"{live_server.url}/reminders/new?invoice={second}")
    page.dblclick("button[value=send]")
    for _ in range(100):  # the first answer lands on the history (the second one may cut that navigation short)
        if reminders(live_server, invoice_id=second) and outbox(live_server) == 2:
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(500)  # the second answer too (it makes nothing: the form's one-time token)
    assert len(reminders(live_server, invoice_id=second)) == 1 and outbox(live_server) == 2
    for _ in range(5):  # on a busy machine a late second navigation can cut a goto short: go again
        try:
            page.goto(f"{live_server.url}/invoices/{second}/reminders")
            break
        except PlaywrightError:
            page.wait_for_timeout(300)
    assert page.locator(".reminders-table tbody tr").count() == 1


def test_send_anyway_with_a_reason_goes_out_once_and_is_audited(live_server, page, data):
    with live_server.app.app_context():
        autorun.run_auto(db.session, clock.today())
    login(live_server, page)
    invoice_id = data[2]
    page.goto(f"{live_server.url}/reminders/mass?due=all")
    page.select_option(f"select[name=level-{invoice_id}]", "2")
    box = page.locator(f"#mass-row-{invoice_id} .refused-box")
    box.wait_for()
    assert "at least 7 days between two reminders" in box.inner_text()
    page.check(f"input[name=email-{invoice_id}]")
    page.locator(f"#mass-row-{invoice_id} input[name=email-{invoice_id}]:checked").wait_for()
    page.click("#mass-send")  # refused: the row needs "send anyway" and a reason
    page.locator("#run-error", has_text="FA-3 (level 2 by email)").wait_for()
    page.check(f"input[name=override-{invoice_id}]")
    reason = page.locator(f"input[name=reason-{invoice_id}]")
    reason.wait_for()
    reason.fill("The customer's accountant asked for the second reminder today.")
    reason.press("Tab")  # change: the row keeps the reason
    page.wait_for_load_state("networkidle")
    page.click("#mass-send")
    page.locator(".run-progress[data-status=done]").wait_for()
    made = reminders(live_server, invoice_id=invoice_id, level=2)
    assert [(r.channel, r.status, r.override_reason) for r in made] == [
        ("email", "sent", "The customer's accountant asked for the second reminder today.")]
    with live_server.app.app_context():
        logged = db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "override", AuditLog.entity_id == str(made[0].id)))
    assert logged == 1
