"""Property: one rulebook for every way a reminder leaves (both databases).

Random sequences of actions on a few invoices over random moments, each through the path a user meets: the
automatic run, the mass page (its preselection, "all emails", a "send anyway" with a reason, the run), the reminder
form (and its resubmission: back button, reload, double click), the API, level reorders in the admin, payments, and
clock moves across midnight in Europe/Paris while the server is in UTC. After every action:
- no invoice gets the same level and channel twice without an explicit override;
- no two reminders of an invoice are closer than the minimum interval without an override (the other channel of a
  level made the same day belongs to the same step);
- every reminder keeps the level snapshot (rank, name, formal notice) of the moment it was made;
- nothing is made for an invoice once it is paid;
- the engine's plain reference implementation and the eligibility service agree on every invoice (the view of a
  person and the automatic view).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from flask import g
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select

from relance import clock
from relance.extensions import db
from relance.models import ApiToken, Invoice, Reminder, ReminderLevel
from relance.services import settings as settings_service
from relance.services.engine import eligibility
from relance.services.engine.levels import DONE_STATUSES
from relance.services.engine.schedule import reference_schedule
from relance.services.sending import autorun
from tests.factories import install_live_defaults, make_customer, make_invoice, make_payment, make_user

START = datetime(2026, 3, 31, 21, 30, tzinfo=UTC)  # 23:30 in Paris: midnight comes within the first clock move
DUE_OFFSETS = (-3, 6, 16, 31, 47, 80)  # days before START's Paris date: before due, level 1, 2, 3 territory
invoice_index = st.integers(0, len(DUE_OFFSETS) - 1)
rank = st.sampled_from([1, 1, 2, 3, 0])
channel = st.sampled_from(["email", "email", "letter"])
action = st.one_of(
    st.tuples(st.just("auto")),
    st.tuples(st.just("mass"), st.sampled_from(["emails", "emails", "letters"]),
              st.one_of(st.none(), st.tuples(invoice_index, rank))),
    st.tuples(st.just("form"), invoice_index, rank, channel, st.booleans()),
    st.tuples(st.just("api"), invoice_index, rank, channel, st.booleans()),
    st.tuples(st.just("resubmit")),
    st.tuples(st.just("reorder"), st.integers(1, 3), st.sampled_from(["up", "down"])),
    st.tuples(st.just("pay"), invoice_index),
    st.tuples(st.just("clock"), st.sampled_from([1, 2, 5, 24, 24 * 3, 24 * 8, 24 * 16])),
)


class World:
    """The app driven as users meet it: an agent and a manager in the browser, an API client, the worker."""

    def __init__(self, app):
        self.app = app
        self.now = START
        app.config["CLOCK"] = lambda: self.now
        db.session.rollback()
        db.session.expunge_all()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        install_live_defaults(db.session)
        db.session.commit()
        today = clock.today()
        acme = make_customer(code="ACME", email="compta@acme.example")
        nomail = make_customer(code="NOMAIL", email="")
        self.invoices = [make_invoice(nomail if n == 4 else acme, number=f"FA-{n}", total="1000.00",
                                      due=today - timedelta(days=offset)).id
                         for n, offset in enumerate(DUE_OFFSETS)]
        token, self.api_key = ApiToken.issue(make_user(email="erp@test.example", role="agent"), "erp")
        db.session.add(token)
        make_user(email="agent@test.example", role="agent")
        make_user(email="manager@test.example", role="manager")
        db.session.commit()
        self.agent, self.manager = app.test_client(), app.test_client()
        for client, email in ((self.agent, "agent@test.example"), (self.manager, "manager@test.example")):
            client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
            response = self.http(client, "post", "/login", data={"email": email, "password": "correct horse 42"})
            assert response.status_code == 302
        self.last_form: dict | None = None
        self.snapshots: dict[int, tuple] = {}
        self.paid: dict[int, int] = {}  # invoice id -> its reminder count when it was paid
        self.tokens = 0

    @staticmethod
    def http(client, method: str, url: str, **kw):
        """A request as its own browser makes it: the test's app context is shared by the test client's requests,
        so Flask-Login's cached user of the last request (another client's, or a deleted one) is dropped."""
        g.pop("_login_user", None)
        return getattr(client, method)(url, **kw)

    def token(self) -> str:
        self.tokens += 1
        return f"token-{self.tokens:06d}"

    # --- actions -------------------------------------------------------------------------------------------

    def do(self, step: tuple) -> None:
        getattr(self, "_" + step[0])(*step[1:])
        db.session.rollback()
        self.record_snapshots()
        self.check()

    def _auto(self):
        autorun.run_auto(db.session, clock.today())

    def _mass(self, action, override):
        page = self.http(self.agent, "get", "/reminders/mass")
        assert page.status_code == 200
        self.http(self.agent, "post", "/reminders/mass/bulk", data={"action": action})
        if override is not None:  # a level the rules may refuse, sent anyway with a reason
            invoice_id, level = self.invoices[override[0]], override[1]
            self.http(self.agent, "post", f"/reminders/mass/rows/{invoice_id}", data={
                f"level-{invoice_id}": str(level), f"letter-{invoice_id}": "1", f"override-{invoice_id}": "1",
                f"reason-{invoice_id}": "The customer asked for it"})
        response = self.http(self.agent, "post", "/reminders/mass/run", data={"token": self.token()})
        assert response.status_code in (303, 422), response.status_code

    def _form(self, index, level, chan, override):
        values = {"invoice": self.invoices[index], "level": level, "note": "", "token": self.token(),
                  "action": "send"}
        if chan == "email":
            values["by_email"] = "y"
        if override:
            values |= {"override": "y", "override_reason": "Agreed on the phone"}
        self.last_form = values
        response = self.http(self.agent, "post", "/reminders/new", data=values)
        assert response.status_code in (303, 422), response.status_code

    def _resubmit(self):
        if self.last_form is None:
            return
        before = self.count()
        response = self.http(self.agent, "post", "/reminders/new", data=self.last_form)
        assert response.status_code in (303, 422)
        assert self.count() == before  # the same token twice never makes a second reminder

    def _api(self, index, level, chan, override):
        number = f"FA-{index}"
        body = {"level": level, "channel": chan}
        if override:
            body["override_reason"] = "Requested by the ERP user"
        response = self.http(self.agent, "post", f"/api/v1/invoices/{number}/reminders", json=body,
                                   headers={"Authorization": f"Bearer {self.api_key}"})
        assert response.status_code in (201, 422), (response.status_code, response.get_json())

    def _reorder(self, level_rank, direction):
        level = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == level_rank))
        response = self.http(self.manager, "post", f"/admin/levels/{level.id}/move/{direction}")
        assert response.status_code in (302, 400), response.status_code  # moved, or no level beyond

    def _pay(self, index):
        invoice = db.session.get(Invoice, self.invoices[index])
        if invoice.is_open:
            make_payment(invoice, invoice.remaining_due, clock.today())
            invoice.status = "paid"
            db.session.commit()
            self.paid[invoice.id] = self.count(invoice.id)

    def _clock(self, hours):
        self.now += timedelta(hours=hours)

    # --- invariants ----------------------------------------------------------------------------------------

    def count(self, invoice_id: int | None = None) -> int:
        query = select(Reminder.id)
        if invoice_id is not None:
            query = query.where(Reminder.invoice_id == invoice_id)
        return len(db.session.scalars(query).all())

    def record_snapshots(self) -> None:
        levels = {lvl.id: lvl for lvl in db.session.scalars(select(ReminderLevel))}
        for reminder in db.session.scalars(select(Reminder)):
            if reminder.id not in self.snapshots:  # made by this action: the level as it is now
                level = levels[reminder.level_id]
                assert (reminder.level, reminder.level_names, reminder.formal_notice) == (
                    level.rank, level.names, level.formal_notice)
                self.snapshots[reminder.id] = (reminder.level_id, reminder.level, dict(reminder.level_names),
                                               reminder.formal_notice)

    def check(self) -> None:
        gap = settings_service.load(db.session).min_days_between
        done = db.session.scalars(select(Reminder).where(Reminder.status.in_(DONE_STATUSES))
                                  .order_by(Reminder.reminder_date, Reminder.id)).all()
        for reminder in db.session.scalars(select(Reminder)):
            assert self.snapshots[reminder.id] == (reminder.level_id, reminder.level, reminder.level_names,
                                                   reminder.formal_notice), "a level snapshot changed"
        by_invoice: dict[int, list[Reminder]] = {}
        for reminder in done:
            by_invoice.setdefault(reminder.invoice_id, []).append(reminder)
        for rows in by_invoice.values():
            for later_index, later in enumerate(rows):
                if later.override_reason:
                    continue
                for earlier in rows[:later_index]:
                    assert (earlier.level, earlier.channel) != (later.level, later.channel), (
                        "the same level and channel twice without an override")
                    same_step = earlier.level == later.level and earlier.reminder_date == later.reminder_date
                    assert same_step or (later.reminder_date - earlier.reminder_date).days >= gap, (
                        "two reminders closer than the minimum interval without an override")
        for invoice_id, count in self.paid.items():
            assert self.count(invoice_id) == count, "a reminder was made for a paid invoice"
        today = clock.today()
        invoices = db.session.scalars(select(Invoice).order_by(Invoice.id)).all()
        for automatic in (False, True):
            due = {d.invoice_id: d.level for d in reference_schedule(db.session, today, automatic=automatic).due}
            verdicts = eligibility.check_many(db.session, invoices, today, automatic=automatic)
            allowed = {i: v.rank for i, v in verdicts.items() if v.ok}
            assert allowed == due, (automatic, allowed, due)
            if not automatic:  # the mass page's "due today", written in SQL, says the same
                assert set(db.session.scalars(eligibility.due_select(db.session, today))) == set(due)
                assert eligibility.due_ranks(db.session, today) == due
        db.session.rollback()


# The suite runs the same 15 examples every time (CI must not meet a new one by chance); a long search varies them:
# RULEBOOK_EXAMPLES=150 .venv/bin/pytest tests/test_rulebook_property.py
EXAMPLES = int(os.environ.get("RULEBOOK_EXAMPLES", "0")) or None


@pytest.mark.slow
@settings(max_examples=EXAMPLES or 15, derandomize=EXAMPLES is None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(action, min_size=4, max_size=14))
def test_every_path_keeps_the_one_rulebook(app, steps):
    note(f"steps: {steps}")
    world = World(app)
    try:
        for step in steps:
            world.do(step)
    finally:
        app.config.pop("CLOCK", None)
        db.session.rollback()


def test_the_same_scenario_by_hand(app):
    """A fixed run of the property, readable: the day's automatic run, then every hand path tries again."""
    world = World(app)
    try:
        for step in [("auto",), ("auto",), ("form", 2, 2, "letter", True), ("form", 2, 2, "email", False),
                     ("mass", "emails", None), ("form", 2, 1, "email", False), ("resubmit",),
                     ("api", 2, 1, "email", False), ("form", 2, 2, "email", False), ("clock", 2), ("auto",),
                     ("form", 2, 2, "letter", True), ("resubmit",), ("reorder", 2, "up"), ("clock", 24 * 8),
                     ("auto",), ("mass", "emails", (3, 3)), ("pay", 3), ("api", 3, 3, "letter", True)]:
            world.do(step)
        third = db.session.scalars(select(Reminder).where(Reminder.invoice_id == world.invoices[2])
                                   .order_by(Reminder.id)).all()
        assert [(r.level, r.channel, bool(r.override_reason)) for r in third][:2] == [
            (1, "email", False), (2, "letter", True)]
        assert Decimal(db.session.get(Invoice, world.invoices[3]).remaining_due) == 0
    finally:
        app.config.pop("CLOCK", None)
        db.session.rollback()
