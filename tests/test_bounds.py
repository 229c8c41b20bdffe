"""Out-of-range values never answer 500: every GET rule of app.url_map, as a manager and as an admin, with ids in
the path past the database's integer range, and each query parameter the view reads (found by recording what it
asks of request.args) set to a huge, negative, zero or garbage number, or a date in year 1 or 9999 or no date at
all. Allowed answers: 200/302 (the value is ignored), 400 (a bad query parameter), 403 (the role), 404 (an id that
names nothing), 422 (a filter form showing its error).

The helpers themselves (relance/params.py) are tested at the end.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from datetime import date

import pytest
from flask import Request, g
from werkzeug.datastructures import ImmutableMultiDict

from relance import clock, create_app, params
from relance.extensions import db
from relance.models import ApiToken, Reminder, ReminderLevel, Run, StatutoryRate
from relance.services import answers
from relance.services import settings as settings_service
from tests.conftest import app_on
from tests.factories import install_live_defaults, make_customer, make_invoice, make_payment, make_user

OK = {200, 204, 302, 303, 400, 403, 404, 405, 422}
NUMBERS = ["99999999999999999999", str(params.MAX_ID + 1), "-1", "0", "x'<%"]
DATES = ["0001-01-01", "9999-12-31", "2024-02-30"]
BAD_VALUES = NUMBERS + DATES
PAGES = ["99999999999999999999", str(2**63), "-5", "abc"]


def _collection_app():
    folder = tempfile.mkdtemp(prefix="relance-bounds-")
    atexit.register(shutil.rmtree, folder, True)
    return create_app({"TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": folder,
                       "SQLALCHEMY_DATABASE_URI": "sqlite://"})


GET_ENDPOINTS = sorted({rule.endpoint for rule in _collection_app().url_map.iter_rules() if "GET" in rule.methods})


# --- which query parameters a view reads --------------------------------------------------------------------------

SEEN: set[str] = set()


class RecordingArgs(ImmutableMultiDict):
    """request.args / request.form that remember the names a view asked for."""

    def __getitem__(self, key):
        SEEN.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None, type=None):  # noqa: A002 (werkzeug's signature)
        SEEN.add(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):  # noqa: A002
        SEEN.add(key)
        return super().getlist(key, type)

    def __contains__(self, key):
        SEEN.add(key)
        return super().__contains__(key)


class RecordingRequest(Request):
    parameter_storage_class = RecordingArgs


# --- data every view can find ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def app(request, backend, tmp_path_factory):
    """One app and one world per database for the module's 250 tests: they only read (GET), so each test's own
    app and data (a fifth of the suite's setups) bought nothing."""
    with app_on(request, backend, tmp_path_factory.mktemp("bounds")) as app:
        yield app


@pytest.fixture
def client(app):
    """A new browser for each test; Flask-Login's user cached in the shared app context's `g` is dropped."""
    g.pop("_login_user", None)
    return app.test_client()


@pytest.fixture(scope="module")
def world(app):
    install_live_defaults(db.session)
    agent = make_user(role="agent")
    customer = make_customer("C1", contacts=[{"name": "Martin", "email": "m@customer.example", "role": "billing"}])
    invoice = make_invoice(customer, number="FA-1", due=date(2026, 1, 15))
    payment = make_payment(invoice, "100.00", date(2026, 1, 20))
    level = db.session.scalars(db.select(ReminderLevel).order_by(ReminderLevel.rank)).first()
    mass_run = Run(kind="mass", run_date=date(2026, 2, 1), status="done", user_id=agent.id)
    auto_run = Run(kind="auto", run_date=date(2026, 2, 2), status="done")
    db.session.add_all([mass_run, auto_run])
    db.session.flush()
    reminder = Reminder(key="bounds-1", invoice=invoice, level=1, channel="email", user_id=agent.id,
                        run_id=mass_run.id, reminder_date=date(2026, 2, 1), status="sent", subject="Relance",
                        body="Bonjour", recipients=["billing@customer.example"])
    db.session.add(reminder)
    link_token = answers.issue_link(db.session, customer.id, clock.utcnow(), settings_service.load(db.session))
    token, clear = ApiToken.issue(agent, "bounds")
    db.session.add(token)
    db.session.flush()
    rate = db.session.scalars(db.select(StatutoryRate)).first()
    db.session.commit()
    return {"invoice_id": invoice.id, "customer_id": customer.id, "reminder_id": reminder.id,
            "contact_id": customer.contacts[0].id, "payment_id": payment.id, "level_id": level.id,
            "user_id": agent.id, "token_id": token.id, "rate_id": rate.id, "mass_run": mass_run.id,
            "auto_run": auto_run.id, "channel": "email", "language": "fr", "direction": "down",
            "filename": "css/relance.css", "kind": "invoices", "code": "C1", "number": "FA-1", "api_token": clear,
            "link_token": link_token,
            "token": "A" * 32}  # a pending import (relance/imports): someone else's or expired


_ARG = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def _path(rule, world: dict, **replace) -> str:
    def value(match):
        name = match.group("name")
        if name in replace:
            return str(replace[name])
        if name == "run_id":
            return str(world["auto_run" if rule.endpoint.startswith("autorun.") else "mass_run"])
        return str(world[name])

    return _ARG.sub(value, rule.rule)


def _get(client, rule, world: dict, url: str):
    headers = {"Authorization": f"Bearer {world['api_token']}"} if rule.endpoint.startswith("api.") else {}
    return client.get(url, headers=headers)


def _check(client, rule, world: dict, url: str, failures: list) -> None:
    try:
        response = _get(client, rule, world, url)
    except Exception as exc:  # the test app lets exceptions through: each one is a 500
        failures.append(f"{url} -> {type(exc).__name__}: {str(exc)[:200]}")
        db.session.rollback()
        return
    if response.status_code not in OK:
        failures.append(f"{url} -> {response.status_code}")


def _rule(app, endpoint: str):
    return next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint and "GET" in r.methods)


def _read_params(app, client, rule, world: dict) -> set[str]:
    """The query parameters the view asks for on a plain request."""
    app.request_class = RecordingRequest
    SEEN.clear()
    response = _get(client, rule, world, _path(rule, world))
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    return set(SEEN)


def _fuzz(app, client, auth, world, role: str, endpoint: str) -> list[str]:
    auth.login(role)
    rule = _rule(app, endpoint)
    failures: list[str] = []
    for name in rule.arguments:  # ids in the path
        converter = type(rule._converters[name]).__name__
        bad = [10**20, params.MAX_ID + 1, params.MAX_ID, -1, "x"] if converter == "IdConverter" else ["zz", "%00"]
        for value in bad:
            _check(client, rule, world, _path(rule, world, **{name: value}), failures)
    names = _read_params(app, client, rule, world)
    base = _path(rule, world)
    for name in sorted(names):
        for value in PAGES if name == "page" else BAD_VALUES:
            _check(client, rule, world, f"{base}?{name}={value}", failures)
    return failures


@pytest.mark.parametrize("endpoint", GET_ENDPOINTS)
@pytest.mark.parametrize("role", ["manager", "admin"])
def test_out_of_range_values_never_answer_500(app, client, auth, world, role, endpoint):
    failures = _fuzz(app, client, auth, world, role, endpoint)
    assert not failures, failures



def test_every_get_endpoint_is_fuzzed():
    """The list comes from the app's url_map: a new view is covered without being named here."""
    assert {"invoices.show", "reminders.index", "admin.audit", "autorun.test", "autorun.dry_run",
            "admin.edit_template", "api.customers"} <= set(GET_ENDPOINTS)


# --- the helpers ----------------------------------------------------------------------------------------------------

def test_parse_int_and_parse_date_name_the_field_and_the_value():
    assert params.parse_int(" 42 ", "Level", 0, 99) == 42
    assert params.parse_int("", "Level", 0, 99) is None
    for raw, words in (("abc", "Level: abc is not a whole number."), ("100", "Level: 100 is not between 0 and 99."),
                       ("9" * 5000, "is not between 0 and 99"), ("-1", "-1 is not between")):
        with pytest.raises(params.ParamError) as caught:
            params.parse_int(raw, "Level", 0, 99)
        assert words in caught.value.message
    assert params.parse_date("2026-03-01", "From") == date(2026, 3, 1)
    assert params.parse_date(None, "From") is None
    for raw, words in (("9999-12-31", "From: 9999-12-31 is not between 2000-01-01 and 2100-12-31."),
                       ("0001-01-01", "is not between"), ("2024-02-30", "is not a date (YYYY-MM-DD)"),
                       ("20240101", "is not a date"), ("x" * 100, "\u2026 is not a date")):
        with pytest.raises(params.ParamError) as caught:
            params.parse_date(raw, "From")
        assert words in caught.value.message


def test_valid_id_is_an_id_the_database_can_hold():
    assert params.valid_id("12") == 12 and params.valid_id(12) == 12
    assert params.valid_id(str(params.MAX_ID)) == params.MAX_ID
    for raw in (str(params.MAX_ID + 1), "0", "-3", "1e3", "١٢", "²", "", None, True, 10**30, "9" * 5000):
        assert params.valid_id(raw) is None, raw


def test_query_helpers_answer_400_and_404(sqlite_app):
    from werkzeug.exceptions import NotFound

    with sqlite_app.test_request_context("/?n=7&d=2026-01-02&bad=x&far=99999999999999999999&when=9999-12-31"):
        assert params.int_arg("n", 1, 10) == 7 and params.int_arg("none", 1, 10, default=3) == 3
        assert params.date_arg("d") == date(2026, 1, 2)
        assert params.id_arg("n") == 7 and params.id_arg("none") is None
        for call in (lambda: params.int_arg("bad", 1, 10), lambda: params.int_arg("far", 1, 10),
                     lambda: params.date_arg("when"), lambda: params.id_arg("bad")):
            with pytest.raises(params.BadParameter) as caught:
                call()
            assert caught.value.code == 400 and caught.value.description
        with pytest.raises(NotFound):
            params.id_arg("far")


def test_ids_in_paths_past_the_database_range_match_no_route(sqlite_app):
    adapter = sqlite_app.url_map.bind("localhost")
    assert adapter.match(f"/invoices/{params.MAX_ID}")[1] == {"invoice_id": params.MAX_ID}
    from werkzeug.exceptions import NotFound

    with pytest.raises(NotFound):
        adapter.match(f"/invoices/{params.MAX_ID + 1}")
