"""Credit notes allocated to the invoice they credit: counted there exactly like a payment on the credit note's
date (remaining due, interest, closed when settled, never reminded), named by the CSV import, the API, the invoice
form and the customer's page, undone by any of them. SQLite and PostgreSQL."""

from __future__ import annotations

import html
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import AuditLog, Invoice, Payment, ReminderLevel
from relance.services import credit_notes
from relance.services import settings as settings_service
from relance.services.credit_notes import CreditNoteError
from relance.services.data_in.apply import apply_plan
from relance.services.data_in.reading import plan_csv
from relance.services.engine import eligibility
from relance.services.engine.penalties import claim_for_invoice
from relance.services.engine.schedule import due_reminders, reference_schedule
from relance.services.sending import autorun
from tests.conftest import csrf_token_from
from tests.factories import install_live_defaults, make_customer, make_invoice, make_payment, make_user
from tests.smtp import smtp_certificate, smtp_factory, smtp_server  # noqa: F401
from tests.test_api import API, token_for

D = Decimal
ON = date(2026, 3, 3)  # 47 days after the due date of 15 Jan (DESIGN.md's example)


def note(customer, total="300.00", issue=date(2026, 2, 10), number=None, **kw) -> Invoice:
    """A validated credit note of `customer` (no due date: never reminded)."""
    return make_invoice(customer, total=total, due=None, issue=issue, number=number, kind="credit_note", **kw)


def fresh(invoice: Invoice) -> Invoice:
    db.session.expire_all()
    return db.session.get(Invoice, invoice.id)


def counts() -> dict[str, int]:
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in (Invoice, Payment, AuditLog)}


@pytest.fixture
def en(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def engine(app):
    install_live_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example", "company_name": "Vendor SAS"})
    db.session.flush()
    return app


# --- the engine: a payment on the credit note's date --------------------------------------------------------------

FIGURES = ("level", "due_date", "remaining_due", "days_late", "penalty", "interest", "indemnity", "total_claimed",
           "currency")


def test_an_allocated_credit_note_counts_like_a_payment_on_its_date(engine):
    credited = make_invoice(make_customer(), total="1200.00", due=date(2026, 1, 15))
    av = note(credited.customer, "300.00", issue=date(2026, 2, 10), number="AV-2026-0012")
    credit_notes.allocate(db.session, av, credited.number)
    paid = make_invoice(make_customer(), total="1200.00", due=date(2026, 1, 15))
    make_payment(paid, "300.00", on=date(2026, 2, 10))
    untouched = make_invoice(make_customer(), total="1200.00", due=date(2026, 1, 15))
    db.session.commit()

    credited = fresh(credited)
    assert (credited.amount_paid, credited.remaining_due, credited.status) == (D("300.00"), D("900.00"), "validated")
    [payment] = credited.payments
    assert (payment.date, payment.amount, payment.reference, payment.credit_note.number) == (
        date(2026, 2, 10), D("300.00"), "AV-2026-0012", "AV-2026-0012")
    assert fresh(av).credits_invoice.number == credited.number

    due = {d.invoice_id: d for d in due_reminders(db.session, ON)}
    assert [d.invoice_id for d in reference_schedule(db.session, ON).due] == list(due)  # the reference agrees
    figures = {i: tuple(getattr(due[i], f) for f in FIGURES) for i in due}
    assert figures[credited.id] == figures[paid.id]  # the same claim, to the cent
    assert due[credited.id].remaining_due == D("900.00")
    assert due[credited.id].interest < due[untouched.id].interest  # interest stops on the part credited
    level = db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == due[paid.id].level)).one()
    settings = settings_service.load(db.session)
    claims = [claim_for_invoice(db.session, fresh(i), level, ON, settings) for i in (credited, paid)]
    assert claims[0] == claims[1]

    credit_notes.sync(db.session, [av.id])  # recomputed, never added to: nothing changes
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Payment).where(Payment.invoice_id == credited.id)) == 1
    assert fresh(credited).amount_paid == D("300.00")


@pytest.mark.slow
def test_a_fully_credited_invoice_is_closed_and_the_automatic_run_sends_nothing_for_it(app, smtp_server):  # noqa: F811
    install_live_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example", "company_name": "Vendor SAS",
                                       "company_address": "1 rue du Port", "company_postcode": "44000",
                                       "company_city": "Nantes"})
    smtp_server.configure(app)
    credited = make_invoice(make_customer(email="a@customer.example"), total="1200.00", due=date(2026, 1, 15))
    other = make_invoice(make_customer(email="b@customer.example"), total="1200.00", due=date(2026, 1, 15))
    av = note(credited.customer, "1200.00", issue=date(2026, 1, 20))
    credit_notes.allocate(db.session, av, credited.number)
    db.session.commit()

    credited = fresh(credited)
    assert (credited.status, credited.is_open, credited.remaining_due, credited.credited) == (
        "paid", False, D("0.00"), True)
    verdict = eligibility.check(db.session, credited, None, None, date(2026, 2, 2), automatic=True)
    assert not verdict.ok and "paid" in [r.code for r in verdict.refusals]
    run = autorun.run_auto(db.session, date(2026, 2, 2))
    assert (run.status, run.sent) == ("done", 1)
    attached = {part.get_filename() for msg in smtp_server.messages for part in msg.iter_attachments()}
    assert any(other.number in name for name in attached)
    assert not any(credited.number in name for name in attached)

    credit_notes.allocate(db.session, fresh(av), "")  # undone: due again
    db.session.commit()
    assert (fresh(credited).status, fresh(credited).remaining_due) == ("validated", D("1200.00"))


def test_refusals_name_the_reason_and_change_nothing(app, en):
    customer = make_customer()
    invoice = make_invoice(customer, number="FA-1", total="500.00")
    make_payment(invoice, "300.00", on=date(2026, 1, 20))
    other = make_invoice(make_customer(code="OTHER"), number="FA-2")
    draft = make_invoice(customer, number="FA-3", status="draft")
    usd = make_invoice(customer, number="FA-4", currency="USD")
    av = note(customer, "250.00", number="AV-1")
    av2 = note(customer, "10.00", number="AV-2")
    cases = [
        (av, "FA-404", 'Unknown invoice number "FA-404".'),
        (av, other.number, "Invoice FA-2 is another customer's (OTHER)."),
        (av, draft.number, "Invoice FA-3 is a draft: it cannot be credited."),
        (av, usd.number, "Invoice FA-4 is in USD, the credit note in EUR."),
        (av, av2.number, '"AV-2" is a credit note: a credit note credits an invoice.'),
        (av, av.number, "A credit note cannot credit itself."),
        (av, invoice.number, "The credit note (€250.00) is more than what is left to pay on invoice FA-1 (€200.00): "
                             "allocate it to another invoice or correct its amount."),
    ]
    for credit, number, message in cases:
        with pytest.raises(CreditNoteError) as refused:
            credit_notes.allocate(db.session, credit, number)
        assert (str(refused.value.message), refused.value.field) == (message, "credits_invoice")
    with pytest.raises(CreditNoteError, match="Only a credit note credits an invoice"):
        credit_notes.allocate(db.session, usd, invoice.number)
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1
    assert fresh(av).credits_invoice_id is None

    credit_notes.allocate(db.session, fresh(av2), "FA-1")  # 10 of the 200 left
    credit_notes.allocate(db.session, fresh(av2), "FA-1")  # again: its own share is not counted twice
    assert fresh(invoice).remaining_due == D("190.00")


def test_deleting_an_allocated_credit_note_gives_the_invoice_its_due_back(app):
    invoice = make_invoice(total="500.00")
    av = note(invoice.customer, "500.00")
    credit_notes.allocate(db.session, av, invoice.number)
    db.session.commit()
    assert fresh(invoice).status == "paid"
    db.session.delete(fresh(av))
    db.session.commit()
    assert (fresh(invoice).status, fresh(invoice).amount_paid, fresh(invoice).payments) == ("validated", D("0.00"), [])

    av = note(invoice.customer, "100.00")
    credit_notes.allocate(db.session, av, invoice.number)
    db.session.commit()
    db.session.delete(fresh(invoice))  # the credited invoice goes: the credit note credits nothing
    db.session.commit()
    assert fresh(av).credits_invoice_id is None
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 0


# --- the CSV import -------------------------------------------------------------------------------------------------

HEADER = "numero;code_client;date_facture;echeance;total_ht;total_ttc;type;facture_creditee\n"
IMPORT_DAY = date(2026, 3, 15)


def run_import(text: str):
    plan = plan_csv(db.session, "invoices", text.encode(), IMPORT_DAY, filename="avoirs.csv")
    if plan.ok:
        apply_plan(db.session, plan)
        db.session.commit()
    return plan


def test_csv_import_allocates_credit_notes_to_invoices_of_the_file_or_the_database(app, en):
    customer = make_customer(code="C1")
    existing = make_invoice(customer, number="FA-1", total="1200.00")
    db.session.commit()
    plan = run_import(HEADER + "FA-2;C1;05/01/2026;04/02/2026;500,00;600,00;facture;\n"
                               "AV-1;C1;10/02/2026;;-100,00;-120,00;avoir;FA-2\n"
                               "AV-2;C1;12/02/2026;;200,00;240,00;avoir;FA-1\n"
                               "AV-3;C1;13/02/2026;;50,00;60,00;avoir;\n")
    assert plan.ok, [str(e) for e in plan.errors]
    payments = db.session.execute(select(Invoice.number, Payment.date, Payment.amount)
                                  .join(Payment, Payment.invoice_id == Invoice.id).order_by(Invoice.number)).all()
    assert [tuple(p) for p in payments] == [("FA-1", date(2026, 2, 12), D("240.00")),
                                            ("FA-2", date(2026, 2, 10), D("120.00"))]
    assert fresh(existing).remaining_due == D("960.00")
    assert [n.number for n in credit_notes.unallocated(db.session, customer.id)] == ["AV-3"]

    again = run_import(HEADER + "AV-1;C1;10/02/2026;;100,00;120,00;avoir;FA-2\n")
    assert (again.ok, again.unchanged) == (True, 1)
    moved = run_import(HEADER + "AV-1;C1;10/02/2026;;100,00;120,00;avoir;FA-1\n"  # another invoice
                                "AV-2;C1;12/02/2026;;200,00;240,00;avoir;\n")  # undone
    assert moved.ok and moved.updated == 2
    payments = db.session.execute(select(Invoice.number, Payment.amount)
                                  .join(Payment, Payment.invoice_id == Invoice.id).order_by(Invoice.number)).all()
    assert [tuple(p) for p in payments] == [("FA-1", D("120.00"))]
    resized = run_import("numero;code_client;date_facture;echeance;total_ht;total_ttc;type\n"
                         "AV-1;C1;11/02/2026;;150,00;180,00;avoir\n")  # no column: it keeps crediting FA-1
    assert resized.ok
    [payment] = db.session.scalars(select(Payment)).all()
    assert (payment.invoice.number, payment.date, payment.amount) == ("FA-1", date(2026, 2, 11), D("180.00"))


def test_csv_import_refuses_bad_allocations_row_by_row_and_saves_nothing(app, en):
    customer = make_customer(code="C1")
    make_invoice(customer, number="FA-1", total="100.00")
    make_invoice(make_customer(code="C2"), number="FA-9")
    db.session.commit()
    before = counts()
    plan = run_import(HEADER + "AV-1;C1;10/02/2026;;50,00;60,00;avoir;FA-404\n"
                               "AV-2;C1;10/02/2026;;50,00;60,00;avoir;FA-9\n"
                               "AV-3;C1;10/02/2026;;50,00;60,00;avoir;FA-1\n"
                               "AV-4;C1;10/02/2026;;50,00;60,00;avoir;FA-1\n"  # with AV-3: 120 on 100
                               "FA-5;C1;10/02/2026;;50,00;60,00;facture;FA-1\n"
                               "AV-6;C1;10/02/2026;;50,00;60,00;avoir;AV-3\n")
    assert not plan.ok and counts() == before
    assert [str(e) for e in plan.errors] == [
        'line 2, column facture_creditee: Unknown invoice number "FA-404".',
        "line 3, column facture_creditee: Invoice FA-9 is another customer's (C2).",
        "line 5, column facture_creditee: The credit note (€60.00) is more than what is left to pay on invoice FA-1 "
        "(€40.00): allocate it to another invoice or correct its amount.",
        "line 6, column facture_creditee: Only a credit note credits an invoice: make this a credit note or leave "
        "the credited invoice empty.",
        'line 7, column facture_creditee: "AV-3" is a credit note: a credit note credits an invoice.']
    assert plan.errors[0].field == "credits_invoice"


# --- the API ----------------------------------------------------------------------------------------------------------

CREDIT = {"customer_code": "C1", "issue_date": "2026-02-10", "due_date": None, "total_excl_tax": "100.00",
          "total_incl_tax": "120.00", "kind": "credit_note"}


def test_api_names_the_credited_invoice(app, client):
    headers = {"Authorization": f"Bearer {token_for('agent')}", "Accept-Language": "en"}
    make_invoice(make_customer(code="C1"), number="FA-1", total="1200.00")
    make_invoice(make_customer(code="C2"), number="FA-2")
    db.session.commit()
    response = client.put(f"{API}/invoices/AV-1", headers=headers, json={**CREDIT, "credits_invoice": "FA-1"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["credits_invoice"] == "FA-1"
    invoice = client.get(f"{API}/invoices/FA-1", headers=headers).get_json()
    assert (invoice["amount_paid"], invoice["amount_credited"], invoice["remaining_due"],
            invoice["credits_invoice"]) == ("120.00", "120.00", "1080.00", None)
    listed = client.get(f"{API}/invoices?customer_code=C1", headers=headers).get_json()["items"]
    assert {i["number"]: i["amount_credited"] for i in listed} == {"FA-1": "120.00", "AV-1": "0.00"}
    [payment] = client.get(f"{API}/invoices/FA-1/payments", headers=headers).get_json()["items"]
    assert (payment["credit_note"], payment["date"], payment["amount"]) == ("AV-1", "2026-02-10", "120.00")

    before = counts()
    response = client.post(f"{API}/invoices", headers=headers, json={"items": [
        {**CREDIT, "number": "AV-2", "credits_invoice": "FA-2"},
        {**CREDIT, "number": "AV-3", "credits_invoice": "FA-1", "total_incl_tax": "1081.00"}]})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == [
        {"path": "items[0].credits_invoice", "message": "Invoice FA-2 is another customer's (C2)."},
        {"path": "items[1].credits_invoice", "message": "The credit note (€1,081.00) is more than what is left to "
                                                        "pay on invoice FA-1 (€1,080.00): allocate it to another "
                                                        "invoice or correct its amount."}]
    assert counts() == before

    response = client.put(f"{API}/invoices/AV-1", headers=headers, json={**CREDIT, "credits_invoice": None})
    assert response.status_code == 200 and response.get_json()["credits_invoice"] is None
    invoice = client.get(f"{API}/invoices/FA-1", headers=headers).get_json()
    assert (invoice["remaining_due"], invoice["amount_credited"]) == ("1200.00", "0.00")


# --- the screens ----------------------------------------------------------------------------------------------------

FORM = {"customer_code": "ACME", "issue_date": "2026-02-10", "due_date": "", "currency": "EUR",
        "total_excl_tax": "100.00", "total_incl_tax": "120.00", "status": "validated", "kind": "credit_note",
        "billing_contact_id": "0", "followup_contact_id": "0", "followup_user_id": "0"}


@pytest.fixture
def acme(app, client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    customer = make_customer(code="ACME", name="Acme")
    make_invoice(customer, number="FA-1", total="1200.00", due=date(2026, 1, 15))
    db.session.commit()
    return customer


def invoice_by(number: str) -> Invoice:
    db.session.expire_all()
    return db.session.scalars(select(Invoice).where(Invoice.number == number)).one()


def test_invoice_form_names_the_credited_invoice_and_the_invoice_shows_the_credit(client, auth, acme):
    auth.login("agent")
    response = client.post("/invoices/new", data={**FORM, "number": "AV-2026-0012", "credits_invoice": "FA-1"})
    assert response.status_code == 302, response.get_data(as_text=True)
    credited = invoice_by("FA-1")
    assert credited.remaining_due == D("1080.00")
    page = client.get(f"/invoices/{credited.id}").get_data(as_text=True)
    assert "Credited by AV-2026-0012" in page and "Payment of" not in page
    av = invoice_by("AV-2026-0012")
    page = client.get(f"/invoices/{av.id}/edit").get_data(as_text=True)
    assert 'name="credits_invoice"' in page and 'value="FA-1"' in page

    refused = client.post(f"/invoices/{av.id}/edit", data={**FORM, "number": "AV-2026-0012", "total_incl_tax": "1300",
                                                           "credits_invoice": "FA-1"})
    assert refused.status_code == 422
    assert ("The credit note (€1,300.00) is more than what is left to pay on invoice FA-1 (€1,200.00)"
            in refused.get_data(as_text=True))
    assert invoice_by("AV-2026-0012").total_incl_tax == D("120.00")

    closed = client.post(f"/invoices/{av.id}/edit", data={**FORM, "number": "AV-2026-0012", "total_incl_tax": "1200",
                                                          "credits_invoice": "FA-1"})
    assert closed.status_code == 302
    assert invoice_by("FA-1").status == "paid"
    page = client.get(f"/invoices/{credited.id}").get_data(as_text=True)
    assert ">credited</span>" in page
    audit = db.session.scalars(select(AuditLog).where(AuditLog.entity_id == str(av.id))
                               .order_by(AuditLog.id)).all()
    assert audit[0].after["credits_invoice_id"] == credited.id

    undone = client.post(f"/invoices/{av.id}/edit", data={**FORM, "number": "AV-2026-0012", "total_incl_tax": "1200",
                                                          "credits_invoice": ""})
    assert undone.status_code == 302
    assert (invoice_by("FA-1").status, invoice_by("FA-1").remaining_due) == ("validated", D("1200.00"))
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 0


def test_the_customer_page_lists_unallocated_credit_notes_and_allocates_them(client, auth, acme):
    av = note(acme, "200.00", number="AV-7")
    note(acme, "50.00", number="AV-8", status="draft")
    db.session.commit()
    auth.login("viewer")
    page = client.get(f"/customers/{acme.id}/invoices").get_data(as_text=True)
    assert "Credit notes not allocated" in page and "AV-7" in page and 'name="credits_invoice"' not in page

    auth.logout()
    auth.login("agent")
    page = client.get(f"/customers/{acme.id}/invoices").get_data(as_text=True)
    assert '<option value="FA-1">' in page
    back = f"/customers/{acme.id}/invoices"
    response = client.post(f"/invoices/{av.id}/credits", data={"credits_invoice": "FA-1", "next": back})
    assert (response.status_code, response.headers["Location"]) == (303, back)
    assert invoice_by("FA-1").remaining_due == D("1000.00")
    page = client.get(back).get_data(as_text=True)
    assert "Credit note AV-7 now credits invoice FA-1." in page and "Credit notes not allocated" not in page

    refused = client.post(f"/invoices/{av.id}/credits", data={"credits_invoice": "FA-404", "next": back})
    assert refused.status_code == 303
    assert 'Unknown invoice number "FA-404".' in html.unescape(client.get(back).get_data(as_text=True))
    assert invoice_by("AV-7").credits_invoice.number == "FA-1"

    credited = invoice_by("FA-1")
    undo = client.post(f"/invoices/{av.id}/credits", data={"credits_invoice": "",
                                                           "next": f"/invoices/{credited.id}"})
    assert undo.status_code == 303
    assert invoice_by("FA-1").remaining_due == D("1200.00")
    assert "Credit notes not allocated" in client.get(back).get_data(as_text=True)


@pytest.mark.csrf
def test_allocating_needs_the_csrf_token(client, acme):
    av = note(acme, "200.00", number="AV-9")
    make_user(email="csrf-agent@test.example", role="agent")
    db.session.commit()
    client.post("/login", data={"email": "csrf-agent@test.example", "password": "correct horse 42",
                                "csrf_token": csrf_token_from(client.get("/login").get_data(as_text=True))})
    assert client.post(f"/invoices/{av.id}/credits", data={"credits_invoice": "FA-1"}).status_code == 400
    page = client.get(f"/customers/{acme.id}/invoices").get_data(as_text=True)
    response = client.post(f"/invoices/{av.id}/credits",
                           data={"credits_invoice": "FA-1", "csrf_token": csrf_token_from(page)})
    assert response.status_code == 303
    assert invoice_by("FA-1").remaining_due == D("1000.00")


def test_a_credit_row_is_not_removed_as_a_payment(client, auth, acme):
    av = note(acme, "200.00")
    credit_notes.allocate(db.session, av, "FA-1")
    db.session.commit()
    auth.login("agent")
    credited = invoice_by("FA-1")
    [payment] = credited.payments
    assert client.post(f"/invoices/{credited.id}/payments/{payment.id}/delete").status_code == 404
    assert invoice_by("FA-1").remaining_due == D("1000.00")


# --- e-invoices -------------------------------------------------------------------------------------------------------

def test_e_invoice_credit_notes_credit_the_invoice_they_refer_to_when_it_is_known(app, en):
    from relance.services.data_in import einvoice
    from tests.einvoice_samples import Sample, cii_xml, ubl_xml

    make_invoice(make_customer(code="MARTIN", siren="987654321"), number="FX-1", total="1200.00")  # the samples' buyer
    make_invoice(make_customer(code="OTHER", siren="111222333"), number="FX-9")
    db.session.commit()
    files = [
        ("av1.xml", cii_xml(Sample(number="AV-1", type_code="381", net="100.00", credits="FX-1"))),
        ("fx2.xml", cii_xml(Sample(number="FX-2", net="500.00"))),
        ("av2.xml", ubl_xml(Sample(number="AV-2", type_code="381", net="50.00", credits="FX-2"))),
        ("av3.xml", cii_xml(Sample(number="AV-3", type_code="381", net="10.00", credits="FX-404"))),
        ("av4.xml", cii_xml(Sample(number="AV-4", type_code="381", net="10.00", credits="FX-9"))),
    ]
    plan = einvoice.plan_files(db.session, files, IMPORT_DAY)
    assert [r.text for r in plan.refused] == ["credited invoice: Invoice FX-9 is another customer's (OTHER)."]
    notes = {a.invoice.number: a.note_texts for a in plan.accepted}
    assert "It credits invoice FX-404, which is not here yet: allocate it from its customer's invoices once that " \
           "invoice is imported." in notes["AV-3"]
    einvoice.apply_files(db.session, plan, None, store=lambda data: "unused")
    db.session.commit()
    payments = db.session.execute(select(Invoice.number, Payment.amount, Payment.reference)
                                  .join(Payment, Payment.invoice_id == Invoice.id).order_by(Invoice.number)).all()
    assert [tuple(p) for p in payments] == [("FX-1", D("120.00"), "AV-1"), ("FX-2", D("60.00"), "AV-2")]
    assert invoice_by("AV-3").credits_invoice_id is None  # imported, to allocate by hand
