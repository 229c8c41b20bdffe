"""In Chromium: search invoices as you type, open one, record a partial payment, see the remaining due change."""

from datetime import timedelta

import pytest

from relance.extensions import db
from tests.conftest import browser_context
from tests.factories import TODAY, make_customer, make_invoice

pytestmark = [pytest.mark.browser, pytest.mark.clock]  # the app runs at tests.factories.NOW: TODAY is its today


def digits(money: str) -> str:
    """'1\u202f000,00\xa0€' -> '1000,00€' (French grouping and non-breaking spaces removed)."""
    return "".join(money.split()).replace("\u202f", "")


def seed(live_server):
    with live_server.app.app_context():
        acme = make_customer(code="ACME", name="Acme Industries")
        other = make_customer(code="OTHER", name="Other Trading")
        invoice = make_invoice(acme, number="FA-LIVE-001", total="1200.00", due=TODAY - timedelta(days=20))
        for n in range(5):
            make_invoice(other, number=f"FA-OTHER-{n}", total="100.00")
        db.session.commit()
        return invoice.id


def test_search_open_invoice_and_record_partial_payment(live_server, page):
    invoice_id = seed(live_server)
    live_server.login(page, "agent")
    page.goto(live_server.url + "/invoices/")
    rows = page.locator("#invoice-rows tr:not(.pager-row)")
    assert rows.count() == 6
    page.fill("#invoice-q", "acme")  # typed search: htmx swaps the table body, no page load
    page.wait_for_function("document.querySelectorAll('#invoice-rows tr:not(.pager-row)').length === 1")
    assert "q=acme" in page.url  # hx-push-url
    assert page.locator("#invoice-rows").inner_text().count("FA-LIVE-001") == 1
    page.click("#invoice-rows a:text('FA-LIVE-001')")
    page.wait_for_url(f"**/invoices/{invoice_id}")
    remaining = page.locator("#remaining-due")
    assert "1" in remaining.inner_text() and "200,00" in remaining.inner_text()

    page.fill("#amount", "abc")
    page.click("#payments button[type=submit]")
    page.wait_for_selector("#payments .error")  # 422 fragment swapped in place
    assert "200,00" in remaining.inner_text()

    page.fill("#amount", "450,50")
    page.click("#payments button[type=submit]")
    page.wait_for_function("document.querySelector('#remaining-due').innerText.includes('749,50')")
    assert page.url.endswith(f"/invoices/{invoice_id}")  # swapped in place
    assert "749,50" in page.locator("#invoice-head-status").inner_text()  # out-of-band header update
    page.reload()
    assert "749,50" in page.locator("#remaining-due").inner_text()

    page.once("dialog", lambda dialog: dialog.accept())  # "Remove the payment of ...?"
    page.click("#payments .payment button")
    page.wait_for_function("document.querySelector('#remaining-due').innerText.includes('200,00')")
    assert page.locator("#payments .payment").count() == 0 and "supprimé" in page.locator("#payments").inner_text()


def test_inline_no_auto_switch_saves_with_the_csrf_header(live_server, page):
    invoice_id = seed(live_server)
    live_server.login(page, "agent")
    page.goto(f"{live_server.url}/invoices/{invoice_id}")
    page.check("#no-auto-form input[type=checkbox]")
    page.wait_for_selector("#no-auto-form .saved")
    page.reload()
    assert page.locator("#no-auto-form input[type=checkbox]").is_checked()


def test_customers_search_and_tabs_without_and_with_htmx(live_server, page):
    seed(live_server)
    live_server.login(page, "viewer")
    page.goto(live_server.url + "/customers/")
    page.fill("#customer-q", "acme")
    page.wait_for_function("document.querySelectorAll('#customer-rows tr:not(.pager-row)').length === 1")
    page.click("#customer-rows a:text('Acme Industries')")
    page.click("nav.tabs a:text('Factures'), nav.tabs a:text('Invoices')")
    page.wait_for_selector("#customer-tabs a[aria-current=page]:text('Factures'), "
                           "#customer-tabs a[aria-current=page]:text('Invoices')")
    assert page.url.endswith("/invoices")
    assert "FA-LIVE-001" in page.locator("#customer-tabs").inner_text()
    assert page.locator("form[action$='/edit']").count() == 0  # a viewer gets no edit form


def test_lists_work_without_javascript(live_server, chromium):
    seed(live_server)
    context = browser_context(chromium, java_script_enabled=False, locale="fr-FR")
    page = context.new_page()
    try:
        live_server.login(page, "agent")
        page.goto(live_server.url + "/invoices/")
        page.fill("#invoice-q", "acme")
        page.click("form[role=search] button[type=submit]")
        page.wait_for_url("**/invoices/?q=acme*")
        assert page.locator("#invoice-rows tr:not(.pager-row)").count() == 1
        page.click("#invoice-rows a:text('FA-LIVE-001')")
        page.fill("#amount", "200")
        page.click("#payments button[type=submit]")
        page.wait_for_selector(".flash-success")
        assert digits(page.locator("#remaining-due").inner_text()) == "1000,00€"
        page.check("#no-auto-form input[type=checkbox]")
        page.click("#no-auto-form noscript button, #no-auto-form button")
        page.wait_for_selector(".flash-success")
        assert page.locator("#no-auto-form input[type=checkbox]").is_checked()
    finally:
        context.close()
    assert not context.console_watch.csp_violations()
