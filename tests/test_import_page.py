"""The import page: upload, preview (changes or errors), confirm; the pending file waits under the instance."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import AuditLog, Customer, Invoice
from tests.factories import make_customer, make_user

DATA = Path(__file__).parent / "data"


def pending_files(app) -> list[Path]:
    folder = Path(app.instance_path) / "imports"
    return sorted(folder.iterdir()) if folder.exists() else []


def upload(client, kind: str, content: bytes, name: str = "export.csv"):
    return client.post("/imports/", data={"kind": kind, "file": (io.BytesIO(content), name)},
                       headers={"Accept-Language": "en"})


def invoice_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Invoice))


def hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" type="hidden" value="([^"]+)"', html).group(1)


def test_page_documents_the_columns_for_agents_only(app, client, auth):
    auth.login("viewer")
    assert client.get("/imports/").status_code == 403
    auth.logout()
    auth.login("agent")
    html = client.get("/imports/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    for column in ("customer_code", "total_incl_tax", "invoice_number", "postcode"):
        assert f"<code>{column}</code>" in html
    assert 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html
    example = client.get("/imports/example/customers.csv")
    assert example.mimetype == "text/csv" and example.data.startswith(b"\xef\xbb\xbfcode;name;email")
    assert client.get("/imports/example/other.csv").status_code == 404


def test_preview_then_confirm(app, client, auth):
    auth.login("agent")
    for code in ("411DUPONT", "411MULLER", "411MARTIN"):
        make_customer(code)
    db.session.commit()
    response = upload(client, "invoices", (DATA / "invoices_fr_cp1252.csv").read_bytes(), "../../evil name.csv")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "encoding Windows-1252" in html and "separator ;" in html and "ignored columns: Libellé" in html
    assert re.search(r"<strong>6</strong> to create", html)
    assert "FA2026-0002" in html and "14,814.80" in html
    assert invoice_count() == 0
    # the upload and its checked plan wait under instance/imports by a generated name, never the uploaded one,
    # private to the user Relance runs as
    files = pending_files(app)
    assert [f.suffix for f in files] == [".csv", ".json", ".plan"] and "evil" not in files[0].name
    assert {f.stat().st_mode & 0o777 for f in files} == {0o600}
    token = hidden(html, "token")
    assert files[0].stem == token
    response = client.post("/imports/confirm", data={"kind": "invoices", "token": token},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 303
    assert invoice_count() == 6 and pending_files(app) == []
    page = client.get(response.headers["Location"], headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Import done: 6 created, 0 updated, 0 unchanged." in page
    log = db.session.scalar(select(AuditLog).where(AuditLog.action == "import"))
    assert log.after == {"file": "evil name.csv", "created": 6, "updated": 0, "unchanged": 0}
    # the same preview can't be confirmed twice
    response = client.post("/imports/confirm", data={"kind": "invoices", "token": token}, follow_redirects=True,
                           headers={"Accept-Language": "en"})
    assert "This preview has expired or was already imported." in response.get_data(as_text=True)
    assert invoice_count() == 6


def test_preview_with_errors_lists_them_and_keeps_nothing(app, client, auth):
    auth.login("agent")
    make_customer("C1")
    db.session.commit()
    content = ("Numéro;Code client;Date facture;Échéance;Total HT;Total TTC\n"
               "A1;C1;01/01/2026;31/01/2026;100;120\n"
               "A2;C9;32/01/2026;;100;<b>120</b>\n").encode("cp1252")
    response = upload(client, "invoices", content)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "3 errors: nothing was imported." in html
    rows = re.findall(r'<tr>\s*<td class="num">(\d+)</td>\s*<td>([^<]*)</td>\s*<td><code>([^<]*)</code></td>\s*'
                      r"<td>([^<]*)</td>", html)
    assert rows == [
        ("3", "Date facture", "32/01/2026", "&#34;32/01/2026&#34; is not a real date (dates are read day/month/year)."),
        ("3", "Total TTC", "&lt;b&gt;120&lt;/b&gt;", "&#34;&lt;b&gt;120&lt;/b&gt;&#34; is not an amount."),
        ("3", "Code client", "C9", "Unknown customer code &#34;C9&#34;: import the customers first.")]
    assert "Confirm the import" not in html and 'type="file"' in html
    assert pending_files(app) == [] and invoice_count() == 0


def test_confirm_checks_again_and_belongs_to_its_uploader(app, client, auth):
    auth.login("agent")
    customer = make_customer("C1")
    db.session.commit()
    response = upload(client, "invoices", b"number;customer_code;issue_date;due_date;total_excl_tax;total_incl_tax\n"
                                          b"A1;C1;01/01/2026;;100;120\n")
    token = hidden(response.get_data(as_text=True), "token")
    # someone else can't confirm it
    auth.logout()
    auth.login("agent", email="other@test.example")
    response = client.post("/imports/confirm", data={"kind": "invoices", "token": token}, follow_redirects=True,
                           headers={"Accept-Language": "en"})
    assert "This preview has expired" in response.get_data(as_text=True) and invoice_count() == 0
    assert client.post("/imports/confirm", data={"kind": "invoices", "token": "../../secret_key"}).status_code == 303
    auth.logout()
    auth.login("agent")
    # the customer disappears between the preview and the confirmation
    db.session.delete(customer)
    db.session.commit()
    response = client.post("/imports/confirm", data={"kind": "invoices", "token": token},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The data changed since the preview." in html and "Unknown customer code &#34;C1&#34;" in html
    assert invoice_count() == 0 and pending_files(app) == []


def test_cancel_forgets_the_upload(app, client, auth):
    auth.login("agent")
    response = upload(client, "customers", (DATA / "customers_utf8_bom.csv").read_bytes())
    token = hidden(response.get_data(as_text=True), "token")
    assert len(pending_files(app)) == 3  # the upload, what it is, its checked plan
    response = client.post("/imports/cancel", data={"kind": "customers", "token": token}, follow_redirects=True,
                           headers={"Accept-Language": "en"})
    assert "Import cancelled: nothing was saved." in response.get_data(as_text=True)
    assert pending_files(app) == [] and db.session.scalar(select(func.count()).select_from(Customer)) == 0


def test_example_files_import_as_they_are(app, client, auth):
    auth.login("agent")
    for kind in ("customers", "invoices", "payments"):
        example = client.get(f"/imports/example/{kind}.csv").data
        response = upload(client, kind, example)
        assert response.status_code == 200, response.get_data(as_text=True)[-2000:]
        token = hidden(response.get_data(as_text=True), "token")
        assert client.post("/imports/confirm", data={"kind": kind, "token": token}).status_code == 303
    invoice = db.session.scalar(select(Invoice))
    assert (invoice.number, invoice.customer.code, str(invoice.amount_paid), invoice.status) == (
        "FA-2026-0001", "C0001", "1200.00", "paid")


def test_empty_missing_and_huge_uploads(app, client, auth):
    auth.login("agent")
    response = client.post("/imports/", data={"kind": "invoices"}, headers={"Accept-Language": "en"})
    assert response.status_code == 422 and "Choose a CSV file." in response.get_data(as_text=True)
    response = upload(client, "invoices", b"")
    assert response.status_code == 422
    assert "The file is empty: it needs a header line and at least one row." in response.get_data(as_text=True)
    response = upload(client, "customers", b"code;name\n" + b"x" * (50 * 1024 * 1024))
    assert response.status_code == 422
    assert "The file is 50.0 MB; the limit is 10 MB." in response.get_data(as_text=True)
    assert pending_files(app) == []


@pytest.mark.csrf
def test_upload_needs_the_csrf_token(app, client):
    make_user(email="agent@csrf.example", role="agent", password="correct horse 42")
    db.session.commit()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', login)
    csrf = token.group(1) or token.group(2)
    client.post("/login", data={"email": "agent@csrf.example", "password": "correct horse 42", "csrf_token": csrf})
    assert upload(client, "customers", b"code;name\nA;B\n").status_code == 400
    response = client.post("/imports/", data={"kind": "customers", "csrf_token": csrf,
                                              "file": (io.BytesIO(b"code;name\nA;B\n"), "a.csv")})
    assert response.status_code == 200


@pytest.mark.browser
def test_preview_with_errors_in_chromium(live_server, page, tmp_path):
    with live_server.app.app_context():
        make_customer("C1")
        db.session.commit()
    live_server.login(page, "agent")
    page.goto(live_server.url + "/imports/")
    page.select_option("select[name=kind]", "invoices")
    bad = tmp_path / "factures.csv"
    bad.write_bytes(("N° facture;Code client;Date facture;Échéance;Total HT;Total TTC\n"
                     "F1;C1;01/01/2026;31/01/2026;100;120\n"
                     "F2;C2;01/02/2026;;100;120\n"
                     'F3;C1;01/02/2026;;"=cmd|\' /C calc\'!A0";120\n'
                     "F4;C1;01/02/2026;01/01/2026;<img src=x onerror=alert(1)>;120\n").encode("cp1252"))
    page.set_input_files("input[type=file]", str(bad))
    page.click("form.import-upload button[type=submit]")
    page.wait_for_selector("table.import-errors")
    cells = page.locator("table.import-errors tbody tr").all_inner_texts()
    assert len(cells) == 3 and page.locator("table.import-errors img").count() == 0
    assert "<img src=x onerror=alert(1)>" in cells[2]
    assert "Code client «\u00a0C2\u00a0» inconnu" in page.content().replace("&nbsp;", "\u00a0")
    assert "=cmd|' /C calc'!A0" in page.locator("table.import-errors").inner_text()
    page.screenshot(path=str(tmp_path / "import-errors.png"), full_page=True)
    # a corrected file goes through the preview to the database
    good = tmp_path / "ok.csv"
    good.write_bytes(b"number;customer_code;issue_date;due_date;total_excl_tax;total_incl_tax\nF1;C1;01/01/2026;;1;1\n")
    page.set_input_files("input[type=file]", str(good))
    page.click("form.import-upload button[type=submit]")
    page.click("form[action$='/imports/confirm'] button[type=submit]")
    page.wait_for_selector(".flash-success")
    with live_server.app.app_context():
        assert db.session.scalar(select(Invoice.number)) == "F1"
