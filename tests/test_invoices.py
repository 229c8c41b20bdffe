"""Invoices screens: list (search, filters, sort, pages, htmx), invoice page tabs, payments, inline switch, roles."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import AuditLog, Invoice, Payment, Reminder
from tests.conftest import csrf_token_from
from tests.factories import TODAY, make_customer, make_invoice, make_user

HX = {"HX-Request": "true"}
pytestmark = pytest.mark.clock  # the app runs at tests.factories.NOW: TODAY is its today


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def invoice(app):
    customer = make_customer(code="ACME", name="Acme Industries", contacts=[
        {"name": "Durand", "first_name": "Claire", "email": "claire@acme.example", "role": "billing"},
        {"name": "Petit", "first_name": "Luc", "email": "luc@acme.example", "role": "followup"}])
    creator = make_user(name="Carla Creator")
    follower = make_user(name="Fred Follow")
    invoice = make_invoice(customer, number="FA-2026-001", total="1200.00", due=TODAY - timedelta(days=20),
                           billing_contact_id=customer.contacts[0].id, followup_contact_id=customer.contacts[1].id,
                           creator_id=creator.id, followup_user_id=follower.id)
    db.session.commit()
    return invoice


def rows(html: str, numbers) -> list[str]:
    """The given invoice numbers in the order they appear in the page."""
    found = [n for n in numbers if f">{n}</a>" in html]
    return sorted(found, key=lambda n: html.index(f">{n}</a>"))


@pytest.mark.parametrize("path", ["/invoices/", "/invoices/{id}", "/invoices/{id}/reminders", "/invoices/{id}/files",
                                  "/invoices/{id}/pdf", "/invoices/new", "/invoices/{id}/edit"])
def test_pages_need_login(client, invoice, path):
    response = client.get(path.format(id=invoice.id))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_viewer_reads_and_cannot_change_anything(client, auth, invoice):
    auth.login("viewer")
    html = text(client.get(f"/invoices/{invoice.id}"))
    for expected in ("FA-2026-001", "Acme Industries", "Claire Durand", "Luc Petit", "Fred Follow", "Carla Creator",
                     "€1,200.00"):
        assert expected in html, expected
    assert "Record a payment" not in html and "/edit" not in html and "hx-post" not in html
    assert 'type="checkbox" disabled' in html
    assert "/invoices/new" not in text(client.get("/invoices/"))
    files = text(client.get(f"/invoices/{invoice.id}/files"))
    assert "Generate the invoice PDF" in files and 'enctype="multipart/form-data"' not in files
    for path, data in ((f"/invoices/{invoice.id}/payments", {"amount": "10", "date": "2026-02-01"}),
                       (f"/invoices/{invoice.id}/payments/1/delete", {}),
                       (f"/invoices/{invoice.id}/no-auto-reminders", {"no_auto_reminders": "1"}),
                       (f"/invoices/{invoice.id}/edit", {"number": "X"}),
                       (f"/invoices/{invoice.id}/pdf", {}),
                       ("/invoices/new", {"number": "X"})):
        assert client.post(path, data=data).status_code == 403, path
    assert client.get("/invoices/new").status_code == 403
    db.session.expire_all()
    assert invoice.amount_paid == 0 and not invoice.no_auto_reminders and invoice.number == "FA-2026-001"


def test_agent_sees_payment_form_edit_and_upload(client, auth, invoice):
    auth.login("agent")
    html = text(client.get(f"/invoices/{invoice.id}"))
    assert "Record a payment" in html and f"/invoices/{invoice.id}/edit" in html
    assert f'hx-post="/invoices/{invoice.id}/no-auto-reminders"' in html
    assert 'enctype="multipart/form-data"' in text(client.get(f"/invoices/{invoice.id}/files"))


@pytest.fixture
def many(app):
    """A small book: open, overdue, paid, cancelled, draft, credit note, USD, with reminders."""
    a = make_customer(code="A1", name="Alpha Bakery")
    b = make_customer(code="B2", name="Beta Garage")
    made = {
        "OLD": make_invoice(a, number="OLD", total="100.00", due=TODAY - timedelta(days=60)),
        "MID": make_invoice(a, number="MID", total="900.00", paid="100.00", due=TODAY - timedelta(days=10)),
        "FUT": make_invoice(b, number="FUT", total="500.00", due=TODAY + timedelta(days=10)),
        "NODUE": make_invoice(b, number="NODUE", total="50.00", due=None, issue=TODAY - timedelta(days=5)),
        "PAID": make_invoice(a, number="PAID", total="300.00", paid="300.00", status="paid",
                             due=TODAY - timedelta(days=90)),
        "CANC": make_invoice(b, number="CANC", total="5000.00", status="cancelled", due=TODAY - timedelta(days=90)),
        "DRAFT": make_invoice(b, number="DRAFT", total="70.00", status="draft", due=TODAY - timedelta(days=90)),
        "AVOIR": make_invoice(a, number="AVOIR", total="80.00", kind="credit_note", due=TODAY - timedelta(days=90)),
        "USD": make_invoice(b, number="USD", total="2000.00", currency="USD", due=TODAY - timedelta(days=30)),
    }
    for key, inv, level, status in (("r1", "OLD", 1, "sent"), ("r2", "OLD", 2, "sent"), ("r3", "MID", 1, "sent"),
                                    ("r4", "USD", 3, "cancelled"), ("r5", "USD", 0, "sent"),
                                    ("r6", "FUT", 1, "pending"), ("r7", "MID", 2, "failed")):
        db.session.add(Reminder(key=key, invoice=made[inv], level=level, channel="email", status=status,
                                reminder_date=TODAY - timedelta(days=1)))
    db.session.commit()
    return made


def test_list_filters(client, auth, many):
    auth.login("viewer")
    names = list(many)

    def listed(query: str) -> list[str]:
        return sorted(rows(text(client.get("/invoices/" + query)), names))

    assert listed("") == sorted(names)
    assert listed("?status=open") == ["FUT", "MID", "NODUE", "OLD", "USD"]
    assert listed("?status=cancelled") == ["CANC"]
    assert listed("?status=draft") == ["DRAFT"]
    assert listed("?overdue=1") == ["MID", "OLD", "USD"]
    assert listed("?level=2") == ["OLD"]
    assert listed("?level=1") == ["MID"]
    assert listed("?level=0") == ["USD"]  # the cancelled level-3 reminder does not count
    assert listed("?level=3") == []
    assert listed("?level=none&status=open") == ["FUT", "NODUE"]  # a pending reminder is not reached yet
    assert listed("?currency=USD") == ["USD"]
    assert listed("?customer=A1") == ["AVOIR", "MID", "OLD", "PAID"]
    assert listed("?q=beta") == ["CANC", "DRAFT", "FUT", "NODUE", "USD"]
    assert listed("?q=mi") == ["MID"]
    assert listed("?customer=A1&overdue=1&currency=EUR&level=1") == ["MID"]
    assert listed("?status=bogus&level=9&currency=ZZZ&sort=nope") == sorted(names)  # unknown values are ignored


def test_list_sorts(client, auth, many):
    auth.login("viewer")
    names = list(many)
    by_due = rows(text(client.get("/invoices/?sort=due&status=open")), names)
    assert by_due == ["OLD", "USD", "MID", "FUT", "NODUE"]
    late = rows(text(client.get("/invoices/?sort=late")), names)
    assert late[:3] == ["OLD", "USD", "MID"]  # most days late first, then everything not late
    remaining = rows(text(client.get("/invoices/?sort=remaining")), names)
    assert remaining[:5] == ["USD", "MID", "FUT", "OLD", "NODUE"]
    assert set(remaining[5:]) == {"PAID", "CANC", "DRAFT", "AVOIR"}  # never due: after the open ones


def test_list_htmx_fragment_and_pagination(client, auth):
    customer = make_customer(code="P", name="Pager Co")
    for n in range(60):
        make_invoice(customer, number=f"N{n:03d}", due=TODAY - timedelta(days=200 - n))
    db.session.commit()
    auth.login("viewer")
    page1 = client.get("/invoices/?sort=due")
    html = text(page1)
    assert "N000" in html and "N049" in html and "N050" not in html and "Page 1 of 2" in html
    assert "HX-Request" in page1.headers["Vary"]
    page2 = text(client.get("/invoices/?sort=due&page=2"))
    assert "N050" in page2 and "N059" in page2 and "N049" not in page2 and "Page 2 of 2" in page2
    beyond = text(client.get("/invoices/?sort=due&page=9"))
    assert "N059" in beyond and "Page 2 of 2" in beyond
    assert "No invoice matches." in text(client.get("/invoices/?q=nothing-like-this&page=3"))
    fragment = client.get("/invoices/?sort=due&q=N05", headers=HX)
    body = text(fragment)
    assert "<html" not in body and "<thead" not in body and "<tr>" in body
    assert sorted(rows(body, [f"N{n:03d}" for n in range(60)])) == [f"N{n:03d}" for n in range(50, 60)]
    assert "HX-Request" in fragment.headers["Vary"]


def test_tabs_as_page_and_fragment(client, auth, invoice):
    db.session.add(Reminder(key="t1", invoice=invoice, level=1, channel="letter", status="sent",
                            reminder_date=TODAY - timedelta(days=3), pdf_path="letters/copy.pdf", note="by post"))
    db.session.commit()
    auth.login("viewer")
    for tab in ("", "/reminders", "/files"):
        full = client.get(f"/invoices/{invoice.id}{tab}")
        part = client.get(f"/invoices/{invoice.id}{tab}", headers=HX)
        assert full.status_code == part.status_code == 200
        assert "<html" in text(full) and "<html" not in text(part) and 'id="invoice-tabs"' in text(part)
        assert "HX-Request" in part.headers["Vary"]
    reminders = text(client.get(f"/invoices/{invoice.id}/reminders"))
    assert "by post" in reminders and "automatic" in reminders and "letter" in reminders
    files = text(client.get(f"/invoices/{invoice.id}/files"))
    assert "Letter PDF" in files


def test_record_payment_htmx_and_plain(client, auth, invoice):
    auth.login("agent")
    response = client.post(f"/invoices/{invoice.id}/payments", data={"amount": "200,50", "date": "2026-02-01",
                                                                     "reference": "VIR 42"}, headers=HX)
    assert response.status_code == 200
    html = text(response)
    assert "<html" not in html and 'id="payments"' in html
    assert "€999.50" in html and "VIR 42" in html
    assert 'id="invoice-head-status" class="badges" hx-swap-oob="true"' in html  # the header follows
    plain = client.post(f"/invoices/{invoice.id}/payments", data={"amount": "999.50", "date": "2026-02-02"})
    assert plain.status_code == 302
    db.session.expire_all()
    assert invoice.amount_paid == Decimal("1200.00") and invoice.status == "paid"
    page = text(client.get(f"/invoices/{invoice.id}"))
    assert "Record a payment" not in page and ">paid<" in page


def test_remove_a_payment_made_by_mistake(client, auth, invoice):
    auth.login("agent")
    client.post(f"/invoices/{invoice.id}/payments", data={"amount": "1200.00", "date": "2026-02-01", "reference": "X"})
    db.session.expire_all()
    assert invoice.status == "paid"
    payment = invoice.payments[0]
    page = text(client.get(f"/invoices/{invoice.id}"))
    assert f"/invoices/{invoice.id}/payments/{payment.id}/delete" in page and "hx-confirm" in page
    other = make_invoice(number="FA-OTHER")
    db.session.commit()
    assert client.post(f"/invoices/{other.id}/payments/{payment.id}/delete", headers=HX).status_code == 404
    response = client.post(f"/invoices/{invoice.id}/payments/{payment.id}/delete", headers=HX)
    assert response.status_code == 200
    html = text(response)
    assert "Payment of €1,200.00 removed." in html and "€1,200.00" in html and "Record a payment" in html
    db.session.expire_all()
    assert invoice.payments == [] and invoice.amount_paid == 0 and invoice.status == "validated" and invoice.is_open
    rows = db.session.scalars(select(AuditLog).where(AuditLog.entity == "payment").order_by(AuditLog.id)).all()
    assert [(r.action, r.entity_id) for r in rows] == [("create", str(payment.id)), ("delete", str(payment.id))]
    assert rows[1].before == {"invoice_id": invoice.id, "date": "2026-02-01", "amount": "1200.00", "reference": "X"}


def test_invoice_changes_are_audited(client, auth, invoice):
    auth.login("agent")
    client.post(f"/invoices/{invoice.id}/no-auto-reminders", data={"no_auto_reminders": "1"}, headers=HX)
    row = db.session.scalar(select(AuditLog).where(AuditLog.entity == "invoice"))
    assert (row.action, row.before, row.after) == ("update", {"no_auto_reminders": False}, {"no_auto_reminders": True})
    assert row.user.email == "agent@test.example"


@pytest.mark.parametrize(
    ("setup", "data", "message"),
    [
        ({}, {"amount": "1200.01"}, "Overpayment: €1,200.01 is more than the remaining due of €1,200.00."),
        ({}, {"amount": "-10"}, "The amount must be greater than zero."),
        ({}, {"amount": "0"}, "The amount must be greater than zero."),
        ({}, {"amount": "ten"}, "The amount must be a number, e.g. 150.00."),
        ({}, {"amount": ""}, "This field is required."),
        ({}, {"amount": "10", "date": "31/02/2026"}, "Not a valid date value."),
        ({"status": "cancelled"}, {"amount": "10"}, "This invoice is cancelled: it cannot receive a payment."),
        ({"kind": "credit_note"}, {"amount": "10"}, "A credit note cannot receive a payment."),
        ({"status": "draft"}, {"amount": "10"}, "This invoice is a draft: validate it before recording a payment."),
    ],
)
def test_bad_payments_are_refused_with_a_message(client, auth, invoice, setup, data, message):
    for key, value in setup.items():
        setattr(invoice, key, value)
    db.session.commit()
    auth.login("agent")
    data = {"date": "2026-02-01", **data}
    for headers in ({}, HX):
        response = client.post(f"/invoices/{invoice.id}/payments", data=data, headers=headers)
        assert response.status_code == 422
        assert message in text(response)
        assert ("<html" in text(response)) == (not headers)
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 0
    db.session.expire_all()
    assert invoice.amount_paid == 0


def test_no_auto_reminders_inline_and_plain(client, auth, invoice):
    auth.login("agent")
    url = f"/invoices/{invoice.id}/no-auto-reminders"
    response = client.post(url, data={"no_auto_reminders": ["0", "1"]}, headers=HX)
    assert response.status_code == 200
    html = text(response)
    assert html.lstrip().startswith('<form id="no-auto-form"') and "checked" in html and "Saved." in html
    assert "HX-Request" in response.headers["Vary"]
    db.session.expire_all()
    assert invoice.no_auto_reminders is True
    plain = client.post(url, data={"no_auto_reminders": "0"})  # unchecked box: only the hidden field
    assert plain.status_code == 302 and plain.headers["Location"].endswith(f"/invoices/{invoice.id}")
    db.session.expire_all()
    assert invoice.no_auto_reminders is False
    page = text(client.get(f"/invoices/{invoice.id}"))
    assert "Automatic reminders are on for this invoice." in page


def test_create_and_edit_invoice(client, auth, invoice):
    auth.login("agent")
    customer = invoice.customer
    data = {"number": "FA-NEW", "customer_code": "ACME", "issue_date": "2026-01-10", "due_date": "2026-02-10",
            "currency": "usd", "total_excl_tax": "1 000,00", "total_incl_tax": "1200.00", "status": "validated",
            "kind": "invoice", "billing_contact_id": str(customer.contacts[0].id), "followup_contact_id": "0",
            "followup_user_id": "0", "no_auto_reminders": "y"}
    response = client.post("/invoices/new", data=data)
    assert response.status_code == 302, text(response)
    new = db.session.scalar(select(Invoice).where(Invoice.number == "FA-NEW"))
    assert new.customer_id == customer.id and new.currency == "USD"
    assert (new.total_excl_tax, new.total_incl_tax) == (Decimal("1000.00"), Decimal("1200.00"))
    assert new.due_date == date(2026, 2, 10) and new.no_auto_reminders
    assert new.billing_contact_id == customer.contacts[0].id and new.followup_contact_id is None
    assert new.creator.email == "agent@test.example" and new.pdf_path is None

    edit = client.post(f"/invoices/{new.id}/edit", data={**data, "due_date": "", "kind": "credit_note"})
    assert edit.status_code == 302
    db.session.expire_all()
    assert new.due_date is None and new.kind == "credit_note"
    assert "ACME" in text(client.get("/invoices/new?customer=ACME"))
    created, edited = db.session.scalars(select(AuditLog).where(AuditLog.entity_id == str(new.id))
                                         .order_by(AuditLog.id)).all()
    assert (created.action, created.entity, created.after["number"], created.after["total_incl_tax"]) == (
        "create", "invoice", "FA-NEW", "1200.00")
    assert (edited.action, edited.before, edited.after) == (
        "update", {"due_date": "2026-02-10", "kind": "invoice"}, {"due_date": None, "kind": "credit_note"})


def test_invoice_form_bad_inputs(client, auth, invoice):
    auth.login("agent")
    good = {"number": "FA-BAD", "customer_code": "ACME", "issue_date": "2026-01-10", "due_date": "2026-02-10",
            "currency": "EUR", "total_excl_tax": "100", "total_incl_tax": "120", "status": "validated",
            "kind": "invoice", "billing_contact_id": "0", "followup_contact_id": "0", "followup_user_id": "0"}
    cases = [
        ({"number": "FA-2026-001"}, "An invoice with this number already exists."),
        ({"customer_code": "NOPE"}, "No customer has this code."),
        ({"due_date": "2026-01-01"}, "The due date cannot be before the issue date."),
        ({"issue_date": "10/01/2026x"}, "Not a valid date value."),
        ({"currency": "EUX"}, "Unknown currency: use an ISO 4217 code such as EUR, USD or GBP."),
        ({"total_excl_tax": "-1"}, "The amount cannot be negative."),
        ({"total_incl_tax": "abc"}, "The amount must be a number, e.g. 150.00."),
        ({"total_excl_tax": "130"}, "The total incl. tax cannot be lower than the total excl. tax."),
        ({"status": "lost"}, "Not a valid choice."),
        ({"billing_contact_id": "999"}, "Not a valid choice."),
    ]
    for change, message in cases:
        response = client.post("/invoices/new", data={**good, **change})
        assert response.status_code == 422, change
        assert message in text(response), change
    assert db.session.scalar(select(Invoice.id).where(Invoice.number == "FA-BAD")) is None

    db.session.add(Payment(invoice=invoice, date=TODAY, amount=Decimal("500.00")))  # amount_paid: the trigger
    db.session.commit()
    response = client.post(f"/invoices/{invoice.id}/edit", data={**good, "number": "FA-2026-001",
                                                                  "total_excl_tax": "100", "total_incl_tax": "400"})
    assert response.status_code == 422
    assert "The total incl. tax cannot be lower than the payments already recorded." in text(response)
    db.session.expire_all()
    assert invoice.total_incl_tax == Decimal("1200.00")


def test_invoice_form_refuses_a_total_of_blanks(client, auth, invoice):
    """Blanks pass InputRequired but are no amount: refused, never saved as 0.00 nor compared to the payments."""
    auth.login("agent")
    data = {"number": "FA-BLANK", "customer_code": "ACME", "issue_date": "2026-01-10", "due_date": "2026-02-10",
            "currency": "EUR", "total_excl_tax": "100", "total_incl_tax": "   ", "status": "validated",
            "kind": "invoice", "billing_contact_id": "0", "followup_contact_id": "0", "followup_user_id": "0"}
    assert client.post("/invoices/new", data=data).status_code == 422
    assert db.session.scalar(select(Invoice.id).where(Invoice.number == "FA-BLANK")) is None
    edit = client.post(f"/invoices/{invoice.id}/edit", data={**data, "number": invoice.number})
    assert edit.status_code == 422
    db.session.expire_all()
    assert invoice.total_incl_tax == Decimal("1200.00")


@pytest.mark.csrf
def test_htmx_post_needs_the_csrf_header(client, invoice):
    make_user(email="csrf-agent@test.example", role="agent")
    db.session.commit()
    token = csrf_token_from(text(client.get("/login")))
    client.post("/login", data={"email": "csrf-agent@test.example", "password": "correct horse 42",
                                "csrf_token": token})
    url = f"/invoices/{invoice.id}/no-auto-reminders"
    assert client.post(url, data={"no_auto_reminders": "1"}, headers=HX).status_code == 400
    page = text(client.get(f"/invoices/{invoice.id}"))
    header_token = page.split('"X-CSRFToken": "')[1].split('"')[0]
    response = client.post(url, data={"no_auto_reminders": "1"}, headers={**HX, "X-CSRFToken": header_token})
    assert response.status_code == 200
    db.session.expire_all()
    assert invoice.no_auto_reminders is True
