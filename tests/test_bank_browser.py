"""In Chromium: the bank statements page. An agent accepts a proposal (htmx swaps the row, the CSRF header carried),
splits a line across two invoices and ignores another; the page's address never changes."""

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import BankLine
from relance.services import settings as company_settings
from relance.services.data_in.bank_lines import import_statement
from tests.statement_samples import book

pytestmark = [pytest.mark.browser, pytest.mark.clock]

DATA = Path(__file__).parent / "data" / "statements"


def seed(live_server) -> dict[str, int]:
    with live_server.app.app_context():
        book()
        import_statement(db.session, (DATA / "camt053_v02.xml").read_bytes(), now=datetime(2026, 6, 16, 7),
                         settings=company_settings.load(db.session), filename="camt053_v02.xml")
        db.session.commit()
        return {str(line.amount): line.id for line in db.session.scalars(select(BankLine))}


def test_accept_split_and_ignore(live_server, page):
    ids = seed(live_server)
    live_server.login(page, "agent")
    page.click("button[name=language][value=en]")  # the screens in English (the words the test reads)
    page.wait_for_load_state()
    page.goto(live_server.url + "/bank/")
    url = page.url
    row = f"#bank-line-{ids['1000.00']}"
    page.click(f"{row} button:text('Accept')")
    page.wait_for_selector(f"{row} .badge.ok")
    assert "FA-2026-0201" in page.locator(row).inner_text() and "Payment recorded." in page.locator(row).inner_text()

    row = f"#bank-line-{ids['1200.00']}"
    page.click(f"{row} summary")
    page.fill(f"{row} input[name=invoice_0]", "FA-2026-0102")
    page.fill(f"{row} input[name=amount_0]", "350,00")
    page.fill(f"{row} input[name=invoice_1]", "FA-2026-0101")
    page.click(f"{row} .bank-record button")
    page.wait_for_selector(f"{row} .badge.ok")
    assert "FA-2026-0102" in page.locator(row).inner_text()

    row = f"#bank-line-{ids['149.90']}"
    page.click(f"{row} button:text('Ignore')")
    page.wait_for_selector(f"{row} button:text('Bring back')")
    assert page.url == url
    with live_server.app.app_context():
        statuses = {str(line.amount): line.status for line in db.session.scalars(select(BankLine))}
    assert statuses == {"1000.00": "recorded", "1200.00": "recorded", "149.90": "ignored", "75.00": "new"}
