"""Login protection: 5 failures for an account or an address within 15 minutes make further tries wait."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from relance.extensions import db
from relance.models.base import utcnow
from relance.models.user import LoginFailure
from relance.services import throttle
from tests.factories import make_user

GOOD = "correct horse 42"


def login(client, email, password, ip="10.0.0.1"):
    return client.post("/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip})


def test_five_failures_lock_the_account_even_with_the_right_password(app, client):
    make_user(email="anne@test.example", role="agent")
    db.session.commit()
    for n in range(5):
        assert login(client, "anne@test.example", f"wrong {n}", ip=f"10.0.0.{n}").status_code == 401
    response = login(client, "anne@test.example", GOOD, ip="10.0.0.99")
    assert response.status_code == 429
    assert "Too many failed logins. Wait 15 minutes before trying again." in response.get_data(as_text=True)
    # another account from another address is not affected
    make_user(email="bob@test.example", role="agent")
    db.session.commit()
    assert login(client, "bob@test.example", GOOD, ip="10.0.0.50").status_code == 302


def test_five_failures_from_one_address_block_that_address_for_every_account(app, client):
    make_user(email="carl@test.example", role="agent")
    db.session.commit()
    for n in range(5):
        assert login(client, f"guess{n}@test.example", "x", ip="192.0.2.7").status_code == 401
    assert login(client, "carl@test.example", GOOD, ip="192.0.2.7").status_code == 429
    assert login(client, "carl@test.example", GOOD, ip="192.0.2.8").status_code == 302


def test_the_wait_ends_after_15_minutes(app, client):
    make_user(email="dora@test.example", role="agent")
    db.session.commit()
    for n in range(5):
        login(client, "dora@test.example", f"wrong {n}")
    assert login(client, "dora@test.example", GOOD).status_code == 429
    # age the failures: 14 minutes ago still blocks, 16 minutes ago does not
    db.session.execute(update(LoginFailure).values(at=utcnow() - timedelta(minutes=14)))
    db.session.commit()
    response = login(client, "dora@test.example", GOOD)
    assert response.status_code == 429 and "Wait 1 minute before" in response.get_data(as_text=True)
    db.session.execute(update(LoginFailure).values(at=utcnow() - timedelta(minutes=16)))
    db.session.commit()
    assert login(client, "dora@test.example", GOOD).status_code == 302


def test_four_failures_then_success_resets_the_account(app, client):
    make_user(email="emma@test.example", role="agent")
    db.session.commit()
    for n in range(4):
        login(client, "emma@test.example", f"wrong {n}", ip=f"10.1.0.{n}")
    assert login(client, "emma@test.example", GOOD, ip="10.1.0.9").status_code == 302
    client.post("/logout")
    for n in range(4):
        login(client, "emma@test.example", f"again {n}", ip=f"10.2.0.{n}")
    assert login(client, "emma@test.example", GOOD, ip="10.2.0.9").status_code == 302


def test_wait_seconds_counts_in_the_database(app):
    now = utcnow()
    for minutes in (1, 2, 3, 4, 20):
        throttle.record_failure(db.session, "Fred@Test.example", "203.0.113.1", now - timedelta(minutes=minutes))
    db.session.commit()
    assert throttle.wait_seconds(db.session, "fred@test.example", "", now) == 0  # only 4 in the window
    throttle.record_failure(db.session, "fred@test.example", "203.0.113.2", now)
    db.session.commit()
    # the 5th most recent failure (4 minutes ago) leaves the window in 11 minutes
    assert 11 * 60 - 2 <= throttle.wait_seconds(db.session, "FRED@test.example", "", now) <= 11 * 60 + 1
    assert throttle.wait_seconds(db.session, "other@test.example", "203.0.113.1", now) == 0
