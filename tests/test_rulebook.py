"""The one rulebook around the reminders: verdicts in words, the hard guard, level snapshots that survive reorders,
one "today" (the company's) everywhere, letters to post then posted, cancelling with a reason."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from relance.extensions import db
from relance.models import AuditLog, Reminder, ReminderLevel, Run
from relance.services.engine import eligibility
from relance.services.letters import content
from relance.services.sending import autorun, dunning, runs
from tests.factories import TODAY, install_live_defaults, make_customer, make_invoice, make_user

RELANCE = Path(__file__).resolve().parent.parent / "relance"


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def levels(app):
    install_live_defaults(db.session)
    db.session.commit()
    return {level.rank: level for level in db.session.scalars(select(ReminderLevel))}


def test_verdicts_say_why_and_which_can_be_overridden(app, levels):
    on = date(2026, 4, 1)
    customer = make_customer(email="a@b.example")
    invoice = make_invoice(customer, due=on - timedelta(days=20))
    paid = make_invoice(customer, due=on - timedelta(days=20), paid="1200.00", status="paid")
    db.session.commit()
    assert eligibility.check(db.session, invoice, None, None, on).rank == 1
    assert eligibility.check(db.session, invoice, 1, "email", on).ok
    skipped = eligibility.check(db.session, invoice, 3, "letter", on)
    assert skipped.codes == ("level_skipped",) and skipped.may_override
    assert eligibility.check(db.session, invoice, 0, "email", on).codes == ("before_due_passed",)
    closed = eligibility.check(db.session, paid, 1, "email", on)
    assert closed.codes == ("paid",) and not closed.may_override
    user = make_user(role="agent")
    dunning.create_reminder(db.session, invoice, levels[1], "email", on, user=user)
    db.session.commit()
    again = eligibility.check(db.session, invoice, 1, "email", on)
    assert again.codes == ("already_sent",) and "Level 1 was already sent by email on Apr 1, 2026." in again.reasons
    assert eligibility.check(db.session, invoice, 1, "letter", on).ok  # the other channel of today's step
    later = eligibility.check(db.session, invoice, 2, "email", on + timedelta(days=3))
    # the first reminder is still pending (not delivered), and level 2's date and the minimum gap are ahead
    assert set(later.codes) == {"not_delivered", "not_yet", "too_soon"}
    assert "at least 7 days between two reminders, not before Apr 8, 2026" in str(later)
    with pytest.raises(dunning.ReminderRefused):
        dunning.create_reminder(db.session, paid, levels[1], "email", on, user=user, override="I insist")


def test_reordering_levels_never_relabels_the_history_and_an_old_notice_stays_a_notice(app, client, auth, levels):
    on = date(2026, 4, 1)
    invoice = make_invoice(make_customer(email="a@b.example"), due=on - timedelta(days=60))
    agent = make_user(role="agent", signature="Claire Agent")
    notice = dunning.create_reminder(db.session, invoice, levels[3], "letter", on, user=agent,
                                     override="Agreed with the customer's lawyer")
    first = dunning.create_reminder(db.session, invoice, levels[1], "email", on, user=agent,
                                    override="The first reminder, for the file")
    db.session.commit()
    dunning.send([notice.id])
    auth.login("manager")
    assert client.post(f"/admin/levels/{levels[3].id}/move/up").status_code in (200, 302)
    level = db.session.get(ReminderLevel, levels[3].id)
    db.session.refresh(level)
    assert level.rank == 2  # the formal notice level moved
    renamed = db.session.get(ReminderLevel, levels[1].id)
    renamed.names = {"fr": "Rappel amical", "en": "Friendly reminder"}
    renamed.formal_notice = True
    level.formal_notice = False
    db.session.commit()
    db.session.expire_all()
    notice, first = db.session.get(Reminder, notice.id), db.session.get(Reminder, first.id)
    assert (notice.level, notice.level_name("fr"), notice.formal_notice) == (3, "Mise en demeure", True)
    assert (first.level, first.level_name("fr"), first.formal_notice) == (1, "Première relance", False)
    history = client.get(f"/invoices/{invoice.id}/reminders").get_data(as_text=True)
    assert "3 · Formal notice" in history and "1 · First reminder" in history
    for reminder in (notice,):  # the letter built again today, without its saved copy
        reminder.pdf_path = None
        pdf = PdfReader(io.BytesIO(content.letter_pdf(db.session, reminder)))
        assert "MISE EN DEMEURE" in pdf.pages[0].extract_text()


def test_one_clock_reads_the_time():
    """Only relance/clock.py reads the system clock; everything else asks it (the company's today)."""
    # (a scan of the source for the real clock's calls: the strings below are what it looks for)
    found = [f"{path.relative_to(RELANCE)}:{number}" for path in RELANCE.rglob("*.py")
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if "date.today" in line or "datetime.now(" in line or "datetime.utcnow" in line]
    assert found and all(hit.startswith("clock.py:") for hit in found), found


def test_the_app_at_23_30_utc_on_31_march_lives_on_1_april_in_paris(app, client, auth, levels, runner):
    app.config["CLOCK"] = lambda: datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    try:
        customer = make_customer(code="ACME", email="compta@acme.example", paused_until=date(2026, 3, 31))
        late = make_invoice(customer, number="FA-LATE", due=date(2026, 3, 31))  # 1 day late on 1 April only
        due = make_invoice(customer, number="FA-DUE", due=date(2026, 3, 17))  # +15 days: level 1 on 1 April
        db.session.commit()
        auth.login("manager")
        overdue = client.get("/invoices/?overdue=1").get_data(as_text=True)
        assert "FA-LATE" in overdue  # due 31 March: overdue on 1 April
        assert "1 day late" in client.get(f"/invoices/{late.id}").get_data(as_text=True)
        assert "FA-DUE" in client.get("/reminders/mass").get_data(as_text=True)  # due today: 1 April
        form = client.get(f"/reminders/new?invoice={due.id}").get_data(as_text=True)
        assert 'value="2026-04-16"' in form  # next reminder: today + 15 days
        export = client.get("/reminders/export.csv")
        assert 'filename="reminders-2026-04-01.csv"' in export.headers["Content-Disposition"]
        assert export.get_data(as_text=True).startswith("No.,")  # read to the end: the stream closes
        dry = client.get("/auto/dry-run").get_data(as_text=True)
        assert "2026-04-01" in dry
        paused = client.get("/customers/?paused=1", headers={"HX-Request": "true"}).get_data(as_text=True)
        assert "ACME" not in paused  # the pause ended on 31 March
        app.config["CLOCK"] = lambda: datetime(2026, 3, 31, 21, 30, tzinfo=UTC)  # 23:30 in Paris: still 31 March
        paused = client.get("/customers/?paused=1", headers={"HX-Request": "true"}).get_data(as_text=True)
        mass_page = client.get("/reminders/mass").get_data(as_text=True)
        assert "ACME" in paused and "FA-DUE" not in mass_page
        app.config["CLOCK"] = lambda: datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
        result = runner.invoke(args=["relance", "due", "--json"])
        assert "FA-DUE" in result.output
        result = runner.invoke(args=["relance", "run-auto"])
        assert "2026-04-01" in result.output, result.output
        run = db.session.scalar(select(Run).where(Run.kind == "auto"))
        assert run.run_date == date(2026, 4, 1)
        made = db.session.scalars(select(Reminder)).all()
        assert {(r.invoice.number, r.reminder_date) for r in made} == {("FA-DUE", date(2026, 4, 1))}
        assert autorun.local_today(autorun.settings_service.load(db.session)) == date(2026, 4, 1)
        page = client.get("/").get_data(as_text=True)
        assert re.search(r"1 April 2026|01/04/2026|1 Apr 2026|Apr 1, 2026", page), "the dashboard shows 1 April"
    finally:
        app.config.pop("CLOCK", None)


@pytest.mark.clock  # the app runs at tests.factories.NOW: TODAY is its today
def test_letters_go_to_post_then_posted_and_a_reminder_can_be_cancelled_with_a_reason(app, client, auth, levels):
    on = TODAY
    customer = make_customer(email="a@b.example")
    invoices = [make_invoice(customer, due=on - timedelta(days=20)) for _ in range(3)]
    agent = make_user(role="agent")
    letters = [dunning.create_reminder(db.session, invoice, levels[1], "letter", on, user=agent)
               for invoice in invoices[:2]]
    db.session.commit()
    dunning.send([r.id for r in letters])
    assert [db.session.get(Reminder, r.id).status for r in letters] == ["to_post", "to_post"]
    auth.login("agent")
    history = client.get(f"/invoices/{invoices[0].id}/reminders").get_data(as_text=True)
    assert "to post" in history and f'id="posted-{letters[0].id}"' in history
    back = f"/invoices/{invoices[0].id}/reminders"
    response = client.post(f"/reminders/{letters[0].id}/posted", data={"next": back})
    assert response.status_code == 303 and response.headers["Location"].endswith(back)
    db.session.expire_all()
    assert db.session.get(Reminder, letters[0].id).status == "posted"
    # a letter not posted yet can be cancelled, with a reason (none: refused)
    response = client.post(f"/reminders/{letters[1].id}/cancel", data={"reason": ""})
    db.session.expire_all()
    assert response.status_code == 303 and db.session.get(Reminder, letters[1].id).status == "to_post"
    client.post(f"/reminders/{letters[1].id}/cancel", data={"reason": "Wrong address, the customer will call"})
    db.session.expire_all()
    cancelled = db.session.get(Reminder, letters[1].id)
    assert (cancelled.status, cancelled.error) == ("cancelled", "Wrong address, the customer will call")
    actions = [(a.action, a.entity_id) for a in db.session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert ("posted", str(letters[0].id)) in actions and ("cancel", str(letters[1].id)) in actions
    # a cancelled reminder no longer counts: the level may be sent again
    assert eligibility.check(db.session, invoices[1], 1, "letter", on).ok
    # a posted letter cannot be cancelled
    client.post(f"/reminders/{letters[0].id}/cancel", data={"reason": "too late"})
    db.session.expire_all()
    assert db.session.get(Reminder, letters[0].id).status == "posted"
    # open redirect attempts land on the invoice's history
    response = client.post(f"/reminders/{letters[0].id}/posted", data={"next": "/\t/evil.example"})
    assert response.headers["Location"].endswith(f"/invoices/{invoices[0].id}/reminders")


@pytest.mark.clock  # the app runs at tests.factories.NOW: TODAY is its today
def test_a_mass_run_s_letters_are_marked_posted_in_one_click(app, client, auth, levels):
    on = TODAY
    customer = make_customer(email="")
    invoices = [make_invoice(customer, due=on - timedelta(days=20 + n)) for n in range(3)]
    db.session.commit()
    auth.login("agent")
    client.post("/reminders/mass/bulk", data={"action": "letters"})
    response = client.post("/reminders/mass/run", data={"token": "mass-token-1"})
    assert response.status_code == 303
    run = db.session.scalar(select(Run))
    page = client.get(f"/reminders/runs/{run.id}").get_data(as_text=True)
    assert "mark the 3 letters posted" in page
    # the same form posted again (back button): the first run, nothing new
    again = client.post("/reminders/mass/run", data={"token": "mass-token-1"})
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/reminders/runs/{run.id}")
    assert len(db.session.scalars(select(Run)).all()) == 1
    client.post(f"/reminders/runs/{run.id}/posted")
    db.session.expire_all()
    statuses = {r.status for r in db.session.scalars(select(Reminder).where(Reminder.run_id == run.id))}
    assert statuses == {"posted"} and len(invoices) == 3
    assert "Every letter of this run is marked posted." in client.get(f"/reminders/runs/{run.id}").get_data(
        as_text=True)


@pytest.mark.clock  # the app runs at tests.factories.NOW: TODAY is its today
def test_the_automatic_run_s_letters_are_marked_posted_in_one_click(app, client, auth, levels):
    from relance.services import settings as settings_service

    on = TODAY
    settings_service.save(db.session, {"auto_letters": True})
    level1 = db.session.get(ReminderLevel, levels[1].id)
    level1.channels = "letter"
    customer = make_customer(email="")
    for n in range(2):
        make_invoice(customer, due=on - timedelta(days=20 + n))
    db.session.commit()
    run = autorun.run_auto(db.session, on)
    assert {r.status for r in run.reminders} == {"to_post"} and run.sent == 2
    auth.login("manager")
    page = client.get(f"/auto/runs/{run.id}").get_data(as_text=True)
    assert "2 made: 2 sent" in page and "mark the 2 letters posted" in page
    response = client.post(f"/auto/runs/{run.id}/posted")
    assert response.status_code == 303
    db.session.expire_all()
    assert {r.status for r in db.session.get(Run, run.id).reminders} == {"posted"}
    assert "mark the" not in client.get(f"/auto/runs/{run.id}").get_data(as_text=True)


@pytest.mark.clock  # the app runs at tests.factories.NOW: TODAY is its today
def test_a_reminder_s_page_shows_it_as_it_left_and_an_in_doubt_email_can_be_marked_sent(app, client, auth, levels):
    on = TODAY
    invoice = make_invoice(make_customer(email="compta@acme.example", name="<b>Acme</b>"), number="FA-<9>",
                           due=on - timedelta(days=20))
    reminder = dunning.create_reminder(db.session, invoice, levels[1], "email", on, user=make_user(role="agent"),
                                       note="Called <twice>")
    reminder.status, reminder.message_id, reminder.in_doubt = "failed", "<abc@vendor.example>", True
    reminder.error = runs.in_doubt_message(reminder.message_id)
    db.session.commit()
    auth.login("viewer")
    page = client.get(f"/reminders/{reminder.id}").get_data(as_text=True)
    assert "compta@acme.example" in page and "Invoice-FA-_9.pdf" in page or "Facture-FA-_9.pdf" in page
    assert "Called &lt;twice&gt;" in page and "<twice>" not in page and "&lt;b&gt;Acme" in page
    assert 'sandbox srcdoc="' in page and "Mark as sent" not in page  # a viewer reads, an agent acts
    assert client.post(f"/reminders/{reminder.id}/mark-sent", data={"reason": "x"}).status_code == 403
    auth.logout()
    auth.login("agent")
    assert "Mark as sent" in client.get(f"/reminders/{reminder.id}").get_data(as_text=True)
    client.post(f"/reminders/{reminder.id}/mark-sent", data={"reason": "Postfix log: status=sent (250 2.0.0 OK)"})
    db.session.expire_all()
    done = db.session.get(Reminder, reminder.id)
    assert (done.status, done.in_doubt) == ("sent", False)
    logged = db.session.scalar(select(AuditLog).where(AuditLog.action == "mark_sent"))
    assert logged.after["checked"] == "Postfix log: status=sent (250 2.0.0 OK)"


def test_the_mass_page_filter_counts_cents_like_the_engine(app, levels):
    """SQLite computes the remaining due with floats (0.30 - 0.10 < 0.20 there): the SQL filter rounds to cents."""
    from relance.services import settings as settings_service
    from relance.services.engine.schedule import reference_schedule

    on = date(2026, 4, 1)
    settings_service.save(db.session, {"min_amount": "0.20"})
    invoice = make_invoice(make_customer(email="a@b.example"), total="0.30", paid="0.10", due=on - timedelta(days=20))
    db.session.commit()
    due = {d.invoice_id for d in reference_schedule(db.session, on, automatic=False).due}
    assert due == {invoice.id} == set(db.session.scalars(eligibility.due_select(db.session, on)))
