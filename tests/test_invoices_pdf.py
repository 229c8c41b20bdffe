"""The invoice PDF: uploads (checked by header and size, stored by a generated name) and the generated one."""

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from sqlalchemy import select

from relance.extensions import db
from relance.models import Invoice, Reminder
from relance.services import settings as settings_service
from relance.services.letters import invoice_pdf
from relance.services.texts.formatting import format_money
from tests.factories import make_customer, make_invoice


def text(response) -> str:
    return response.get_data(as_text=True)


def real_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def invoice(sqlite_app):
    settings_service.save(db.session, {"company_name": "Atelier Durand SAS", "company_address": "18 rue des Lilas",
                                       "company_postcode": "69003", "company_city": "Lyon",
                                       "company_iban": "FR76 3000 6000 0112 3456 7890 189"})
    customer = make_customer(code="EVIL", name="<b>Evil</b> & Co <script>alert(1)</script>", language="en")
    invoice = make_invoice(customer, number="FA-PDF-1", total="1200.00", paid="200.00", due=date(2026, 1, 15))
    db.session.commit()
    return invoice


@pytest.fixture
def client(sqlite_app):
    return sqlite_app.test_client()


@pytest.fixture
def agent(client, invoice):
    from tests.conftest import AuthActions

    AuthActions(client).login("agent")
    return client


def upload(client, invoice, data: bytes, name: str = "facture.pdf"):
    return client.post(f"/invoices/{invoice.id}/pdf", data={"pdf": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_generated_pdf_is_one_clean_page_with_the_invoice_data(agent, invoice):
    response = agent.get(f"/invoices/{invoice.id}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert 'filename="FA-PDF-1.pdf"' in response.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == 1
    content = reader.pages[0].extract_text().replace("\n", "")
    # English words, the amounts as written for a reader of English in France (the customer's country): en_FR
    amounts = [format_money(Decimal(value), "EUR", "en_FR") for value in ("1200.00", "200.00", "1000.00")]
    assert amounts[0] == "1\u202f200,00\u00a0€"
    for expected in ("Atelier Durand SAS", "18 rue des Lilas", "FA-PDF-1", "Invoice", *amounts,
                     "FR76 3000", "<b>Evil</b> & Co <script>alert(1)</script>"):
        assert expected in content, expected  # user text printed as text, never read as markup


def test_generated_pdf_follows_the_customer_language(sqlite_app):
    customer = make_customer(language="fr")
    invoice = make_invoice(customer, number="FA-FR-1", total="1234.50", kind="credit_note")
    db.session.commit()
    with sqlite_app.test_request_context():
        content = PdfReader(io.BytesIO(invoice_pdf.invoice_pdf_bytes(invoice))).pages[0].extract_text()
    assert "Avoir" in content or "Credit note" in content
    assert "1\u202f234,50\u00a0€" in content or "1 234,50 €" in content or "1234,50" in content.replace("\u202f", "")


def test_upload_is_stored_by_a_generated_name_and_served(agent, invoice, sqlite_app):
    data = real_pdf()
    response = upload(agent, invoice, data, name="../../etc/passwd.pdf")
    assert response.status_code == 302
    db.session.expire_all()
    stored = invoice_pdf.invoice_pdf_path(invoice)
    assert stored is not None and stored.read_bytes() == data
    assert stored.parent == Path(sqlite_app.config["FILES_PATH"]) / "invoices"
    assert "passwd" not in stored.name and stored.suffix == ".pdf" and len(stored.stem) == 32
    served = agent.get(f"/invoices/{invoice.id}/pdf")
    assert served.status_code == 200 and served.data == data
    assert invoice_pdf.invoice_pdf_bytes(invoice) == data
    assert "Open the uploaded PDF" in text(agent.get(f"/invoices/{invoice.id}/files"))
    # a new upload replaces the file and removes the old one
    assert upload(agent, invoice, real_pdf() + b"\n% v2\n").status_code == 302
    db.session.expire_all()
    assert not stored.exists() and invoice_pdf.invoice_pdf_path(invoice) != stored


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"PK\x03\x04 this is a zip", "The file is not a PDF."),
        (b"<html><script>alert(1)</script></html>", "The file is not a PDF."),
        (b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024), "The file is too large: 10 MB at most."),
    ],
)
def test_bad_uploads_are_refused_and_nothing_stored(agent, invoice, sqlite_app, data, message):
    response = upload(agent, invoice, data)
    assert response.status_code == 422
    assert message in text(response)
    db.session.expire_all()
    assert invoice.pdf_path is None
    folder = Path(sqlite_app.config["FILES_PATH"]) / "invoices"
    assert not folder.exists() or not any(folder.iterdir())


def test_upload_without_a_file(agent, invoice):
    response = agent.post(f"/invoices/{invoice.id}/pdf", data={}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose a PDF file to upload." in text(response)


def test_create_invoice_with_a_pdf_and_refuse_a_bad_one(agent, invoice):
    form = {"number": "FA-UP-1", "customer_code": "EVIL", "issue_date": "2026-01-10", "due_date": "2026-02-10",
            "currency": "EUR", "total_excl_tax": "100", "total_incl_tax": "120", "status": "validated",
            "kind": "invoice", "billing_contact_id": "0", "followup_contact_id": "0", "followup_user_id": "0"}
    bad = agent.post("/invoices/new", data={**form, "pdf": (io.BytesIO(b"GIF89a..."), "x.pdf")},
                     content_type="multipart/form-data")
    assert bad.status_code == 422 and "The file is not a PDF" in text(bad)
    assert db.session.scalar(select(Invoice.id).where(Invoice.number == "FA-UP-1")) is None
    pdf = real_pdf()
    good = agent.post("/invoices/new", data={**form, "pdf": (io.BytesIO(pdf), "x.pdf")},
                      content_type="multipart/form-data")
    assert good.status_code == 302
    created = db.session.scalar(select(Invoice).where(Invoice.number == "FA-UP-1"))
    assert invoice_pdf.invoice_pdf_path(created).read_bytes() == pdf


def test_letter_copies_are_served_and_paths_stay_inside_files(agent, invoice, sqlite_app):
    root = Path(sqlite_app.config["FILES_PATH"])
    (root / "letters").mkdir(parents=True)
    letter = real_pdf()
    (root / "letters" / "copy.pdf").write_bytes(letter)
    good = Reminder(key="l1", invoice=invoice, level=2, channel="letter", reminder_date=date(2026, 2, 1),
                    pdf_path="letters/copy.pdf", status="sent")
    evil = Reminder(key="l2", invoice=invoice, level=2, channel="letter", reminder_date=date(2026, 2, 2),
                    pdf_path="../secret_key", status="sent")
    other = make_invoice()
    db.session.add_all([good, evil])
    db.session.commit()
    assert agent.get(f"/invoices/{invoice.id}/reminders/{good.id}/file").data == letter
    assert agent.get(f"/invoices/{invoice.id}/reminders/{evil.id}/file").status_code == 404
    assert agent.get(f"/invoices/{other.id}/reminders/{good.id}/file").status_code == 404
    invoice.pdf_path = "../secret_key"
    db.session.commit()
    assert invoice_pdf.invoice_pdf_path(invoice) is None  # falls back to the generated PDF
    assert agent.get(f"/invoices/{invoice.id}/pdf").data.startswith(b"%PDF-")
