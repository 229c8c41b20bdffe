"""Mass reminder page: rows, the server-side selection (pages, filters, bulk toggles, inline rows), the run (emails
over a real SMTP server, letters merged into one PDF) and its progress component; bad input."""

from datetime import timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import MassSelection, Reminder, ReminderLevel, Run
from relance.services import mass
from relance.services import settings as settings_service
from relance.services.defaults import install_defaults
from relance.services.penalties import claim_for_invoice
from tests.factories import company_today, make_customer, make_invoice, make_payment
from tests.smtp import smtp_certificate, smtp_factory  # noqa: F401 (fixtures)

TODAY = company_today()
HX = {"HX-Request": "true"}


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def smtp(app, smtp_factory):  # noqa: F811
    return smtp_factory().configure(app)


@pytest.fixture
def data(app):
    """55 invoices 11 to 65 days late (level 1 is due at +15 days: FA-005 and later); FA-001 had its first reminder
    3 days ago (nothing due), FA-050 20 days ago (level 2 due, with a 10 % penalty)."""
    install_defaults(db.session)
    level2 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 2))
    level2.penalty_kind, level2.penalty_value = "percent", Decimal("10")
    acme = make_customer(code="ACME", name="Acme Industries", email="billing@acme.example")
    nomail = make_customer(code="NOMAIL", name="Sans Email SARL", email="")
    invoices = [make_invoice(acme, number=f"FA-{n:03d}", total="1000.00", due=TODAY - timedelta(days=10 + n))
                for n in range(1, 56)]  # 55 invoices: two pages
    lonely = make_invoice(nomail, number="FA-NOMAIL", total="800.00", due=TODAY - timedelta(days=5))
    paid = make_invoice(acme, number="FA-PAID", total="300.00", paid="300.00", due=TODAY - timedelta(days=30),
                        status="paid")
    db.session.add(Reminder(key="r1", invoice=invoices[0], level=1, channel="email", status="sent",
                            reminder_date=TODAY - timedelta(days=3), next_date=TODAY + timedelta(days=12),
                            note="Called, no answer"))
    db.session.add(Reminder(key="r50", invoice=invoices[49], level=1, channel="email", status="sent",
                            reminder_date=TODAY - timedelta(days=20)))
    db.session.commit()
    return {"acme": acme, "nomail": nomail, "invoices": invoices, "lonely": lonely, "paid": paid}


def selection():
    return {s.invoice_id: (s.level, s.letter, s.email) for s in db.session.scalars(select(MassSelection))}


def row_of(html: str, invoice) -> str:
    return html.split(f'id="mass-row-{invoice.id}"')[1].split("</tr>")[0]


def test_page_shows_what_is_due_today_by_default_with_the_engines_level(client, auth, data):
    auth.login("agent")
    html = text(client.get("/reminders/mass?sort=number"))
    assert "FA-005" in html and "FA-001" not in html and "FA-004" not in html and "FA-PAID" not in html
    assert "51 results" in html or "Page 1 of 2" in html
    fifty = data["invoices"][49]
    row = row_of(html, fifty)  # FA-050: level 1 sent 20 days ago, level 2 today
    assert '<option value="2" selected>' in row
    # the total claimed comes from the one claim computation (as in the letter and the email): 10 % penalty,
    # statutory interest and the 40 € indemnity
    level2 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 2))
    claim = claim_for_invoice(db.session, fifty, level2, TODAY, settings_service.load(db.session))
    assert claim.penalty == Decimal("100.00") and claim.indemnity == Decimal("40.00") and claim.interest > 0
    assert f"€{claim.total_claimed:,.2f}" in row
    assert f"incl. €{claim.total_claimed - claim.remaining_due:,.2f} penalty, interest and indemnity" in row
    assert '<option value="1" selected>' in row_of(html, data["invoices"][9])


def test_rows_not_due_are_greyed_with_the_engines_reason(client, auth, data):
    auth.login("agent")
    html = text(client.get("/reminders/mass?sort=number&due=all"))
    assert "Page 1 of 2" in html
    classes = html.split(f'id="mass-row-{data["invoices"][0].id}" class="')[1].split('"')[0]
    assert "not-due" in classes
    row = row_of(html, data["invoices"][0])  # first reminder 3 days ago: nothing preselected, and why
    assert "Called, no answer" in row and "level 1" in row
    assert '<option value="" selected>— not due —' in row and row.split("</select>")[0].count("selected>") == 1
    assert "Not due today:" in row and "at least 7 days between two reminders" in row
    early = row_of(html, data["invoices"][1])  # 12 days late: level 1 comes at +15 days
    assert "Level 1 is due on" in early


def test_customer_without_email_has_the_email_box_disabled(client, auth, data):
    auth.login("agent")
    html = text(client.get("/reminders/mass?customer=NOMAIL&due=all"))
    row = row_of(html, data["lonely"])
    email_box = row.split(f'name="email-{data["lonely"].id}"')[1].split(">")[0]
    assert "disabled" in email_box and "No email address for this customer" in row


def test_inline_row_change_keeps_the_choice_and_answers_the_row(client, auth, data):
    auth.login("agent")
    invoice = data["invoices"][9]  # FA-010: level 1 due
    response = client.post(f"/reminders/mass/rows/{invoice.id}", headers=HX,
                           data={f"level-{invoice.id}": "1", f"letter-{invoice.id}": "1"})
    assert response.status_code == 200
    html = text(response)
    assert html.lstrip().startswith(f'<tr id="mass-row-{invoice.id}" class="selected"') and "€1,000.00" in html
    assert "refused" not in html.split(">")[0]
    assert '"selectionChanged"' in response.headers["HX-Trigger"]
    assert selection() == {invoice.id: (1, True, False)}
    assert "1 invoice selected" in text(client.get("/reminders/mass/count", headers=HX))
    # a level the rules refuse: the row says why and offers "send anyway" with a reason
    response = client.post(f"/reminders/mass/rows/{invoice.id}", headers=HX,
                           data={f"level-{invoice.id}": "3", f"letter-{invoice.id}": "1"})
    html = text(response)
    assert 'class="selected refused"' in html and "Level 1 comes first" in html
    assert f'name="override-{invoice.id}"' in html and f'name="reason-{invoice.id}"' not in html
    response = client.post(f"/reminders/mass/rows/{invoice.id}", headers=HX, data={
        f"level-{invoice.id}": "3", f"letter-{invoice.id}": "1", f"override-{invoice.id}": "1"})
    assert f'name="reason-{invoice.id}"' in text(response)
    # an email for a customer without address is refused (a tampered request), nothing kept
    lonely = data["lonely"]
    response = client.post(f"/reminders/mass/rows/{lonely.id}", headers=HX,
                           data={f"level-{lonely.id}": "1", f"email-{lonely.id}": "1"})
    assert response.status_code == 422 and "has no email address" in text(response)
    response = client.post(f"/reminders/mass/rows/{invoice.id}", headers=HX,
                           data={f"level-{invoice.id}": "9", f"letter-{invoice.id}": "1"})
    assert response.status_code == 422 and "Level 9 does not exist." in text(response)
    assert selection() == {invoice.id: (3, True, False)}


def test_selection_survives_pages_and_filters_and_bulk_ticks_only_what_is_due(client, auth, data):
    auth.login("agent")
    first, fifty, last = data["invoices"][0], data["invoices"][49], data["invoices"][-1]
    response = client.post("/reminders/mass/bulk", data={"action": "emails", "customer": "ACME", "due": "all"})
    assert response.status_code == 303
    assert len(selection()) == 51 and all(v[2] for v in selection().values())  # both pages, due ones only
    assert first.id not in selection() and selection()[fifty.id] == (2, False, True)
    page = text(client.get("/reminders/mass?customer=ACME&due=all"))
    assert "By email: 51 invoices ticked. 4 not due today were left out." in page
    client.post("/reminders/mass/bulk", data={"action": "letters", "due": "all"})
    assert data["lonely"].id not in selection()  # not due: never ticked by a bulk action
    assert selection()[fifty.id] == (2, True, True)
    # no JavaScript: the page's rows are posted with the form (untick the last invoice on page 2)
    page2 = text(client.get("/reminders/mass?sort=number&page=2"))
    assert f'name="letter-{last.id}" value="1" checked' in page2
    client.post("/reminders/mass/save", data={"sort": "number", "page": "2", "rows": [last.id],
                                              f"level-{last.id}": "3"})
    assert selection()[last.id] == (3, False, False)
    counts = mass.counts(db.session, db.session.scalar(select(MassSelection.user_id).limit(1)))
    assert counts == {"invoices": 50, "letters": 50, "emails": 50}
    html = text(client.get("/reminders/mass"))
    assert "50 invoices selected" in html
    client.post("/reminders/mass/bulk", data={"action": "none", "q": "FA-00"})  # FA-005 .. FA-009
    assert mass.counts(db.session, db.session.scalar(select(MassSelection.user_id).limit(1)))["invoices"] == 45


def test_empty_selection_is_refused_and_nothing_is_sent(client, auth, data):
    auth.login("agent")
    response = client.post("/reminders/mass/run", data={}, headers=HX)
    assert response.status_code == 422 and "Nothing is selected" in text(response)
    assert db.session.scalar(select(func.count()).select_from(Run)) == 0
    assert db.session.scalar(select(func.count()).select_from(Reminder)) == 2


def test_run_sends_emails_merges_letters_and_reports(app, client, auth, data, smtp):
    auth.login("agent")
    a, b, c = data["invoices"][49], data["invoices"][9], data["invoices"][10]
    client.post(f"/reminders/mass/rows/{a.id}", headers=HX, data={f"level-{a.id}": "2", f"email-{a.id}": "1"})
    client.post(f"/reminders/mass/rows/{b.id}", headers=HX, data={f"level-{b.id}": "1", f"letter-{b.id}": "1"})
    client.post(f"/reminders/mass/rows/{c.id}", headers=HX,
                data={f"level-{c.id}": "1", f"letter-{c.id}": "1", f"email-{c.id}": "1"})
    # paid in the meantime: left out with a note, not sent
    d = data["invoices"][11]
    client.post(f"/reminders/mass/rows/{d.id}", headers=HX, data={f"level-{d.id}": "1", f"letter-{d.id}": "1"})
    make_payment(d, "1000.00", TODAY)
    d.status = "paid"
    db.session.commit()
    response = client.post("/reminders/mass/run", data={}, headers=HX)
    assert response.status_code == 200
    run = db.session.scalar(select(Run))
    assert response.headers["HX-Push-Url"] == f"/reminders/runs/{run.id}"
    html = text(response)
    assert (run.status, run.total, run.done, run.sent, run.failed) == ("done", 4, 4, 4, 0)
    assert "4 / 4 done" in html and "2 emails sent" in html and "2 letters" in html
    assert "every 1s" not in html  # finished: the component stops polling
    assert sorted(m["Subject"].split(":")[0].strip() for m in smtp.messages) == ["Deuxième relance", "Relance"]
    made = db.session.scalars(select(Reminder).where(Reminder.run_id == run.id)).all()
    assert sorted((r.invoice.number, r.level, r.channel) for r in made) == [
        ("FA-010", 1, "letter"), ("FA-011", 1, "email"), ("FA-011", 1, "letter"), ("FA-050", 2, "email")]
    assert next(r for r in made if r.level == 2).penalty == Decimal("100.00")
    pdf = client.get(f"/reminders/runs/{run.id}/letters.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    reader = PdfReader(BytesIO(pdf.data))
    content = "".join(page.extract_text() for page in reader.pages)
    assert "FA-010" in content and "FA-011" in content and len(reader.pages) % 2 == 0
    assert selection() == {}  # the selection is emptied once the run is made
    # the status URL (what the component polls) answers the same summary
    assert "4 / 4 done" in text(client.get(f"/reminders/runs/{run.id}", headers=HX))


def test_run_status_polls_while_running_and_without_javascript_refreshes(client, auth, data):
    auth.login("agent")
    run = Run(kind="mass", run_date=TODAY, status="running", total=10, done=3)
    db.session.add(run)
    db.session.commit()
    fragment = text(client.get(f"/reminders/runs/{run.id}", headers=HX))
    assert 'hx-trigger="every 1s"' in fragment and "3 / 10 done" in fragment
    page = client.get(f"/reminders/runs/{run.id}")
    assert page.headers["Refresh"] == "2"
    run.status, run.done = "done", 10
    db.session.commit()
    fragment = text(client.get(f"/reminders/runs/{run.id}", headers=HX))
    assert "every 1s" not in fragment and "Run finished" in fragment
    assert "Refresh" not in client.get(f"/reminders/runs/{run.id}").headers
    assert client.get(f"/reminders/runs/{run.id}/letters.pdf").status_code == 404  # no letters in this run


def test_one_invoice_with_a_line_break_in_its_number_fails_alone(app, client, auth, data, smtp):
    """Input refuses control characters now; one written by SQL fails alone with its reason, the rest goes."""
    from sqlalchemy import update

    from relance.models import Invoice
    from relance.services import autorun

    auth.login("agent")
    bad = data["invoices"][20]
    db.session.execute(update(Invoice).where(Invoice.id == bad.id).values(number="HDR-1\rBcc: x@evil.example"))
    db.session.commit()
    client.post("/reminders/mass/bulk", data={"action": "emails"})
    db.session.execute(update(MassSelection).where(MassSelection.invoice_id.not_in(  # keep FA-020 .. FA-029
        [i.id for i in data["invoices"][19:29]])).values(email=False))
    db.session.commit()
    assert sum(email for _level, _letter, email in selection().values()) == 10
    response = client.post("/reminders/mass/run", data={"token": "run-with-a-bad-one"})
    assert response.status_code == 303
    run = db.session.scalar(select(Run))
    db.session.refresh(run)
    made = db.session.scalars(select(Reminder).where(Reminder.run_id == run.id)).all()
    assert (run.status, run.total, run.sent, run.failed) == ("done", 10, 9, 1)
    [failed] = [r for r in made if r.status == "failed"]
    assert failed.invoice_id == bad.id and "control character" in failed.error
    # headers and text parts (a base64 attachment may spell anything)
    readable = [str(m.items()) + "".join(p.get_content() for p in m.walk() if p.get_content_maintype() == "text")
                for m in smtp.messages]
    assert len(smtp.messages) == 9 and all("evil" not in text for text in readable)
    assert not [r for r in made if r.status == "pending"]  # nothing left in doubt
    # the automatic run of the day, meeting the same invoice, finishes too
    db.session.execute(update(Reminder).where(Reminder.id == failed.id).values(status="cancelled"))
    db.session.commit()
    auto = autorun.run_auto(db.session, TODAY)
    assert auto.status == "done" and auto.failed == 1 and auto.sent >= 1


def test_forms_refuse_control_characters_in_single_line_fields(client, auth, data):
    auth.login("agent")
    invoice = data["invoices"][0]
    response = client.post(f"/invoices/{invoice.id}/edit", data={
        "number": "HDR-1\rBcc: x@evil.example", "customer_code": "ACME", "issue_date": "2026-01-01",
        "due_date": "2026-02-01", "currency": "EUR", "total_excl_tax": "100.00", "total_incl_tax": "120.00",
        "status": "validated", "kind": "invoice"})
    assert response.status_code == 422 and "Control characters" in text(response)
    db.session.expire_all()
    assert db.session.get(type(invoice), invoice.id).number == "FA-001"
