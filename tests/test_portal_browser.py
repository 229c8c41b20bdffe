"""A customer answers from the link of a real email (aiosmtpd) in Chromium, then an agent handles the answers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import Answer, Invoice, ReminderLevel, Template
from relance.services import settings as settings_service
from relance.services.sending import autorun
from tests.conftest import browser_context
from tests.factories import TODAY, install_live_defaults, make_customer, make_invoice
from tests.smtp import smtp_certificate, smtp_factory  # noqa: F401 (fixtures)
from tests.test_page_links import url_in

pytestmark = [pytest.mark.browser, pytest.mark.clock]  # the app runs at tests.factories.NOW


@pytest.fixture
def smtp(live_server, smtp_factory):  # noqa: F811
    return smtp_factory().configure(live_server.app)


@pytest.fixture
def sent(live_server, smtp):
    """The day's automatic run has emailed ACME's three overdue invoices, each with the link to its page."""
    app = live_server.app
    app.config["PUBLIC_URL"] = live_server.url
    with app.app_context():
        install_live_defaults(db.session)
        settings_service.save(db.session, {"company_name": "Atelier Durand", "sender_email": "compta@durand.example"})
        level = db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == 1)).one()
        for template in db.session.scalars(select(Template).where(Template.level_id == level.id)):
            template.body += "\n\nSee your invoices and answer us: __CUSTOMER_PAGE_URL__"
        acme = make_customer(code="ACME", name="Acme Industries", email="billing@acme.example", language="en")
        numbers = {}
        for n in (1, 2, 3):
            invoice = make_invoice(acme, number=f"FA-{n}", total="1000.00", due=TODAY - timedelta(days=15 + n))
            numbers[invoice.number] = invoice.id
        db.session.commit()
        autorun.run_auto(db.session, TODAY)
    return numbers


def answer_on(page, invoice_id: int, summary: str, fill, done: str) -> None:
    section = page.locator(f"#invoice-{invoice_id}")
    section.locator("summary", has_text=summary).click()
    fill(section)
    section.locator("details[open] button[type=submit]").click()
    page.locator(".flash-success", has_text=done).wait_for()


def test_a_customer_answers_from_the_email_and_an_agent_handles_it(live_server, chromium, smtp, sent):
    messages = smtp.messages
    assert len(messages) == 3 and {m["To"] for m in messages} == {"billing@acme.example"}
    links = {url_in(m.get_body(("plain",)).get_content()) for m in messages}
    [link] = links  # one link per customer and run
    assert link and link.startswith(live_server.url + "/c/")

    customer = browser_context(chromium, locale="en-GB", accept_downloads=True)
    page = customer.new_page()
    page.set_default_timeout(15000)
    page.goto(link)
    assert page.locator("h1").inner_text() == "Your open invoices with Atelier Durand"
    with page.expect_download() as download:
        page.locator(f"#invoice-{sent['FA-1']} a", has_text="Download the invoice (PDF)").click()
    assert download.value.suggested_filename == "FA-1.pdf"
    assert Path(download.value.path()).read_bytes()[:5] == b"%PDF-"
    promise_day = (TODAY + timedelta(days=20)).isoformat()
    answer_on(page, sent["FA-1"], "I will pay on a date",
              lambda s: s.locator("input[name=promise_date]").fill(promise_day), "we have noted your promise")
    answer_on(page, sent["FA-2"], "I dispute this invoice", lambda s: (
        s.locator("select[name=reason]").select_option("wrong_amount"),
        s.locator("details[open] textarea[name=message]").fill("We ordered 3 chairs, not 4.")),
        "someone will look into it")
    answer_on(page, sent["FA-3"], "I have paid", lambda s: (
        s.locator("input[name=paid_on]").fill((TODAY - timedelta(days=1)).isoformat()),
        s.locator("input[name=reference]").fill("VIR 2026-06-15")), "check the payment with our bank")
    assert "You promised to pay on" in page.locator(f"#invoice-{sent['FA-1']}").inner_text()
    assert customer.cookies() == []  # the page never set a cookie
    violations = customer.console_watch.csp_violations()
    customer.close()
    assert not violations

    staff = browser_context(chromium, locale="en-GB")
    page = staff.new_page()
    page.set_default_timeout(15000)
    live_server.login(page, "agent")
    page.click("button[name=language][value=en]")
    page.locator("#answers-to-handle", has_text="3 answers from customers wait for you.").wait_for()
    page.click("#answers-to-handle a >> nth=0")
    page.wait_for_url("**/answers/")
    with live_server.app.app_context():
        by_kind = {a.kind: a.id for a in db.session.scalars(select(Answer))}
    page.locator(f"#answer-{by_kind['paid']} button", has_text="Payment received: record it").click()
    page.locator(".flash-success", has_text="Payment recorded for FA-3").wait_for()
    dispute = page.locator(f"#answer-{by_kind['dispute']}")
    dispute.locator("input[name=credit_note]").fill("AV-12")
    dispute.locator("button", has_text="Resolve").click()
    page.locator(".flash-success", has_text="Dispute on FA-2 resolved").wait_for()
    assert not staff.console_watch.csp_violations()
    staff.close()
    with live_server.app.app_context():
        statuses = {a.kind: (a.status, a.credit_note) for a in db.session.scalars(select(Answer))}
        assert statuses == {"paid": ("accepted", ""), "promise": ("open", ""), "dispute": ("resolved", "AV-12")}
        paid = db.session.get_one(Invoice, sent["FA-3"])
        assert (paid.status, paid.amount_paid) == ("paid", Decimal("1000.00"))
        # the next automatic run holds FA-1 (promise); FA-2's dispute is resolved
        skipped = {s.invoice_number: s.code for s in autorun.engine.schedule(
            db.session, TODAY + timedelta(days=15), automatic=True).skipped}
        assert skipped.get("FA-1") == "promised"
