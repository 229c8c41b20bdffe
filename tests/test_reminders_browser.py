"""Reminder screens in Chromium (Playwright): an email from the invoice tab reaching a real SMTP server, a letter from
the customer tab, the mass page end to end (filter, inline level, all emails, deselect, run, progress, merged PDF),
a customer without email, and the progress component polling its status URL."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import Reminder, ReminderLevel, Run
from tests.factories import TODAY, install_live_defaults, make_customer, make_invoice
from tests.smtp import smtp_certificate, smtp_factory  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.clock]  # the app runs at tests.factories.NOW: TODAY is its today


@pytest.fixture
def smtp(live_server, smtp_factory):  # noqa: F811
    return smtp_factory().configure(live_server.app)


@pytest.fixture
def data(live_server):
    with live_server.app.app_context():
        install_live_defaults(db.session)
        level2 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 2))
        level2.penalty_kind, level2.penalty_value = "fixed", Decimal("40.00")
        acme = make_customer(code="ACME", name="Acme Industries", email="billing@acme.example")
        nomail = make_customer(code="NOMAIL", name="Sans Email SARL", email="")
        other = make_customer(code="OTHER", name="Other Ltd")
        invoices = [make_invoice(acme, number=f"FA-{n:03d}", total="1000.00", due=TODAY - timedelta(days=15 + n))
                    for n in range(1, 7)]  # level 1 due on each
        lonely = make_invoice(nomail, number="FA-NOMAIL", total="800.00", due=TODAY - timedelta(days=30))
        make_invoice(other, number="FA-OTHER", total="900.00", due=TODAY - timedelta(days=40))
        db.session.commit()
        return {"acme": acme.id, "nomail": nomail.id, "invoices": [i.id for i in invoices], "lonely": lonely.id}


def login(live_server, page, role="agent"):
    """Log in and switch the interface to English (the assertions read English texts)."""
    live_server.login(page, role)
    page.click("button[name=language][value=en]")
    page.wait_for_load_state()


def accept_dialogs(page):
    page.on("dialog", lambda dialog: dialog.accept())


def test_email_reminder_from_the_invoice_tab_reaches_the_smtp_server(live_server, page, data, smtp):
    accept_dialogs(page)
    login(live_server, page)
    invoice_id = data["invoices"][0]
    page.goto(f"{live_server.url}/invoices/{invoice_id}/reminders")
    page.click("#new-reminder")
    page.wait_for_url(f"**/reminders/new?invoice={invoice_id}")
    assert page.locator("#invoice option:checked").inner_text().startswith("FA-001")
    assert page.locator("#by_email").is_checked()
    page.fill("#note", "Called the accountant, no answer.")
    page.select_option("#level", "2")  # the form and its preview follow the level (htmx)
    page.locator("#reminder-preview", has_text="Deuxième relance").wait_for()
    page.locator("#reminder-rules", has_text="Level 1 comes first").wait_for()  # the rules refuse level 2 today
    page.click("button[value=send]")
    page.locator("#reminder-form .error", has_text="send anyway").wait_for()
    assert smtp.messages == []
    page.check("#override")
    page.fill("#override_reason", "The customer asked for the formal figures at once.")
    page.click("button[value=send]")
    page.wait_for_url(f"**/invoices/{invoice_id}/reminders")
    page.locator(".flash-success", has_text="sent to billing@acme.example").wait_for()
    assert "Called the accountant" in page.locator(".reminders-table").inner_text()
    [message] = smtp.messages
    assert message["To"] == "billing@acme.example" and "FA-001" in message["Subject"]


def test_letter_from_the_customer_tab_has_its_pdf_in_the_history(live_server, page, data):
    accept_dialogs(page)
    login(live_server, page)
    page.goto(f"{live_server.url}/customers/{data['acme']}/reminders")
    page.click("#new-reminder")
    options = page.locator("#invoice option").all_inner_texts()
    assert options and all("Acme Industries" in o for o in options if not o.startswith("—"))
    with page.expect_response(lambda r: "/reminders/new?" in r.url):  # the form comes back for that invoice
        page.select_option("#invoice", str(data["invoices"][1]))
    page.locator("#reminder-preview", has_text="FA-002").wait_for()
    with page.expect_response(lambda r: "/reminders/new?" in r.url):
        page.uncheck("#by_email")
    page.locator("#reminder-preview dd", has_text="letter").wait_for()
    page.click("button[value=send]")
    page.wait_for_url(f"**/customers/{data['acme']}/reminders")
    link = page.locator(".reminders-table a", has_text="PDF")
    link.wait_for()
    response = page.request.get(live_server.url + link.get_attribute("href"))
    assert response.status == 200 and response.body()[:5] == b"%PDF-"


def test_customer_without_email_gets_a_disabled_email_box(live_server, page, data):
    login(live_server, page)
    page.goto(f"{live_server.url}/reminders/mass?customer=NOMAIL")
    box = page.locator(f"input[name=email-{data['lonely']}]")
    assert box.is_disabled()
    assert "No email address" in page.locator(f"#mass-row-{data['lonely']} .no-email").get_attribute("title")
    page.goto(f"{live_server.url}/reminders/new?invoice={data['lonely']}")
    assert page.locator("#by_email").is_disabled()
    assert page.locator(".no-email-note a", has_text="Add an email address").count() == 1


def test_mass_page_end_to_end(live_server, page, data, smtp):
    accept_dialogs(page)
    login(live_server, page)
    page.goto(f"{live_server.url}/reminders/mass")
    assert page.locator("#mass-list tbody tr").count() == 8
    page.fill("#mass-q", "ACME")  # typed search, no Enter: htmx swaps the rows
    page.wait_for_function("document.querySelectorAll('#mass-list tbody tr').length === 6")
    assert "q=ACME" in page.url
    page.fill("#mass-q", "")
    page.wait_for_function("document.querySelectorAll('#mass-list tbody tr').length === 8")
    page.fill("#mass-customer", "ACME")  # the customer code filter, as typed
    page.wait_for_function("document.querySelectorAll('#mass-list tbody tr').length === 6")
    first, second, third = data["invoices"][:3]
    row = page.locator(f"#mass-row-{first}")
    assert "penalty, interest and indemnity" in row.locator(".with-penalty").inner_text()  # the whole claim
    level1_total = row.locator(".with-penalty").inner_text()
    page.select_option(f"select[name=level-{first}]", "2")  # inline: the row comes back with the penalty
    page.locator(f"#mass-row-{first} .refused-box", has_text="Level 1 comes first").wait_for()  # and the rules
    assert page.locator(f"#mass-row-{first} .with-penalty").inner_text() != level1_total  # + the 40 € penalty
    page.select_option(f"select[name=level-{first}]", "1")
    page.locator(f"#mass-row-{first} .refused-box").wait_for(state="detached")
    page.click("#bulk-emails")
    page.locator("#selected-count", has_text="6").wait_for()
    for invoice_id in (second, third):  # deselect two emails, send them as letters instead
        page.uncheck(f"input[name=email-{invoice_id}]")
        page.locator("#mass-count .muted", has_text=f"{6 - (1 if invoice_id == second else 2)} ").wait_for()
        page.check(f"input[name=letter-{invoice_id}]")
    page.locator("#mass-count", has_text="2").wait_for()
    assert page.locator(f"input[name=email-{second}]").is_checked() is False
    page.click("#mass-send")
    progress = page.locator(".run-progress progress")
    progress.wait_for()
    page.locator(".run-progress[data-status=done]").wait_for()
    assert progress.get_attribute("value") == progress.get_attribute("max") == "6"
    assert "4 emails sent" in page.locator(".run-figures").inner_text()
    assert "/reminders/runs/" in page.url
    href = page.locator("#run-pdf").get_attribute("href")
    pdf = page.request.get(live_server.url + href)
    assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"
    assert len(smtp.messages) == 4
    with live_server.app.app_context():
        made = db.session.scalars(select(Reminder).where(Reminder.run_id.is_not(None))).all()
        assert sorted((r.invoice_id, r.channel) for r in made if r.channel == "letter") == [
            (second, "letter"), (third, "letter")]
        assert next(r for r in made if r.invoice_id == first).level == 1


def test_progress_component_polls_until_the_run_is_over(live_server, page, data):
    login(live_server, page)
    with live_server.app.app_context():
        run = Run(kind="mass", run_date=TODAY, status="running", total=5, done=2)
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    page.goto(f"{live_server.url}/reminders/runs/{run_id}")
    page.locator(".run-figures", has_text="2 / 5").wait_for()
    with live_server.app.app_context():
        run = db.session.get(Run, run_id)
        run.done = 4
        db.session.commit()
    page.locator(".run-figures", has_text="4 / 5").wait_for()
    with live_server.app.app_context():
        run = db.session.get(Run, run_id)
        run.done, run.status = 5, "done"
        db.session.commit()
    page.locator(".run-progress[data-status=done]", has_text="Run finished").wait_for()
