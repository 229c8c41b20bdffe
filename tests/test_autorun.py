"""The automatic run: when it is due (time zones, summer time), what it sends (exclusions, catch-up, business
days), exactly once per key, crash leftovers, letters PDF, the CLI. SQLite and PostgreSQL, real SMTP server."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import current_app
from pypdf import PdfReader
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import Invoice, Reminder, Run
from relance.models.base import utcnow
from relance.services import settings as settings_service
from relance.services.sending import autorun, autorun_preview, dunning
from relance.services.sending.config import SendingConfig
from tests.factories import install_live_defaults, make_customer, make_invoice, make_user
from tests.smtp import smtp_certificate, smtp_factory, smtp_server  # noqa: F401

PARIS = "Europe/Paris"
NY = "America/New_York"
_n = itertools.count(1)


def sending() -> SendingConfig:
    return SendingConfig.from_config(current_app.config)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- when a run is due (pure) ----------------------------------------------------------------------------------

def test_paris_last_sunday_of_march_runs_at_ten_local():
    # 2026-03-29: 02:00 CET -> 03:00 CEST. 10:00 local is 08:00 UTC that day, 09:00 UTC the day before.
    assert autorun.due_run_date(utc(2026, 3, 28, 8, 59), 10, PARIS, date(2026, 3, 27)) is None
    assert autorun.due_run_date(utc(2026, 3, 28, 9, 0), 10, PARIS, date(2026, 3, 27)) == date(2026, 3, 28)
    assert autorun.due_run_date(utc(2026, 3, 29, 7, 59), 10, PARIS, date(2026, 3, 28)) is None
    assert autorun.due_run_date(utc(2026, 3, 29, 8, 0), 10, PARIS, date(2026, 3, 28)) == date(2026, 3, 29)
    assert autorun.due_run_date(utc(2026, 3, 29, 9, 0), 10, PARIS, date(2026, 3, 29)) is None  # done today


def test_paris_last_sunday_of_october_runs_at_ten_local():
    # 2026-10-25: 03:00 CEST -> 02:00 CET. 10:00 local is 08:00 UTC the day before, 09:00 UTC that day.
    assert autorun.due_run_date(utc(2026, 10, 24, 8, 0), 10, PARIS, date(2026, 10, 23)) == date(2026, 10, 24)
    assert autorun.due_run_date(utc(2026, 10, 25, 8, 30), 10, PARIS, date(2026, 10, 24)) is None
    assert autorun.due_run_date(utc(2026, 10, 25, 9, 0), 10, PARIS, date(2026, 10, 24)) == date(2026, 10, 25)


def test_send_hour_inside_the_changed_hour():
    # 02:00 does not exist on 2026-03-29 in Paris: the run starts at the first instant after (03:00 CEST)
    assert autorun.due_run_date(utc(2026, 3, 29, 0, 59), 2, PARIS, date(2026, 3, 28)) is None
    assert autorun.due_run_date(utc(2026, 3, 29, 1, 0), 2, PARIS, date(2026, 3, 28)) == date(2026, 3, 29)
    # 02:00 happens twice on 2026-10-25: one run, at the first one
    assert autorun.due_run_date(utc(2026, 10, 25, 0, 0), 2, PARIS, date(2026, 10, 24)) == date(2026, 10, 25)
    assert autorun.due_run_date(utc(2026, 10, 25, 1, 0), 2, PARIS, date(2026, 10, 25)) is None


def test_new_york_company():
    # DST in New York 2026: 8 March to 1 November. 10:00 local = 15:00 UTC in winter, 14:00 UTC in summer.
    assert autorun.due_run_date(utc(2026, 3, 7, 14, 59), 10, NY, date(2026, 3, 6)) is None
    assert autorun.due_run_date(utc(2026, 3, 7, 15, 0), 10, NY, date(2026, 3, 6)) == date(2026, 3, 7)
    assert autorun.due_run_date(utc(2026, 3, 8, 14, 0), 10, NY, date(2026, 3, 7)) == date(2026, 3, 8)
    assert autorun.due_run_date(utc(2026, 11, 1, 14, 30), 10, NY, date(2026, 10, 31)) is None
    assert autorun.due_run_date(utc(2026, 11, 1, 15, 0), 10, NY, date(2026, 10, 31)) == date(2026, 11, 1)
    # 02:00 UTC on 10 March is still 9 March in New York: that local date's run
    assert autorun.due_run_date(utc(2026, 3, 10, 2, 0), 10, NY, date(2026, 3, 8)) == date(2026, 3, 9)


@pytest.mark.parametrize("zone", [PARIS, NY, "Australia/Lord_Howe", "Asia/Kolkata", "UTC"])
@pytest.mark.parametrize("hour", [2, 10])
def test_a_year_of_five_minute_ticks_runs_once_a_day_at_the_hour(zone, hour):
    """Every tick of 2026 through the pure function: one run per local date, at the send hour (or the first
    instant after it when that hour does not exist)."""
    tz = ZoneInfo(zone)
    runs: dict[date, datetime] = {}
    last = None
    now = utc(2025, 12, 31, 0, 0)
    while now < utc(2027, 1, 2):
        on = autorun.due_run_date(now, hour, zone, last)
        if on is not None:
            assert on not in runs
            runs[on] = now.astimezone(tz)
            last = on
        now += timedelta(minutes=5)
    days = [d for d in runs if date(2026, 1, 1) <= d <= date(2026, 12, 31)]
    assert len(days) == 365
    for day in days:
        local = runs[day]
        assert local.date() == day
        intended = datetime(day.year, day.month, day.day, hour, tzinfo=tz)
        real = intended.astimezone(UTC).astimezone(tz)  # a skipped hour moves forward
        assert timedelta(0) <= local - real < timedelta(minutes=5), (day, local)


def test_next_run_at_is_the_next_send_hour():
    settings = type("S", (), {"auto_hour": 10, "auto_timezone": PARIS})
    assert autorun.next_run_at(settings, utc(2026, 3, 28, 20, 0), date(2026, 3, 28)).isoformat() == \
        "2026-03-29T10:00:00+02:00"
    assert autorun.next_run_at(settings, utc(2026, 3, 28, 5, 0), date(2026, 3, 27)).isoformat() == \
        "2026-03-28T10:00:00+01:00"
    due_now = autorun.next_run_at(settings, utc(2026, 3, 28, 12, 0), date(2026, 3, 26))
    assert due_now == utc(2026, 3, 28, 12, 0)


# --- the run against the database --------------------------------------------------------------------------------

@pytest.fixture
def company(app, smtp_server):  # noqa: F811
    """Default levels (0: -5 days, 1: +15, 2: +30 email+letter, 3: +45 letter by hand), texts, an SMTP server."""
    install_live_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example", "company_name": "Vendor SAS",
                                       "company_address": "1 rue du Port", "company_postcode": "44000",
                                       "company_city": "Nantes"})
    db.session.commit()
    smtp_server.configure(app)
    return smtp_server


def invoice(due=date(2026, 1, 15), **kw) -> Invoice:
    customer_kw = {k[9:]: kw.pop(k) for k in list(kw) if k.startswith("customer_")}
    customer_kw.setdefault("email", f"client{next(_n)}@customer.example")
    customer = make_customer(**customer_kw)
    inv = make_invoice(customer, due=due, **kw)
    db.session.commit()
    return inv


def received_by_invoice(server) -> dict[str, int]:
    found: dict[str, int] = {}
    for msg in server.messages:
        for part in msg.iter_attachments():
            name = part.get_filename() or ""
            number = name.removeprefix("Facture-").removeprefix("Invoice-").removesuffix(".pdf")
            found[number] = found.get(number, 0) + 1
    return found


def test_run_sends_due_reminders_once_and_records_the_run(company):
    a = invoice(due=date(2026, 1, 15))  # level 1 due on 30 Jan
    b = invoice(due=date(2026, 1, 20))  # level 1 due on 4 Feb: not yet
    on = date(2026, 2, 2)
    run = autorun.run_auto(db.session, on)
    assert run.status == "done" and run.kind == "auto" and run.run_date == on and not run.catch_up
    assert (run.total, run.sent, run.failed) == (1, 1, 0)
    assert run.started_at and run.finished_at and run.finished_at >= run.started_at
    assert received_by_invoice(company) == {a.number: 1}
    (reminder,) = db.session.scalars(select(Reminder)).all()
    assert reminder.key == dunning.reminder_key(a.id, 1, "email", on) and reminder.user_id is None
    assert reminder.run_id == run.id and reminder.message_id == company.messages[0]["Message-ID"]

    again = autorun.run_auto(db.session, on)  # a second trigger of the same day sends nothing more
    assert again.id == run.id and again.status == "done" and again.sent == 1
    assert len(company.messages) == 1
    assert db.session.scalar(select(func.count()).select_from(Run)) == 1
    assert b.number not in received_by_invoice(company)


def test_customer_without_email_is_skipped_with_its_reason_not_failed_daily(company):
    nobody = invoice(due=date(2026, 1, 15), customer_email="")
    for on in (date(2026, 2, 2), date(2026, 2, 3)):
        run = autorun.run_auto(db.session, on)
        assert (run.sent, run.failed) == (0, 0)
        assert run.skipped_reasons.get("no_email_address") == 1
    assert db.session.scalar(select(func.count()).select_from(Reminder).where(Reminder.invoice_id == nobody.id)) == 0
    assert company.messages == []


def test_missed_ten_days_catches_up_one_level_per_invoice(company):
    old = invoice(due=date(2025, 12, 1))  # levels 1 (16 Dec) and 2 (31 Dec) both came during the downtime
    newer = invoice(due=date(2025, 12, 20))  # level 1 on 4 Jan
    db.session.add(Run(kind="auto", run_date=date(2025, 12, 31), status="done", finished_at=utcnow()))
    db.session.commit()
    run = autorun.run_auto(db.session, date(2026, 1, 10))  # ten days later
    assert run.catch_up and run.sent == 2
    levels = dict(db.session.execute(select(Reminder.invoice_id, Reminder.level)).all())
    assert levels == {old.id: 1, newer.id: 1}  # one level each, not 1 and 2 at once
    nxt = autorun.run_auto(db.session, date(2026, 1, 11))
    assert not nxt.catch_up and nxt.sent == 0  # the next level waits for the minimum gap (7 days)
    later = autorun.run_auto(db.session, date(2026, 1, 19))  # newer: level 2 on 19 Jan
    assert later.sent == 2  # both reach level 2 (email; the letter waits: automatic letters are off)
    assert later.skipped_reasons.get("letters_off") == 2
    assert received_by_invoice(company) == {old.number: 2, newer.number: 2}


def test_business_day_rule_moves_a_public_holiday(company):
    settings_service.save(db.session, {"business_days": True, "business_country": "FR"})
    db.session.commit()
    inv = invoice(due=date(2026, 4, 16))  # level 1 on Friday 1 May 2026 (Labour Day)
    holiday = autorun.run_auto(db.session, date(2026, 5, 1))
    assert holiday.sent == 0 and not company.messages
    explanation = autorun_preview.test_invoice(db.session, inv, date(2026, 5, 1)).explanation
    assert explanation.status == "waiting" and explanation.next_date == date(2026, 5, 4)
    assert autorun.run_auto(db.session, date(2026, 5, 2)).sent == 0  # Saturday
    assert autorun.run_auto(db.session, date(2026, 5, 4)).sent == 1  # Monday
    assert received_by_invoice(company) == {inv.number: 1}


def test_exclusions_never_send(company, app):
    on = date(2026, 2, 2)
    now = datetime(2026, 2, 2, 9, 0)  # 10:00 in Paris, naive UTC
    user = make_user(role="agent")
    sent = invoice()
    settings_service.save(db.session, {"min_days_between": 0})  # so only the 20-hour rule holds it back
    recent = invoice()  # a reminder by hand 19 hours ago cancels the automatic one
    db.session.add(Reminder(key="m1", invoice_id=recent.id, level=0, channel="email", user_id=user.id,
                            reminder_date=date(2026, 2, 1), status="sent", created_at=now - timedelta(hours=19)))
    postponed = invoice(due=date(2025, 12, 1))  # by hand on 20 Jan with a next date of 10 Feb
    db.session.add(Reminder(key="m2", invoice_id=postponed.id, level=1, channel="email", user_id=user.id,
                            reminder_date=date(2026, 1, 20), next_date=date(2026, 2, 10), status="sent",
                            created_at=datetime(2026, 1, 20, 9)))
    no_auto = invoice(no_auto_reminders=True)
    customer_no_auto = invoice(customer_no_auto_reminders=True)
    paused = invoice(customer_paused_until=date(2026, 2, 5))
    credit = invoice(kind="credit_note")
    cancelled = invoice(status="cancelled")
    paid = invoice(paid="1200.00")
    no_due = invoice(due=None)
    db.session.commit()
    run = autorun.run_auto(db.session, on, now)
    assert received_by_invoice(company) == {sent.number: 1}
    assert run.skipped_reasons == {"recent_manual": 1, "invoice_no_auto": 1, "customer_no_auto": 1, "paused": 1}
    assert run.skipped == 4
    for inv in (recent, postponed, no_auto, customer_no_auto, paused, credit, cancelled, paid, no_due):
        assert not db.session.scalar(select(Reminder.id).where(Reminder.invoice_id == inv.id,
                                                               Reminder.user_id.is_(None)))
    # 21 hours after the manual one it is no longer recent; the postponed one comes on its date
    autorun.run_auto(db.session, date(2026, 2, 10), datetime(2026, 2, 10, 9, 0))
    got = received_by_invoice(company)
    assert got[recent.number] == 1 and got[postponed.number] == 1
    assert not {no_auto.number, customer_no_auto.number, credit.number, cancelled.number, paid.number,
                no_due.number} & set(got)


def test_crash_leftovers_are_finished_and_in_doubt_rows_never_resent(company, app):
    on = date(2026, 2, 2)
    invoices = [invoice() for _ in range(4)]
    run = autorun.open_run(db.session, on)
    autorun.make_reminders(db.session, run, datetime(2026, 2, 2, 9), settings_service.load(db.session), sending())
    rows = db.session.scalars(select(Reminder).order_by(Reminder.id)).all()
    assert [r.status for r in rows] == ["pending"] * 4
    # the rows' invoices (PostgreSQL: an invoice whose advisory lock another test process of the same database held
    # a moment is made after the others, so the id order need not be the invoices' order)
    numbers = [r.invoice.number for r in rows]
    assert sorted(numbers) == sorted(i.number for i in invoices)
    # a worker died: it had sent row 0, was handing row 1 to the server, and held rows 2 and 3
    long_ago = utcnow() - timedelta(hours=1)
    rows[0].status, rows[0].sent_at, rows[0].message_id = "sent", long_ago, "<sent@x>"
    rows[1].claimed_by, rows[1].claimed_at, rows[1].message_id = "dead", long_ago, "<doubt@x>"
    rows[2].claimed_by = rows[3].claimed_by = "dead"
    rows[2].claimed_at = rows[3].claimed_at = long_ago
    db.session.commit()
    finished = autorun.run_auto(db.session, on)
    assert finished.status == "done"
    db.session.expire_all()
    rows = db.session.scalars(select(Reminder).order_by(Reminder.id)).all()
    assert [r.status for r in rows] == ["sent", "failed", "sent", "sent"]
    assert rows[1].error.startswith("In doubt") and "<doubt@x>" in rows[1].error
    assert received_by_invoice(company) == {numbers[2]: 1, numbers[3]: 1}
    assert (finished.sent, finished.failed) == (3, 1)


def test_a_held_claim_is_not_taken_before_it_is_stale(company, app):
    invoice()
    run = autorun.open_run(db.session, date(2026, 2, 2))
    autorun.make_reminders(db.session, run, datetime(2026, 2, 2, 9), settings_service.load(db.session), sending())
    row = db.session.scalar(select(Reminder))
    row.claimed_by, row.claimed_at = "alive", utcnow()
    db.session.commit()
    result = autorun.run_auto(db.session, date(2026, 2, 2))
    assert result.status == "running" and not company.messages  # the holder finishes it
    row.claimed_by = row.claimed_at = None
    db.session.commit()
    assert autorun.run_auto(db.session, date(2026, 2, 2)).status == "done" and len(company.messages) == 1


def test_a_lost_run_is_taken_over_by_one_caller_only(company, app):
    """Two callers find the run lost (no heartbeat) at once: one takes it over and settles what the dead held; the
    other finds a fresh heartbeat and leaves alone the claims the first one has taken since."""
    from relance.services.sending import runs

    invoice()
    on = date(2026, 2, 2)
    run = autorun.open_run(db.session, on)
    autorun.make_reminders(db.session, run, datetime(2026, 2, 2, 9), settings_service.load(db.session), sending())
    run.heartbeat_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    assert runs.take_over(db.session, [run.id], sending()) == [run.id]
    assert runs.take_over(db.session, [run.id], sending()) == []  # the second caller
    row = db.session.scalar(select(Reminder))
    row.claimed_by, row.claimed_at = "the-first-caller", utcnow()
    db.session.commit()
    assert autorun.run_auto(db.session, on).status == "running" and not company.messages
    db.session.expire_all()
    assert db.session.scalar(select(Reminder.claimed_by)) == "the-first-caller"


def test_automatic_letters_go_into_the_daily_pdf(company, app):
    settings_service.save(db.session, {"auto_letters": True})
    db.session.commit()
    a, b = invoice(due=date(2025, 12, 1)), invoice(due=date(2025, 12, 2))
    for inv in (a, b):  # level 1 done: level 2 (email + letter) is next
        db.session.add(Reminder(key=f"k{inv.id}", invoice_id=inv.id, level=1, channel="email",
                                reminder_date=date(2025, 12, 20), status="sent"))
    db.session.commit()
    run = autorun.run_auto(db.session, date(2026, 1, 5))
    assert (run.total, run.sent) == (4, 4) and run.letters_pdf_path
    assert len(company.messages) == 2
    pdf = PdfReader(io.BytesIO((Path(app.config["FILES_PATH"]) / run.letters_pdf_path).read_bytes()))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert a.customer.name in text and b.customer.name in text


def test_dry_run_and_test_page_service_send_nothing(company):
    inv = invoice()
    on = date(2026, 2, 2)
    result = autorun_preview.dry_run(db.session, on, limit=5)
    assert result.count == 1 and result.previews[0].due.invoice_id == inv.id
    assert inv.number in result.previews[0].text or inv.number in result.previews[0].subject
    check = autorun_preview.test_invoice(db.session, inv, on)
    assert check.explanation.status == "due" and check.can_send
    assert not db.session.scalar(select(func.count()).select_from(Reminder)) and not company.messages
    rows = autorun_preview.send_one(db.session, inv, on, datetime(2026, 2, 2, 12, tzinfo=UTC), config=sending())
    assert [r.status for r in rows] == ["sent"] and len(company.messages) == 1
    assert autorun.run_auto(db.session, on).sent == 0  # the day's run does not send it again
    assert len(company.messages) == 1
    with pytest.raises(autorun_preview.AutoRunError):
        autorun_preview.send_one(db.session, inv, on, datetime(2026, 2, 2, 12, tzinfo=UTC), config=sending())


def test_cli_dry_run_then_run(company, app):
    inv = invoice()
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["relance", "run-auto", "--date", "2026-02-02", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "1 reminders would be sent" in dry.output and inv.number in dry.output and "Subject:" in dry.output
    assert not company.messages and not db.session.scalar(select(func.count()).select_from(Run))
    bad = runner.invoke(args=["relance", "run-auto", "--date", "02/02/2026"])
    assert bad.exit_code == 2 and "--date" in bad.output
    real = runner.invoke(args=["relance", "run-auto", "--date", "2026-02-02"])
    assert real.exit_code == 0, real.output
    assert "status=done" in real.output and "sent=1" in real.output
    assert received_by_invoice(company) == {inv.number: 1}


def test_huey_task_runs_the_same_service(company):
    from relance import tasks

    invoice()
    result = tasks.run_auto_task("2026-02-02")
    value = result.get() if hasattr(result, "get") else result
    assert value["sent"] == 1 and value["status"] == "done"


def test_lateness(company):
    settings = settings_service.load(db.session)
    now = datetime(2026, 2, 3, 12, tzinfo=UTC)
    assert not autorun.is_late(db.session, settings, now)  # no run yet: not known to be late
    db.session.add(Run(kind="auto", run_date=date(2026, 2, 1), status="done",
                       finished_at=datetime(2026, 2, 1, 9, 5), created_at=datetime(2026, 2, 1, 9)))
    db.session.commit()
    assert autorun.is_late(db.session, settings, now)
    assert not autorun.is_late(db.session, settings, datetime(2026, 2, 2, 10, tzinfo=UTC))


def test_a_crash_can_leave_at_most_one_email_in_doubt(company, app):
    """While the server takes a message, only that one row carries a Message-ID without an outcome."""
    from sqlalchemy import create_engine

    for _ in range(5):
        invoice()
    watcher = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    seen = []
    original = company.handler.handle_DATA

    async def handle_data(server, session, envelope):
        with watcher.connect() as conn:
            seen.append(conn.execute(select(func.count()).select_from(Reminder).where(
                Reminder.status == "pending", Reminder.message_id.is_not(None))).scalar())
        return await original(server, session, envelope)

    company.handler.handle_DATA = handle_data
    run = autorun.run_auto(db.session, date(2026, 2, 2))
    watcher.dispose()
    assert run.sent == 5 and seen == [1] * 5


def test_many_automatic_letters_are_printed_by_the_process_pool(company, app, monkeypatch):
    """More than 20 letters in a run: printed in the process pool (LETTER_PROCESSES), as a mass run prints them."""
    from relance.services.letters import printing

    settings_service.save(db.session, {"auto_letters": True})
    app.config["LETTER_PROCESSES"] = 2
    invoices = [invoice(due=date(2025, 12, 1) + timedelta(days=n % 5)) for n in range(22)]
    for inv in invoices:  # level 1 done: level 2 (email + letter) is next
        db.session.add(Reminder(key=f"k{inv.id}", invoice_id=inv.id, level=1, channel="email",
                                reminder_date=date(2025, 12, 20), status="sent"))
    db.session.commit()
    real, asked = printing.render_many, []

    def render_many(jobs, processes=1, **kw):  # the real printing, the processes it was given noted
        asked.append(processes)
        return real(jobs, processes=processes, **kw)

    monkeypatch.setattr(printing, "render_many", render_many)
    run = autorun.run_auto(db.session, date(2026, 1, 5))
    assert (run.total, run.sent, run.failed) == (44, 44, 0) and asked == [2]
    pdf = PdfReader(io.BytesIO((Path(app.config["FILES_PATH"]) / run.letters_pdf_path).read_bytes()))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert all(inv.customer.name in text for inv in invoices)
