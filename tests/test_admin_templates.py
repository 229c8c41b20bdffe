"""Template editor: grid, save with versions and audit, refusals that name the problem, escaped previews."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import AuditLog, ReminderLevel, Template, TemplateVersion, User
from relance.services.defaults import install_defaults
from relance.services.sending import dunning
from relance.services.texts import wording
from tests.factories import make_customer, make_invoice

HTMX = {"HX-Request": "true"}
NASTY = "{{ config }} {% for x in range(3) %}x{% endfor %} <img src=x onerror=alert(1)>"


@pytest.fixture
def setup(app):
    install_defaults(db.session)
    customer = make_customer(name="Boulangerie Petit", language="en")
    invoice = make_invoice(customer, number="FA-2026-0042", total="1200.00", due=date(2026, 1, 15))
    db.session.commit()
    level = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    return level, invoice


def url(level, channel="email", language="en", tail=""):
    return f"/admin/templates/{level.id}/{channel}/{language}{tail}"


def template_of(level, channel="email", language="en") -> Template:
    return db.session.scalar(select(Template).where(Template.level_id == level.id, Template.channel == channel,
                                                    Template.language == language))


def test_grid_shows_ready_and_missing_texts(client, auth, setup):
    level, _invoice = setup
    db.session.delete(template_of(level, "letter", "en"))
    db.session.commit()
    auth.login("manager")
    html = client.get("/admin/templates").get_data(as_text=True)
    assert html.count("badge ok") == 4 * 2 * 6 - 1 and html.count("badge warn") == 1
    assert url(level, "letter", "en") in html
    # a missing text opens with the default text, not yet saved
    page = client.get(url(level, "letter", "en")).get_data(as_text=True)
    assert "This text does not exist yet" in page and "A copy of the invoice is enclosed." in page


def test_save_makes_a_new_version_with_audit(client, auth, setup):
    level, invoice = setup
    auth.login("manager")
    data = {"subject": "Invoice __REF_FACTURE__ is overdue", "body": "Hello __NAME__,\n\nPlease pay __AMOUNT_DUE__.",
            "invoice_id": str(invoice.id)}
    response = client.post(url(level), data=data)
    assert response.status_code == 302
    template = template_of(level)
    assert template.version == 2 and template.subject == data["subject"]
    manager = db.session.scalar(select(User).where(User.email == "manager@test.example"))
    version = db.session.scalar(select(TemplateVersion).where(TemplateVersion.template_id == template.id))
    assert (version.version, version.user_id, version.body) == (2, manager.id, data["body"])
    row = db.session.scalar(select(AuditLog).where(AuditLog.entity == "template"))
    assert row.action == "update" and row.before["version"] == 1 and row.after["subject"] == data["subject"]
    page = client.get(url(level)).get_data(as_text=True)
    assert "Version 2" in page and manager.name in page
    # an individual reminder made now uses the new text
    reminder = dunning.create_reminder(db.session, invoice, level, "email", date(2026, 2, 1), user=manager)
    assert reminder.subject == "Invoice FA-2026-0042 is overdue" and reminder.template_version == 2
    assert "Please pay 1\u202f200,00\xa0€" in reminder.body  # English words, the formats of France (en_FR)


@pytest.mark.parametrize(("data", "messages"), [
    ({"subject": "Invoice __REF_FACTURE__", "body": "Pay __NOPE__ now"}, ["Unknown variable(s): __NOPE__"]),
    ({"subject": "About __NOPE__ and __OOPS__", "body": "ok"}, ["__NOPE__, __OOPS__"]),
    ({"subject": "  ", "body": "text"}, ["The subject cannot be empty."]),
    ({"subject": "Subject", "body": ""}, ["The body cannot be empty."]),
    ({"subject": "", "body": " \n "}, ["The subject cannot be empty.", "The body cannot be empty."]),
])
def test_bad_texts_are_refused_naming_the_problem(client, auth, setup, data, messages):
    level, _invoice = setup
    auth.login("manager")
    response = client.post(url(level), data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Nothing was saved" in html
    for message in messages:
        assert message in html
    template = template_of(level)
    assert template.version == 1
    assert db.session.scalar(select(func.count()).select_from(TemplateVersion)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_jinja_and_html_are_plain_text_everywhere(client, auth, setup, app):
    level, invoice = setup
    auth.login("manager")
    data = {"subject": "Re: " + NASTY, "body": "Dear __NAME__,\n\n" + NASTY + "\n\n__REF_FACTURE__"}
    # live preview (htmx fragment)
    response = client.post(url(level, tail="/preview"), data=dict(data, invoice_id=str(invoice.id)), headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<div id="preview"')
    assert "{{ config }}" in html and "{% for x in range(3) %}" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "FA-2026-0042" in html and "SECRET" not in html
    # saved as typed
    assert client.post(url(level), data=data).status_code == 302
    template = template_of(level)
    assert template.body == data["body"] and template.subject == data["subject"]
    # the email text of a reminder keeps it literally
    reminder = dunning.create_reminder(db.session, invoice, level, "email", date(2026, 2, 1),
                                       user=db.session.scalar(select(User)))
    assert NASTY in reminder.body and NASTY in reminder.subject


def test_letter_preview_is_a_pdf_with_the_text_literally(client, auth, setup):
    level, invoice = setup
    auth.login("manager")
    data = {"subject": "Reminder __REF_FACTURE__", "body": "Dear customer,\n\n" + NASTY, "invoice_id": str(invoice.id)}
    response = client.post(url(level, "letter", tail="/letter.pdf"), data=data)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "{{ config }}" in text and "<img src=x onerror=alert(1)>" in text
    assert "FA-2026-0042" in text and "Boulangerie Petit" in text
    # previewing saved nothing
    assert template_of(level, "letter").version == 1
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_preview_reports_unknown_variables_without_saving(client, auth, setup):
    level, invoice = setup
    auth.login("manager")
    response = client.post(url(level, tail="/preview"), headers=HTMX,
                           data={"subject": "x", "body": "__NOPE__", "invoice_id": str(invoice.id)})
    assert response.status_code == 200
    assert "Unknown variable(s): __NOPE__" in response.get_data(as_text=True)


def test_revert_to_the_default_text(client, auth, setup):
    level, _invoice = setup
    auth.login("manager")
    client.post(url(level), data={"subject": "Mine", "body": "My text"})
    assert client.post(url(level, tail="/revert")).status_code == 302
    template = template_of(level)
    assert (template.subject, template.body) == wording.default_text(level, "email", "en")
    assert template.version == 3
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.entity == "template").order_by(AuditLog.id))
    assert list(actions) == ["update", "revert"]


def test_invoice_search_finds_by_number_and_customer(client, auth, setup):
    _level, invoice = setup
    make_invoice(make_customer(name="Garage Martin"), number="FA-2026-0077")
    db.session.commit()
    auth.login("manager")
    html = client.get("/admin/templates/invoices?q=boulang", headers=HTMX).get_data(as_text=True)
    assert "FA-2026-0042" in html and "FA-2026-0077" not in html and f'data-invoice="{invoice.id}"' in html
    html = client.get("/admin/templates/invoices?q=0077", headers=HTMX).get_data(as_text=True)
    assert "Garage Martin" in html and "Boulangerie" not in html
    html = client.get("/admin/templates/invoices?q=%25", headers=HTMX).get_data(as_text=True)
    assert "No invoice matches" in html


def test_unknown_channel_or_language_is_404(client, auth, setup):
    level, _invoice = setup
    auth.login("manager")
    assert client.get(f"/admin/templates/{level.id}/fax/en").status_code == 404
    assert client.get(f"/admin/templates/{level.id}/email/klingon").status_code == 404
    assert client.get(f"/admin/templates/{level.id}/email/de-CH").status_code == 404  # not the stored form
    assert client.get(f"/admin/templates/{level.id}/email/de").status_code == 200  # a shipped language


def test_a_manager_adds_a_language_and_writes_its_texts(client, auth, setup):
    """Portuguese has no shipped text: the grid shows its column on demand, the editor starts from the company
    language's text (French), saving makes the text, and there is no default to go back to."""
    level, invoice = setup
    auth.login("manager")
    grid = client.get("/admin/templates", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<option value="pt">Portuguese</option>' in grid and url(level, "email", "pt") not in grid
    grid = client.get("/admin/templates?language=pt", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert ">Portuguese</th>" in grid and url(level, "email", "pt") in grid
    assert grid.count("badge warn") == 4 * 2  # each level x channel of Portuguese is missing
    page = client.get(url(level, "email", "pt"), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "the French text is shown, to translate" in page and "Première relance" not in page
    assert "Sauf erreur ou omission de notre part" in page  # the French default, to translate
    assert "Go back to the default text" not in page
    data = {"subject": "Lembrete: fatura __REF_FACTURE__", "body": "Exmos. Senhores,\n\nO valor em dívida é "
            "__AMOUNT_DUE__.\n\n__USER_SIGNATURE__", "invoice_id": str(invoice.id)}
    assert client.post(url(level, "email", "pt"), data=data).status_code == 302
    assert template_of(level, "email", "pt").subject == data["subject"]
    assert client.post(url(level, "email", "pt", "/revert")).status_code == 404
    grid = client.get("/admin/templates", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert ">Portuguese</th>" in grid  # a language with a text keeps its column


def test_template_pages_are_for_managers(client, auth, setup):
    level, _invoice = setup
    auth.login("agent")
    assert client.get("/admin/templates").status_code == 403
    assert client.get(url(level)).status_code == 403
    assert client.post(url(level), data={"subject": "x", "body": "y"}).status_code == 403
    assert template_of(level).version == 1
