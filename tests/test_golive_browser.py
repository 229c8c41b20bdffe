"""In Chromium (CSP on, no inline script or style): a manager fills the go-live page, sees the dry run of the first
day of automatic sending, confirms, and the dashboard's go-live box is gone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from relance.extensions import db
from relance.services import golive
from relance.services import settings as settings_service
from relance.services.defaults import install_defaults
from tests.factories import TODAY, make_customer, make_invoice

pytestmark = pytest.mark.browser


@pytest.mark.clock
def test_go_live_page_fill_dry_run_confirm(live_server, page):
    with live_server.app.app_context():
        install_defaults(db.session)
        make_invoice(make_customer(code="NEW", name="Garage Martin"), number="NEW-1", due=TODAY + timedelta(days=6))
        make_invoice(make_customer(code="OLD"), number="OLD-1", due=TODAY - timedelta(days=119))
        db.session.commit()
    live_server.login(page, "manager")
    page.goto(live_server.url + "/")
    box = page.locator("#go-live-box")
    assert box.is_visible()
    box.get_by_role("link").click()
    page.wait_for_url("**/admin/go-live")
    page.fill("#company_name", "Atelier Durand SAS")
    page.fill("#company_address", "18 rue des Lilas")
    page.fill("#company_postcode", "75011")
    page.fill("#company_city", "Paris")
    page.fill("#company_siren", "732829321")  # a wrong check digit first
    page.fill("#company_iban", "FR76 3000 6000 0112 3456 7890 189")
    page.fill("#company_bic", "AGRIFRPP")
    page.fill("#sender_email", "compta@atelier-durand.example")
    page.fill("#auto_hour", "10")
    for rank in ("0", "1", "2"):
        page.check(f"#automatic-{rank}")
    page.locator("#go-live-dry-run").click()
    assert "732829321" in page.locator("#field-company_siren .error").inner_text()  # named, in either language
    assert page.locator("#go-live-preview").count() == 0
    page.fill("#company_siren", "732829320")
    page.locator("#go-live-dry-run").click()
    preview = page.locator("#go-live-preview")
    assert "17/06/2026" in preview.locator("h2").inner_text()  # the day after the switch (the browser reads French)
    assert page.locator("#go-live-levels tr[data-rank='0'] td.num").inner_text() == "1"
    assert page.locator("#go-live-customers tr[data-customer='NEW'] td.num").inner_text() == "1"
    assert page.locator("#go-live-left-out").get_attribute("data-count") == "1"
    with live_server.app.app_context():
        assert not golive.is_done(settings_service.load(db.session))
    page.locator("#go-live-confirm").click()
    page.wait_for_selector("#go-live-done")
    page.goto(live_server.url + "/")
    assert page.locator("#go-live-box").count() == 0
    page.locator("#go-live-overdue a").click()
    page.wait_for_selector("#overdue-before-go-live")
    assert page.locator("tr[data-invoice='OLD-1']").count() == 1
    with live_server.app.app_context():
        settings = settings_service.load(db.session)
        assert golive.is_done(settings) and settings.auto_start_date == (TODAY + timedelta(days=1)).isoformat()
