"""Factur-X / ZUGFeRD and UBL invoices read directly (issue 17): the service, the import page, the CLI, the API and
the reminder email that attaches the original PDF. The files are made here with the factur-x package."""

from __future__ import annotations

import email
import email.policy
import io
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import ApiToken, Customer, Invoice
from relance.services import files
from relance.services.data_in import einvoice
from relance.services.letters.invoice_pdf import store_pdf
from tests.einvoice_samples import (
    KNOWN_SIREN,
    KNOWN_VAT,
    Buyer,
    Sample,
    acceptance_files,
    acceptance_samples,
    cii_xml,
    facturx_pdf,
    plain_pdf,
    ubl_xml,
)
from tests.factories import TODAY, make_customer, make_user
from tests.smtp import free_port, smtp_certificate, smtp_factory, smtp_server  # noqa: F401


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def known_customers() -> tuple[Customer, Customer]:
    by_siren = make_customer("411SIREN", name="Known by SIREN SA", siren=KNOWN_SIREN)
    by_vat = make_customer("411VAT", name="Known by VAT NV", vat_number=KNOWN_VAT, country="BE")
    db.session.commit()
    return by_siren, by_vat


def stored_pdf(number: str) -> bytes | None:
    invoice = db.session.scalar(select(Invoice).where(Invoice.number == number))
    path = files.resolve(invoice.pdf_path) if invoice else None
    return path.read_bytes() if path else None


# --- reading one file ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["minimum", "basic", "en16931"])
def test_reads_the_three_profiles(sqlite_app, profile):
    sample = Sample(number="FA-17", profile=profile, buyer=Buyer(vat="FR44987654321", buyer_id="411MARTIN"),
                    buyer_reference="PO-42", due=None if profile == "minimum" else date(2026, 2, 14))
    pdf = facturx_pdf(sample)
    invoice = einvoice.read_file("FA-17.pdf", pdf)
    assert invoice.pdf == pdf and invoice.syntax == "CII"
    assert invoice.profile == {"minimum": "MINIMUM", "basic": "BASIC", "en16931": "EN 16931"}[profile]
    assert (invoice.number, invoice.issue_date, invoice.currency) == ("FA-17", "20260115", "EUR")
    assert (invoice.tax_basis, invoice.grand_total, invoice.due_payable) == ("1000.00", "1200.00", "1200.00")
    assert invoice.kind == "invoice" and invoice.buyer_reference == "PO-42"
    buyer = invoice.buyer
    assert buyer.name == "Boulangerie Martin SARL" and buyer.siren == "987654321"
    if profile == "minimum":  # no due date, no address, no VAT number, no buyer id in MINIMUM
        assert invoice.due_date == "" and buyer.vat_number == "" and buyer.city == ""
    else:
        assert invoice.due_date == "20260214"
        assert (buyer.vat_number, buyer.identifier, buyer.email) == ("FR44987654321", "411MARTIN",
                                                                       "compta@martin.example")
        assert (buyer.address, buyer.postcode, buyer.city, buyer.country) == ("3 place du Marché", "69002", "Lyon",
                                                                              "FR")


def test_reads_bare_cii_and_ubl_xml_and_credit_notes(sqlite_app):
    sample = Sample(number="AV-1", type_code="381", buyer=Buyer(siren=None, vat="FR44987654321"))
    cii = einvoice.read_file("AV-1.xml", cii_xml(sample))
    assert cii.pdf is None and cii.kind == "credit_note" and cii.buyer.siren == "987654321"  # from the FR VAT
    ubl = einvoice.read_file("u.xml", ubl_xml(Sample(number="UBL-1", buyer=Buyer(vat="BE0123456749", buyer_id="X1"))))
    assert (ubl.syntax, ubl.number, ubl.issue_date, ubl.due_date, ubl.currency) == (
        "UBL", "UBL-1", "2026-01-15", "2026-02-14", "EUR")
    assert (ubl.tax_basis, ubl.grand_total) == ("1000.00", "1200.00") and ubl.kind == "invoice"
    assert (ubl.buyer.siren, ubl.buyer.vat_number, ubl.buyer.identifier, ubl.buyer.email) == (
        "987654321", "BE0123456749", "X1", "compta@martin.example")


BAD = {
    "not a PDF": ("a.docx", b"PK\x03\x04 zip", "neither a PDF nor an XML"),
    "a PDF without XML": ("scan.pdf", None, "this PDF carries no Factur-X/ZUGFeRD invoice"),
    "XML that is not an invoice": ("x.xml", b"<?xml version='1.0'?><order><id>1</id></order>",
                                   "not a CII (Factur-X / ZUGFeRD) or UBL invoice"),
    "broken XML": ("b.xml", b"<Invoice><cbc:ID>", "The XML can't be read"),
    "missing number": ("n.xml", cii_xml(Sample(number="")), "has no number"),
    "unknown currency": ("c.xml", cii_xml(Sample(number="C-1", currency="ZZZ")),
                         'currency: "ZZZ" is not an ISO 4217 currency code'),
    "total not a number": ("t.xml", cii_xml(Sample(number="T-1", total_override="douze")),
                           'total including tax: "douze" is not an amount'),
    "empty file": ("e.pdf", b"", "The file is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_are_refused_with_their_reason_and_nothing_is_saved(app, case):
    name, data, reason = BAD[case]
    data = plain_pdf() if data is None else data
    with app.test_request_context(headers={"Accept-Language": "en"}):
        plan = einvoice.plan_files(db.session, [(name, data)], TODAY)
        assert [r.filename for r in plan.refused] == [name] and not plan.accepted
        assert reason.lower() in plan.refused[0].text.lower(), plan.refused[0].text
        assert not plan.has_changes
    assert count(Invoice) == 0 and count(Customer) == 0


def test_a_bad_file_fails_alone_and_duplicates_are_named(app):
    good = facturx_pdf(Sample(number="G-1"))
    uploads = [("g.pdf", good), ("dup.pdf", facturx_pdf(Sample(number="G-1"))),
               ("late.xml", cii_xml(Sample(number="L-1", due=date(2025, 1, 1))))]
    with app.test_request_context(headers={"Accept-Language": "en"}):
        plan = einvoice.plan_files(db.session, uploads, TODAY)
        reasons = {r.filename: r.text for r in plan.refused}
    assert reasons["dup.pdf"] == 'Invoice number "G-1" is also in the file g.pdf.'
    assert reasons["late.xml"].startswith("due date: The due date") and [a.filename for a in plan.accepted] == ["g.pdf"]


# --- planning and writing -----------------------------------------------------------------------------------


def test_buyers_found_by_siren_vat_or_code_else_created_and_the_pdf_kept_byte_identical(app):
    known_customers()
    make_customer("411CODE", name="Known by code")
    db.session.commit()
    samples = [
        Sample(number="S-1", buyer=Buyer(name="Other name", siren=KNOWN_SIREN)),
        Sample(number="V-1", buyer=Buyer(name="Known by VAT NV", siren=None, vat=KNOWN_VAT)),
        Sample(number="K-1", buyer=Buyer(name="Known by code", siren=None, buyer_id="411CODE")),
        Sample(number="N-1", buyer=Buyer(name="Nouvelle SAS", siren="222333444", vat="FR12222333444")),
        Sample(number="N-2", profile="minimum", due=None, buyer=Buyer(name="Nouvelle SAS", siren="222333444")),
    ]
    uploads = [(f"{s.number}.pdf", facturx_pdf(s)) for s in samples]
    with app.test_request_context(headers={"Accept-Language": "en"}):
        plan = einvoice.plan_files(db.session, uploads, TODAY)
        assert not plan.refused
        assert [(a.invoice.number, a.customer_code, a.matched_by) for a in plan.accepted] == [
            ("S-1", "411SIREN", "siren"), ("V-1", "411VAT", "vat_number"), ("K-1", "411CODE", "code"),
            ("N-1", "FX-222333444", "new"), ("N-2", "FX-222333444", "new")]
        assert plan.new_customers == 1 and plan.created == 5
        assert [str(n) for n in plan.accepted[4].notes][0].startswith("No due date in the invoice")
        written = einvoice.apply_files(db.session, plan, None, store_pdf)
        db.session.commit()
    assert len(written.new) == 5 and written.old == []
    new = db.session.scalar(select(Customer).where(Customer.code == "FX-222333444"))
    assert (new.name, new.siren, new.vat_number, new.city, new.email) == (
        "Nouvelle SAS", "222333444", "FR12222333444", "Lyon", "compta@martin.example")
    for sample, (_name, data) in zip(samples, uploads, strict=True):
        invoice = db.session.scalar(select(Invoice).where(Invoice.number == sample.number))
        assert stored_pdf(sample.number) == data  # byte-identical
        assert invoice.status == "validated" and invoice.total_incl_tax == Decimal("1200.00")
    assert db.session.scalar(select(Invoice.due_date).where(Invoice.number == "N-2")) is None
    assert db.session.scalar(select(Invoice.due_date).where(Invoice.number == "N-1")) == date(2026, 2, 14)

    # the same files again: unchanged; a new PDF for S-1 replaces the stored one (the old file removed)
    replaced = facturx_pdf(Sample(number="S-1", net="2000.00", buyer=Buyer(name="Other name", siren=KNOWN_SIREN)))
    with app.test_request_context(headers={"Accept-Language": "en"}):
        again = einvoice.plan_files(db.session, uploads, TODAY)
        assert again.unchanged == 5 and not again.has_changes
        update = einvoice.plan_files(db.session, [("S-1 v2.pdf", replaced)], TODAY)
        assert update.updated == 1
        written = einvoice.apply_files(db.session, update, None, store_pdf)
        db.session.commit()
        written.cleanup()
    assert stored_pdf("S-1") == replaced and files.resolve(written.old[0]) is None


# --- the three ways in ----------------------------------------------------------------------------------------


def _check_acceptance_result(refused_names: list[str], uploads: list[tuple[str, bytes]]) -> None:
    assert sorted(refused_names) == ["notes.docx", "scan-without-xml.pdf"]
    assert count(Invoice) == 48
    samples = {s.number: s for s in acceptance_samples()}
    by_number = {name.removesuffix(".pdf"): data for name, data in uploads}
    invoices = db.session.scalars(select(Invoice)).all()
    for invoice in invoices:
        assert files.resolve(invoice.pdf_path) is not None
        assert stored_pdf(invoice.number) == by_number[invoice.number]  # byte-identical
        sample = samples[invoice.number]
        assert invoice.total_incl_tax == Decimal(sample.gross)
        assert invoice.kind == ("credit_note" if sample.type_code == "381" else "invoice")
    codes = {i.number: i.customer.code for i in invoices}
    assert {codes[s.number] for n, s in enumerate(acceptance_samples()) if n % 4 == 0} == {"411SIREN"}
    assert {codes[s.number] for n, s in enumerate(acceptance_samples()) if n % 4 == 1} == {"411VAT"}
    new = db.session.scalars(select(Customer.code).where(Customer.code.not_in(["411SIREN", "411VAT"]))).all()
    assert sorted(new) == ["FX-500000000", "FX-500000001", "FX-500000002", "FX-DE123456780", "FX-DE123456781"]


@pytest.mark.slow
def test_cli_imports_48_of_50_and_names_the_2_refusals(app, runner, tmp_path):
    known_customers()
    folder = tmp_path / "in"
    folder.mkdir()
    uploads = acceptance_files()
    for name, data in uploads:
        (folder / name).write_bytes(data)
    paths = sorted(str(p) for p in folder.iterdir())
    dry = runner.invoke(args=["relance", "import", "facturx", "--dry-run", *paths], env={"LANG": "en_US.UTF-8"})
    assert dry.exit_code == 1 and "Dry run: nothing was saved." in dry.output and count(Invoice) == 0
    result = runner.invoke(args=["relance", "import", "facturx", *paths], env={"LANG": "en_US.UTF-8"})
    print(result.output)
    assert result.exit_code == 1, result.output  # saved, but two files were refused
    assert ("Factur-X: 50 files, 48 invoices to create, 0 to update, 0 unchanged, 5 new customers, 2 refused. "
            "Saved.") in result.output
    assert "scan-without-xml.pdf: This PDF carries no Factur-X/ZUGFeRD invoice" in result.output
    assert "notes.docx: This file is neither a PDF nor an XML file" in result.output
    assert "2 files refused (named above)." in result.output
    refused = re.findall(r"^(\S+): (?:This PDF carries|This file is neither)", result.output, re.M)
    db.session.expire_all()
    _check_acceptance_result(refused, uploads)


def _upload(client, uploads):
    return client.post("/imports/einvoices", data={"files": [(io.BytesIO(d), n) for n, d in uploads]},
                       headers={"Accept-Language": "en"}, content_type="multipart/form-data")


def _hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" type="hidden" value="([^"]+)"', html).group(1)


@pytest.mark.slow
def test_import_page_previews_then_imports_48_of_50(app, client, auth):
    known_customers()
    auth.login("agent")
    page = client.get("/imports/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'action="/imports/einvoices"' in page and 'multiple' in page and "Factur-X / e-invoices" in page
    uploads = acceptance_files()
    response = _upload(client, uploads)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:3000]
    assert "2 files refused: they will not be imported." in html
    assert re.search(r"<strong>48</strong> to create", html) and re.search(r"<strong>5</strong> new customers", html)
    refused = re.findall(r"<tr><td><code>([^<]+)</code></td><td>([^<]+)</td></tr>", html)
    assert [name for name, _ in refused] == ["scan-without-xml.pdf", "notes.docx"]
    assert "found by SIREN 111111118" in html and "found by VAT number BE0123456749" in html
    assert count(Invoice) == 0  # nothing before the confirmation
    folder = Path(app.instance_path) / "imports"
    kept = [p for p in folder.iterdir() if p.suffix == ".files"]
    assert len(kept) == 1 and oct(kept[0].stat().st_mode & 0o777) == "0o600"
    token = _hidden(html, "token")
    done = client.post("/imports/confirm", data={"kind": "facturx", "token": token},
                       headers={"Accept-Language": "en"})
    assert done.status_code == 303
    flashed = client.get(done.headers["Location"], headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Import done: 48 invoices created, 0 updated, 0 unchanged, 5 new customers." in flashed
    assert "2 files refused: scan-without-xml.pdf: This PDF carries no Factur-X/ZUGFeRD invoice" in flashed
    assert not list(folder.iterdir())  # the staged files are gone
    db.session.expire_all()
    _check_acceptance_result([name for name, _ in refused], uploads)
    again = client.post("/imports/confirm", data={"kind": "facturx", "token": token}, headers={"Accept-Language": "en"})
    assert again.status_code == 303 and count(Invoice) == 48  # a second confirmation imports nothing


def test_import_page_refuses_bad_files_and_keeps_nothing(app, client, auth):
    auth.login("agent")
    response = _upload(client, [("scan.pdf", plain_pdf()), ("x.txt", b"hello")])
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "2 files refused" in html and 'action="/imports/confirm"' not in html
    assert "this pdf carries no factur-x/zugferd invoice" in html.lower()
    folder = Path(app.instance_path) / "imports"
    assert not folder.exists() or not list(folder.iterdir())
    assert count(Invoice) == 0 and count(Customer) == 0
    assert client.post("/imports/einvoices", data={}, headers={"Accept-Language": "en"}).status_code == 422


def test_confirmation_shows_a_new_preview_when_the_data_changed(app, client, auth):
    auth.login("agent")
    html = _upload(client, [("a.pdf", facturx_pdf(Sample(number="A-1")))]).get_data(as_text=True)
    token = _hidden(html, "token")
    make_customer("OTHER", siren="987654321")  # the buyer now exists: it would be matched, not created
    db.session.commit()
    changed = client.post("/imports/confirm", data={"kind": "facturx", "token": token},
                          headers={"Accept-Language": "en"})
    text = changed.get_data(as_text=True)
    assert changed.status_code == 200 and "The data changed since the preview" in text and count(Invoice) == 0
    done = client.post("/imports/confirm", data={"kind": "facturx", "token": _hidden(text, "token")})
    assert done.status_code == 303 and count(Invoice) == 1 and count(Customer) == 1


def _api_token(role="agent") -> str:
    token, clear = ApiToken.issue(make_user(role=role), "facturx")
    db.session.add(token)
    db.session.commit()
    return clear


def test_api_takes_one_factur_x_pdf(app, client):
    clear = _api_token()
    known_customers()
    pdf = facturx_pdf(Sample(number="API-1", buyer=Buyer(name="Known by SIREN SA", siren=KNOWN_SIREN)))
    headers = {"Authorization": f"Bearer {clear}", "Content-Type": "application/pdf", "Accept-Language": "en"}
    response = client.post("/api/v1/invoices", data=pdf, headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["created"], body["items"][0]["number"], body["items"][0]["customer_code"]) == (1, "API-1",
                                                                                                "411SIREN")
    assert body["items"][0]["due_date"] == "2026-02-14" and body["items"][0]["total_incl_tax"] == "1200.00"
    assert stored_pdf("API-1") == pdf
    again = client.post("/api/v1/invoices", data=pdf, headers=headers).get_json()
    assert (again["created"], again["unchanged"]) == (0, 1)
    for bad, reason in ((plain_pdf(), "This PDF carries no Factur-X/ZUGFeRD invoice"),
                        (b"%PDF-1.4 broken", "This PDF can't be read")):
        refused = client.post("/api/v1/invoices", data=bad, headers=headers)
        assert refused.status_code == 422
        assert refused.get_json()["error"]["fields"][0]["path"] == "body"
        assert refused.get_json()["error"]["fields"][0]["message"].startswith(reason)
    assert count(Invoice) == 1
    viewer = {**headers, "Authorization": f"Bearer {_api_token('viewer')}"}
    assert client.post("/api/v1/invoices", data=pdf, headers=viewer).status_code == 403


# --- the reminder email attaches the original PDF -----------------------------------------------------------


def test_reminder_email_attaches_the_factur_x_pdf_unchanged(app, smtp_server):  # noqa: F811
    from relance.models import ReminderLevel
    from relance.services import settings as settings_service
    from relance.services.defaults import install_defaults
    from relance.services.sending import dunning

    install_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example", "company_name": "Vendor SAS"})
    db.session.commit()
    smtp_server.configure(app)
    pdf = facturx_pdf(Sample(number="MAIL-1", due=date(2026, 1, 15)))
    with app.test_request_context():
        plan = einvoice.plan_files(db.session, [("MAIL-1.pdf", pdf)], TODAY)
        einvoice.apply_files(db.session, plan, None, store_pdf)
        db.session.commit()
    invoice = db.session.scalar(select(Invoice).where(Invoice.number == "MAIL-1"))
    level = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    reminder = dunning.create_reminder(db.session, invoice, level, "email", date(2026, 2, 2))
    db.session.commit()
    assert reminder.status == "pending", reminder.error
    dunning.send([reminder.id])
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert "compta@martin.example" in message["To"]
    attachments = [part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert len(attachments) == 1 and attachments[0].get_payload(decode=True) == pdf  # byte-identical
    raw = email.message_from_bytes(smtp_server.received[0].raw, policy=email.policy.default)  # the .eml as sent
    assert [p.get_payload(decode=True) for p in raw.iter_attachments()] == [pdf]


def test_cancel_forgets_the_staged_files(app, client, auth):
    auth.login("agent")
    html = _upload(client, [("a.pdf", facturx_pdf(Sample(number="A-1")))]).get_data(as_text=True)
    folder = Path(app.instance_path) / "imports"
    assert len(list(folder.iterdir())) == 2  # the files and their JSON
    response = client.post("/imports/cancel", data={"kind": "facturx", "token": _hidden(html, "token")})
    assert response.status_code == 303 and not list(folder.iterdir()) and count(Invoice) == 0
