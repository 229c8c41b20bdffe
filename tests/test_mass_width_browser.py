"""In Chromium: the mass page's table fits a 1280 px screen (the demo's invoices, in French and in English), its
"by letter" and "by email" boxes in view without scrolling sideways, the claim's detail lines wrapped under the
amount (an invoice in pounds adds a line for the indemnity in euros)."""

from __future__ import annotations

import pytest

from relance.extensions import db
from relance.services import demo
from tests.factories import TODAY

pytestmark = [pytest.mark.browser, pytest.mark.clock]  # the app runs at tests.factories.NOW: TODAY is its today

OVERFLOW = "(() => { const e = document.querySelector('.table-scroll'); return e.scrollWidth - e.clientWidth; })()"


def test_the_mass_page_fits_a_1280_px_screen(live_server, page):
    with live_server.app.app_context():
        demo.create_demo(db.session, TODAY)
        db.session.commit()
    live_server.login(page, "manager")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + "/reminders/mass")
    for language in ("fr", "en"):
        page.locator(f".lang-switch button[value={language}]").click()
        page.wait_for_selector(f"html[lang={language}]")
        assert page.locator(".mass-table .indemnity-apart").count() > 0  # the widest claim cells are there
        assert page.evaluate(OVERFLOW) <= 0, language
        box = page.locator(".mass-table tbody input[name^=email-]").first.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280, language
