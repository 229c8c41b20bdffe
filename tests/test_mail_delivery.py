"""Mail delivery under faults, through a real aiosmtpd server really stopped and started: a drop after DATA is
"in doubt" and never sent again; an unreachable server opens the circuit (ServiceState "smtp"), no attempt is
burnt, the automatic run's ticks wait and send every reminder of the day once when it is back; after
SEND_OUTAGE_DAYS each waiting email fails with the reason. Bad data (a text with an unknown variable, a letter
without a postal address) fails alone with its reason, on the mass run and the automatic run.
SQLite and PostgreSQL."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from relance import tasks
from relance.extensions import db
from relance.models import Invoice, Reminder, ReminderLevel, Run, Template
from relance.models.health import ServiceState
from relance.services import settings as settings_service
from relance.services.sending import autorun, dunning, mail_circuit
from tests.factories import TODAY, install_live_defaults, make_customer, make_invoice, reminder_rows
from tests.smtp import free_port, smtp_certificate, smtp_factory, smtp_server  # noqa: F401

ON = date(2026, 2, 2)  # level 1 (+15 days) of an invoice due on 15 January is due
SEND_HOUR = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)  # 10:00 in Paris: the default send hour
_n = itertools.count(1)


@pytest.fixture
def company(app, smtp_server):  # noqa: F811
    install_live_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example", "company_name": "Vendor SAS",
                                       "company_address": "1 rue du Port", "company_postcode": "44000",
                                       "company_city": "Nantes"})
    db.session.commit()
    smtp_server.configure(app)
    yield smtp_server
    app.config.pop("CLOCK", None)


def invoice(due=date(2026, 1, 15), **kw) -> Invoice:
    customer_kw = {k[9:]: kw.pop(k) for k in list(kw) if k.startswith("customer_")}
    customer_kw.setdefault("email", f"client{next(_n)}@customer.example")
    inv = make_invoice(make_customer(**customer_kw), due=due, **kw)
    db.session.commit()
    return inv


def received_by_invoice(server) -> dict[str, int]:
    found: dict[str, int] = {}
    for msg in server.messages:
        for part in msg.iter_attachments():
            number = (part.get_filename() or "").removeprefix("Facture-").removeprefix("Invoice-")
            number = number.removesuffix(".pdf")
            found[number] = found.get(number, 0) + 1
    return found


def circuit() -> mail_circuit.Circuit:
    db.session.commit()
    return mail_circuit.state(db.session)


class Clock:
    """The app's one clock, moved by the test (DEVELOPERS.md "One clock")."""

    def __init__(self, app, start: datetime):
        self.now = start
        app.config["CLOCK"] = lambda: self.now

    def naive(self) -> datetime:
        return self.now.replace(tzinfo=None)


# --- a drop after DATA: in doubt ----------------------------------------------------------------------------


def test_a_drop_after_data_in_the_automatic_run_is_in_doubt_and_never_sent_again(company):
    invoices = [invoice() for _ in range(5)]
    company.handler.drop_in_data = 2  # the 3rd message is taken whole, then the connection drops before "250"
    run = autorun.run_auto(db.session, ON)
    assert len(company.messages) == 3
    doubt = reminder_rows(in_doubt=True)
    assert len(doubt) == 1 and dunning.is_in_doubt(doubt[0])
    assert doubt[0].message_id == company.messages[2]["Message-ID"]
    assert doubt[0].error.startswith("In doubt") and doubt[0].message_id in doubt[0].error
    for _ in range(3):  # the next triggers finish the day without sending that one again
        run = autorun.run_auto(db.session, ON)
    assert run.status == "done" and (run.sent, run.failed) == (4, 1)
    assert received_by_invoice(company) == {inv.number: 1 for inv in invoices}  # 5 reminders, 5 messages
    assert len({m["Message-ID"] for m in company.messages}) == 5
    assert dunning.send([doubt[0].id]).skipped == [doubt[0].id]  # nor by hand without a person's check
    assert len(company.messages) == 5


def test_a_drop_after_data_through_the_worker_task_is_in_doubt_the_rest_is_retried(company):
    """The Huey task reschedules the retries, never the email in doubt."""
    ids = []
    for _ in range(4):
        inv = invoice()
        level = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
        ids.append(dunning.create_reminder(db.session, inv, level, "email", ON).id)
        db.session.commit()
    company.handler.drop_in_data = 1
    before = {t.id for t in tasks.huey.scheduled()}
    counts = tasks.send_reminders.call_local(ids)
    assert counts == {"sent": 1, "failed": 1, "retry": 2, "skipped": 0}
    [again] = [t for t in tasks.huey.scheduled() if t.id not in before]
    assert again.args == (ids[2:],)
    tasks.huey.storage.flush_schedule()
    assert tasks.send_reminders.call_local(*again.args) == {"sent": 2, "failed": 0, "retry": 0, "skipped": 0}
    assert [r.status for r in reminder_rows()] == ["sent", "failed", "sent", "sent"] and reminder_rows()[1].in_doubt
    assert len(company.messages) == 4 and len({m["To"] for m in company.messages}) == 4
    assert circuit().ok  # the server answered: the last news is good


def test_a_worker_that_lost_its_claims_sends_and_prints_none_of_them(app, company):
    """A live worker judged dead (its heartbeat late under load): its claims were released and another worker sent
    and printed them; the first one, going on, hands over and prints none of them: never twice."""
    import threading

    level = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    ids = [dunning.create_reminder(db.session, invoice(), level, channel, ON).id
           for channel in ("email", "letter") for _ in range(3)]
    db.session.commit()
    printed: list[int] = []
    other: dict = {}

    def another_worker():
        with app.app_context():
            db.session.execute(update(Reminder).where(Reminder.status == "pending", Reminder.message_id.is_(None))
                               .values(claimed_by=None, claimed_at=None))  # what a settler does to a "dead" one
            db.session.commit()
            other["report"] = dunning.send(ids, letter_sink=lambda r, pdf: printed.append(r.id))
            db.session.remove()

    def first_outcome(reminder):  # the first email is out (not committed yet): the other worker goes now
        if not other:
            thread = threading.Thread(target=another_worker)
            thread.start()
            thread.join()

    report = dunning.send(ids, group_size=1, on_progress=first_outcome, letter_sink=lambda r, pdf: printed.append(r.id))
    assert report.sent == ids[:1] and report.skipped == ids[1:]
    assert other["report"].sent == ids[1:] and other["report"].skipped == ids[:1]
    assert len(company.messages) == 3 and len({m["Message-ID"] for m in company.messages}) == 3
    assert received_by_invoice(company) == {r.invoice.number: 1 for r in reminder_rows(channel="email")}
    assert sorted(printed) == ids[3:]  # each letter printed once
    assert [r.status for r in reminder_rows()] == ["sent"] * 3 + ["to_post"] * 3


def test_the_invoice_pdfs_are_made_as_the_emails_go_and_one_that_fails_fails_alone(app, company, monkeypatch):
    """The generated invoice PDF is made by the message's builder just before its email goes: none is made while
    the server cannot be reached (an outage costs no rendering), and one that cannot be made fails its reminder
    alone, with the reason in the reader's words."""
    level = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    ids = [dunning.create_reminder(db.session, invoice(), level, "email", ON).id for _ in range(4)]
    db.session.commit()
    broken = reminder_rows(id=ids[1])[0].invoice.number
    made: list[str] = []
    real = dunning.pdf_from_html

    def counted(html: str) -> bytes:
        made.append(html)
        if broken in html:
            raise ValueError("no room for the table")
        return real(html)

    monkeypatch.setattr(dunning, "pdf_from_html", counted)
    company.stop()
    assert dunning.send(ids).retry == ids
    # nothing rendered for a server that is down
    assert made == [] and {r.status for r in reminder_rows()} == {"pending"}
    company.start()
    Clock(app, datetime.now(UTC) + timedelta(hours=1))  # past the circuit's wait
    report = dunning.send(ids)
    assert sorted(report.sent) == [ids[0], *ids[2:]] and len(made) == 4
    failed = reminder_rows(id=ids[1])[0]
    assert failed.status == "failed"
    assert failed.error == "The invoice PDF could not be made: no room for the table"
    assert received_by_invoice(company) == {r.invoice.number: 1 for r in reminder_rows(status="sent")}


# --- an unreachable server: the circuit --------------------------------------------------------------------


@pytest.mark.slow
def test_an_outage_of_fifty_minutes_then_every_reminder_of_the_day_goes_once(app, company):
    count = 30
    invoices = [invoice() for _ in range(count)]
    clock = Clock(app, SEND_HOUR)
    company.stop()  # connections are refused
    for minute in range(0, 55, 5):  # the ticks from 10:00 to 10:50, Paris time
        clock.now = SEND_HOUR + timedelta(minutes=minute)
        assert tasks.auto_run_tick.call_local() == ON.isoformat()
        state = circuit()
        assert not state.ok and state.open_at(clock.naive()) and "ConnectionRefusedError" in state.detail
        assert state.since == SEND_HOUR.replace(tzinfo=None)
        made = reminder_rows()
        assert len(made) == count and {r.status for r in made} == {"pending"}
        assert {r.attempts for r in made} == {0} and {r.message_id for r in made} == {None}
    assert 5 <= circuit().failures <= 7  # a few connection tries in 50 minutes (1, 2, 4 ... 30 min apart)
    company.start()  # back on the same port
    ticks = 0
    while ticks < 12:  # at most an hour of ticks
        clock.now += timedelta(minutes=5)
        ticks += 1
        tasks.auto_run_tick.call_local()
        db.session.expire_all()
        if db.session.scalar(select(Run.status).where(Run.kind == "auto", Run.run_date == ON)) == "done":
            break
    assert clock.now - SEND_HOUR <= timedelta(minutes=50 + 30 + 5)  # the next tick after the circuit's wait
    run = db.session.scalar(select(Run).where(Run.kind == "auto", Run.run_date == ON))
    assert run.status == "done" and (run.total, run.sent, run.failed) == (count, count, 0)
    assert received_by_invoice(company) == {inv.number: 1 for inv in invoices}
    assert len({m["Message-ID"] for m in company.messages}) == count
    assert {r.attempts for r in reminder_rows()} == {1}
    state = circuit()
    assert state.ok and state.until is None and state.since is None
    assert tasks.auto_run_tick.call_local() is None  # the day is complete: nothing more
    assert len(company.messages) == count


def test_while_the_circuit_is_open_nothing_is_tried_and_letters_go_on(app, company):
    settings_service.save(db.session, {"auto_letters": True})
    db.session.commit()
    clock = Clock(app, SEND_HOUR)
    level1 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    emails = [dunning.create_reminder(db.session, invoice(), level1, "email", ON).id for _ in range(3)]
    letter = dunning.create_reminder(db.session, invoice(), level1, "letter", ON).id
    db.session.commit()
    company.stop()
    first = dunning.send(emails)
    assert first.retry == emails and first.retry_delay == 60
    company.start()  # back, but the circuit holds for a minute: the next caller returns at once
    clock.now += timedelta(seconds=20)
    report = dunning.send([*emails, letter])
    assert report.retry == emails and report.retry_delay == 40 and report.sent == [letter]
    assert company.messages == [] and reminder_rows(id=letter)[0].status == "to_post"
    assert {r.attempts for r in reminder_rows(channel="email")} == {0}
    clock.now += timedelta(seconds=41)
    assert dunning.send(emails).sent == emails
    assert len(company.messages) == 3 and circuit().ok


def test_a_421_greeting_opens_the_circuit(app, company):
    from tests.smtp import greeting_server

    (rid,) = [dunning.create_reminder(db.session, invoice(), db.session.scalar(
        select(ReminderLevel).where(ReminderLevel.rank == 1)), "email", ON).id]
    db.session.commit()
    with greeting_server("421 4.3.2 Too busy, try later") as port:
        app.config["SMTP_PORT"] = port
        report = dunning.send([rid])
    assert report.retry == [rid]
    [row] = reminder_rows()
    assert row.status == "pending" and row.attempts == 0 and "421 4.3.2 Too busy" in row.error
    state = circuit()
    assert not state.ok and state.detail == "421 4.3.2 Too busy, try later" and state.until is not None


def test_after_the_outage_days_each_waiting_email_fails_with_the_reason(app, company):
    app.config.update(SMTP_PORT=free_port(), SEND_OUTAGE_DAYS=2)  # nothing listens there
    clock = Clock(app, SEND_HOUR)
    level1 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    early = [dunning.create_reminder(db.session, invoice(), level1, "email", ON).id for _ in range(2)]
    db.session.commit()
    before = {t.id for t in tasks.huey.scheduled()}
    assert tasks.send_reminders.call_local(early)["retry"] == 2
    [again] = [t for t in tasks.huey.scheduled() if t.id not in before]  # the worker tries again in a minute
    # Huey dates its schedule with the real clock, not the app's: this checks the real delay (the real clock on
    # purpose)
    assert again.args == (early,) and 55 <= (again.eta - datetime.now(UTC).replace(tzinfo=None)).total_seconds() <= 61
    tasks.huey.storage.flush_schedule()
    clock.now = SEND_HOUR + timedelta(days=1)  # a reminder made during the outage waits its own two days
    late = dunning.create_reminder(db.session, invoice(), level1, "email", date(2026, 2, 3)).id
    db.session.commit()
    clock.now = SEND_HOUR + timedelta(days=2, minutes=1)
    report = dunning.send([*early, late])
    assert report.failed == early and report.retry == [late]
    for row in reminder_rows():
        assert row.attempts == 0
        if row.id in early:
            assert row.status == "failed" and not row.in_doubt
            assert "could not be reached since 2026-02-02 09:00 UTC" in row.error
            assert "ConnectionRefusedError" in row.error
        else:
            assert row.status == "pending"
    assert circuit().since == SEND_HOUR.replace(tzinfo=None)


def test_per_message_answers_stay_per_message_and_the_server_counts_as_up(company):
    level1 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    ids = [dunning.create_reminder(db.session, invoice(), level1, "email", ON).id for _ in range(3)]
    db.session.commit()
    company.handler.answers = ["550 5.7.1 Rejected as spam", "451 4.3.0 Try again later"]
    report = dunning.send(ids)
    assert (report.failed, report.retry, report.sent) == ([ids[0]], [ids[1]], [ids[2]])
    assert [r.attempts for r in reminder_rows()] == [1, 1, 1]
    state = circuit()
    assert state.ok and state.until is None
    row = db.session.get(ServiceState, "smtp")
    assert row is not None and row.ok


# --- bad data fails alone ----------------------------------------------------------------------------------


def put_unknown_variable(rank: int, channel: str, language: str) -> None:
    """A text written to the database directly (the template editor refuses unknown variables)."""
    level_id = db.session.scalar(select(ReminderLevel.id).where(ReminderLevel.rank == rank))
    db.session.execute(update(Template).where(Template.level_id == level_id, Template.channel == channel,
                                              Template.language == language)
                       .values(body=Template.body + "\n\nVotre conseiller : __ADVISOR_NAME__"))
    db.session.commit()


def test_automatic_run_bad_data_fails_alone_with_its_reason(app, company):
    settings_service.save(db.session, {"auto_letters": True})
    db.session.commit()
    put_unknown_variable(1, "email", "en")
    french = invoice()  # level 1, French text: fine
    english = invoice(customer_language="en")  # level 1, English text with an unknown variable
    no_contact = {"customer_address": "", "customer_postcode": "", "customer_city": ""}
    for inv in (nowhere := invoice(due=date(2025, 12, 1), **no_contact),
                unreachable := invoice(due=date(2025, 12, 1), customer_email="", **no_contact),
                posted := invoice(due=date(2025, 12, 2))):
        db.session.add(Reminder(key=f"k{inv.id}", invoice_id=inv.id, level=1, channel="email",
                                reminder_date=date(2025, 12, 20), status="sent"))  # level 2 next: email + letter
    db.session.commit()
    run = autorun.run_auto(db.session, ON)
    by = {(r.invoice_id, r.channel): r for r in reminder_rows(run_id=run.id)}
    bad_text = by[(english.id, "email")]
    assert bad_text.status == "failed" and "__ADVISOR_NAME__" in bad_text.error
    no_address = by[(nowhere.id, "letter")]
    assert no_address.status == "failed" and "No postal address" in no_address.error
    assert nowhere.customer.name in no_address.error
    assert by[(french.id, "email")].status == "sent" and by[(nowhere.id, "email")].status == "sent"
    assert by[(posted.id, "letter")].status == "to_post"
    # neither email nor postal address: the email is skipped with its reason, the letter fails with its own
    assert (unreachable.id, "email") not in by and run.skipped_reasons.get("no_email_address") == 1
    assert by[(unreachable.id, "letter")].status == "failed"
    assert "No postal address" in by[(unreachable.id, "letter")].error
    assert run.status == "done" and (run.sent, run.failed) == (4, 3)
    assert sorted(received_by_invoice(company)) == sorted([french.number, nowhere.number, posted.number])
    assert all("__ADVISOR_NAME__" not in m.get_body(("plain",)).get_content() for m in company.messages)
    pdf = PdfReader(io.BytesIO((Path(app.config["FILES_PATH"]) / run.letters_pdf_path).read_bytes()))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert posted.customer.name in text and nowhere.customer.name not in text


HX = {"HX-Request": "true"}


@pytest.mark.clock  # the app runs at tests.factories.NOW: TODAY is its today
def test_mass_run_bad_data_fails_alone_with_its_reason(app, client, auth, company):
    today = TODAY
    put_unknown_variable(1, "email", "en")
    put_unknown_variable(1, "letter", "en")
    good = make_invoice(make_customer(name="Bon Client"), due=today - timedelta(days=20))
    homeless = make_invoice(make_customer(name="Sans Adresse", address="", postcode="", city=""),
                            due=today - timedelta(days=20))
    odd = make_invoice(make_customer(name="Unknown Variable Ltd", language="en"), due=today - timedelta(days=20))
    nomail = make_invoice(make_customer(name="Sans Email", email=""), due=today - timedelta(days=20))
    db.session.commit()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    auth.login("agent")
    for inv, channels in ((good, ("email",)), (homeless, ("email", "letter")), (odd, ("email", "letter")),
                          (nomail, ("letter",))):
        data = {f"level-{inv.id}": "1", **{f"{c}-{inv.id}": "1" for c in channels}}
        client.post(f"/reminders/mass/rows/{inv.id}", headers=HX, data=data)
    response = client.post("/reminders/mass/run", data={}, headers=HX)
    assert response.status_code == 200, response.get_data(as_text=True)
    run = db.session.scalar(select(Run).where(Run.kind == "mass"))
    by = {(r.invoice_id, r.channel): r for r in reminder_rows(run_id=run.id)}
    assert by[(good.id, "email")].status == "sent" and by[(homeless.id, "email")].status == "sent"
    letter = by[(homeless.id, "letter")]
    assert letter.status == "failed"
    assert letter.error == "No postal address for Sans Adresse: the letter was not printed."
    for channel in ("email", "letter"):
        assert by[(odd.id, channel)].status == "failed" and "__ADVISOR_NAME__" in by[(odd.id, channel)].error
    assert by[(nomail.id, "letter")].status == "to_post"
    db.session.refresh(run)
    assert (run.status, run.total, run.sent, run.failed) == ("done", 6, 3, 3)
    assert sorted(received_by_invoice(company)) == sorted([good.number, homeless.number])
    pdf = PdfReader(io.BytesIO(client.get(f"/reminders/runs/{run.id}/letters.pdf").data))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert "Sans Email" in text and "Sans Adresse" not in text and "Unknown Variable" not in text
    assert "__ADVISOR_NAME__" not in text
