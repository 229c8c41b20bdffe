"""One message per customer (`group_by_customer`, or the customer's own choice): the automatic run and a mass run
send a customer's due invoices in one email, every invoice attached, each invoice keeping its own reminder row that
shares the message (its key, its Message-ID, its outcome); nothing is sent again on a rerun; grouping off sends one
email per invoice. Received by a real aiosmtpd server and read back as `.eml` files. SQLite and PostgreSQL."""

from __future__ import annotations

import email
import io
import re
from datetime import date, timedelta
from email.policy import default as default_policy
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from relance.extensions import db
from relance.models import Contact, Customer, Reminder, ReminderLevel, Run
from relance.services import settings as settings_service
from relance.services.sending import autorun, autorun_preview, dunning
from relance.services.texts import together, typography, wording
from tests.factories import TODAY, install_live_defaults, make_customer, make_invoice, reminder_rows
from tests.smtp import smtp_factory, smtp_server  # noqa: F401
from tests.test_api import token_for

ON = date(2026, 2, 2)  # level 1 (+15 days) of the invoices due by 18 January is due


@pytest.fixture
def company(app, smtp_server):  # noqa: F811
    install_live_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example", "company_name": "Vendor SAS",
                                       "group_by_customer": True, "default_language": "en"})
    db.session.commit()
    smtp_server.configure(app)
    return smtp_server


def saved_eml(server, folder: Path) -> list[email.message.EmailMessage]:
    """What the server received, written as .eml files and parsed back from them (what a mail client opens)."""
    parsed = []
    for n, received in enumerate(server.handler.received):
        path = folder / f"{n}.eml"
        path.write_bytes(received.raw)
        parsed.append(email.message_from_bytes(path.read_bytes(), policy=default_policy))
    return parsed


def attachments(message) -> list[str]:
    return [part.get_filename() for part in message.iter_attachments()]


def ten_invoices(customer: Customer, first_due: date = date(2026, 1, 6)) -> list:
    invoices = [make_invoice(customer, total=100 + 10 * n, due=first_due + timedelta(days=n), number=f"F-26-{n:03d}")
                for n in range(10)]
    db.session.commit()
    return invoices


def test_ten_due_invoices_of_a_customer_go_in_one_email_with_ten_attachments(company, tmp_path):
    customer = make_customer(name="Redwood Logistics", email="factures@redwood.example", language="en", country="GB")
    invoices = ten_invoices(customer)
    alone = make_invoice(make_customer(name="Single Ltd", email="ap@single.example", language="en"),
                         due=date(2026, 1, 10), number="S-1")
    db.session.commit()

    run = autorun.run_auto(db.session, ON)

    assert run.status == "done" and (run.sent, run.failed) == (11, 0)
    messages = saved_eml(company, tmp_path)
    assert len(messages) == 2
    [grouped] = [m for m in messages if m["To"] == "factures@redwood.example"]
    assert sorted(attachments(grouped)) == sorted(f"Invoice-{i.number}.pdf" for i in invoices)
    for part in grouped.iter_attachments():
        assert part.get_content().startswith(b"%PDF")
    text = grouped.get_body(("plain",)).get_content()
    for inv in invoices:  # the table lists every invoice with its level and amounts
        assert re.search(rf"{inv.number}\s+First reminder\s", text), text
    assert "The total outstanding is €1,450.00." in text  # the amounts added up: 100 + 110 + ... + 190
    assert "personal page" not in text  # no public address: no link, no paragraph about the page
    html = grouped.get_body(("html",)).get_content()
    [table] = re.findall(r'<table class="invoices">(.*?)</table>', html, re.S)  # a table in the HTML part
    assert table.count("<tr>") == 11 and all(f"<td>{i.number}</td>" in table for i in invoices)
    assert '<th class="num">Claimed</th>' in table and '<td class="num">€140.90</td>' in table
    reminders = reminder_rows(channel="email")
    mine = [r for r in reminders if r.invoice.customer_id == customer.id]
    assert len(mine) == 10 and {r.status for r in mine} == {"sent"}
    assert len({r.message_key for r in mine}) == 1 and {r.message_id for r in mine} == {grouped["Message-ID"]}
    lead = next(r for r in mine if r.key == r.message_key)
    assert {r.subject for r in mine} == {grouped["Subject"]} and lead.body == mine[-1].body
    for row in mine:  # each invoice's own claim, on its row and on its line of the table
        assert row.total_claimed == row.invoice.total_incl_tax + row.interest + row.indemnity + row.penalty
        assert re.search(rf"{row.invoice.number} .*€{row.total_claimed:,.2f}\n", text + "\n")
    [single] = [r for r in reminders if r.invoice_id == alone.id]
    assert single.message_key is None and attachments(next(m for m in messages if m is not grouped)) == [
        "Invoice-S-1.pdf"]

    again = autorun.run_auto(db.session, ON)  # the same day again, then the next day: nothing more
    autorun.run_auto(db.session, ON + timedelta(days=1))
    assert len(company.handler.received) == 2 and again.id == run.id
    assert len(reminder_rows(channel="email")) == 11


def test_grouping_off_sends_one_email_per_invoice(company):
    settings_service.save(db.session, {"group_by_customer": False})
    customer = make_customer(email="factures@redwood.example", language="en")
    invoices = ten_invoices(customer)
    autorun.run_auto(db.session, ON)
    assert len(company.messages) == 10
    assert sorted(attachments(m)[0] for m in company.messages) == sorted(f"Invoice-{i.number}.pdf" for i in invoices)
    assert {r.message_key for r in reminder_rows()} == {None}


def test_the_customer_s_own_choice_overrides_the_company_s(company):
    settings_service.save(db.session, {"group_by_customer": False})
    together = make_customer(email="together@example.com", group_reminders=True, language="en")
    apart = make_customer(email="apart@example.com", group_reminders=False, language="en")
    for customer in (together, apart):
        for n in range(3):
            make_invoice(customer, due=date(2026, 1, 10 + n))
    db.session.commit()
    autorun.run_auto(db.session, ON)
    assert sorted(m["To"] for m in company.messages) == ["apart@example.com"] * 3 + ["together@example.com"]
    settings_service.save(db.session, {"group_by_customer": True})  # the company's setting: apart stays apart
    for customer in (together, apart):
        make_invoice(customer, due=date(2026, 1, 11))
        make_invoice(customer, due=date(2026, 1, 12))
    db.session.commit()
    autorun.run_auto(db.session, ON + timedelta(days=1))
    assert len(company.messages) == 4 + 3


def test_the_highest_level_gives_the_text_and_each_invoice_keeps_its_own_level(company):
    customer = make_customer(email="factures@redwood.example", language="en")
    older = make_invoice(customer, due=date(2025, 12, 20), number="OLD-1")
    newer = make_invoice(customer, due=date(2026, 1, 12), number="NEW-1")
    level1 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    db.session.add(Reminder(key="history-old-1", invoice=older, level=1, level_id=level1.id, channel="email",
                            reminder_date=date(2026, 1, 5), status="sent"))
    db.session.commit()
    autorun.run_auto(db.session, ON)
    [message] = company.messages
    assert message["Subject"].startswith("Second reminder")
    text = message.get_body(("plain",)).get_content()
    assert re.search(r"OLD-1\s+Second reminder\s", text) and re.search(r"NEW-1\s+First reminder\s", text)
    made = {r.invoice_id: r for r in reminder_rows(reminder_date=ON)}
    assert (made[older.id].level, made[newer.id].level) == (2, 1)
    assert made[older.id].key == made[newer.id].message_key == made[older.id].message_key


def test_invoices_going_to_other_people_do_not_share_a_message(company):
    customer = make_customer(email="factures@redwood.example", language="en",
                             contacts=[{"name": "Follow", "email": "follow@redwood.example", "role": "followup"}])
    followed = customer.contacts[0]
    first = make_invoice(customer, due=date(2026, 1, 10), followup_contact=followed)
    second = make_invoice(customer, due=date(2026, 1, 11), followup_contact=followed)
    billing = make_invoice(customer, due=date(2026, 1, 12),
                           billing_contact=Contact(customer=customer, email="ap@redwood.example", role="billing"))
    db.session.commit()
    autorun.run_auto(db.session, ON)
    received = {m["To"]: sorted(attachments(m)) for m in company.messages}
    assert received == {"follow@redwood.example": sorted(f"Invoice-{i.number}.pdf" for i in (first, second)),
                        "ap@redwood.example": [f"Invoice-{billing.number}.pdf"]}, received


def test_cancelling_one_reminder_of_a_shared_message_cancels_the_message(company):
    customer = make_customer(email="factures@redwood.example", language="en")
    ten_invoices(customer)
    autorun.run_auto(db.session, ON, send=False)
    made = reminder_rows()
    assert len(made) == 10 and len({r.message_key for r in made}) == 1
    member = next(r for r in made if r.key != r.message_key)
    assert dunning.cancel(db.session, member, "customer phoned")
    db.session.commit()
    assert {r.status for r in reminder_rows()} == {"cancelled"}
    autorun.run_auto(db.session, ON)
    assert company.messages == []


def test_sending_a_member_by_hand_sends_the_whole_message_once(company):
    customer = make_customer(email="factures@redwood.example", language="en")
    ten_invoices(customer)
    autorun.run_auto(db.session, ON, send=False)
    made = reminder_rows()
    member = next(r for r in made if r.key != r.message_key)
    report = dunning.send([member.id])
    assert len(report.sent) == 10 and len(company.messages) == 1 and len(attachments(company.messages[0])) == 10
    assert dunning.send([r.id for r in made]).sent == [] and len(company.messages) == 1


def test_a_drop_after_data_leaves_the_whole_message_in_doubt(company):
    customer = make_customer(email="factures@redwood.example", language="en")
    ten_invoices(customer)
    company.handler.drop_in_data = 0  # the message is taken whole, then the connection drops before "250"
    autorun.run_auto(db.session, ON)
    assert len(company.messages) == 1
    made = reminder_rows()
    assert {(r.status, r.in_doubt) for r in made} == {("failed", True)}
    assert {r.message_id for r in made} == {company.messages[0]["Message-ID"]}
    autorun.run_auto(db.session, ON)
    assert dunning.send([made[3].id]).sent == []  # nor by hand without a person's check
    assert len(company.messages) == 1  # never sent again by itself


HX = {"HX-Request": "true"}


@pytest.mark.clock  # the app runs at tests.factories.NOW: TODAY is its today
def test_a_mass_run_sends_a_customer_s_invoices_in_one_email(app, client, auth, company):
    customer = make_customer(name="Redwood", email="factures@redwood.example", language="en")
    invoices = [make_invoice(customer, due=TODAY - timedelta(days=20 + n)) for n in range(3)]
    other = make_invoice(make_customer(email="other@example.com", language="en"), due=TODAY - timedelta(days=20))
    db.session.commit()
    auth.login("agent")
    for inv in (*invoices, other):
        client.post(f"/reminders/mass/rows/{inv.id}", headers=HX, data={f"level-{inv.id}": "1", f"email-{inv.id}": "1"})
    response = client.post("/reminders/mass/run", data={}, headers=HX)
    assert response.status_code == 200, response.get_data(as_text=True)
    run = db.session.scalar(select(Run).where(Run.kind == "mass"))
    made = reminder_rows(run_id=run.id)
    assert len(made) == 4 and {r.status for r in made} == {"sent"}
    assert sorted(m["To"] for m in company.messages) == ["factures@redwood.example", "other@example.com"]
    [grouped] = [m for m in company.messages if m["To"] == "factures@redwood.example"]
    assert sorted(attachments(grouped)) == sorted(f"Invoice-{i.number}.pdf" for i in invoices)
    db.session.refresh(run)
    assert (run.status, run.total, run.sent, run.failed) == ("done", 4, 4, 0)


def test_the_customer_form_chooses_and_the_reminder_page_shows_the_whole_message(app, client, auth, company):
    customer = make_customer(code="RED", name="Redwood", email="factures@redwood.example", language="en")
    db.session.commit()
    auth.login("agent")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    data = {"code": "RED", "name": "Redwood", "country": "FR", "language": "en", "kind": "business",
            "email": "factures@redwood.example"}
    for choice, kept in (("no", False), ("yes", True), ("", None)):
        response = client.post(f"/customers/{customer.id}/edit", data={**data, "group_reminders": choice})
        assert response.status_code == 302
        db.session.expire_all()
        assert customer.group_reminders is kept
    page = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert "Invoices reminded the same day" in page and "As the company&#39;s setting" in page
    tab = client.get(f"/customers/{customer.id}/reminders").get_data(as_text=True)
    assert 'href="/reminders/mass?customer=RED"' in tab  # a customer's due invoices sent together from there
    invoices = ten_invoices(customer)
    autorun.run_auto(db.session, ON)
    member = next(r for r in reminder_rows() if r.key != r.message_key)
    page = client.get(f"/reminders/{member.id}").get_data(as_text=True)
    assert page.count("<dt>Attachment</dt>") == 10 and "In the same email" in page
    assert all(f"Invoice-{i.number}.pdf" in page for i in invoices)


def test_an_edited_text_is_used_as_written_with_the_invoices_table_after_the_invoice_s_paragraph(company):
    level1 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    wording.save_template(db.session, level1, "email", "en", "Unpaid: __REF_FACTURE__",
                          "Hello,\n\nInvoices __REF_FACTURE__ are unpaid: __AMOUNT_DUE__ in all.\n\nThanks,\n\n"
                          "__COMPANY_NAME__", None)
    customer = make_customer(email="factures@redwood.example", language="en", country="GB")
    make_invoice(customer, due=date(2026, 1, 10), number="A-1", total=100)
    make_invoice(customer, due=date(2026, 1, 11), number="A-2", total=50)
    db.session.commit()
    autorun.run_auto(db.session, ON)
    [message] = company.messages
    assert message["Subject"] == "Unpaid: A-1 and A-2"
    text = message.get_body(("plain",)).get_content()
    hello, naming, table, *rest = text.split("\n\n")
    assert (hello, naming) == ("Hello,", "Invoices A-1 and A-2 are unpaid: €150.00 in all.")
    assert table.splitlines()[0].startswith("Invoice") and "A-1" in table and "A-2" in table
    assert rest == ["Thanks,", "Vendor SAS"]


@pytest.mark.clock
def test_a_mass_run_prints_one_letter_for_a_customer_s_invoices_with_every_invoice_enclosed(app, client, auth,
                                                                                           company, tmp_path):
    customer = make_customer(name="Redwood Logistics", email="factures@redwood.example", language="en", country="GB")
    invoices = [make_invoice(customer, total=100 * (n + 1), due=TODAY - timedelta(days=20 + n), number=f"L-{n}")
                for n in range(3)]
    other = make_invoice(make_customer(name="Single Ltd", language="en"), due=TODAY - timedelta(days=20))
    db.session.commit()
    auth.login("agent")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    for inv in (*invoices, other):
        client.post(f"/reminders/mass/rows/{inv.id}", headers=HX,
                    data={f"level-{inv.id}": "1", f"letter-{inv.id}": "1"})
    assert client.post("/reminders/mass/run", data={}, headers=HX).status_code == 200
    run = db.session.scalar(select(Run).where(Run.kind == "mass"))
    made = reminder_rows(run_id=run.id)
    assert {r.status for r in made} == {"to_post"} and len(made) == 4
    mine = [r for r in made if r.invoice.customer_id == customer.id]
    assert len({r.message_key for r in mine}) == 1 and len({r.pdf_path for r in mine}) == 1
    pdf = client.get(f"/reminders/runs/{run.id}/letters.pdf").data
    (tmp_path / "run.pdf").write_bytes(pdf)
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
    text = "\n".join(pages)
    assert text.count("Redwood Logistics") >= 1 and text.count("Single Ltd") >= 1
    letter = next(p for p in pages if "Redwood Logistics" in p)
    assert all(inv.number in letter for inv in invoices) and "First reminder" in letter
    assert "Copies of the invoices are enclosed." in letter
    for inv in invoices:  # every invoice enclosed after the letter
        assert any(f"Invoice {inv.number}" in p or f"INVOICE {inv.number}" in p.upper() for p in pages), inv.number
    lead = next(r for r in mine if r.key == r.message_key)
    one = client.get(f"/reminders/{mine[-1].id}/letter.pdf")
    assert one.status_code == 200 and one.data == (Path(app.config["FILES_PATH"]) / lead.pdf_path).read_bytes()


def test_the_dry_run_shows_a_customer_s_invoices_in_one_preview_with_the_page_link(app, company):
    app.config["PUBLIC_URL"] = "https://relance.example"
    customer = make_customer(email="factures@redwood.example", language="en", country="GB")
    invoices = ten_invoices(customer)
    alone = make_invoice(make_customer(email="ap@single.example", language="en"), due=date(2026, 1, 10))
    db.session.commit()
    result = autorun_preview.dry_run(db.session, ON, limit=5)
    assert result.count == 11 and len(result.previews) == 2
    grouped = next(p for p in result.previews if p.together)
    assert len(grouped.together) == 9 and grouped.subject == "Payment reminder: your overdue invoices"
    assert all(inv.number in grouped.text for inv in invoices)
    assert grouped.text.count("https://relance.example/c/…") == 1  # the page's paragraph, as the link will be
    single = next(p for p in result.previews if not p.together)
    assert single.due.invoice_id == alone.id and single.together == ()
    assert reminder_rows() == [] and company.messages == []


def test_invoices_too_heavy_for_one_email_go_in_several_each_under_the_limit(app, company):
    app.config["SEND_ATTACHMENTS_MAX_MB"] = 1
    folder = Path(app.config["FILES_PATH"]) / "invoices"
    folder.mkdir(parents=True, exist_ok=True)
    customer = make_customer(email="factures@redwood.example", language="en", country="GB")
    invoices = []
    for n in range(5):
        (folder / f"heavy-{n}.pdf").write_bytes(b"%PDF-1.4\n" + b"0" * 400_000)
        invoices.append(make_invoice(customer, due=date(2026, 1, 5 + n), number=f"H-{n}",
                                     pdf_path=f"invoices/heavy-{n}.pdf"))
    db.session.commit()
    autorun.run_auto(db.session, ON)
    sent = sorted(sorted(attachments(m)) for m in company.messages)
    assert sent == [["Invoice-H-0.pdf", "Invoice-H-1.pdf"], ["Invoice-H-2.pdf", "Invoice-H-3.pdf"],
                    ["Invoice-H-4.pdf"]]  # 2 x 400 KB fit under 1 MB, a third does not
    for message in company.messages:
        assert sum(len(part.get_content()) for part in message.iter_attachments()) <= 1024 * 1024
    made = reminder_rows()
    assert len({r.message_key for r in made if r.message_key}) == 2 and {r.status for r in made} == {"sent"}


def test_the_csv_import_and_the_api_set_the_customer_s_choice(app, runner, client, tmp_path):
    path = tmp_path / "clients.csv"
    path.write_text("code;nom;email;regrouper_relances\nA;Alpha;a@example.com;oui\nB;Beta;b@example.com;non\n"
                    "C;Gamma;c@example.com;\n", encoding="utf-8")
    result = runner.invoke(args=["relance", "import", "customers", str(path)], env={"LANG": "en_US.UTF-8"})
    assert result.exit_code == 0, result.output
    chosen = dict(db.session.execute(select(Customer.code, Customer.group_reminders)).all())
    assert chosen == {"A": True, "B": False, "C": None}
    path.write_text("code;nom;regrouper_relances\nA;Alpha;peut-être\n", encoding="utf-8")
    result = runner.invoke(args=["relance", "import", "customers", str(path)], env={"LANG": "en_US.UTF-8"})
    assert result.exit_code != 0 and "peut-être" in result.output  # named, nothing saved
    headers = {"Authorization": f"Bearer {token_for('agent')}", "Accept-Language": "en"}
    for sent, kept in ((False, False), (None, None), (True, True)):
        response = client.put("/api/v1/customers/A", headers=headers, json={"name": "Alpha", "group_reminders": sent})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["group_reminders"] is kept
        db.session.expire_all()
        assert db.session.scalar(select(Customer.group_reminders).where(Customer.code == "A")) is kept


@pytest.mark.parametrize("language", ["fr", "en", "de", "es", "it", "nl"])
def test_every_level_has_its_text_for_several_invoices_in_every_shipped_language(company, language):
    settings = settings_service.load(db.session)
    customer = make_customer(language=language)
    first, second = make_invoice(customer, due=date(2025, 10, 1)), make_invoice(customer, due=date(2025, 10, 5))
    db.session.commit()
    renderer = wording.Renderer(db.session, ON, settings)
    for level in db.session.scalars(select(ReminderLevel).order_by(ReminderLevel.rank)):
        subject = typography.for_language(together.TOGETHER[wording.text_key(level)][language][0], language)
        for channel in ("email", "letter"):
            rendered = renderer.render(first, level, channel, page_url="https://relance.example/c/abc",
                                       group=[(second, level)])
            assert rendered is not None and rendered.subject == subject, (level.rank, channel)
            assert first.number in rendered.text and second.number in rendered.text
            assert "{" not in rendered.text and "__" not in rendered.text, rendered.text
            assert together.ATTACHED[(channel, language)] in rendered.text
            assert rendered.text.count("https://relance.example/c/abc") == (channel == "email"), (level.rank, channel)


def test_before_their_due_date_the_table_shows_no_days_late_nor_claim(company):
    settings = settings_service.load(db.session)
    customer = make_customer(language="en", country="GB")
    first = make_invoice(customer, total=100, due=ON + timedelta(days=3), number="EARLY-1")
    second = make_invoice(customer, total=50, due=ON + timedelta(days=4), number="EARLY-2")
    db.session.commit()
    before = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 0))
    rendered = wording.Renderer(db.session, ON, settings).render(first, before, "email", group=[(second, before)])
    head = next(line for line in rendered.text.splitlines() if line.startswith("Invoice"))
    assert head.split() == ["Invoice", "Level", "Date", "Due", "date", "Remaining", "due"]
    assert "The total outstanding is €150.00." in rendered.text
