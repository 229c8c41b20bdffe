"""Issue 17, second slice: a go-live that never floods customers (services/golive.py, the engine's go-live rules,
/admin/go-live, /go-live/overdue, `flask relance go-live`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from relance import tasks
from relance.extensions import db
from relance.models import AuditLog, Reminder, ReminderLevel, Run, Setting
from relance.services import golive
from relance.services import settings as settings_service
from relance.services.defaults import install_defaults
from relance.services.engine import eligibility
from relance.services.engine import schedule as engine
from relance.services.sending import autorun
from relance.services.sending.config import SendingConfig
from tests.factories import TODAY, make_customer, make_invoice, make_user

TOMORROW = TODAY + timedelta(days=1)
VALID = {
    "company_name": "Atelier Durand SAS", "company_address": "18 rue des Lilas", "company_postcode": "75011",
    "company_city": "Paris", "company_siren": "732 829 320", "company_vat": "FR 44 732829320",
    "company_iban": "FR76 3000 6000 0112 3456 7890 189", "company_bic": "agrifrpp",
    "sender_email": "compta@atelier-durand.example", "auto_hour": "10", "automatic": "0,1,2",
    "go_live_date": TODAY.isoformat(),
}


def reminders() -> int:
    return db.session.scalar(select(func.count()).select_from(Reminder))


def go_live_now(**values) -> golive.Choice:
    choice = golive.clean(db.session, {**VALID, **values}, TODAY)
    golive.confirm(db.session, choice, TODAY, None)
    db.session.commit()
    return choice


def fresh_company():
    """A fresh install (the defaults of the data migration: no level automatic), an invoice 119 days late and one
    falling due in six days."""
    install_defaults(db.session)
    old = make_invoice(make_customer(code="OLD"), number="OLD-1", due=TODAY - timedelta(days=119))
    soon = make_invoice(make_customer(code="NEW"), number="NEW-1", due=TODAY + timedelta(days=6))
    db.session.commit()
    return old, soon


@pytest.mark.clock  # 11:00 in Paris: the default send hour (10:00) has passed
def test_a_first_start_sends_nothing_until_go_live_then_only_what_falls_due_after(app):
    old, soon = fresh_company()
    assert not any(level.automatic for level in db.session.scalars(select(ReminderLevel)))
    # even with levels made automatic by hand, nothing goes out before the go-live step
    for level in db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank < 3)):
        level.automatic = True
    db.session.commit()
    assert tasks.auto_run_tick.call_local() is None  # the worker's tick: no run, nothing made
    run = autorun.run_auto(db.session, TODAY, config=SendingConfig.from_config(current_app.config))
    assert reminders() == 0 and run.total == 0
    db.session.execute(Run.__table__.delete())
    db.session.commit()
    note = engine.schedule(db.session, TODAY).note
    assert "go-live step is not done" in note
    assert "go-live step is not done" in str(engine.explain(db.session, old, TODAY, language="en"))
    verdict = eligibility.check(db.session, soon, None, None, TOMORROW, automatic=True)
    assert "not_live" in verdict.codes
    assert engine.schedule(db.session, TODAY, automatic=False).due  # a person may still chase by hand

    go_live_now()  # go-live date today: automatic sending starts tomorrow (the day whose dry run was shown)
    assert tasks.auto_run_tick.call_local() is None and reminders() == 0  # nothing on the day of the switch
    assert "starts on" in engine.schedule(db.session, TODAY).note

    plan = autorun.plan(db.session, TOMORROW, engine.default_now(TOMORROW, settings_service.load(db.session)))
    assert [(due.invoice_number, due.level) for due, _channels in plan.items] == [("NEW-1", 0)]
    assert [(s.invoice_number, s.code) for s in plan.skipped_rows] == [("OLD-1", "before_go_live")]
    explained = str(engine.explain(db.session, old, TOMORROW, language="en"))
    assert "Overdue before go-live on Jun 16, 2026" in explained
    verdict = eligibility.check(db.session, old, None, None, TOMORROW, automatic=True)
    assert verdict.codes == ("before_go_live",)
    assert eligibility.check(db.session, old, 1, "email", TOMORROW).ok  # by hand: still possible
    assert golive.overdue_count(db.session, TODAY) == 1

    # brought into the automatic schedule from level 2: the engine treats it as usual from there
    manager = make_user(role="manager")
    assert golive.adopt(db.session, [old.id], "2", manager) == 1
    db.session.commit()
    assert golive.overdue_count(db.session, TODAY) == 0
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "adopt"))
    assert (entry.entity, entry.entity_id, entry.user_id, entry.after["auto_from_rank"]) == (
        "invoice", str(old.id), manager.id, 2)
    plan = autorun.plan(db.session, TOMORROW, engine.default_now(TOMORROW, settings_service.load(db.session)))
    assert sorted((due.invoice_number, due.level) for due, _channels in plan.items) == [("NEW-1", 0), ("OLD-1", 2)]
    assert engine.reference_schedule(db.session, TOMORROW).due == engine.schedule(db.session, TOMORROW).due
    assert "Brought into the automatic schedule from level 2." in str(
        engine.explain(db.session, old, TOMORROW, language="en"))

    run = autorun.run_auto(db.session, TOMORROW, send=False, config=SendingConfig.from_config(current_app.config))
    made = sorted((r.invoice.number, r.level, r.channel) for r in db.session.scalars(select(Reminder)))
    assert made == [("NEW-1", 0, "email"), ("OLD-1", 2, "email")]  # automatic letters are off by default
    assert run.skipped_reasons == {"letters_off": 1}


@pytest.mark.clock
def test_bring_all_in_from_level_one_and_the_next_levels_follow(app):
    old, _soon = fresh_company()
    other = make_invoice(old.customer, number="OLD-2", due=TODAY - timedelta(days=40))
    go_live_now()
    assert golive.overdue_count(db.session, TODAY) == 2
    assert golive.adopt(db.session, None, 1, None) == 2
    db.session.commit()
    rules = eligibility.day_rules(db.session, TOMORROW, automatic=True)
    verdicts = eligibility.check_many(db.session, [old, other], TOMORROW, automatic=True, rules=rules)
    assert {v.rank for v in verdicts.values()} == {1} and all(v.ok for v in verdicts.values())
    with pytest.raises(golive.GoLiveError) as refused:
        golive.adopt(db.session, None, "7", None)
    assert refused.value.field == "rank"


@pytest.mark.clock
def test_the_confirmation_page_shows_the_next_days_dry_run_per_level_and_customer(app, client, auth):
    fresh_company()
    third = make_customer(code="THIRD", name="Third Ltd")
    make_invoice(third, number="T-1", due=TODAY + timedelta(days=6))
    make_invoice(third, number="T-2", due=TODAY + timedelta(days=6))
    db.session.commit()
    auth.login("manager")
    page = client.get("/").get_data(as_text=True)
    assert 'id="go-live-box"' in page and "/admin/go-live" in page
    form = {**VALID, "automatic": ["0", "1", "2"], "action": "preview"}
    page = client.post("/admin/go-live", data=form).get_data(as_text=True)
    assert 'id="go-live-preview"' in page and "17 Jun 2026" in page  # the first day of automatic sending
    assert "3 reminders would be sent." in page
    assert '<tr data-rank="0"><td>0 · Reminder before due date</td><td class="num">3</td></tr>' in page
    assert '<tr data-customer="THIRD"><td>THIRD · Third Ltd</td><td class="num">2</td></tr>' in page
    assert '<tr data-customer="NEW">' in page and 'data-customer="OLD"' not in page
    assert "1 open invoice was already overdue on the go-live date" in page
    assert not golive.is_done(settings_service.load(db.session))  # the dry run kept nothing
    assert not any(level.automatic for level in db.session.scalars(select(ReminderLevel)))
    seen = page.split('name="seen" value="')[1].split('"')[0]
    # a field changed after the dry run: the dry run again, nothing switched on
    page = client.post("/admin/go-live", data={**form, "auto_hour": "9", "action": "confirm", "seen": seen})
    assert not golive.is_done(settings_service.load(db.session)) and 'id="go-live-preview"' in page.get_data(
        as_text=True)
    response = client.post("/admin/go-live", data={**form, "action": "confirm", "seen": seen})
    assert response.status_code == 302
    settings = settings_service.load(db.session)
    assert (settings.go_live_date, settings.auto_start_date) == (TODAY.isoformat(), TOMORROW.isoformat())
    assert (settings.company_siren, settings.company_vat, settings.company_bic) == (
        "732829320", "FR44732829320", "AGRIFRPP")
    assert [lvl.rank for lvl in db.session.scalars(select(ReminderLevel).order_by(ReminderLevel.rank))
            if lvl.automatic] == [0, 1, 2]
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "go_live")) is not None
    page = client.get("/").get_data(as_text=True)
    assert 'id="go-live-box"' not in page and 'id="go-live-overdue"' in page
    listed = client.get("/go-live/overdue").get_data(as_text=True)
    assert 'data-invoice="OLD-1"' in listed and 'data-invoice="NEW-1"' not in listed
    auth.login("agent")
    old_id = db.session.scalar(select(Reminder.invoice_id).limit(1))  # none: nothing was sent
    assert old_id is None
    from relance.models import Invoice

    old = db.session.scalar(select(Invoice).where(Invoice.number == "OLD-1"))
    assert client.post("/go-live/overdue/adopt", data={"invoice_id": old.id, "rank": "1"}).status_code == 302
    db.session.expire_all()
    assert old.auto_from_rank == 1
    assert 'data-invoice="OLD-1"' not in client.get("/go-live/overdue").get_data(as_text=True)


def test_the_go_live_page_is_for_managers(app, client, auth):
    auth.login("agent")
    assert client.get("/admin/go-live").status_code == 403
    assert client.get("/go-live/overdue").status_code == 200


@pytest.mark.parametrize("field, value, words", [
    ("company_siren", "732829321", "SIREN/SIRET: 732829321 is not a valid SIREN"),
    ("company_siren", "73282932000075", "SIREN/SIRET: 73282932000075 is not a valid"),
    ("company_iban", "FR76 3000 6000 0112 3456 7890 188",
     "IBAN: FR76 3000 6000 0112 3456 7890 188 is not a valid IBAN"),
    ("company_bic", "AGRIXXPP", "BIC: AGRIXXPP is not a valid BIC"),
    ("company_vat", "FR45732829320", "VAT number: FR45732829320 is not a valid intra-community VAT number"),
    ("company_vat", "FR96552100554", "VAT number: FR96552100554 does not belong to the SIREN 732829320"),
    ("sender_email", "compta@", "compta@"),
    ("auto_hour", "24", "Send hour: choose an hour between 0 and 23."),
    ("automatic", "1,9", "Automatic levels: 9 is not an active level"),
    ("go_live_date", "2026-02-30", "Go-live date: 2026-02-30 is not a date"),
])
def test_bad_inputs_name_the_field_and_save_nothing(app, client, auth, field, value, words):
    install_defaults(db.session)
    db.session.commit()
    with pytest.raises(golive.GoLiveError) as refused:
        golive.clean(db.session, {**VALID, field: value}, TODAY)
    assert refused.value.field == field and words in str(refused.value.errors[field])
    auth.login("manager")
    data = {**VALID, field: value, "automatic": VALID["automatic"].split(","), "action": "confirm"}
    if field == "automatic":
        data["automatic"] = value.split(",")
    response = client.post("/admin/go-live", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and f'id="field-{field}"' in page and "Nothing was saved" in page
    assert words.replace("/", "/") in page.replace("&#39;", "'")
    assert db.session.scalar(select(func.count()).select_from(Setting)) == 0  # nothing saved
    assert not any(level.automatic for level in db.session.scalars(select(ReminderLevel)))


@pytest.mark.clock
def test_cli_go_live_shows_the_dry_run_and_goes_live(app, runner):
    install_defaults(db.session)
    make_invoice(make_customer(code="NEW"), number="NEW-1", due=TODAY + timedelta(days=6))
    make_invoice(make_customer(code="OLD"), number="OLD-1", due=TODAY - timedelta(days=30))
    db.session.commit()
    base = ["relance", "go-live", "--date", TODAY.isoformat(), "--company-name", "Atelier", "--address", "1 rue",
            "--postcode", "75011", "--city", "Paris", "--sender", "compta@atelier.example", "--hour", "10"]
    result = runner.invoke(args=[*base, "--siren", "732829321", "--automatic", "0,1,2", "--yes"])
    assert result.exit_code != 0 and "company_siren" in result.output
    assert not golive.is_done(settings_service.load(db.session))
    result = runner.invoke(args=[*base, "--siren", "732829320", "--iban", "FR76 3000 6000 0112 3456 7890 189",
                                 "--automatic", "0,1,2"], input="n\n")
    assert result.exit_code == 0 and "Nothing was changed." in result.output
    assert not golive.is_done(settings_service.load(db.session))
    result = runner.invoke(args=[*base, "--siren", "732829320", "--automatic", "0,1,2", "--yes"])
    assert result.exit_code == 0, result.output
    assert "level 0 (" in result.output and "customer NEW" in result.output
    assert "not chased automatically: 1" in result.output
    settings = settings_service.load(db.session)
    assert golive.is_done(settings) and settings.go_live_date == TODAY.isoformat()
    result = runner.invoke(args=["relance", "go-live-adopt", "OLD-1", "--level", "1"])
    assert result.exit_code == 0 and "1 invoices brought" in result.output


def test_the_demo_goes_live_without_flooding(app):
    from relance.services.demo import create_demo

    create_demo(db.session, TODAY)
    db.session.commit()
    settings = settings_service.load(db.session)
    assert (settings.go_live_date, settings.auto_start_date) == (TODAY.isoformat(), TODAY.isoformat())
    plan = autorun.plan(db.session, TODAY, engine.default_now(TODAY, settings))
    assert all(due.due_date >= TODAY for due, _channels in plan.items)  # nothing overdue before go-live
    assert plan.skipped["before_go_live"] > 20 and len(plan.items) < 30
