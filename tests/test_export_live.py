"""The follow-up CSV export downloaded from a running server (streamed: the test client alone hid a 500)."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from relance import clock
from relance.extensions import db
from relance.models import Invoice, Reminder
from tests.factories import install_live_defaults, make_customer, make_invoice

pytestmark = pytest.mark.browser


def test_the_csv_export_downloads_from_a_live_server_with_every_row_and_formulas_escaped(live_server, page):
    with live_server.app.app_context():
        install_live_defaults(db.session)
        today = clock.today()
        customer = make_customer(code="ACME", name="=cmd|' /C calc'!A0")
        for n in range(30):
            make_invoice(customer, number=f"FA-{n:03d}", due=today - timedelta(days=40))
        db.session.commit()
        ids = db.session.scalars(select(Invoice.id).order_by(Invoice.id)).all()
        db.session.execute(insert(Reminder), [  # enough rows for several chunks of the stream
            {"key": f"k{n}", "invoice_id": ids[n % len(ids)], "level": 1, "channel": "email", "status": "sent",
             "reminder_date": today - timedelta(days=n % 20), "note": "=HYPERLINK(\"http://evil\")" if n == 7 else
             f"call {n} " + "x" * 40} for n in range(1500)])
        db.session.commit()
    live_server.login(page, "viewer")
    response = page.request.get(f"{live_server.url}/reminders/export.csv")
    assert response.status == 200, response.text()[:300]
    assert response.headers["content-type"].startswith("text/csv")
    assert f'reminders-{today.isoformat()}.csv' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text())))
    assert len(rows) == 1501 and rows[0][3] in ("Invoice", "Facture")
    assert {r[3] for r in rows[1:]} == {f"FA-{n:03d}" for n in range(30)}
    assert all(r[2] == "'=cmd|' /C calc'!A0" for r in rows[1:])  # a formula is text in a spreadsheet
    assert sum(r[4].startswith("'=HYPERLINK") for r in rows[1:]) == 1
