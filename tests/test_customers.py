"""Customers screens: list (search, filters, sort, pages, htmx fragment), customer page tabs, edits and roles."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import AuditLog, Contact, Customer, Invoice, Reminder
from tests.conftest import csrf_token_from
from tests.factories import TODAY, make_customer, make_invoice, make_user

pytestmark = pytest.mark.clock  # the app runs at tests.factories.NOW: TODAY is its today
HX = {"HX-Request": "true"}


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture(autouse=True)
def english(client):
    """Messages in English (the locale otherwise falls back to French)."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def customer(app):
    customer = make_customer(code="ACME", name="Acme Industries", contacts=[
        {"name": "Durand", "first_name": "Claire", "email": "claire@acme.example", "role": "billing"}])
    db.session.commit()
    return customer


@pytest.mark.parametrize("path", ["/customers/", "/customers/{id}", "/customers/{id}/invoices",
                                  "/customers/{id}/reminders", "/customers/new"])
def test_pages_need_login(client, customer, path):
    response = client.get(path.format(id=customer.id))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_viewer_reads_without_edit_buttons_and_cannot_post(client, auth, customer):
    auth.login("viewer")
    page = text(client.get(f"/customers/{customer.id}"))
    assert "Acme Industries" in page and "claire@acme.example" in page
    assert f'action="/customers/{customer.id}/edit"' not in page
    assert "/contacts" not in page  # no add / edit / remove contact
    listing = text(client.get("/customers/"))
    assert "Acme Industries" in listing and "/customers/new" not in listing
    assert client.get("/customers/new").status_code == 403
    for path in (f"/customers/{customer.id}/edit", f"/customers/{customer.id}/contacts",
                 f"/customers/{customer.id}/contacts/{customer.contacts[0].id}/delete", "/customers/new"):
        assert client.post(path, data={"name": "x", "code": "x"}).status_code == 403, path
    db.session.expire_all()
    assert customer.name == "Acme Industries" and len(customer.contacts) == 1


def test_agent_sees_edit_forms(client, auth, customer):
    auth.login("agent")
    page = text(client.get(f"/customers/{customer.id}"))
    assert f'action="/customers/{customer.id}/edit"' in page
    assert f'action="/customers/{customer.id}/contacts"' in page
    assert "/customers/new" in text(client.get("/customers/"))


def test_list_search_filters_and_htmx_fragment(client, auth):
    today = TODAY
    unpaid = make_customer(code="U1", name="Unpaid Bakery")
    make_invoice(unpaid, total="300.00", due=today - timedelta(days=10))
    paid = make_customer(code="P1", name="Paid Garage")
    make_invoice(paid, total="100.00", paid="100.00", status="paid")
    cancelled_only = make_customer(code="X1", name="Cancelled Cafe")
    make_invoice(cancelled_only, total="100.00", status="cancelled")
    make_customer(code="E1", name="Excluded Hotel", no_auto_reminders=True)
    make_customer(code="Z1", name="Paused Pharmacy", paused_until=today + timedelta(days=5), pause_reason="dispute")
    make_customer(code="Z2", name="Pause Ended Plumbing", paused_until=today - timedelta(days=1), pause_reason="old")
    db.session.commit()
    auth.login("viewer")

    def names(query: str, **headers) -> list[str]:
        html = text(client.get("/customers/" + query, headers=headers))
        rows = [c for c in (unpaid, paid, cancelled_only) if c.name in html]
        return sorted(c.name for c in rows) + sorted(n for n in ("Excluded Hotel", "Paused Pharmacy",
                                                                 "Pause Ended Plumbing") if n in html)

    assert names("?unpaid=1") == ["Unpaid Bakery"]
    assert names("?excluded=1") == ["Excluded Hotel"]
    assert names("?paused=1") == ["Paused Pharmacy"]
    assert names("?q=bakery") == ["Unpaid Bakery"]
    assert names("?q=X1") == ["Cancelled Cafe"]
    assert names("?q=%25") == []  # a literal %, not a wildcard

    full = client.get("/customers/?q=bakery")
    fragment = client.get("/customers/?q=bakery", headers=HX)
    assert "HX-Request" in full.headers["Vary"] and "HX-Request" in fragment.headers["Vary"]
    assert "<html" in text(full) and 'id="customer-rows"' in text(full)
    assert "<html" not in text(fragment) and "<tr>" in text(fragment) and "Unpaid Bakery" in text(fragment)
    assert "€300.00" in text(fragment)  # remaining due shown


def test_list_sort_and_pagination(client, auth):
    for n in range(55):
        make_customer(code=f"S{n:03d}", name=f"Shop {n:03d}")
    db.session.commit()
    auth.login("viewer")
    first = text(client.get("/customers/?sort=name"))
    assert "Shop 000" in first and "Shop 049" in first and "Shop 050" not in first
    assert "page=2" in first and "Page 1 of 2" in first
    second = text(client.get("/customers/?sort=name&page=2"))
    assert "Shop 050" in second and "Shop 054" in second and "Shop 000" not in second
    reverse = text(client.get("/customers/?sort=-name"))
    assert reverse.index("Shop 054") < reverse.index("Shop 053")
    assert client.get("/customers/?page=99&sort=bogus").status_code == 200


def test_script_name_is_escaped_everywhere(client, auth):
    evil = "<script>alert(1)</script>"
    customer = make_customer(code="EVIL", name=evil, pause_reason=evil,
                             paused_until=TODAY + timedelta(days=3))
    invoice = make_invoice(customer, number="FA-EVIL")
    db.session.add(Reminder(key="evil-1", invoice=invoice, level=1, channel="email", reminder_date=date(2026, 2, 1),
                            note=evil, status="sent"))
    db.session.commit()
    auth.login("agent")
    for path in ("/customers/", "/customers/?q=script", f"/customers/{customer.id}",
                 f"/customers/{customer.id}/invoices", f"/customers/{customer.id}/reminders",
                 "/invoices/", f"/invoices/{invoice.id}", f"/invoices/{invoice.id}/reminders"):
        html = text(client.get(path))
        assert evil not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    assert evil not in text(client.get("/customers/?q=script", headers=HX))


def test_create_customer_and_refuse_bad_input(client, auth):
    rep = make_user(email="rep@test.example", role="agent", name="Rita Rep")
    db.session.commit()
    auth.login("agent")
    data = {"code": "NEW1", "name": "New Co", "email": "billing@new.example", "country": "be", "language": "en",
            "kind": "consumer", "sales_reps": [str(rep.id)], "direct_debit": "y", "no_auto_reminders": "y",
            "paused_until": "2026-12-31", "pause_reason": "Payment plan"}
    response = client.post("/customers/new", data=data)
    assert response.status_code == 302
    customer = db.session.scalar(select(Customer).where(Customer.code == "NEW1"))
    assert (customer.name, customer.country, customer.language, customer.kind) == ("New Co", "BE", "en", "consumer")
    assert customer.direct_debit and customer.no_auto_reminders
    assert customer.paused_until == date(2026, 12, 31) and customer.pause_reason == "Payment plan"
    assert [u.email for u in customer.sales_reps] == ["rep@test.example"]

    bad_cases = [
        ({"code": "NEW1"}, "A customer with this code already exists."),
        ({"code": "NEW2", "email": "not-an-email"}, "&#34;not-an-email&#34; is not a valid email address."),
        ({"code": "NEW2", "country": "France"}, "Two letters, e.g. FR, BE, DE."),
        ({"code": "NEW2", "pause_reason": ""}, "Give the reason for the pause."),
        ({"code": "NEW2", "name": ""}, "This field is required."),
        ({"code": "NEW2", "language": "klingon"}, "Not a valid choice."),
    ]
    for change, message in bad_cases:
        response = client.post("/customers/new", data={**data, **change})
        assert response.status_code == 422, change
        assert message in text(response), change
    assert db.session.scalar(select(Customer.id).where(Customer.code == "NEW2")) is None


def test_email_fields_take_several_and_internationalised_addresses(client, auth, customer):
    """The rule of the API and the CSV import: each address checked and kept as typed (trimmed); one bad address
    is named and nothing is saved."""
    auth.login("agent")
    url = f"/customers/{customer.id}/edit"
    data = {"code": "ACME", "name": "Acme", "country": "FR", "language": "fr", "kind": "business",
            "email": " Compta@Acme.example ;jürgen@hôtelduparc.example, "}
    assert client.post(url, data=data).status_code == 302
    db.session.expire_all()
    assert customer.email == "Compta@Acme.example, jürgen@hôtelduparc.example"
    form = client.get(f"/customers/{customer.id}")  # the Details tab holds the form
    assert 'inputmode="email"' in text(form) and 'type="email"' not in text(form)  # the browser keeps what is typed
    bad = client.post(url, data={**data, "name": "Renamed", "email": "compta@acme.example; jürgen@@hôtelduparc"})
    assert bad.status_code == 422
    assert "&#34;jürgen@@hôtelduparc&#34; is not a valid email address." in text(bad)
    db.session.expire_all()
    assert customer.name == "Acme" and customer.email == "Compta@Acme.example, jürgen@hôtelduparc.example"

    contacts = f"/customers/{customer.id}/contacts"
    contact = {"first_name": "Zoé", "name": "Martin", "role": "billing", "email": "Zoé.Martin@hôtelduparc.example"}
    assert client.post(contacts, data=contact).status_code == 302
    assert db.session.scalar(select(Contact).where(Contact.first_name == "Zoé")).email == \
        "Zoé.Martin@hôtelduparc.example"
    bad = client.post(contacts, data={**contact, "first_name": "Léa", "email": "léa martin@hôtelduparc.example"})
    assert bad.status_code == 422
    assert "&#34;léa martin@hôtelduparc.example&#34; is not a valid email address." in text(bad)
    assert db.session.scalar(select(Contact).where(Contact.first_name == "Léa")) is None


def test_edit_customer_and_contacts(client, auth, customer):
    auth.login("agent")
    data = {"code": "ACME", "name": "Acme Renamed", "country": "FR", "language": "fr", "kind": "business"}
    assert client.post(f"/customers/{customer.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    assert customer.name == "Acme Renamed" and not customer.no_auto_reminders and customer.paused_until is None

    response = client.post(f"/customers/{customer.id}/contacts",
                           data={"first_name": "Hugo", "name": "Garnier", "email": "hugo@acme.example",
                                 "role": "followup"})
    assert response.status_code == 302
    contact = db.session.scalar(select(Contact).where(Contact.email == "hugo@acme.example"))
    assert contact.role == "followup" and contact.customer_id == customer.id

    bad = client.post(f"/customers/{customer.id}/contacts", data={"name": "", "email": "nope", "role": "boss"})
    assert bad.status_code == 422
    for message in ("This field is required.", "&#34;nope&#34; is not a valid email address.", "Not a valid choice."):
        assert message in text(bad)

    edit = client.post(f"/customers/{customer.id}/contacts/{contact.id}/edit",
                       data={"first_name": "Hugo", "name": "Garnier-Roux", "email": "hugo@acme.example",
                             "role": "billing"})
    assert edit.status_code == 302
    db.session.expire_all()
    assert contact.name == "Garnier-Roux" and contact.role == "billing"

    invoice = make_invoice(customer, billing_contact_id=contact.id)
    db.session.commit()
    assert client.post(f"/customers/{customer.id}/contacts/{contact.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, contact.id) is None
    assert db.session.get(Invoice, invoice.id).billing_contact_id is None

    other = make_customer()
    db.session.commit()
    assert client.post(f"/customers/{other.id}/contacts/{customer.contacts[0].id}/delete").status_code == 404

    log = [(r.action, r.entity, r.before, r.after) for r in db.session.scalars(
        select(AuditLog).where(AuditLog.entity.in_(("customer", "contact"))).order_by(AuditLog.id))]
    assert log[0][:2] == ("update", "customer") and log[0][3]["name"] == "Acme Renamed"
    assert "code" not in log[0][3]  # only what changed
    assert [entry[:2] for entry in log[1:]] == [("create", "contact"), ("update", "contact"), ("delete", "contact")]
    assert log[2][2:] == ({"name": "Garnier", "role": "followup"}, {"name": "Garnier-Roux", "role": "billing"})
    assert log[3][2]["email"] == "hugo@acme.example" and log[3][3] is None


def test_invoices_tab_unpaid_first_and_due_per_currency(client, auth, customer):
    today = TODAY
    make_invoice(customer, number="PAID-1", total="50.00", paid="50.00", status="paid", due=today - timedelta(days=90))
    make_invoice(customer, number="OPEN-EUR", total="300.00", paid="100.00", due=today - timedelta(days=5))
    make_invoice(customer, number="OPEN-USD", total="80.00", currency="USD", due=today + timedelta(days=5))
    make_invoice(customer, number="AV-1", total="40.00", kind="credit_note", due=today - timedelta(days=100))
    make_invoice(customer, number="CANCEL-1", total="999.00", status="cancelled", due=today - timedelta(days=100))
    db.session.commit()
    auth.login("viewer")
    html = text(client.get(f"/customers/{customer.id}/invoices"))
    positions = [html.index(n) for n in ("OPEN-EUR", "OPEN-USD", "PAID-1")]
    assert positions == sorted(positions)
    assert html.index("OPEN-USD") < html.index("AV-1") and html.index("OPEN-USD") < html.index("CANCEL-1")
    assert "€200.00" in html and "$80.00" in html  # remaining due per currency
    summary = html.split("<strong>Remaining due:</strong>")[1].split("</p>")[0]
    assert "€200.00" in summary and "$80.00" in summary
    assert "999" not in summary and "40.00" not in summary  # cancelled invoices and credit notes never count
    cancelled_row = html.split("CANCEL-1")[1].split("</tr>")[0]
    assert cancelled_row.rstrip().endswith('<span class="muted">—</span></td>')
    fragment = client.get(f"/customers/{customer.id}/invoices", headers=HX)
    assert "<html" not in text(fragment) and 'id="customer-tabs"' in text(fragment)
    assert "HX-Request" in fragment.headers["Vary"]


def test_reminders_tab_lists_the_history(client, auth, customer):
    user = make_user(name="Agent Smith")
    invoice = make_invoice(customer, number="FA-R1")
    db.session.add_all([
        Reminder(key="r1", invoice=invoice, level=1, channel="email", reminder_date=date(2026, 2, 1),
                 next_date=date(2026, 2, 16), status="sent", note="first"),
        Reminder(key="r2", invoice=invoice, level=2, channel="letter", reminder_date=date(2026, 2, 16),
                 status="failed", user=user, pdf_path="letters/x.pdf"),
    ])
    db.session.commit()
    auth.login("viewer")
    html = text(client.get(f"/customers/{customer.id}/reminders"))
    for expected in ("FA-R1", "first", "automatic", "Agent Smith", "letter", "email", "failed", "sent",
                     f"/invoices/{invoice.id}/reminders/"):
        assert expected in html, expected
    assert html.index("Agent Smith") < html.index("automatic")  # newest first


def login_with_csrf(client, role: str) -> None:
    make_user(email=f"{role}-csrf@test.example", role=role)
    db.session.commit()
    token = csrf_token_from(text(client.get("/login")))
    response = client.post("/login", data={"email": f"{role}-csrf@test.example", "password": "correct horse 42",
                                           "csrf_token": token})
    assert response.status_code == 302


@pytest.mark.csrf
def test_customer_edit_needs_the_csrf_token(client, customer):
    login_with_csrf(client, "agent")
    data = {"code": "ACME", "name": "Changed", "country": "FR", "language": "fr", "kind": "business"}
    assert client.post(f"/customers/{customer.id}/edit", data=data).status_code == 400
    token = csrf_token_from(text(client.get(f"/customers/{customer.id}")))
    assert client.post(f"/customers/{customer.id}/edit", data={**data, "csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert customer.name == "Changed"
