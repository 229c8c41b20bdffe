"""Reminder screens: the new reminder form (defaults, preview, letter, email over real SMTP, bad input), the
follow-up page (filters, CSV export), roles and CSRF."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import Reminder, ReminderLevel, Setting
from relance.services.files import resolve
from tests.conftest import csrf_token_from
from tests.factories import TODAY, install_live_defaults, make_customer, make_invoice, make_user
from tests.smtp import smtp_certificate, smtp_factory  # noqa: F401 (fixtures)

pytestmark = pytest.mark.clock  # the app runs at tests.factories.NOW: TODAY is its today
HX = {"HX-Request": "true"}


def text(response) -> str:
    return response.get_data(as_text=True)


def reminder_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Reminder))


@pytest.fixture
def smtp(app, smtp_factory):  # noqa: F811
    """A real SMTP server on 127.0.0.1 the app sends to."""
    return smtp_factory().configure(app)


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def data(app):
    install_live_defaults(db.session)
    acme = make_customer(code="ACME", name="Acme Industries", email="billing@acme.example")
    nomail = make_customer(code="NOMAIL", name="Sans Email SARL", email="")
    other = make_customer(code="OTHER", name="Other Ltd")
    late = make_invoice(acme, number="FA-001", total="1200.00", due=TODAY - timedelta(days=20))
    second = make_invoice(acme, number="FA-002", total="500.00", due=TODAY - timedelta(days=50))
    paid = make_invoice(acme, number="FA-PAID", total="300.00", paid="300.00", due=TODAY - timedelta(days=30),
                        status="paid")
    credit = make_invoice(acme, number="AV-001", total="100.00", due=TODAY - timedelta(days=30), kind="credit_note")
    lonely = make_invoice(nomail, number="FA-NOMAIL", total="800.00", due=TODAY - timedelta(days=40))
    foreign = make_invoice(other, number="FA-OTHER", total="900.00", due=TODAY - timedelta(days=40))
    db.session.commit()
    return {"acme": acme, "nomail": nomail, "other": other, "late": late, "second": second, "paid": paid,
            "credit": credit, "lonely": lonely, "foreign": foreign}


def form_values(invoice, level=1, by_email=False, next_date=None, **extra) -> dict:
    values = {"invoice": invoice.id, "level": level, "note": "Called the accountant, no answer.",
              "next_date": (next_date or TODAY + timedelta(days=10)).isoformat(), "token": "t-1"}
    if by_email:
        values["by_email"] = "y"
    values.update(extra)
    return values


# --- the form ------------------------------------------------------------------------------------------------------

def test_form_defaults_level_above_last_done_and_next_date_from_setting(client, auth, data):
    auth.login("agent")
    db.session.add(Setting(key="next_reminder_delay", value="+3 weeks"))
    db.session.add(Reminder(key="k1", invoice=data["late"], level=1, channel="email", reminder_date=TODAY,
                            status="sent"))
    db.session.add(Reminder(key="k2", invoice=data["late"], level=2, channel="email", reminder_date=TODAY,
                            status="failed"))  # failed: not done
    db.session.commit()
    html = text(client.get(f"/reminders/new?invoice={data['late'].id}"))
    assert '<option value="2" selected>' in html  # above level 1 (the failed level 2 does not count)
    assert f'value="{(TODAY + timedelta(weeks=3)).isoformat()}"' in html
    assert "Madame, Monsieur" in html  # the preview of the rendered text (the customer writes French)
    html = text(client.get(f"/reminders/new?invoice={data['second'].id}"))
    assert '<option value="1" selected>' in html  # nothing done yet: level 1


def test_form_from_customer_lists_only_that_customers_unpaid_invoices(client, auth, data):
    auth.login("agent")
    html = text(client.get(f"/reminders/new?customer={data['acme'].id}"))
    assert "FA-001" in html and "FA-002" in html
    for absent in ("FA-PAID", "AV-001", "FA-OTHER", "FA-NOMAIL"):
        assert absent not in html, absent


def test_form_from_menu_searches_unpaid_invoices(client, auth, data):
    auth.login("agent")
    html = text(client.get("/reminders/new?q=other"))
    assert "FA-OTHER" in html and "FA-001" not in html
    fragment = text(client.get("/reminders/new?q=FA-00", headers=HX))
    assert fragment.lstrip().startswith('<div id="reminder-form"') and "FA-001" in fragment


def test_preview_follows_the_level_and_channel(client, auth, data):
    auth.login("agent")
    level = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 2))
    level.penalty_kind, level.penalty_value = "fixed", Decimal("25.00")
    db.session.commit()
    one = text(client.get(f"/reminders/preview?invoice={data['late'].id}&level=1&by_email=y", headers=HX))
    three = text(client.get(f"/reminders/preview?invoice={data['late'].id}&level=3", headers=HX))
    two = text(client.get(f"/reminders/preview?invoice={data['late'].id}&level=2", headers=HX))
    assert "billing@acme.example" in one and "Relance" in one
    assert "MISE EN DEMEURE" in three and "billing@acme.example" not in three  # a letter: no recipients
    assert "€25.00" in two  # the level's penalty
    assert "<html" not in one


def test_customer_without_email_is_told_and_offered_a_letter(client, auth, data):
    auth.login("agent")
    html = text(client.get(f"/reminders/new?invoice={data['lonely'].id}"))
    assert "has no email address" in html and f"/customers/{data['nomail'].id}" in html
    assert "disabled" in html.split('id="by_email"')[1].split(">")[0]
    response = client.post("/reminders/new", data=form_values(data["lonely"], by_email=True))
    assert response.status_code == 422
    assert "No email address for this customer" in text(response)
    assert reminder_count() == 0


def test_letter_reminder_is_made_with_its_pdf(client, auth, data):
    auth.login("agent")
    response = client.post("/reminders/new", data=form_values(data["late"], level=1, origin="invoice"))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/invoices/{data['late'].id}/reminders")
    reminder = db.session.scalar(select(Reminder))
    assert (reminder.channel, reminder.level, reminder.status) == ("letter", 1, "to_post")
    assert reminder.note == "Called the accountant, no answer." and reminder.next_date == TODAY + timedelta(days=10)
    assert reminder.user.email == "agent@test.example"
    pdf = PdfReader(resolve(reminder.pdf_path))
    assert "FA-001" in "".join(page.extract_text() for page in pdf.pages)
    html = text(client.get(f"/invoices/{data['late'].id}/reminders"))
    assert f"/invoices/{data['late'].id}/reminders/{reminder.id}/file" in html
    # a double submit (same form token) makes no second reminder
    client.post("/reminders/new", data=form_values(data["late"], level=1))
    assert reminder_count() == 1


def test_email_reminder_reaches_the_smtp_server(app, client, auth, data, smtp):
    auth.login("agent")
    response = client.post("/reminders/new", data=form_values(data["late"], level=1, by_email=True), headers=HX)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/invoices/{data['late'].id}/reminders"  # the invoice's history
    [message] = smtp.messages
    assert message["To"] == "billing@acme.example" and "FA-001" in message["Subject"]
    reminder = db.session.scalar(select(Reminder))
    assert (reminder.channel, reminder.status, reminder.recipients) == ("email", "sent", ["billing@acme.example"])


@pytest.mark.parametrize("case, field_message", [
    ("paid", "is paid: there is nothing to remind"),
    ("credit", "credit notes are never reminded"),
    ("level", "Level 9 does not exist."),
    ("past", "The next reminder date cannot be in the past."),
    ("tampered", "does not belong to customer Acme Industries"),
    ("missing", "This invoice does not exist."),
])
def test_bad_input_is_refused_with_a_clear_message_and_nothing_is_made(app, client, auth, data, smtp, case,
                                                                        field_message):
    auth.login("agent")
    values = {
        "paid": form_values(data["paid"], by_email=True),
        "credit": form_values(data["credit"], by_email=True),
        "level": form_values(data["late"], level=9, by_email=True),
        "past": form_values(data["late"], by_email=True, next_date=TODAY - timedelta(days=1)),
        "tampered": form_values(data["foreign"], by_email=True, customer=data["acme"].id),
        "missing": form_values(data["late"], by_email=True) | {"invoice": 999999},
    }[case]
    response = client.post("/reminders/new", data=values)
    assert response.status_code == 422
    assert field_message in text(response)
    assert reminder_count() == 0 and smtp.messages == []


def test_preview_button_without_javascript_saves_nothing(client, auth, data):
    auth.login("agent")
    response = client.post("/reminders/new", data=form_values(data["late"], level=3, action="preview"))
    assert response.status_code == 200 and "MISE EN DEMEURE" in text(response)
    assert reminder_count() == 0


# --- follow-up page ------------------------------------------------------------------------------------------------

@pytest.fixture
def history(data):
    agent = make_user(name="Alice Agent", role="agent")
    rows = [
        Reminder(key="h1", invoice=data["late"], level=1, channel="email", reminder_date=TODAY - timedelta(days=5),
                 status="sent", user=agent, note="first call"),
        Reminder(key="h2", invoice=data["second"], level=2, channel="letter", reminder_date=TODAY - timedelta(days=2),
                 status="sent"),
        Reminder(key="h3", invoice=data["lonely"], level=1, channel="email", reminder_date=TODAY,
                 status="failed", error="550 mailbox unavailable"),
        Reminder(key="h4", invoice=data["paid"], level=1, channel="email", reminder_date=TODAY, status="sent",
                 note="paid since"),
    ]
    db.session.add_all(rows)
    db.session.commit()
    return {"agent": agent, "rows": rows}


def test_followup_lists_reminders_on_unpaid_invoices_with_filters(client, auth, history):
    auth.login("viewer")
    html = text(client.get("/reminders/"))
    assert "first call" in html and "550 mailbox unavailable" in html and "paid since" not in html
    assert "New reminder" not in html and "Mass reminder" not in html  # viewers get no send buttons

    def numbers(query):
        page = text(client.get("/reminders/?" + query, headers=HX))
        return sorted(n for n in ("FA-001", "FA-002", "FA-NOMAIL") if f">{n}</a>" in page)

    assert numbers("level=2") == ["FA-002"]
    assert numbers("user=auto") == ["FA-002", "FA-NOMAIL"]
    assert numbers(f"user={history['agent'].id}") == ["FA-001"]
    assert numbers("channel=letter") == ["FA-002"]
    assert numbers("status=failed") == ["FA-NOMAIL"]
    since, until = (TODAY - timedelta(days=3)).isoformat(), (TODAY - timedelta(days=1)).isoformat()
    assert numbers(f"date_from={since}&date_to={until}") == ["FA-002"]
    assert numbers("customer=NOMAIL") == ["FA-NOMAIL"]
    assert numbers("customer=acme") == ["FA-001", "FA-002"]
    response = client.get("/reminders/?date_from=31/12/2026")
    assert response.status_code == 422 and "is not a date" in text(response)


def test_followup_csv_export_follows_the_filters_and_quotes_formulas(client, auth, data, history):
    history["rows"][0].note = "=HYPERLINK(\"http://evil\")"
    db.session.commit()
    auth.login("viewer")
    response = client.get("/reminders/export.csv?channel=email")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(text(response))))
    assert rows[0][:4] == ["No.", "Customer code", "Customer", "Invoice"]
    assert sorted(r[3] for r in rows[1:]) == ["FA-001", "FA-NOMAIL"]
    note = next(r for r in rows[1:] if r[3] == "FA-001")[4]
    assert note.startswith("'=")
    assert next(r for r in rows[1:] if r[3] == "FA-NOMAIL")[6] == "automatic"


# --- roles and CSRF ------------------------------------------------------------------------------------------------

def test_viewer_sees_history_but_no_send_buttons_and_gets_403_on_posts(client, auth, data, history):
    auth.login("viewer")
    for url in (f"/invoices/{data['late'].id}/reminders", f"/customers/{data['acme'].id}/reminders"):
        html = text(client.get(url))
        assert "first call" in html and "New reminder" not in html and "/reminders/new" not in html
    for url in ("/reminders/new", "/reminders/mass", "/reminders/preview"):
        assert client.get(url).status_code == 403
    for url in ("/reminders/new", "/reminders/mass/run", "/reminders/mass/bulk", "/reminders/mass/save",
                f"/reminders/mass/rows/{data['late'].id}"):
        assert client.post(url, data=form_values(data["late"])).status_code == 403
    assert reminder_count() == 4


def test_agent_gets_new_reminder_buttons_on_both_tabs(client, auth, data):
    auth.login("agent")
    html = text(client.get(f"/invoices/{data['late'].id}/reminders"))
    assert f"/reminders/new?invoice={data['late'].id}" in html
    html = text(client.get(f"/customers/{data['acme'].id}/reminders"))
    assert f"/reminders/new?customer={data['acme'].id}" in html


@pytest.mark.csrf
def test_every_reminder_post_checks_csrf(client, data):
    make_user(email="csrf-agent@test.example", role="agent")
    db.session.commit()
    token = csrf_token_from(text(client.get("/login")))
    client.post("/login", data={"email": "csrf-agent@test.example", "password": "correct horse 42",
                                "csrf_token": token})
    posts = ["/reminders/new", "/reminders/mass/run", "/reminders/mass/bulk", "/reminders/mass/save",
             f"/reminders/mass/rows/{data['late'].id}"]
    for url in posts:
        response = client.post(url, data=form_values(data["late"]) | {"action": "letters"})
        assert response.status_code == 400, url
    assert reminder_count() == 0
    token = csrf_token_from(text(client.get(f"/reminders/new?invoice={data['late'].id}")))
    response = client.post("/reminders/new", data=form_values(data["late"]) | {"csrf_token": token})
    assert response.status_code == 303 and reminder_count() == 1
    # htmx POSTs carry the token in the X-CSRFToken header from <body>
    page = text(client.get("/reminders/mass"))
    header_token = page.split('"X-CSRFToken": "')[1].split('"')[0]
    url = f"/reminders/mass/rows/{data['second'].id}"
    row = {f"level-{data['second'].id}": "1", f"letter-{data['second'].id}": "1"}
    assert client.post(url, data=row, headers=HX).status_code == 400
    assert client.post(url, data=row, headers={**HX, "X-CSRFToken": header_token}).status_code == 200


def test_french_labels_tell_a_date_range_from_an_email_sender(client, auth, data):
    auth.login("agent")
    html = client.get("/reminders/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<label for="fu-from">Du</label>' in html and '<label for="fu-to">Au</label>' in html
    assert "Destinataires" not in html
