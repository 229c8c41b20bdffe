"""Reminder rows and sending them, on SQLite and PostgreSQL, through a real aiosmtpd server."""

from __future__ import annotations

import io
import threading
from datetime import date
from pathlib import Path

import pytest
from flask_babel import gettext
from pypdf import PdfReader
from sqlalchemy import select

from relance.extensions import db
from relance.models import AuditLog, Reminder, ReminderLevel
from relance.services import settings as settings_service
from relance.services.sending import dunning
from relance.services.texts import wording
from tests.factories import install_live_defaults, make_customer, make_invoice, make_user
from tests.smtp import smtp_certificate, smtp_factory, smtp_server  # noqa: F401

ON = date(2026, 3, 3)
EVIL = "SARL <script>alert(1)</script> {{ 7*7 }}"


@pytest.fixture
def company(app):
    install_live_defaults(db.session)
    settings_service.save(db.session, {
        "company_name": "Atelier Durand SAS", "company_address": "18 rue des Lilas", "company_postcode": "75011",
        "company_city": "Paris", "company_iban": "FR76 3000 6000 0112 3456 7890 189",
        "sender_email": "compta@atelier-durand.example", "copy_to_sales": True,
    })
    db.session.commit()
    return {level.rank: level for level in db.session.scalars(select(ReminderLevel))}


def customer_with_invoice(name="Garage Dubois", email="compta@garage.example", number=None, **kw):
    rep = make_user(email=f"rep{make_user.__code__.co_firstlineno}-{name[:3]}@atelier.example".lower(),
                    role="agent") if kw.pop("rep", True) else None
    customer = make_customer(name=name, email=email, **kw)
    if rep:
        customer.sales_reps.append(rep)
    invoice = make_invoice(customer, total="1200.00", due=date(2026, 1, 15), number=number)
    db.session.commit()
    return invoice


def make_emails(levels, count=1, **kw):
    ids = []
    for n in range(count):
        invoice = customer_with_invoice(name=f"Client {n}", email=f"client{n}@customer.example", rep=False, **kw)
        reminder = dunning.create_reminder(db.session, invoice, levels[1], "email", ON)
        db.session.commit()
        ids.append(reminder.id)
    return ids


def statuses(ids):
    db.session.expire_all()
    return [db.session.get(Reminder, i).status for i in ids]


def test_email_sent_with_everything(app, company, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    invoice = customer_with_invoice()
    reminder = dunning.create_reminder(db.session, invoice, company[1], "email", ON)
    db.session.commit()
    assert reminder.status == "pending" and reminder.recipients == ["compta@garage.example"]
    assert len(reminder.cc) == 1 and reminder.cc[0].endswith("@atelier.example")

    report = dunning.send([reminder.id])
    assert report.sent == [reminder.id] and not report.failed and not report.retry
    db.session.refresh(reminder)
    assert reminder.status == "sent" and reminder.sent_at and reminder.attempts == 1 and not reminder.claimed_by

    (received,) = smtp_server.received
    assert sorted(received.rcpt_tos) == sorted(["compta@garage.example", reminder.cc[0]])
    msg = received.message
    assert msg["To"] == "compta@garage.example" and msg["Cc"] == reminder.cc[0]
    assert msg["Subject"] == reminder.subject and invoice.number in reminder.subject
    assert msg["Reply-To"] == "compta@atelier-durand.example"
    assert msg["Message-ID"] == reminder.message_id
    plain = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = msg.get_body(("html",)).get_content()
    assert plain.strip() == reminder.body.strip()
    assert "1\u202f200,00\xa0€" in plain and "1\u202f200,00\xa0€" in html
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == f"Facture-{invoice.number}.pdf"
    assert invoice.number in PdfReader(io.BytesIO(attachment.get_content())).pages[0].extract_text()


def test_starttls_and_auth(app, company, smtp_factory):  # noqa: F811
    server = smtp_factory(security="starttls", auth=True).configure(app)
    ids = make_emails(company, 2)
    assert dunning.send(ids).sent == ids
    assert len(server.received) == 2


def test_eml_outbox_without_smtp(app, company):
    app.config["SMTP_HOST"] = None
    (rid,) = make_emails(company)
    assert dunning.send([rid]).sent == [rid]
    (eml,) = Path(app.config["OUTBOX_PATH"]).glob("*.eml")
    import email
    from email.policy import default

    msg = email.message_from_bytes(eml.read_bytes(), policy=default)
    assert msg["Message-ID"] == db.session.get(Reminder, rid).message_id
    assert msg["To"] == "client0@customer.example"


def test_names_are_data_in_email_and_letter(app, company, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    wording.save_template(db.session, company[1], "email", "fr", "Relance __CUSTOMER_NAME__",
                        "Bonjour __CUSTOMER_NAME__,\n\nFacture __REF_FACTURE__ : __AMOUNT_DUE__.")
    # no factory counter in the letter: "49" must only be able to come from the name's {{ 7*7 }}
    invoice = customer_with_invoice(name=EVIL, code="C-EVIL", address="1 rue de la Paix", number="FA-EVIL")
    email_reminder = dunning.create_reminder(db.session, invoice, company[1], "email", ON)
    letter = dunning.create_reminder(db.session, invoice, company[1], "letter", ON)
    db.session.commit()
    dunning.send([email_reminder.id, letter.id])
    msg = smtp_server.messages[0]
    assert msg["Subject"] == f"Relance {EVIL}"
    assert f"Bonjour {EVIL}," in msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Bonjour SARL &lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }}," in html and "<script>" not in html
    db.session.refresh(letter)
    text = PdfReader(Path(app.config["FILES_PATH"]) / letter.pdf_path).pages[0].extract_text()
    text = text.replace("\xa0", " ").replace("\u202f", " ")  # the text layer writes spaces as no-break spaces
    assert "SARL <script>alert(1)</script> {{ 7*7 }}" in text and "49" not in text


def test_idempotent_create_and_send(app, company, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    invoice = customer_with_invoice()
    first = dunning.create_reminder(db.session, invoice, company[1], "email", ON)
    db.session.commit()
    again = dunning.create_reminder(db.session, invoice, company[1], "email", ON)
    assert again.id == first.id
    assert dunning.send([first.id]).sent == [first.id]
    second = dunning.send([first.id])
    assert second.skipped == [first.id] and not second.sent
    assert len(smtp_server.received) == 1


def test_two_workers_at_once_send_each_once(app, company, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    ids = make_emails(company, 12)
    db.session.commit()  # the test's own reads end here: on SQLite its transaction would hold the workers' write lock
    reports = []

    def worker():
        with app.app_context():
            reports.append(dunning.send(ids))
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(reports[0].sent + reports[1].sent) == ids
    assert len(smtp_server.received) == 12
    assert len({m["Message-ID"] for m in smtp_server.messages}) == 12
    assert statuses(ids) == ["sent"] * 12


def test_421_then_success(app, company, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    smtp_server.handler.answers = ["421 4.7.0 Try again later"]
    (rid,) = make_emails(company)
    report = dunning.send([rid])
    assert report.retry == [rid] and report.retry_delay == 60
    reminder = db.session.get(Reminder, rid)
    assert reminder.status == "pending" and reminder.attempts == 1 and "421 4.7.0 Try again later" in reminder.error
    assert dunning.send([rid]).sent == [rid]
    assert len(smtp_server.received) == 1
    db.session.refresh(reminder)
    assert reminder.attempts == 2 and reminder.error == ""


def test_550_fails_with_the_server_text(app, company, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    smtp_server.handler.answers = ["550 5.7.1 Message rejected as spam"]
    ids = make_emails(company, 2)
    report = dunning.send(ids)
    assert report.failed == ids[:1] and report.sent == ids[1:]
    reminder = db.session.get(Reminder, ids[0])
    assert reminder.status == "failed" and reminder.error == "550 5.7.1 Message rejected as spam"
    assert dunning.send(ids[:1]).skipped == ids[:1]  # a failed one is not sent again by itself


def test_connection_dropped_after_the_third_of_ten(app, company, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    smtp_server.handler.drop_after = 3
    ids = make_emails(company, 10)
    report = dunning.send(ids)
    assert report.sent == ids[:3] and report.retry == ids[3:]
    assert statuses(ids) == ["sent"] * 3 + ["pending"] * 7
    later = dunning.send(ids)
    assert later.sent == ids[3:] and later.skipped == ids[:3]
    subjects = [m["Subject"] for m in smtp_server.messages]
    assert len(subjects) == 10 and len(set(m["To"] for m in smtp_server.messages)) == 10


def test_server_down_keeps_everything_pending(app, company):
    """Connection refused: the circuit opens, no attempt is counted, nothing is recorded as handed over."""
    from tests.smtp import free_port

    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_SECURITY="none", SMTP_TIMEOUT=2)
    ids = make_emails(company, 4)
    report = dunning.send(ids)
    assert report.retry == ids and 1 <= report.retry_delay <= 60
    db.session.expire_all()
    rows = [db.session.get(Reminder, i) for i in ids]
    assert all(r.status == "pending" and r.attempts == 0 and r.claimed_by is None and r.message_id is None
               for r in rows)
    assert "ConnectionRefusedError" in rows[0].error


def test_gives_up_after_max_attempts(app, company, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    app.config.update(SEND_MAX_ATTEMPTS=2)
    smtp_server.handler.answers = ["451 4.3.0 Try again later"] * 2  # a temporary answer to this message
    (rid,) = make_emails(company)
    dunning.send([rid])
    report = dunning.send([rid])
    assert report.failed == [rid]
    prefix = gettext("Gave up after %(n)s attempts: %(error)s", n=2, error="|").split("|")[0]
    error = db.session.get(Reminder, rid).error
    assert error.startswith(prefix) and "451 4.3.0 Try again later" in error
    assert smtp_server.received == []


def test_never_sent_without_recipient_or_text(app, company, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    invoice = customer_with_invoice(email="", rep=False)
    reminder = dunning.create_reminder(db.session, invoice, company[1], "email", ON)
    db.session.commit()
    assert reminder.status == "failed"
    assert reminder.error == gettext("No recipient email address: the email was not sent.")
    other = customer_with_invoice(name="Other", rep=False)
    pending = dunning.create_reminder(db.session, other, company[1], "email", ON)
    db.session.commit()
    pending.subject = ""  # e.g. a text emptied by hand before sending
    db.session.commit()
    assert dunning.send([reminder.id, pending.id]).failed == [pending.id]
    error = db.session.get(Reminder, pending.id).error
    assert error == gettext("The email has no subject or no text: it was not sent.")
    assert smtp_server.received == []


def test_cancel_pending(app, company):
    (rid,) = make_emails(company)
    reminder = db.session.get(Reminder, rid)
    assert dunning.cancel(db.session, reminder, "paid meanwhile")
    db.session.commit()
    assert reminder.status == "cancelled" and dunning.send([rid]).skipped == [rid]


def test_manual_reminder_keys(app, company):
    user = make_user(role="agent", signature="Luc Agent")
    invoice = customer_with_invoice()
    key = dunning.manual_key(invoice.id, 1, "letter", "form-token-1")
    one = dunning.create_reminder(db.session, invoice, company[1], "letter", ON, user=user, note="Called, no answer",
                                  next_date=date(2026, 3, 20), key=key)
    two = dunning.create_reminder(db.session, invoice, company[1], "letter", ON, user=user, key=key)
    with pytest.raises(dunning.ReminderRefused) as refused:  # the same level and channel again: only overridden
        dunning.create_reminder(db.session, invoice, company[1], "letter", ON, user=user)
    assert refused.value.verdict.codes == ("already_sent",) and refused.value.verdict.may_override
    with pytest.raises(dunning.ReminderRefused):  # an override needs a person
        dunning.create_reminder(db.session, invoice, company[1], "letter", ON, override="again")
    three = dunning.create_reminder(db.session, invoice, company[1], "letter", ON, user=user,
                                    override="The customer asked for a second copy")
    db.session.commit()
    assert one.id == two.id != three.id
    assert one.override_reason == "" and three.override_reason == "The customer asked for a second copy"
    logged = db.session.scalars(select(AuditLog).where(AuditLog.action == "override")).one()
    assert logged.entity_id == str(three.id) and logged.user_id == user.id
    assert logged.after["reason"] == "The customer asked for a second copy"
    assert logged.before["refused"][0]["code"] == "already_sent"
    assert one.note == "Called, no answer" and one.next_date == date(2026, 3, 20) and one.user_id == user.id
    with pytest.raises(dunning.ReminderError) as error:
        dunning.create_reminder(db.session, invoice, company[1], "letter", ON, user=user, next_date=date(2026, 1, 1))
    assert error.value.field == "next_date"


def test_a_customer_at_an_accented_domain_receives_the_reminder(app, company, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    invoice = customer_with_invoice(name="Hôtel du Parc", email="hugo.garnier@hôtelduparc.example", rep=False)
    reminder = dunning.create_reminder(db.session, invoice, company[1], "email", ON)
    db.session.commit()
    dunning.send([reminder.id])
    assert statuses([reminder.id]) == ["sent"]
    [received] = smtp_server.received
    assert received.rcpt_tos == ["hugo.garnier@xn--htelduparc-rbb.example"]
    assert received.message["To"] == "hugo.garnier@xn--htelduparc-rbb.example"


def test_a_utf8_name_before_the_at_is_sent_with_smtputf8(app, company, smtp_factory):  # noqa: F811
    server = smtp_factory(smtputf8=True).configure(app)
    invoice = customer_with_invoice(name="Müller Gärtnerei", email="jürgen@gärtnerei-müller.example", rep=False)
    reminder = dunning.create_reminder(db.session, invoice, company[1], "email", ON)
    db.session.commit()
    assert reminder.recipients == ["jürgen@gärtnerei-müller.example"]
    assert dunning.send([reminder.id]).sent == [reminder.id]
    [received] = server.received
    assert received.rcpt_tos == ["jürgen@xn--grtnerei-mller-5hb70b.example"] and "SMTPUTF8" in received.mail_options
    assert received.message["To"] == "jürgen@xn--grtnerei-mller-5hb70b.example"
    assert received.message["Message-ID"] == db.session.get(Reminder, reminder.id).message_id


def test_a_utf8_name_fails_alone_on_a_server_without_smtputf8(app, company, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    utf8 = customer_with_invoice(name="Müller Gärtnerei", email="jürgen@mueller.example", rep=False)
    ids = [dunning.create_reminder(db.session, utf8, company[1], "email", ON).id, *make_emails(company, 2)]
    db.session.commit()
    report = dunning.send(ids)
    assert report.failed == ids[:1] and report.sent == ids[1:] and not report.retry
    assert statuses(ids) == ["failed", "sent", "sent"]
    failed = db.session.get(Reminder, ids[0])
    assert failed.error.startswith("jürgen@mueller.example: the part before the @ is not ASCII, which this mail "
                                   "server cannot carry (it does not offer SMTPUTF8)")
    assert not dunning.is_in_doubt(failed)
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == ["client0@customer.example",
                                                                    "client1@customer.example"]


def test_eml_outbox_keeps_utf8_and_accented_addresses_usable(app, company):
    app.config["SMTP_HOST"] = None
    invoice = customer_with_invoice(name="Hôtel du Parc", email="jürgen@hôtelduparc.example", rep=False)
    reminder = dunning.create_reminder(db.session, invoice, company[1], "email", ON)
    db.session.commit()
    assert dunning.send([reminder.id]).sent == [reminder.id]
    (eml,) = Path(app.config["OUTBOX_PATH"]).glob("*.eml")
    raw = eml.read_bytes()
    assert "\r\nTo: jürgen@xn--htelduparc-rbb.example\r\n".encode() in raw.split(b"\r\n\r\n")[0]
    import email
    from email.policy import default

    assert email.message_from_bytes(raw, policy=default)["To"] == "jürgen@xn--htelduparc-rbb.example"
