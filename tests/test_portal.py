"""The customer's page through HTTP: what it shows, the three answers, and its locks (any link that opens nothing is
the same plain 404, wrong links are throttled per address, no session cookie, no staff page, its own form token,
uploads checked like invoice PDFs)."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import Answer, CustomerLink
from relance.models.user import LoginFailure
from relance.services import answers
from relance.services import settings as settings_service
from tests.factories import install_live_defaults, make_customer, make_invoice

NOW = datetime(2026, 2, 10, 9, 0)
pytestmark = pytest.mark.clock(NOW)


@pytest.fixture
def world(app):
    install_live_defaults(db.session)
    settings_service.save(db.session, {"company_name": "Atelier Durand", "company_email": "compta@durand.example",
                                       "payment_url_pattern": "https://pay.example/{number}"})
    acme = make_customer("ACME", name="ACME Industries", language="en")
    beta = make_customer("BETA")
    late = make_invoice(acme, number="FA-1", total="1200.00", due=date(2026, 1, 1))
    soon = make_invoice(acme, number="FA-2", total="300.00", due=date(2026, 3, 1))
    make_invoice(acme, number="FA-0", total="50.00", paid="50.00", due=date(2026, 1, 1))
    theirs = make_invoice(beta, number="FB-9", due=date(2026, 1, 1))
    db.session.commit()
    settings = settings_service.load(db.session)
    token = answers.issue_link(db.session, acme.id, NOW - timedelta(days=1), settings)
    other = answers.issue_link(db.session, beta.id, NOW - timedelta(days=1), settings)
    db.session.commit()
    return {"token": token, "other": other, "late": late, "soon": soon, "theirs": theirs, "acme": acme}


def form_token(client, token) -> str:
    html = client.get(f"/c/{token}").get_data(as_text=True)
    return html.split('name="form_token" value="')[1].split('"')[0]


def test_the_page_shows_the_open_invoices_with_what_is_claimed(client, world):
    response = client.get(f"/c/{world['token']}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"]
    assert "Your open invoices with Atelier Durand" in html and "ACME Industries" in html
    assert "FA-1" in html and "FA-2" in html and "FA-0" not in html and "FB-9" not in html
    assert "Recovery indemnity" in html and "Late-payment interest" in html  # FA-1 is 40 days late
    assert "https://pay.example/FA-1" in html
    assert "Set-Cookie" not in response.headers
    pdf = client.get(f"/c/{world['token']}/invoices/{world['late'].id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert client.get(f"/c/{world['token']}/invoices/{world['theirs'].id}/pdf").status_code == 404


def test_every_link_that_opens_nothing_is_the_same_404(client, world):
    token = world["token"]
    link = db.session.scalars(select(CustomerLink).where(CustomerLink.customer_id == world["acme"].id)).one()
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    bodies = set()
    for url in (f"/c/{altered}", "/c/nothing", f"/c/{token}x", f"/c/{world['other']}/invoices/{world['late'].id}/pdf"):
        response = client.get(url)
        assert response.status_code == 404, url
        bodies.add(response.get_data(as_text=True))
    link.expires_at = NOW - timedelta(seconds=1)  # expired
    db.session.commit()
    bodies.add(client.get(f"/c/{token}").get_data(as_text=True))
    link.expires_at, link.revoked_at = NOW + timedelta(days=9), NOW  # revoked
    db.session.commit()
    response = client.get(f"/c/{token}")
    bodies.add(response.get_data(as_text=True))
    assert response.status_code == 404 and len(bodies) == 1
    assert "FA-1" not in bodies.pop()


def test_thirty_wrong_links_from_one_address_are_throttled(client, world):
    for n in range(30):
        assert client.get(f"/c/wrong-{n}").status_code == 404
    assert client.get("/c/wrong-31").status_code == 429
    assert client.get(f"/c/{world['token']}").status_code == 429  # not even a right one: nothing to learn
    other = client.get(f"/c/{world['token']}", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200  # another address is not slowed down
    assert db.session.scalar(select(func.count(LoginFailure.id))) == 30


def test_the_page_is_no_way_into_the_staff_pages(client, world):
    client.get(f"/c/{world['token']}")
    for url in ("/", "/invoices/", f"/invoices/{world['late'].id}", "/admin/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_the_three_answers_hold_the_reminders(client, world):
    token, late, soon = world["token"], world["late"], world["soon"]
    key = form_token(client, token)
    response = client.post(f"/c/{token}/invoices/{late.id}/promise", data={
        "form_token": key, "promise_date": "2026-02-20", "message": "Payday is the 20th."})
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"/c/{token}?done=promise#invoice-{late.id}")
    assert "Set-Cookie" not in response.headers
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "we have noted your promise" in page and "You promised to pay on" in page
    response = client.post(f"/c/{token}/invoices/{soon.id}/paid", data={
        "form_token": key, "paid_on": "2026-02-09", "amount": "300,00", "reference": "VIR-77"})
    assert response.status_code == 303
    response = client.post(f"/c/{token}/invoices/{late.id}/dispute", data={
        "form_token": key, "reason": "wrong_amount", "message": "We ordered 3, not 4.",
        "file": (open_pdf(), "order.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 303
    made = {a.kind: a for a in db.session.scalars(select(Answer))}
    assert (made["promise"].hold_until, made["paid"].amount, made["paid"].hold_until) == (
        date(2026, 2, 23), Decimal("300.00"), date(2026, 2, 17))
    assert made["dispute"].file_path and made["dispute"].file_path.startswith("answers/")
    from relance.services.engine.schedule import schedule
    skipped = {s.invoice_number: s.code for s in schedule(db.session, date(2026, 2, 10), automatic=False).skipped}
    assert skipped == {"FA-1": "disputed"}


def open_pdf():
    import io

    return io.BytesIO(b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n")


def test_refused_answers_say_why_and_save_nothing(client, world):
    token, late = world["token"], world["late"]
    key = form_token(client, token)
    cases = [
        ("paid", {"paid_on": "2026-03-01", "amount": "10"}, "between the invoice date and today"),
        ("paid", {"paid_on": "2026-02-01", "amount": "99999"}, "at most the invoice"),
        ("promise", {"promise_date": "not a date"}, "Give the date you will pay"),
        ("dispute", {"reason": "other", "message": ""}, "Tell us what is wrong"),
    ]
    for kind, values, words in cases:
        response = client.post(f"/c/{token}/invoices/{late.id}/{kind}", data={"form_token": key, **values})
        assert response.status_code == 422 and words in response.get_data(as_text=True), (kind, values)
    response = client.post(f"/c/{token}/invoices/{late.id}/dispute", data={
        "form_token": key, "reason": "wrong_amount", "file": (open_pdf_fake(), "evil.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 422 and "not a PDF" in response.get_data(as_text=True)
    assert client.post(f"/c/{token}/invoices/{late.id}/paid", data={
        "form_token": "forged", "paid_on": "2026-02-01", "amount": "10"}).status_code == 400
    assert client.post(f"/c/{token}/invoices/{world['theirs'].id}/promise", data={
        "form_token": key, "promise_date": "2026-02-20"}).status_code == 404
    assert client.post(f"/c/{token}/invoices/{late.id}/refund", data={"form_token": key}).status_code == 404
    assert db.session.scalar(select(func.count(Answer.id))) == 0


def open_pdf_fake():
    import io

    return io.BytesIO(b"<html><script>alert(1)</script></html>")


def test_the_page_speaks_the_customers_language(client, world):
    world["acme"].language = "fr"
    db.session.commit()
    html = client.get(f"/c/{world['token']}").get_data(as_text=True)
    assert "Vos factures ouvertes" in html and 'lang="fr"' in html


def test_a_link_that_opens_nothing_costs_the_same_whatever_is_wrong(client, world):
    """The same work for an unknown, an altered, an expired and a revoked link (one lookup by hash, one failure
    counted): the answer's time tells nothing about which. Counted in SQL statements, not in seconds."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement.split()[0])

    token = world["token"]
    link = db.session.scalars(select(CustomerLink).where(CustomerLink.customer_id == world["acme"].id)).one()
    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        shapes = []
        for prepare, url in (
            (None, "/c/" + "B" * 43),
            (None, "/c/" + token[:-1] + ("A" if token[-1] != "A" else "B")),
            (("expires_at", NOW - timedelta(days=1)), f"/c/{token}"),
            (("revoked_at", NOW), f"/c/{token}"),
        ):
            if prepare:
                setattr(link, *prepare)
                db.session.commit()
            statements.clear()
            assert client.get(url).status_code == 404
            shapes.append(tuple(statements))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(set(shapes)) == 1, shapes


def test_the_latest_printed_letter_can_be_downloaded_again(client, world):
    from relance.models import Reminder, ReminderLevel

    level = db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == 1)).one()
    letters = []
    for invoice, status in ((world["late"], "to_post"), (world["theirs"], "posted"), (world["late"], "failed")):
        reminder = Reminder(key=f"letter-{invoice.id}-{status}", invoice_id=invoice.id, channel="letter",
                            reminder_date=date(2026, 2, 1), status=status, subject="Relance", body="Bonjour",
                            recipients=[])
        reminder.snapshot_level(level)
        db.session.add(reminder)
        db.session.flush()
        letters.append(reminder.id)
    db.session.commit()
    html = client.get(f"/c/{world['token']}").get_data(as_text=True)
    assert f"/letters/{letters[0]}/pdf" in html and f"/letters/{letters[2]}/pdf" not in html
    pdf = client.get(f"/c/{world['token']}/letters/{letters[0]}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert client.get(f"/c/{world['token']}/letters/{letters[1]}/pdf").status_code == 404  # another customer's
    assert client.get(f"/c/{world['token']}/letters/{letters[2]}/pdf").status_code == 404  # never printed


@pytest.mark.parametrize(("language", "words"), [
    ("de", "Ihre offenen Rechnungen bei"), ("es", "Sus facturas pendientes"), ("it", "Le vostre fatture aperte"),
    ("nl", "Uw openstaande facturen")])
def test_the_page_in_the_other_languages_of_the_letters(client, world, language, words):
    world["acme"].language = language
    db.session.commit()
    html = client.get(f"/c/{world['token']}").get_data(as_text=True)
    assert words in html and f'lang="{language}"' in html
