"""In Chromium: a reminder page shows the email for several invoices whole, its invoices table (seven columns) never
cut at the right of its frame, on a 1024 px laptop screen as on a wider one."""

from __future__ import annotations

from datetime import date

import pytest

from relance.extensions import db
from relance.services import settings as settings_service
from relance.services.sending import autorun
from tests.factories import install_live_defaults, make_customer, reminder_rows
from tests.test_grouped_messages import ten_invoices

pytestmark = pytest.mark.browser


def test_the_email_for_several_invoices_is_shown_whole(live_server, page):
    with live_server.app.app_context():
        install_live_defaults(db.session)
        settings_service.save(db.session, {"sender_email": "compta@vendor.example", "company_name": "Vendor SAS",
                                           "group_by_customer": True, "default_language": "fr"})
        ten_invoices(make_customer(code="RED", name="Redwood", email="factures@redwood.example", language="fr"))
        autorun.run_auto(db.session, date(2026, 2, 2), send=False)
        member = next(r for r in reminder_rows() if r.key != r.message_key).id
    live_server.login(page, "agent")
    for width in (1024, 1280, 1600):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/reminders/{member}")
        frame = page.frame_locator("iframe.email-frame")
        frame.locator("table").wait_for()
        assert "231,14" in frame.locator("table").inner_text()  # the last invoice's claim, in the last column
        email = next(f for f in page.frames if f != page.main_frame)
        cut = email.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert cut <= 0, (width, cut)
