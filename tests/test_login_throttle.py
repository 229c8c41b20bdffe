"""Login throttle (services/throttle.py): failures slow down their own address (or known browser) with growing
delays; someone else's failures never refuse a correct password from an address that is not itself throttled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models.user import LoginFailure
from relance.services import throttle
from tests.factories import make_user
from tests.visitors import visitor

GOOD = "correct horse 42"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """The app's clock (config CLOCK), moved by hand."""

    def __init__(self, app):
        self.now = START
        app.config["CLOCK"] = lambda: self.now

    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def login(client, email, password, ip="10.0.0.1", remember=False):
    data = {"email": email, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data, environ_base={"REMOTE_ADDR": ip})


def failures() -> int:
    return db.session.scalar(select(func.count()).select_from(LoginFailure))


def test_delays_grow_from_5_seconds_to_15_minutes():
    place = throttle.HERE
    assert [throttle.delay(n, place).total_seconds() for n in range(0, 9)] == [0, 0, 0, 5, 10, 20, 40, 80, 160]
    assert throttle.delay(11, place) == timedelta(minutes=15) == throttle.delay(10_000, place)
    assert throttle.delay(19, throttle.ADDRESS) == timedelta(0) and throttle.delay(20, throttle.ADDRESS).seconds == 5


def test_a_lockout_attempt_from_another_address_does_not_block_the_right_password(app):
    client = visitor(app)
    clock = Clock(app)
    make_user(email="admin@relance.example", role="admin")
    db.session.commit()
    attacker = visitor(app)
    refused = 0
    for n in range(30):  # the attacker waits out every delay: 30 wrong passwords in about five hours
        response = login(attacker, "admin@relance.example", f"guess {n}", ip="203.0.113.66")
        if response.status_code == 429:
            refused += 1
            clock.wait(throttle.wait_seconds(db.session, throttle.Attempt("admin@relance.example", "203.0.113.66"),
                                             clock.now.replace(tzinfo=None)))
            response = login(attacker, "admin@relance.example", f"guess {n}", ip="203.0.113.66")
        assert response.status_code == 401
    assert refused and failures() == 30
    # the attacker's address is throttled (even for the right password: the password is not even looked at)
    response = login(attacker, "admin@relance.example", GOOD, ip="203.0.113.66")
    assert response.status_code == 429
    assert "Too many failed logins. Wait 15 minutes before trying again." in response.get_data(as_text=True)
    # the real admin, from the office, logs in at once with the right password
    assert login(client, "admin@relance.example", GOOD, ip="198.51.100.7").status_code == 302
    assert client.get("/").status_code == 200
    # and the attacker is still throttled afterwards (the admin's success does not clear the attacker's address)
    response = login(attacker, "admin@relance.example", "guess again", ip="203.0.113.66")
    assert response.status_code == 429, (response.headers, response.get_data(as_text=True)[:300])


def test_the_wait_grows_and_ends(app):
    client = visitor(app)
    clock = Clock(app)
    make_user(email="dora@test.example")
    db.session.commit()
    for n in range(3):
        assert login(client, "dora@test.example", f"wrong {n}").status_code == 401
    response = login(client, "dora@test.example", GOOD)
    assert response.status_code == 429 and "Wait 5 seconds before" in response.get_data(as_text=True)
    assert failures() == 3  # a try refused during the wait is not counted
    clock.wait(5)
    assert login(client, "dora@test.example", "wrong 3").status_code == 401
    response = login(client, "dora@test.example", GOOD)
    assert response.status_code == 429 and "Wait 10 seconds before" in response.get_data(as_text=True)
    clock.wait(9)
    assert login(client, "dora@test.example", GOOD).status_code == 429
    clock.wait(1)
    assert login(client, "dora@test.example", GOOD).status_code == 302


def test_one_address_trying_many_accounts_is_throttled_for_every_account(app):
    client = visitor(app)
    clock = Clock(app)
    make_user(email="carl@test.example")
    db.session.commit()
    for n in range(20):
        assert login(client, f"guess{n}@test.example", "x", ip="192.0.2.7").status_code == 401
        clock.wait(1)
    assert login(client, "carl@test.example", GOOD, ip="192.0.2.7").status_code == 429
    other = visitor(app)
    assert login(other, "carl@test.example", GOOD, ip="192.0.2.8").status_code == 302
    clock.wait(5)
    assert login(client, "carl@test.example", GOOD, ip="192.0.2.7").status_code == 302


def test_a_known_browser_is_not_slowed_down_by_others_on_its_address(app):
    """An office behind one address (or a proxy not declared): someone there fails many times for a colleague's
    account and for others; the colleague, in the browser they logged in with before, is not made to wait."""
    client = visitor(app)
    clock = Clock(app)
    make_user(email="emma@test.example")
    db.session.commit()
    office = "192.0.2.50"
    assert login(client, "emma@test.example", GOOD, ip=office).status_code == 302
    assert client.get_cookie("relance_browser") is not None
    client.post("/logout")
    intruder = visitor(app)
    for n in range(25):
        email = "emma@test.example" if n % 2 else f"someone{n}@test.example"
        assert login(intruder, email, "wrong", ip=office).status_code in (401, 429)
        clock.wait(20)
    assert login(intruder, "emma@test.example", "wrong", ip=office).status_code in (401, 429)
    assert login(intruder, "emma@test.example", GOOD, ip=office).status_code == 429  # a browser new to her account
    assert login(client, "emma@test.example", GOOD, ip=office).status_code == 302  # her own browser
    # the known browser's own failures are slowed down on its own counter
    client.post("/logout")
    for n in range(3):
        assert login(client, "emma@test.example", f"typo {n}", ip=office).status_code == 401
    assert login(client, "emma@test.example", GOOD, ip=office).status_code == 429


def test_a_known_browser_cookie_counts_only_for_its_account(app):
    client = visitor(app)
    make_user(email="fred@test.example")
    make_user(email="gina@test.example")
    db.session.commit()
    assert login(client, "fred@test.example", GOOD).status_code == 302
    with app.test_request_context(headers={"Cookie": f"relance_browser={client.get_cookie('relance_browser').value}"}):
        from relance.auth import known_browser

        assert len(known_browser.browser_id("Fred@Test.example")) == 32
        assert known_browser.browser_id("gina@test.example") == ""
    with app.test_request_context(headers={"Cookie": "relance_browser=forged"}):
        assert known_browser.browser_id("fred@test.example") == ""


def test_success_clears_the_account_here_but_not_the_address(app):
    client = visitor(app)
    make_user(email="hugo@test.example")
    db.session.commit()
    for n in range(2):
        login(client, f"other{n}@test.example", "x", ip="10.1.0.1")
    for n in range(2):
        assert login(client, "hugo@test.example", f"wrong {n}", ip="10.1.0.1").status_code == 401
    assert login(client, "hugo@test.example", GOOD, ip="10.1.0.1").status_code == 302
    remaining = db.session.scalars(select(LoginFailure.email)).all()
    assert sorted(remaining) == ["other0@test.example", "other1@test.example"]


@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.9", "203.0.113.9"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.4", "198.51.100.4"),
    ("", ""),
    ("not an address", "not an address"),
])
def test_addresses_are_counted_by_client(address, key):
    assert throttle.address_key(address) == key


def test_wait_seconds_counts_in_the_database(app):
    now = datetime(2026, 3, 2, 9, 0)
    attempt = throttle.Attempt("Fred@Test.example", "203.0.113.1")
    for minutes in (3, 2, 1):
        throttle.record_failure(db.session, attempt, now - timedelta(minutes=minutes))
    throttle.record_failure(db.session, attempt, now - timedelta(days=2))  # outside every window
    db.session.commit()
    # 3 failures here, the latest a minute ago: the 5 s wait is over
    assert throttle.wait_seconds(db.session, attempt, now) == 0
    throttle.record_failure(db.session, attempt, now)
    db.session.commit()
    assert throttle.wait_seconds(db.session, throttle.Attempt("fred@test.example", "203.0.113.1"), now) == 10
    assert throttle.wait_seconds(db.session, throttle.Attempt("fred@test.example", "203.0.113.2"), now) == 0
    # the failure older than a day was deleted when the next one was recorded
    assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 4
