"""The Factur-X drop of the import page in Chromium: choose several files, read the preview (invoices to create,
the refused file with its reason), confirm; the invoices are saved with their PDF byte for byte."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import Customer, Invoice
from relance.services import files
from tests.einvoice_samples import Buyer, Sample, cii_xml, facturx_pdf, plain_pdf
from tests.factories import make_customer


@pytest.mark.browser
def test_factur_x_drop_preview_confirm_in_chromium(live_server, page, tmp_path):
    with live_server.app.app_context():
        make_customer("411KNOWN", name="Known SA", siren="111111118")
        db.session.commit()
    folder = tmp_path / "drop"
    folder.mkdir()
    made = {
        "FX-1.pdf": facturx_pdf(Sample(number="FX-1", profile="minimum", due=None,
                                       buyer=Buyer(name="Known SA", siren="111111118"))),
        "FX-2.pdf": facturx_pdf(Sample(number="FX-2", profile="basic", buyer=Buyer(name="Nouvelle SAS",
                                                                                   siren="222333444"))),
        "FX-3.pdf": facturx_pdf(Sample(number="FX-3", profile="en16931", buyer=Buyer(vat="BE0123456749",
                                                                                     siren=None, country="BE"))),
        "FX-4.xml": cii_xml(Sample(number="FX-4", buyer=Buyer(name="Nouvelle SAS", siren="222333444"))),
        "scan.pdf": plain_pdf("Scan"),
    }
    for name, data in made.items():
        (folder / name).write_bytes(data)
    live_server.login(page, "agent")
    page.goto(live_server.url + "/imports/")
    page.set_input_files("form#einvoices input[type=file]", [str(folder / name) for name in made])
    page.click("form#einvoices button[type=submit]")
    page.wait_for_selector("table.einvoice-accepted")
    rows = page.locator("table.einvoice-accepted tbody tr").all_inner_texts()
    assert len(rows) == 4, rows
    assert "411KNOWN" in rows[0] and "FX-222333444" in rows[1] and "FX-222333444" in rows[3]
    refused = page.locator("table.einvoice-refused tbody tr").all_inner_texts()
    assert len(refused) == 1 and refused[0].startswith("scan.pdf")
    assert "Factur-X" in refused[0]  # the reason, in the page's language
    page.screenshot(path=str(tmp_path / "facturx-preview.png"), full_page=True)
    with live_server.app.app_context():
        assert db.session.scalar(select(Invoice.id).limit(1)) is None  # nothing before the confirmation
    page.click("form[action$='/imports/confirm'] button[type=submit]")
    page.wait_for_selector(".flash-success")
    assert "scan.pdf" in page.locator(".flash-error").inner_text()
    with live_server.app.app_context():
        invoices = {i.number: i for i in db.session.scalars(select(Invoice))}
        assert sorted(invoices) == ["FX-1", "FX-2", "FX-3", "FX-4"]
        for number in ("FX-1", "FX-2", "FX-3"):
            assert files.resolve(invoices[number].pdf_path).read_bytes() == made[f"{number}.pdf"]
        assert invoices["FX-4"].pdf_path is None  # a bare XML brings no PDF
        assert sorted(db.session.scalars(select(Customer.code))) == ["411KNOWN", "FX-222333444", "FX-BE0123456749"]
