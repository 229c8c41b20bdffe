"""The phone channel (issue 21): a level's call is made by the automatic and the mass runs as a "to_call" row, never
sent; the next level waits until an agent recorded its outcome; a promise or a dispute heard on the phone holds the
invoice as the customer's own answer would. SQLite and PostgreSQL, real SMTP server."""

from __future__ import annotations

import itertools
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import Answer, AuditLog, Contact, Invoice, Reminder, ReminderLevel
from relance.services import calls
from relance.services import settings as settings_service
from relance.services.engine import eligibility, levels, schedule
from relance.services.sending import autorun, dunning
from tests.factories import install_live_defaults, make_customer, make_invoice, make_user
from tests.smtp import smtp_certificate, smtp_factory, smtp_server  # noqa: F401

_n = itertools.count(1)
NOW = datetime(2026, 2, 2, 9, 0)


@pytest.fixture
def company(app, smtp_server):  # noqa: F811
    """Default levels (level 1 at +15 days by email, level 2 at +30 by email and letter), texts, an SMTP server."""
    install_live_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example", "company_name": "Vendor SAS",
                                       "company_address": "1 rue du Port", "company_postcode": "44000",
                                       "company_city": "Nantes"})
    db.session.commit()
    smtp_server.configure(app)
    return smtp_server


def level(rank: int) -> ReminderLevel:
    return db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == rank)).one()


def invoice(due=date(2026, 1, 15), **kw) -> Invoice:
    customer = make_customer(email=f"client{next(_n)}@customer.example", phone="+33 1 23 45 67 89", **kw)
    contact = Contact(name="Martin", first_name="Léa", email="lea@customer.example", phone="+33 6 11 22 33 44",
                      role="followup")
    customer.contacts.append(contact)
    inv = make_invoice(customer, due=due)
    inv.followup_contact = contact  # the invoice's follow-up contact: called first
    db.session.commit()
    return inv


def rows(invoice_id: int) -> list[Reminder]:
    return list(db.session.scalars(select(Reminder).where(Reminder.invoice_id == invoice_id)
                                   .order_by(Reminder.level, Reminder.channel)))


def test_channels_of_a_level_with_a_call():
    assert levels.channels_of(ReminderLevel(channels="email", phone_call=True)) == ("email", "phone")
    assert levels.channels_of(ReminderLevel(channels="both", phone_call=True)) == ("email", "letter", "phone")
    assert levels.channels_of(ReminderLevel(channels="phone", phone_call=True)) == ("phone",)
    assert levels.channels_of(ReminderLevel(channels="letter", phone_call=False)) == ("letter",)
    cleaned = levels.validate_level({"rank": 4, "names": {"en": "Call"}, "delay": "+60 days", "channels": "phone",
                                     "phone_call": True})
    assert cleaned["channels"] == "phone" and cleaned["phone_call"] is False  # a call only: no second call


def test_explain_names_the_call_in_the_reader_s_words(company):
    level(1).phone_call = True
    db.session.commit()
    inv = invoice()
    assert "Due: level 1 today (email, phone call)." in str(schedule.explain(db.session, inv, date(2026, 2, 2), NOW,
                                                                             language="en"))
    assert "(e-mail, appel téléphonique)" in str(schedule.explain(db.session, inv, date(2026, 2, 2), NOW,
                                                                    language="fr"))


def test_a_level_with_a_call_makes_a_call_to_make_and_sends_only_the_email(company):
    level(1).phone_call = True
    db.session.commit()
    a = invoice()
    on = date(2026, 2, 2)
    due = schedule.schedule(db.session, on, NOW).due
    assert [(d.invoice_id, d.level, d.channels) for d in due] == [(a.id, 1, ("email", "phone"))]
    assert not due[0].reasons  # no text is needed for the call: no "no text" reason

    run = autorun.run_auto(db.session, on)
    assert run.status == "done"
    email, call = rows(a.id)
    assert (email.channel, email.status) == ("email", "sent")
    assert (call.channel, call.status, call.run_id) == ("phone", "to_call", run.id)
    assert call.key == dunning.reminder_key(a.id, 1, "phone", on) and call.user_id is None
    assert call.recipients == ["Léa Martin: +33 6 11 22 33 44", "+33 1 23 45 67 89"]
    assert call.subject == "" and call.body == "" and not call.formal_notice
    assert len(company.messages) == 1  # the email; nothing "sent" by phone

    assert dunning.send([call.id]).skipped == [call.id]  # `send` leaves a call alone
    db.session.refresh(call)
    assert call.status == "to_call" and call.sent_at is None
    autorun.run_auto(db.session, on)  # the same day again: nothing more (one key per invoice, level, channel, day)
    assert len(rows(a.id)) == 2


def test_the_next_level_waits_until_the_call_is_made(company):
    first = level(1)
    first.channels = "phone"  # level 1: a call only
    db.session.commit()
    a = invoice()
    autorun.run_auto(db.session, date(2026, 2, 2))
    (call,) = rows(a.id)
    assert (call.channel, call.status) == ("phone", "to_call")
    assert company.messages == []
    db.session.refresh(a)
    assert (a.reminder_level, a.delivered_level) == (1, None)  # made (done), not yet delivered

    autorun.run_auto(db.session, date(2026, 2, 16))  # level 2 (+30 days) is due, but level 1 is still to call
    assert len(rows(a.id)) == 1 and company.messages == []
    explanation = schedule.explain(db.session, a, date(2026, 2, 16), datetime(2026, 2, 16, 9))
    assert explanation.status != "due"
    verdict = eligibility.check(db.session, a, 2, "email", date(2026, 2, 16))
    assert "not_delivered" in verdict.codes and "phone call not made yet" in str(verdict)

    agent = make_user(role="agent")
    made = calls.record_outcome(db.session, a.customer_id, [call.id], "reached", note="Will check with accounts",
                                promise_date=None, dispute_reason="", user=agent, now=datetime(2026, 2, 16, 10),
                                settings=settings_service.load(db.session))
    db.session.commit()
    assert made == [call]
    assert (call.status, call.outcome, call.outcome_note, call.called_by_id) == (
        "called", "reached", "Will check with accounts", agent.id)
    db.session.refresh(a)
    assert a.delivered_level == 1
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "call")).one()
    assert audit.user_id == agent.id and str(audit.entity_id) == str(call.id)

    autorun.run_auto(db.session, date(2026, 2, 17))  # now level 2 goes
    assert [(r.level, r.channel, r.status) for r in rows(a.id)] == [(1, "phone", "called"), (2, "email", "sent")]
    assert len(company.messages) == 1

    with pytest.raises(calls.CallError):  # recorded once
        calls.record_outcome(db.session, a.customer_id, [call.id], "no_answer", note="", promise_date=None,
                             dispute_reason="", user=agent, now=datetime(2026, 2, 17, 10),
                             settings=settings_service.load(db.session))


def test_a_promise_on_the_phone_holds_the_invoice_as_the_customers_answer(company):
    level(1).channels = "phone"
    db.session.commit()
    a = invoice()
    autorun.run_auto(db.session, date(2026, 2, 2))
    (call,) = rows(a.id)
    agent = make_user(role="agent")
    db.session.commit()
    settings = settings_service.load(db.session)
    with pytest.raises(calls.CallError) as refused:  # a promise needs its date: nothing recorded
        calls.record_outcome(db.session, a.customer_id, [call.id], "promise", note="", promise_date=None,
                             dispute_reason="", user=agent, now=datetime(2026, 2, 3, 10), settings=settings)
    assert refused.value.field == "promise_date"
    db.session.rollback()
    calls.record_outcome(db.session, a.customer_id, [call.id], "promise", note="Transfer on the 20th",
                         promise_date=date(2026, 2, 20), dispute_reason="", user=agent,
                         now=datetime(2026, 2, 3, 10), settings=settings)
    db.session.commit()
    answer = db.session.scalars(select(Answer).where(Answer.invoice_id == a.id)).one()
    assert (answer.kind, answer.status, answer.promise_date) == ("promise", "open", date(2026, 2, 20))
    given = db.session.scalars(select(AuditLog).where(AuditLog.action == "answer_promise")).one()
    assert given.user_id == agent.id  # made by the agent
    autorun.run_auto(db.session, date(2026, 2, 16))  # level 2 is due, but the promise holds it
    assert len(rows(a.id)) == 1 and company.messages == []
    assert any(s.invoice_id == a.id and s.code == "promised"
               for s in schedule.schedule(db.session, date(2026, 2, 16), datetime(2026, 2, 16, 9)).skipped)


def test_a_dispute_on_the_phone_is_the_customers_dispute(company):
    level(1).channels = "phone"
    db.session.commit()
    a = invoice()
    autorun.run_auto(db.session, date(2026, 2, 2))
    (call,) = rows(a.id)
    agent = make_user(role="agent")
    calls.record_outcome(db.session, a.customer_id, [call.id], "dispute", note="Goods arrived broken",
                         promise_date=None, dispute_reason="goods_or_service", user=agent,
                         now=datetime(2026, 2, 3, 10), settings=settings_service.load(db.session))
    db.session.commit()
    answer = db.session.scalars(select(Answer).where(Answer.invoice_id == a.id)).one()
    assert (answer.kind, answer.reason, answer.message) == ("dispute", "goods_or_service", "Goods arrived broken")
    assert call.outcome == "dispute"


def test_the_calls_list_puts_the_customers_one_follows_first(company):
    level(1).channels = "phone"
    db.session.commit()
    agent = make_user(role="agent")
    other = invoice()
    mine = invoice()
    mine.followup_user_id = agent.id
    db.session.commit()
    autorun.run_auto(db.session, date(2026, 2, 2))
    customers = list(db.session.scalars(calls.due_customers(agent.id)))
    assert [c.id for c in customers] == [mine.customer_id, other.customer_id]
    cards = calls.customer_calls(db.session, customers, agent.id)
    assert cards[0].mine and not cards[1].mine
    assert [i.id for i in cards[0].invoices] == [mine.id]
    assert cards[0].phones == ["Léa Martin: +33 6 11 22 33 44", "+33 1 23 45 67 89"]
    assert db.session.scalar(select(func.count()).select_from(Reminder).where(Reminder.status == "to_call")) == 2


# --- the calls page ------------------------------------------------------------------------------------------------

@pytest.fixture
def to_call(company, auth):
    """Level 1 a call only; two customers with a call to make today (factories.TODAY), the agent follows ACME's."""
    from tests.factories import TODAY

    level(1).channels = "phone"
    agent = make_user(email="agent@test.example", role="agent")
    db.session.commit()
    other = invoice(due=date(2026, 5, 20), name="Zeta Trading")
    mine = invoice(due=date(2026, 5, 25), name="ACME Industries")
    mine.followup_user_id = agent.id
    db.session.commit()
    autorun.run_auto(db.session, TODAY)
    auth.login("agent")
    return {"mine": mine, "other": other, "agent": agent, "today": TODAY}


def _call(invoice_id: int) -> Reminder:
    return db.session.scalars(select(Reminder).where(Reminder.invoice_id == invoice_id,
                                                     Reminder.channel == "phone")).one()


@pytest.mark.clock
def test_the_calls_page_lists_the_customers_to_call_mine_first(client, to_call):
    page = client.get("/calls/").get_data(as_text=True)
    assert page.index("ACME Industries") < page.index("Zeta Trading")
    assert "You follow this customer" in page and "+33 6 11 22 33 44" in page and 'href="tel:+33611223344"' in page
    assert to_call["mine"].number in page and ("1,200.00" in page or "1 200,00" in page)
    dashboard = client.get("/").get_data(as_text=True)
    assert 'href="/calls/"' in dashboard  # in the menu
    assert "2 phone calls to make." in dashboard  # and on the dashboard


@pytest.mark.clock
def test_an_outcome_recorded_by_a_plain_post_and_by_htmx(client, to_call):
    mine, other = to_call["mine"], to_call["other"]
    call = _call(mine.id)
    prefix = f"c{mine.customer_id}-"
    refused = client.post(f"/calls/{mine.customer_id}", data={f"{prefix}calls": str(call.id),
                                                               f"{prefix}outcome": "promise"})
    assert refused.status_code == 422 and "Give the date the customer will pay." in refused.get_data(as_text=True)
    assert _call(mine.id).status == "to_call"

    response = client.post(f"/calls/{mine.customer_id}", data={
        f"{prefix}calls": str(call.id), f"{prefix}outcome": "promise", f"{prefix}promise_date": "2026-06-30",
        f"{prefix}note": "Transfer at the end of the month"})
    assert response.status_code == 303
    db.session.expire_all()
    call = _call(mine.id)
    assert (call.status, call.outcome, call.outcome_note, call.called_by_id) == (
        "called", "promise", "Transfer at the end of the month", to_call["agent"].id)
    answer = db.session.scalars(select(Answer).where(Answer.invoice_id == mine.id)).one()
    assert (answer.kind, answer.promise_date) == ("promise", date(2026, 6, 30))
    page = client.get("/calls/").get_data(as_text=True)
    assert "Call to ACME Industries recorded: Promise to pay on a date." in page  # the flash message
    assert f'data-customer="{mine.customer_id}"' not in page and f'data-customer="{other.customer_id}"' in page
    again = client.post(f"/calls/{mine.customer_id}", data={f"{prefix}calls": str(call.id),
                                                             f"{prefix}outcome": "no_answer"})
    assert again.status_code == 303  # recorded once: the page says so
    assert "already recorded" in client.get("/calls/").get_data(as_text=True)

    other_call = _call(other.id)
    prefix = f"c{other.customer_id}-"
    swapped = client.post(f"/calls/{other.customer_id}", headers={"HX-Request": "true"}, data={
        f"{prefix}calls": str(other_call.id), f"{prefix}outcome": "no_answer"})
    assert swapped.status_code == 200 and "Call to Zeta Trading recorded: No answer." in swapped.get_data(as_text=True)
    assert "<html" not in swapped.get_data(as_text=True)
    db.session.expire_all()
    assert _call(other.id).status == "called"
    shown = client.get(f"/reminders/{other_call.id}").get_data(as_text=True)
    assert "No answer" in shown  # the reminder's history entry


@pytest.mark.clock
def test_a_viewer_cannot_record_a_call(client, to_call, auth):
    auth.logout()
    auth.login("viewer")
    call = _call(to_call["mine"].id)
    prefix = f"c{to_call['mine'].customer_id}-"
    assert client.get("/calls/").status_code == 403
    assert client.post(f"/calls/{to_call['mine'].customer_id}",
                       data={f"{prefix}calls": str(call.id), f"{prefix}outcome": "reached"}).status_code == 403
    assert _call(to_call["mine"].id).status == "to_call"


def test_a_mass_run_makes_the_levels_call_beside_the_ticked_channels(company):
    from flask import current_app

    from relance.services.sending import mass, runs
    from relance.services.sending.config import SendingConfig

    level(1).phone_call = True
    agent = make_user(role="agent")
    db.session.commit()
    a = invoice()
    on = date(2026, 2, 2)
    mass.save_row(db.session, agent.id, a, 1, letter=False, email=True, ranks=[0, 1, 2, 3])
    db.session.commit()
    items, _dropped = mass.checked_selection(db.session, agent.id, on)
    assert [(i.invoice_id, i.level, i.channel) for i in items] == [(a.id, 1, "email"), (a.id, 1, "phone")]
    run = mass.start_run(db.session, agent, items, on, None)
    db.session.commit()
    config = SendingConfig.from_config(current_app.config)
    assert runs.make_selected(db.session, run, settings_service.load(db.session), config) == 2
    dunning.send_run(run.id, config)
    email, call = rows(a.id)
    assert (email.status, call.channel, call.status, call.user_id) == ("sent", "phone", "to_call", agent.id)
    assert len(company.messages) == 1
