"""The bank statements page: a statement uploaded, its lines beside their candidate invoices, and what an agent does
with a line (accept a proposal, record on another invoice or split, ignore, bring back), with htmx (the row swapped,
422 with the error) and without (redirect and message). Both databases."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import AuditLog, BankLine, Invoice
from relance.services import settings as company_settings
from relance.services.data_in.bank_lines import import_statement
from tests.statement_samples import book

DATA = Path(__file__).parent / "data" / "statements"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def lines(app, auth):
    invoices = book()
    import_statement(db.session, (DATA / "camt053_v02.xml").read_bytes(), now=datetime(2026, 6, 16, 7),
                     settings=company_settings.load(db.session), filename="camt053_v02.xml")
    db.session.commit()
    auth.login("agent")
    by_amount = {str(line.amount): line for line in db.session.scalars(select(BankLine))}
    return invoices, by_amount


def test_the_page_lists_the_lines_to_check_with_their_candidates(client, lines):
    page = client.get("/bank/").get_data(as_text=True)
    assert "REGLEMENT FACT FA 2026 0101" in page and "FA-2026-0101" in page
    assert "structured creditor reference (RF)" in page and "customer and exact sum of several invoices" in page
    assert "REMBOURSEMENT TROP PERCU" not in page  # no match: under "Without a match"
    assert "REMBOURSEMENT TROP PERCU" in client.get("/bank/?status=new").get_data(as_text=True)
    assert client.get("/bank/?status=nonsense").status_code == 200


def test_accept_with_htmx_swaps_the_row(client, lines):
    invoices, by_amount = lines
    line = by_amount["1000.00"]
    response = client.post(f"/bank/{line.id}/accept", data={"proposal": "0"}, headers=HTMX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith(f'<tr id="bank-line-{line.id}"') and "Payment recorded." in html
    db.session.expire_all()
    assert db.session.get(BankLine, line.id).status == "recorded"
    assert [db.session.get(Invoice, invoices[n].id).status for n in ("FA-2026-0201", "FA-2026-0202")] == \
        ["paid", "paid"]
    again = client.post(f"/bank/{line.id}/accept", data={"proposal": "0"}, headers=HTMX)
    assert again.status_code == 422 and "already recorded" in again.get_data(as_text=True)
    assert db.session.scalar(select(AuditLog).where(AuditLog.entity == "bank_line", AuditLog.action == "record"))


def test_record_on_another_invoice_and_split_without_htmx(client, lines):
    invoices, by_amount = lines
    line = by_amount["1200.00"]
    response = client.post(f"/bank/{line.id}/record", data={
        "invoice_0": "FA-2026-0102", "amount_0": "350,00", "invoice_1": "FA-2026-0101", "amount_1": ""})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Invoice, invoices["FA-2026-0102"].id).status == "paid"
    assert db.session.get(Invoice, invoices["FA-2026-0101"].id).remaining_due == Decimal("350.00")
    assert sorted(p.amount for p in db.session.get(BankLine, line.id).payments) == [Decimal("350.00"),
                                                                                   Decimal("850.00")]


def test_a_refused_record_answers_422_and_saves_nothing(client, lines):
    _invoices, by_amount = lines
    line = by_amount["149.90"]
    response = client.post(f"/bank/{line.id}/record", data={"invoice_0": "NOPE-1", "amount_0": "1"}, headers=HTMX)
    assert response.status_code == 422 and "NOPE-1" in response.get_data(as_text=True)
    response = client.post(f"/bank/{line.id}/record", data={"invoice_0": "FA-2026-0101", "amount_0": "500"},
                           headers=HTMX)
    assert response.status_code == 422 and "more than the bank line" in response.get_data(as_text=True)
    db.session.expire_all()
    line = db.session.get(BankLine, line.id)
    assert line.status == "matched" and not line.payments


def test_ignore_and_bring_back(client, lines):
    _invoices, by_amount = lines
    line = by_amount["75.00"]
    assert client.post(f"/bank/{line.id}/ignore", headers=HTMX).status_code == 200
    db.session.expire_all()
    assert db.session.get(BankLine, line.id).status == "ignored"
    assert "Bring back" in client.get("/bank/?status=ignored").get_data(as_text=True)
    assert client.post(f"/bank/{line.id}/restore").status_code == 303
    db.session.expire_all()
    assert db.session.get(BankLine, line.id).status == "new"
    assert client.post("/bank/999999/ignore").status_code == 404


def test_upload_a_statement_from_the_page(client, lines):
    data = {"statement": (BytesIO((DATA / "statement_v1.ofx").read_bytes()), "releve.ofx"), "format": ""}
    response = client.post("/bank/upload", data=data, content_type="multipart/form-data", follow_redirects=True)
    assert "releve.ofx: 2 lines imported" in response.get_data(as_text=True)
    bad = {"statement": (BytesIO(b"<?xml version='1.0'?><Document><x/></Document>"), "bad.xml")}
    response = client.post("/bank/upload", data=bad, content_type="multipart/form-data", follow_redirects=True)
    assert "Nothing was imported" in response.get_data(as_text=True)


def test_a_viewer_sees_the_lines_but_no_action(client, lines, auth):
    auth.logout()
    auth.login("viewer")
    page = client.get("/bank/").get_data(as_text=True)
    assert "FA-2026-0101" in page and "Accept" not in page and "Import the statement" not in page
    _invoices, by_amount = lines
    assert client.post(f"/bank/{by_amount['75.00'].id}/ignore").status_code == 403
