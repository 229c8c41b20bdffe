"""Moving from Dolibarr keeps what routes and paces the reminders (issue 17): the Dolibarr-shaped files of
tests/data/dolibarr (docs/dolibarr.md) imported in one go through the CLI (customers with their sales
representatives and flags, contacts, invoices, payments, the reminders history, the invoice PDFs); the engine goes on
from the history (level 2 sent 20 days ago: level 3 next), the email goes to the imported follow-up contact with the
sales representative in Cc and attaches the imported PDF byte for byte. Bad inputs name their row or file and save
nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfWriter
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import AuditLog, Contact, Customer, Invoice, Payment, Reminder, ReminderLevel
from relance.services import settings as settings_service
from relance.services.defaults import install_defaults
from relance.services.sending import dunning
from tests.factories import TODAY, go_live, make_user
from tests.smtp import smtp_certificate, smtp_factory, smtp_server  # noqa: F401

DATA = Path(__file__).parent / "data" / "dolibarr"
CSV_STEPS = (("customers", "tiers.csv"), ("contacts", "contacts.csv"), ("invoices", "factures.csv"),
             ("payments", "reglements.csv"), ("history", "relances.csv"))

pytestmark = pytest.mark.clock  # 16 June 2026 (tests.factories.NOW)


def pdf_bytes(text: str) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": text})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


PDFS = {"factures/FA2603-0001.pdf": pdf_bytes("FA2603-0001"), "factures/fa2603-0002.PDF": pdf_bytes("FA2603-0002"),
        "FA2604-0004.pdf": pdf_bytes("FA2604-0004")}


@pytest.fixture
def company(app):
    install_defaults(db.session)
    settings_service.save(db.session, {
        "company_name": "Vendor SAS", "company_address": "1 rue du Port", "company_postcode": "44000",
        "company_city": "Nantes", "sender_email": "compta@vendor.example", "copy_to_sales": True})
    # as the company had it in Dolibarr: the formal notice goes by email too, automatically
    level3 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 3))
    level3.channels, level3.automatic = "both", True
    go_live(on=TODAY, automatic=(0, 1, 2, 3))  # the day of the move: the history keeps its invoices in the schedule
    make_user(email="marie.dupont@vendor.example", role="agent")
    make_user(email="paul.martin@vendor.example", role="agent")
    db.session.commit()


def counts() -> dict[str, int]:
    db.session.expire_all()
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Customer, Contact, Invoice, Payment, Reminder, AuditLog)}


def cli(runner, *args):
    return runner.invoke(args=["relance", "import", *map(str, args)], env={"LANG": "en_US.UTF-8"})


def import_all(runner, tmp_path) -> None:
    for kind, name in CSV_STEPS:
        result = cli(runner, kind, DATA / name)
        assert result.exit_code == 0, (kind, result.output)
        assert "Saved." in result.output
    archive = tmp_path / "factures.zip"
    archive.write_bytes(zip_of(PDFS))
    result = cli(runner, "pdfs", archive)
    assert result.exit_code == 0, result.output
    assert "3 invoice PDFs to store" in result.output


def invoice(number: str) -> Invoice:
    db.session.expire_all()
    return db.session.scalar(select(Invoice).where(Invoice.number == number))


def test_the_dolibarr_set_imports_in_one_go_and_the_engine_goes_on_from_its_history(
        app, runner, company, tmp_path, smtp_server):  # noqa: F811
    import_all(runner, tmp_path)

    martin = db.session.scalar(select(Customer).where(Customer.code == "CU2601-00001"))
    assert [u.email for u in martin.sales_reps] == ["marie.dupont@vendor.example"]
    assert (martin.direct_debit, martin.no_auto_reminders) == (False, False)
    garage = db.session.scalar(select(Customer).where(Customer.code == "CU2601-00002"))
    assert garage.direct_debit and not garage.no_auto_reminders
    hotel = db.session.scalar(select(Customer).where(Customer.code == "CU2601-00003"))
    assert hotel.no_auto_reminders and sorted(u.email for u in hotel.sales_reps) == [
        "marie.dupont@vendor.example", "paul.martin@vendor.example"]
    assert {(c.first_name, c.name, c.email, c.role) for c in martin.contacts} == {
        ("Sophie", "Martin", "sophie.martin@boulangerie-martin.example", "billing"),
        ("Service", "Comptabilité", "compta@boulangerie-martin.example", "followup")}
    first = invoice("FA2603-0001")
    assert first.followup_contact.email == "compta@boulangerie-martin.example"
    assert first.billing_contact.email == "sophie.martin@boulangerie-martin.example"
    assert invoice("FA2605-0005").status == "paid" and invoice("FA2604-0003").amount_paid == 400
    assert invoice("FA2605-0005").no_auto_reminders and not invoice("FA2603-0001").no_auto_reminders
    assert invoice("AV2605-0001").kind == "credit_note"

    history = db.session.scalars(select(Reminder).where(Reminder.invoice_id == first.id)
                                 .order_by(Reminder.level)).all()
    assert [(r.level, r.channel, r.status, r.reminder_date) for r in history] == [
        (1, "email", "sent", date(2026, 4, 15)), (2, "email", "sent", date(2026, 5, 27))]
    assert all(r.key.startswith("import:") and r.note.startswith("Imported") and not r.body and not r.pdf_path
               for r in history)
    assert history[1].level_names["fr"] == "Deuxième relance"
    assert (first.reminder_level, first.delivered_level, first.last_reminder_date) == (2, 2, date(2026, 5, 27))
    assert first.auto_from_rank == 3 and invoice("FA2603-0002").auto_from_rank is None  # went on from its history
    letter = db.session.scalar(select(Reminder).where(Reminder.invoice_id == invoice("FA2604-0004").id))
    assert (letter.level, letter.channel, letter.status) == (1, "letter", "posted")

    # the engine: level 2 sent 20 days ago -> level 3 next, to the follow-up contact, the sales rep in Cc
    assert (TODAY - date(2026, 5, 27)).days == 20
    result = runner.invoke(args=["relance", "due", "--date", TODAY.isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    due = {item["invoice"]: item for item in json.loads(result.stdout)}
    assert due["FA2603-0001"]["level"] == 3
    assert due["FA2603-0001"]["to"] == ["compta@boulangerie-martin.example"]
    assert due["FA2603-0001"]["cc"] == ["marie.dupont@vendor.example"]
    assert due["FA2604-0004"]["level"] == 2  # level 1 posted on 1 June
    assert "FA2603-0002" not in due and "FA2604-0003" not in due  # direct debit; no automatic reminders
    assert "FA2605-0005" not in due and "AV2605-0001" not in due
    explained = runner.invoke(args=["relance", "explain", "FA2603-0002", "--date", TODAY.isoformat(),
                                    "--language", "en"])
    assert "direct debit" in explained.output.lower()

    # the email, through the real mailer: to the contact, Cc the sales rep, the imported PDF attached as it was
    smtp_server.configure(app)
    level3 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 3))
    reminder = dunning.create_reminder(db.session, invoice("FA2603-0001"), level3, "email", TODAY)
    db.session.commit()
    assert dunning.send([reminder.id]).sent == [reminder.id]
    (received,) = smtp_server.received
    message = received.message
    assert message["To"] == "compta@boulangerie-martin.example"
    assert message["Cc"] == "marie.dupont@vendor.example"
    assert sorted(received.rcpt_tos) == ["compta@boulangerie-martin.example", "marie.dupont@vendor.example"]
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content() == PDFS["factures/FA2603-0001.pdf"]
    stored = Path(app.config["FILES_PATH"]) / invoice("FA2603-0002").pdf_path
    assert stored.read_bytes() == PDFS["factures/fa2603-0002.PDF"]


def test_the_same_files_imported_again_change_nothing(app, runner, company, tmp_path):
    import_all(runner, tmp_path)
    before = counts()
    for kind, name in CSV_STEPS:
        result = cli(runner, kind, DATA / name)
        assert result.exit_code == 0, (kind, result.output)
        assert "0 to create, 0 to update" in result.output, (kind, result.output)
    assert {k: v for k, v in counts().items() if k != "AuditLog"} == {
        k: v for k, v in before.items() if k != "AuditLog"}


def test_an_unknown_sales_rep_names_its_row_and_email_and_saves_nothing(app, runner, company, tmp_path):
    bad = tmp_path / "tiers.csv"
    bad.write_bytes((DATA / "tiers.csv").read_bytes().replace(b"paul.martin@vendor.example\r\n",
                                                              b"paul.martyn@vendor.example\r\n"))
    before = counts()
    result = cli(runner, "customers", bad)
    assert result.exit_code != 0
    assert 'line 3, column Commerciaux: No user has the email "paul.martyn@vendor.example"' in result.output
    assert "nothing was imported" in result.output
    assert counts() == before


def test_history_for_an_unknown_invoice_a_future_date_an_unknown_level_save_nothing(app, runner, company, tmp_path):
    for kind, name in CSV_STEPS[:4]:
        assert cli(runner, kind, DATA / name).exit_code == 0
    bad = tmp_path / "relances.csv"
    bad.write_text("Réf. facture;Niveau;Date relance;Mode envoi\n"
                   "FA2603-0001;1;15/04/2026;email\n"
                   "FA2603-9999;1;15/04/2026;email\n"
                   "FA2603-0001;7;15/04/2026;email\n"
                   "FA2603-0002;1;17/06/2026;courrier\n"
                   "FA2603-0001;1;20/04/2026;email\n"
                   "FA2603-0002;1;20/04/2026;fax\n", encoding="utf-8")
    before = counts()
    result = cli(runner, "history", bad)
    assert result.exit_code != 0
    out = result.output
    assert 'line 3, column Réf. facture: Unknown invoice number "FA2603-9999"' in out
    assert "line 4, column Niveau: No reminder level has rank 7 (ranks: 0, 1, 2, 3)." in out
    assert "line 5, column Date relance: The reminder date" in out and "is in the future" in out
    assert "line 6, column Niveau: Invoice FA2603-0001, level 1 by email is already on line 2" in out
    assert 'line 7, column Mode envoi: "fax" is not accepted' in out
    assert "5 errors: nothing was imported." in out
    assert counts() == before

    assert cli(runner, "history", DATA / "relances.csv").exit_code == 0
    again = tmp_path / "again.csv"
    again.write_text("facture;niveau;date;canal\nFA2603-0001;2;28/05/2026;email\n", encoding="utf-8")
    result = cli(runner, "history", again)
    assert result.exit_code != 0
    assert "Invoice FA2603-0001 already has a level 2 reminder by email" in result.output


def test_a_zip_with_a_non_pdf_names_the_files_refused_and_saves_nothing(app, runner, company, tmp_path):
    for kind, name in CSV_STEPS[:3]:
        assert cli(runner, kind, DATA / name).exit_code == 0
    archive = tmp_path / "factures.zip"
    archive.write_bytes(zip_of({"FA2603-0001.pdf": pdf_bytes("x"), "FA2603-0002.pdf": b"not a pdf at all",
                                "notes.txt": b"hello", "FA2699-0001.pdf": pdf_bytes("y"),
                                "a/b/FA2604-0003.pdf": pdf_bytes("z")}))
    before = counts()
    result = cli(runner, "pdfs", archive)
    assert result.exit_code != 0
    out = result.output
    assert "FA2603-0002.pdf: The file is not a PDF." in out
    assert "notes.txt: Not a PDF" in out
    assert 'FA2699-0001.pdf: No invoice has the number "FA2699-0001".' in out
    assert "a/b/FA2604-0003.pdf: The file is more than one folder deep" in out
    assert "4 files refused: no PDF was saved." in out
    assert counts() == before and invoice("FA2603-0001").pdf_path is None
    assert not (Path(app.config["FILES_PATH"]) / "invoices").exists()


def test_a_zip_bomb_is_refused_unread(app, runner, company, tmp_path, monkeypatch):
    from relance.services.letters import invoice_pdfs

    monkeypatch.setattr(invoice_pdfs, "MAX_TOTAL_BYTES", 1024 * 1024)
    for kind, name in CSV_STEPS[:3]:
        assert cli(runner, kind, DATA / name).exit_code == 0
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(zip_of({f"FA2603-000{n}.pdf": b"%PDF-" + b"\0" * 600_000 for n in (1, 2)}))
    assert archive.stat().st_size < 10_000
    result = cli(runner, "pdfs", archive)
    assert result.exit_code != 0 and "larger than 1 MB once uncompressed" in result.output
    assert invoice("FA2603-0001").pdf_path is None


def test_a_folder_of_pdfs_from_the_command_line(app, runner, company, tmp_path):
    for kind, name in CSV_STEPS[:3]:
        assert cli(runner, kind, DATA / name).exit_code == 0
    folder = tmp_path / "export" / "factures"
    folder.mkdir(parents=True)
    (folder / "FA2603-0001.pdf").write_bytes(PDFS["factures/FA2603-0001.pdf"])
    result = cli(runner, "pdfs", tmp_path / "export")
    assert result.exit_code == 0, result.output
    stored = Path(app.config["FILES_PATH"]) / invoice("FA2603-0001").pdf_path
    assert stored.read_bytes() == PDFS["factures/FA2603-0001.pdf"]


# --- the web page -------------------------------------------------------------------------------------------------


def test_the_import_page_lists_the_new_kinds_with_their_columns_and_examples(app, client, auth, company):
    auth.login("agent")
    page = client.get("/imports/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    for text in ('value="contacts"', 'value="history"', "<code>sales_reps</code>", "<code>direct_debit</code>",
                 "<code>no_auto_reminders</code>", "<code>role</code>", "<code>channel</code>",
                 "/imports/example/contacts.csv", "/imports/example/history.csv", 'action="/imports/pdfs"',
                 "Reminders already sent (history)"):
        assert text in page, text
    for kind, header in (("contacts", "customer_code;email;name;first_name;phone;role"),
                         ("history", "invoice_number;level;date;channel;note")):
        example = client.get(f"/imports/example/{kind}.csv").get_data(as_text=True)
        assert example.lstrip("\ufeff").startswith(header + "\r\n")


def upload(client, kind: str, data: bytes, name: str):
    return client.post("/imports/", data={"kind": kind, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data", headers={"Accept-Language": "en"})


def test_the_dolibarr_set_through_the_web_page_preview_then_confirm(app, client, auth, company):
    auth.login("agent")
    for kind, name in CSV_STEPS:
        response = upload(client, kind, (DATA / name).read_bytes(), name)
        assert response.status_code == 200, (kind, response.get_data(as_text=True)[:2000])
        token = response.get_data(as_text=True).split('name="token" type="hidden" value="')[1].split('"')[0]
        confirmed = client.post("/imports/confirm", data={"kind": kind, "token": token})
        assert confirmed.status_code == 303, kind
    assert invoice("FA2603-0001").reminder_level == 2
    response = client.post("/imports/pdfs", data={"archive": (io.BytesIO(zip_of(PDFS)), "factures.zip")},
                           content_type="multipart/form-data", headers={"Accept-Language": "en"})
    assert response.status_code == 200 and "3 invoice PDFs stored." in response.get_data(as_text=True)
    stored = Path(app.config["FILES_PATH"]) / invoice("FA2604-0004").pdf_path
    assert stored.read_bytes() == PDFS["FA2604-0004.pdf"]


def test_web_errors_name_the_row_or_the_file_and_save_nothing(app, client, auth, company):
    auth.login("agent")
    before = counts()
    bad = (DATA / "tiers.csv").read_bytes().replace(b"marie.dupont@vendor.example\r\n", b"nobody@vendor.example\r\n")
    page = upload(client, "customers", bad, "tiers.csv")
    assert page.status_code == 422
    assert 'No user has the email &#34;nobody@vendor.example&#34;' in page.get_data(as_text=True)
    response = client.post("/imports/pdfs", data={"archive": (io.BytesIO(zip_of({"FA2603-0001.txt": b"x"})),
                                                              "factures.zip")},
                           content_type="multipart/form-data", headers={"Accept-Language": "en"})
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "FA2603-0001.txt" in text and "Not a PDF" in text
    assert "1 file refused: no PDF was saved." in text
    assert counts() == before


# --- the API ------------------------------------------------------------------------------------------------------


def test_the_api_takes_the_same_data_all_or_nothing(app, client, company):
    from tests.test_api import token_for

    agent = {"Authorization": f"Bearer {token_for('agent')}", "Accept-Language": "en"}
    response = client.post("/api/v1/customers", headers=agent, json={"items": [
        {"code": "CU1", "name": "Boulangerie Martin", "email": "contact@martin.example", "direct_debit": False,
         "no_auto_reminders": True, "sales_reps": ["Marie.Dupont@vendor.example"]}]})
    assert response.status_code == 200, response.json
    customer = db.session.scalar(select(Customer).where(Customer.code == "CU1"))
    assert customer.no_auto_reminders and [u.email for u in customer.sales_reps] == ["marie.dupont@vendor.example"]
    bad = client.post("/api/v1/customers", headers=agent, json={"items": [
        {"code": "CU2", "name": "X", "sales_reps": ["ghost@vendor.example"]}]})
    assert bad.status_code == 422
    assert bad.json["error"]["fields"][0]["path"] == "items[0].sales_reps"
    assert "ghost@vendor.example" in bad.json["error"]["fields"][0]["message"]

    client.post("/api/v1/invoices", headers=agent, json={"items": [
        {"number": "F1", "customer_code": "CU1", "issue_date": "2026-03-01", "due_date": "2026-03-31",
         "total_excl_tax": "100.00", "total_incl_tax": "120.00"}]})
    response = client.post("/api/v1/contacts", headers=agent, json={"items": [
        {"customer_code": "CU1", "email": "compta@martin.example", "name": "Compta", "role": "followup"}]})
    assert response.status_code == 200 and response.json == {"created": 1, "updated": 0, "unchanged": 0}
    assert invoice("F1").followup_contact.email == "compta@martin.example"

    response = client.post("/api/v1/reminder-history", headers=agent, json={"items": [
        {"invoice_number": "F1", "level": 1, "date": "2026-04-15", "channel": "email"},
        {"invoice_number": "F9", "level": 1, "date": "2026-04-15", "channel": "email"}]})
    assert response.status_code == 422
    assert [f["path"] for f in response.json["error"]["fields"]] == ["items[1].invoice_number"]
    assert invoice("F1").reminder_level is None
    response = client.post("/api/v1/reminder-history", headers=agent, json={"items": [
        {"invoice_number": "F1", "level": 1, "date": "2026-04-15", "channel": "email"}]})
    assert response.status_code == 200 and invoice("F1").reminder_level == 1


def test_a_failed_commit_leaves_no_pdf_behind_and_a_later_one_replaces_the_old_file(app, runner, company, tmp_path):
    """`invoice_pdfs.saving()`, which the command and the page use: an error inside the block (a commit that fails)
    rolls back and removes the files written; after a commit, the PDF replaced is removed."""
    from relance.services.letters import invoice_pdfs

    for kind, name in CSV_STEPS[:3]:
        assert cli(runner, kind, DATA / name).exit_code == 0
    folder = Path(app.config["FILES_PATH"])
    plan = invoice_pdfs.plan_pdfs(db.session, data=zip_of(PDFS), source="factures.zip")
    assert plan.ok and len(plan.accepted) == 3
    with pytest.raises(RuntimeError), invoice_pdfs.saving(db.session, plan):
        assert len(list((folder / "invoices").rglob("*.pdf"))) == 3  # written, not committed yet
        raise RuntimeError("the commit failed")
    assert invoice("FA2603-0001").pdf_path is None and list((folder / "invoices").rglob("*.pdf")) == []

    first = invoice_pdfs.plan_pdfs(db.session, data=zip_of(PDFS), source="factures.zip")
    with invoice_pdfs.saving(db.session, first):
        db.session.commit()
    old = folder / invoice("FA2603-0001").pdf_path
    again = {"FA2603-0001.pdf": pdf_bytes("FA2603-0001, second version")}
    second = invoice_pdfs.plan_pdfs(db.session, data=zip_of(again), source="again.zip")
    with invoice_pdfs.saving(db.session, second):
        db.session.commit()
    new = folder / invoice("FA2603-0001").pdf_path
    assert new != old and new.read_bytes() == again["FA2603-0001.pdf"] and not old.exists()
