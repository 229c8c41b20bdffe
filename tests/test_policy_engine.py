"""Reminder policies in the engine: a customer follows its policy's levels (the selection, the reference, the
mass page's SQL, explain, the rulebook and the automatic run alike), the others the default policy's."""

from __future__ import annotations

import email
from datetime import date, timedelta
from email.policy import default as default_policy

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import Policy, Reminder, ReminderLevel, Template
from relance.services import settings as settings_service
from relance.services.engine import eligibility
from relance.services.engine.levels import default_policy_id
from relance.services.engine.schedule import due_select, explain, reference_schedule, schedule
from relance.services.sending import autorun, dunning
from relance.services.texts.wording import install_default_texts
from tests.factories import install_live_defaults, make_customer, make_invoice, reminder_rows
from tests.smtp import smtp_factory, smtp_server  # noqa: F401

DUE = date(2026, 1, 5)


def short_policy() -> Policy:
    """"Short": level 1 at +5 days, level 2 at +10 days (automatic, by email), with the default texts, level 2's
    English subject its own."""
    short = Policy(name="Short")
    for rank, delay in ((1, "+5 days"), (2, "+10 days")):
        db.session.add(ReminderLevel(policy=short, rank=rank, names={"en": f"Short {rank}", "fr": f"Court {rank}"},
                                     delay=delay, automatic=True, channels="email"))
    db.session.flush()
    install_default_texts(db.session)
    level_2 = db.session.scalars(select(ReminderLevel).where(ReminderLevel.policy_id == short.id,
                                                             ReminderLevel.rank == 2)).one()
    text = db.session.scalars(select(Template).where(Template.level_id == level_2.id, Template.channel == "email",
                                                     Template.language == "en")).one()
    text.subject = "Short policy: second reminder of __REF_FACTURE__"
    return short


@pytest.fixture
def company(app, smtp_server):  # noqa: F811
    install_live_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example", "default_language": "en",
                                       "min_days_between": 3})
    short = short_policy()
    risky = make_customer(name="Risky Ltd", email="ap@risky.example", language="en", policy_id=short.id)
    good = make_customer(name="Good SA", email="ap@good.example", language="en")  # the default policy
    invoices = {}
    for customer, first_day in ((risky, DUE + timedelta(days=5)), (good, DUE + timedelta(days=15))):
        invoice = invoices[customer.name] = make_invoice(customer, due=DUE, number=f"F-{customer.code}")
        db.session.add(Reminder(key=f"sent-{invoice.id}", invoice_id=invoice.id, level=1, channel="email",
                                reminder_date=first_day, status="sent"))
    db.session.commit()
    smtp_server.configure(app)
    return smtp_server, short, invoices


def levels_due(on: date) -> dict[str, tuple[int, str]]:
    """{invoice number: (rank, policy name)} due on `on`, with the same answer from the reference and the SQL."""
    fast = schedule(db.session, on)
    assert fast.due == reference_schedule(db.session, on).due
    assert set(db.session.scalars(due_select(db.session, on))) == {d.invoice_id for d in fast.due}
    return {d.invoice_number: (d.level, db.session.get(ReminderLevel, d.level_id).policy.name) for d in fast.due}


def test_short_policy_reaches_level_2_at_ten_days_the_default_one_at_thirty(company, tmp_path):
    server, short, invoices = company
    risky, good = invoices["Risky Ltd"], invoices["Good SA"]
    assert levels_due(DUE + timedelta(days=9)) == {}
    assert levels_due(DUE + timedelta(days=10)) == {risky.number: (2, "Short")}
    assert levels_due(DUE + timedelta(days=29)) == {risky.number: (2, "Short")}
    assert levels_due(DUE + timedelta(days=30)) == {risky.number: (2, "Short"), good.number: (2, "Standard")}

    day = DUE + timedelta(days=10)
    said = explain(db.session, risky, day, language="en")
    assert said.status == "due" and said.level == 2
    assert f"Next level: 2 (Short 2), +10 days from the due date = {day.isoformat()}." in said.lines
    said = explain(db.session, good, day, language="en")
    assert said.status == "waiting" and said.next_date == DUE + timedelta(days=30)
    assert f"Next level: 2 (Second reminder), +30 days from the due date = {DUE + timedelta(days=30)}." in said.lines
    assert eligibility.check(db.session, risky, 2, "email", day, automatic=True).ok
    assert "not_yet" in eligibility.check(db.session, good, 2, "email", day, automatic=True).codes

    run = autorun.run_auto(db.session, day)  # the automatic run follows the policy too, with its level's text

    assert run.status == "done" and (run.sent, run.failed) == (1, 0)
    [received] = server.handler.received
    (tmp_path / "sent.eml").write_bytes(received.raw)
    message = email.message_from_bytes((tmp_path / "sent.eml").read_bytes(), policy=default_policy)
    assert message["To"] == "ap@risky.example"
    assert message["Subject"] == f"Short policy: second reminder of {risky.number}"
    [made] = reminder_rows(level=2)
    assert made.invoice_id == risky.id and made.level_ref.policy_id == short.id and made.level_names["en"] == "Short 2"


def test_a_customer_moved_to_another_policy_goes_on_from_the_level_it_reached(company):
    _server, short, invoices = company
    good = invoices["Good SA"]
    assert levels_due(DUE + timedelta(days=20)) == {invoices["Risky Ltd"].number: (2, "Short")}
    good.customer.policy_id = short.id
    db.session.commit()
    assert levels_due(DUE + timedelta(days=20)) == {invoices["Risky Ltd"].number: (2, "Short"),
                                                    good.number: (2, "Short")}
    good.customer.policy_id = default_policy_id(db.session)  # chosen by name: the same as none chosen
    db.session.commit()
    assert levels_due(DUE + timedelta(days=20)) == {invoices["Risky Ltd"].number: (2, "Short")}


def test_a_policy_without_active_levels_reminds_nobody_and_explain_says_so(company):
    _server, short, invoices = company
    for level in short.levels:
        level.active = False
    db.session.commit()
    risky = invoices["Risky Ltd"]
    assert levels_due(DUE + timedelta(days=60)) == {invoices["Good SA"].number: (2, "Standard")}
    said = explain(db.session, risky, DUE + timedelta(days=60), language="en")
    assert said.status == "waiting" and "No reminder level is active" in str(said)


def test_a_level_of_another_policy_is_refused_by_the_rulebook(company):
    _server, short, invoices = company
    risky = invoices["Risky Ltd"]
    day = DUE + timedelta(days=40)
    standard_2 = db.session.scalars(select(ReminderLevel).where(ReminderLevel.policy_id == default_policy_id(
        db.session), ReminderLevel.rank == 2)).one()
    with pytest.raises(dunning.ReminderRefused) as refused:
        dunning.create_reminder(db.session, risky, standard_2, "letter", day, user=None)
    assert refused.value.verdict.codes == ("unknown_level",)
    assert "another reminder policy" in str(refused.value.verdict)
    short_2 = next(level for level in short.levels if level.rank == 2)
    made = dunning.create_reminder(db.session, risky, short_2, "email", day)
    assert made.level_id == short_2.id and made.level_names["en"] == "Short 2"


def test_the_api_makes_the_level_of_the_customers_policy(company, client):
    from tests.test_api import token_for

    _server, short, invoices = company
    headers = {"Authorization": f"Bearer {token_for('agent')}", "Accept-Language": "en"}
    risky = invoices["Risky Ltd"]
    refused = client.post(f"/api/v1/invoices/{risky.number}/reminders", headers=headers,
                          json={"level": 3, "channel": "letter"})  # the short policy has no level 3
    assert refused.status_code == 422 and "Level 3 does not exist." in refused.get_data(as_text=True)
    made = client.post(f"/api/v1/invoices/{risky.number}/reminders", headers=headers,
                       json={"level": 2, "channel": "letter", "override_reason": "Called: promised nothing"})
    assert made.status_code == 201, made.get_json()
    [row] = reminder_rows(level=2)
    assert row.level_ref.policy_id == short.id
