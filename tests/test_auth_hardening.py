"""Authentication hardening: trusted proxies, sessions that can be ended, a login that takes the same time for
any email, the person's own password change, the cookies' flags (the throttle: tests/test_login_throttle.py)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from statistics import median

import pytest
from flask import request
from sqlalchemy import select
from werkzeug.security import check_password_hash

from relance.config import ConfigError, load_config
from relance.extensions import db
from relance.models import AuditLog, User
from relance.models.user import LoginFailure
from tests.conftest import _build_app, csrf_token_from, sqlite_url_from_template
from tests.factories import make_user
from tests.visitors import visitor

GOOD = "correct horse 42"
NEW = "violet tram under seven lamps"


def log_in(client, email, password=GOOD, remember=False, ip="10.0.0.1"):
    data = {"email": email, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data, environ_base={"REMOTE_ADDR": ip})


def cookie(client, name: str) -> str | None:
    found = client.get_cookie(name)
    return found.value if found else None


def browser_with(app, **cookies):
    """A new browser holding only these cookies (copied from another one)."""
    client = visitor(app)
    for name, value in cookies.items():
        client.set_cookie(name, value)
    return client


def logged_in(client) -> bool:
    status = client.get("/").status_code
    assert status in (200, 302)
    return status == 200


def set_cookie_header(response, name: str) -> list[str]:
    """The attributes of the Set-Cookie header of that cookie (value first)."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return [part.strip() for part in header.split(";")]
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.getlist('Set-Cookie')}")


# --- reverse proxies ----------------------------------------------------------------------------------------

def proxied_app(tmp_path, sqlite_template, hops: int):
    app = _build_app(sqlite_url_from_template(sqlite_template, tmp_path / f"proxied{hops}.db"), tmp_path,
                     TRUSTED_PROXIES=hops)

    @app.get("/_probe")
    def probe():
        return f"{request.remote_addr} {request.scheme}"

    return app


@pytest.mark.parametrize(("hops", "forwarded_for", "forwarded_proto", "seen"), [
    (0, "6.6.6.6", "https", "10.0.0.1 http"),  # no proxy declared: the headers are the client's, ignored
    (1, "6.6.6.6, 203.0.113.9", "https", "203.0.113.9 https"),  # the client's own entry comes first: skipped
    (1, "203.0.113.9", "https", "203.0.113.9 https"),
    (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "https, http", "203.0.113.9 https"),
    (2, "203.0.113.9", "https", "10.0.0.1 http"),  # fewer entries than proxies: not trusted at all
])
def test_the_client_address_is_read_through_the_declared_proxies_only(tmp_path, sqlite_template, hops,
                                                                       forwarded_for, forwarded_proto, seen):
    app = proxied_app(tmp_path, sqlite_template, hops)
    response = app.test_client().get("/_probe", environ_base={"REMOTE_ADDR": "10.0.0.1"}, headers={
        "X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": forwarded_proto, "X-Forwarded-Host": "evil.example"})
    assert response.get_data(as_text=True) == seen


def test_behind_one_proxy_a_forged_forwarded_for_does_not_escape_the_throttle(tmp_path, sqlite_template):
    app = proxied_app(tmp_path, sqlite_template, 1)
    with app.app_context():
        make_user(email="ines@test.example")
        db.session.commit()
        client = visitor(app)
        statuses = []
        for n in range(5):  # the proxy (10.0.0.1) appends the real address; the client invents the first one
            response = client.post("/login", data={"email": "ines@test.example", "password": f"guess {n}"},
                                   environ_base={"REMOTE_ADDR": "10.0.0.1"},
                                   headers={"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.9"})
            statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429, 429]
        assert set(db.session.scalars(select(LoginFailure.ip))) == {"203.0.113.9"}
        db.session.remove()
        db.engine.dispose()


def test_trusted_proxies_setting(monkeypatch, tmp_path):
    base = {"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"}
    assert load_config(base)["TRUSTED_PROXIES"] == 0
    monkeypatch.setenv("RELANCE_TRUSTED_PROXIES", "2")
    assert load_config(base)["TRUSTED_PROXIES"] == 2
    for wrong in ("-1", "two"):
        monkeypatch.setenv("RELANCE_TRUSTED_PROXIES", wrong)
        with pytest.raises(ConfigError, match="RELANCE_TRUSTED_PROXIES"):
            load_config(base)


# --- sessions that end --------------------------------------------------------------------------------------

def test_a_copied_session_cookie_is_refused_after_logout(app):
    make_user(email="anne@test.example")
    db.session.commit()
    browser = visitor(app)
    assert log_in(browser, "anne@test.example").status_code == 302
    copied = cookie(browser, "session")
    assert logged_in(browser_with(app, session=copied))  # while the session is open, a copy works
    browser.post("/logout")
    assert not logged_in(browser)
    assert not logged_in(browser_with(app, session=copied))


def _everywhere_else(app, user, browser):
    assert browser.post("/account/sessions").status_code == 302


def _own_password(app, user, browser):
    response = browser.post("/account/password", data={"current_password": GOOD, "new_password": NEW,
                                                       "confirm": NEW})
    assert response.status_code == 302, response.get_data(as_text=True)


def _admin_reset(app, user, browser):
    admin = visitor(app)
    make_user(email="boss@test.example", role="admin")
    db.session.commit()
    log_in(admin, "boss@test.example")
    assert admin.post(f"/admin/users/{user.id}/password").status_code == 200


def _deactivation(app, user, browser):
    admin = visitor(app)
    make_user(email="boss@test.example", role="admin")
    db.session.commit()
    log_in(admin, "boss@test.example")
    form = {"email": user.email, "name": user.name, "role": user.role, "language": "", "signature": ""}
    assert admin.post(f"/admin/users/{user.id}", data=form).status_code == 302  # no "active": deactivated
    assert admin.post(f"/admin/users/{user.id}", data={**form, "active": "y"}).status_code == 302  # and back


def _logout(app, user, browser):
    assert browser.post("/logout").status_code == 302


@pytest.mark.parametrize(("action", "stays"), [
    (_everywhere_else, True), (_own_password, True), (_admin_reset, False), (_deactivation, False),
    (_logout, False),
])
def test_old_session_and_remember_cookies_are_refused_after(app, action, stays):
    user = make_user(email="carla@test.example")
    db.session.commit()
    browser = visitor(app)
    assert log_in(browser, user.email, remember=True).status_code == 302
    old_session, old_remember = cookie(browser, "session"), cookie(browser, "remember_token")
    assert old_session and old_remember
    assert logged_in(browser_with(app, session=old_session))  # before: each copy alone opens the account
    assert logged_in(browser_with(app, remember_token=old_remember))
    action(app, user, browser)
    assert not logged_in(browser_with(app, session=old_session))
    assert not logged_in(browser_with(app, remember_token=old_remember))
    assert not logged_in(browser_with(app, session=old_session, remember_token=old_remember))
    assert logged_in(browser) is stays
    if stays:  # this browser carries on under the new identity, its remember-me cookie too
        new_remember = cookie(browser, "remember_token")
        assert new_remember and new_remember != old_remember
        assert logged_in(browser_with(app, remember_token=new_remember))


def test_a_session_made_before_the_versions_is_refused(app):
    """Sessions opened before the upgrade hold the bare user id: they end (everyone logs in once more)."""
    user = make_user(email="dan@test.example")
    db.session.commit()
    browser = visitor(app)
    with browser.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
    assert not logged_in(browser)
    with browser.session_transaction() as session:
        session["_user_id"] = user.get_id()
    assert logged_in(browser)


# --- constant-time login ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["scrypt:8192:8:1", pytest.param("scrypt", marks=pytest.mark.slow)])
def test_unknown_and_known_emails_take_the_same_time(sqlite_app, method):
    """With a real hash (not the suite's cheap one): scrypt at a quarter of the production cost in the fast suite,
    the production method itself in the slow one. Without the dummy hash, an unknown email answers in the time of
    a request without a hash, several times faster than a known one. The time measured is the CPU time of the
    thread serving the request (the test client serves it in this thread): what the server does for each email,
    which the parallel test workers' load on the machine does not blur as it does the wall-clock time."""
    sqlite_app.config["PASSWORD_HASH_METHOD"] = method
    user = make_user(email="known@test.example")
    db.session.commit()
    assert user.password_hash.startswith("scrypt:")
    client = visitor(sqlite_app)

    def timed(email: str, n: int) -> float:
        start = time.thread_time()
        response = client.post("/login", data={"email": email, "password": "wrong password"},
                               environ_base={"REMOTE_ADDR": f"198.51.100.{n}"})
        elapsed = time.thread_time() - start
        assert response.status_code == 401
        return elapsed

    timed("nobody@test.example", 1)  # warm up (the dummy hash is made once per method and process)
    timed("known@test.example", 2)
    known, unknown = [], []
    for n in range(5):  # interleaved, each from its own address (no throttle)
        known.append(timed("known@test.example", 10 + 2 * n))
        unknown.append(timed("nobody@test.example", 11 + 2 * n))
    one_hash = median(_hash_time(user.password_hash) for _ in range(3))
    k, u = median(known), median(unknown)
    assert u >= 0.7 * one_hash, (u, one_hash)  # an unknown email costs a hash too
    assert abs(k - u) <= 0.3 * max(k, u), (known, unknown)


def _hash_time(password_hash: str) -> float:
    start = time.thread_time()
    check_password_hash(password_hash, "wrong password")
    return time.thread_time() - start


# --- cookies ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("secure", ["0", "1"])
def test_cookie_flags(monkeypatch, tmp_path, sqlite_template, secure):
    monkeypatch.setenv("RELANCE_SECURE_COOKIES", secure)
    app = _build_app(sqlite_url_from_template(sqlite_template, tmp_path / "cookies.db"), tmp_path)
    with app.app_context():
        make_user(email="eve@test.example")
        db.session.commit()
        response = log_in(visitor(app), "eve@test.example", remember=True)
        db.session.remove()
        db.engine.dispose()
    assert response.status_code == 302
    now = datetime.now(UTC)
    for name, days in (("remember_token", 30), ("relance_browser", 180)):
        attributes = set_cookie_header(response, name)
        assert ("Secure" in attributes) is (secure == "1"), attributes
        assert "HttpOnly" in attributes and "SameSite=Lax" in attributes and "Path=/" in attributes
        expires = parsedate_to_datetime(next(a for a in attributes if a.startswith("Expires="))[8:])
        assert abs(expires - (now + timedelta(days=days))) < timedelta(minutes=5), (name, expires)
    session = set_cookie_header(response, "session")
    assert ("Secure" in session) is (secure == "1") and "HttpOnly" in session and "SameSite=Lax" in session


def test_remember_days_setting(monkeypatch, tmp_path):
    base = {"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"}
    assert load_config(base)["REMEMBER_COOKIE_DURATION"] == timedelta(days=30)
    monkeypatch.setenv("RELANCE_REMEMBER_DAYS", "7")
    assert load_config(base)["REMEMBER_COOKIE_DURATION"] == timedelta(days=7)
    assert load_config({**base, "SESSION_COOKIE_SECURE": True})["REMEMBER_COOKIE_SECURE"] is True
    monkeypatch.setenv("RELANCE_REMEMBER_DAYS", "0")
    with pytest.raises(ConfigError, match="RELANCE_REMEMBER_DAYS"):
        load_config(base)


# --- the person's own account and password ----------------------------------------------------------------

def test_the_account_page_is_linked_from_the_header(app):
    make_user(email="fanny@test.example", name="Fanny Martin")
    db.session.commit()
    browser = visitor(app)
    log_in(browser, "fanny@test.example")
    assert 'href="/account"' in browser.get("/").get_data(as_text=True)
    page = browser.get("/account").get_data(as_text=True)
    assert "Fanny Martin" in page and "fanny@test.example" in page and 'href="/account/password"' in page
    assert "Log out everywhere else" in page and "never" not in page  # the last login is shown
    assert "Current password" in browser.get("/account/password").get_data(as_text=True)


@pytest.mark.parametrize(("current", "new", "confirm", "message"), [
    ("wrong one", NEW, NEW, "The current password is wrong."),
    (GOOD, "short one", "short one", "Use at least 12 characters."),
    (GOOD, "Password1234", "Password1234", "This password is too common or too easy to guess"),
    (GOOD, "P@ssw0rd2024!", "P@ssw0rd2024!", "This password is too common or too easy to guess"),
    (GOOD, "Correct Horse Battery Staple", "Correct Horse Battery Staple", "too common"),
    (GOOD, "Marseille 13 !!", "Marseille 13 !!", "too common"),
    (GOOD, "abababababababab", "abababababababab", "too common"),
    (GOOD, "gina@test.example", "gina@test.example", "Do not use your email address as your password."),
    (GOOD, NEW, NEW + " again", "The two new passwords are different."),
    (GOOD, GOOD, GOOD, "Choose a new password, different from the current one."),
    (GOOD, "", "", "Enter a new password."),
])
def test_a_refused_password_change_changes_nothing(app, current, new, confirm, message):
    user = make_user(email="gina@test.example")
    db.session.commit()
    browser = visitor(app)
    log_in(browser, "gina@test.example")
    response = browser.post("/account/password", data={"current_password": current, "new_password": new,
                                                       "confirm": confirm})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True).replace("&#34;", '"')
    db.session.refresh(user)
    assert user.check_password(GOOD) and user.session_version == 1
    assert logged_in(browser)


def test_changing_ones_password(app):
    user = make_user(email="hanna@test.example")
    db.session.commit()
    browser, laptop = visitor(app), visitor(app)
    log_in(browser, "hanna@test.example")
    log_in(laptop, "hanna@test.example", ip="10.0.0.2")
    response = browser.post("/account/password", data={"current_password": GOOD, "new_password": NEW,
                                                       "confirm": NEW}, follow_redirects=True)
    assert "Password changed. Your sessions on other browsers and devices are logged out." in response.get_data(
        as_text=True)
    assert logged_in(browser) and not logged_in(laptop)
    assert log_in(visitor(app), "hanna@test.example", GOOD, ip="10.0.0.3").status_code == 401
    assert log_in(visitor(app), "hanna@test.example", NEW, ip="10.0.0.4").status_code == 302
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "change_password"))
    assert row.user_id == user.id and row.entity_id == str(user.id) and NEW not in str(row.after)


def test_guessing_the_current_password_is_throttled_like_a_login(app):
    make_user(email="ivan@test.example")
    db.session.commit()
    browser = visitor(app)
    log_in(browser, "ivan@test.example")
    for n in range(3):
        response = browser.post("/account/password", data={"current_password": f"guess {n}", "new_password": NEW,
                                                           "confirm": NEW})
        assert response.status_code == 422
    response = browser.post("/account/password", data={"current_password": GOOD, "new_password": NEW,
                                                       "confirm": NEW})
    assert response.status_code == 429
    assert "Too many failed logins. Wait 5 seconds before trying again." in response.get_data(as_text=True)


@pytest.mark.csrf
def test_password_change_and_log_out_everywhere_else_through_the_forms(app):
    make_user(email="jade@test.example")
    db.session.commit()
    browser, other = visitor(app), visitor(app)
    for client, ip in ((browser, "10.0.0.1"), (other, "10.0.0.2")):
        token = csrf_token_from(client.get("/login").get_data(as_text=True))
        response = client.post("/login", data={"email": "jade@test.example", "password": GOOD, "csrf_token": token},
                               environ_base={"REMOTE_ADDR": ip})
        assert response.status_code == 302
    assert browser.post("/account/sessions").status_code == 400  # no token
    token = csrf_token_from(browser.get("/account").get_data(as_text=True))
    assert browser.post("/account/sessions", data={"csrf_token": token}).status_code == 302
    assert logged_in(browser) and not logged_in(other)
    token = csrf_token_from(browser.get("/account/password").get_data(as_text=True))
    response = browser.post("/account/password", data={"current_password": GOOD, "new_password": NEW,
                                                       "confirm": NEW, "csrf_token": token})
    assert response.status_code == 302 and logged_in(browser)


def test_the_users_list_shows_the_last_login(app):
    make_user(email="never@test.example", name="Nora Never")
    make_user(email="seen@test.example", name="Sam Seen")
    db.session.commit()
    log_in(visitor(app), "seen@test.example")
    admin = visitor(app)
    make_user(email="boss@test.example", role="admin", name="Boss")
    db.session.commit()
    log_in(admin, "boss@test.example")
    html = admin.get("/admin/users").get_data(as_text=True)
    assert "Last login" in html
    rows = {re.search(r"<td>([^<]+)</td>", row).group(1): row for row in html.split("<tr>")[2:]}
    assert "<td>never</td>" in rows["Nora Never"]
    seen = db.session.scalar(select(User.last_login_at).where(User.email == "seen@test.example"))
    assert seen is not None and "<td>never</td>" not in rows["Sam Seen"]


@pytest.mark.browser
def test_changing_ones_password_in_a_browser(live_server, page):
    """From the name at the top right to the account page and the password form; a refused password is
    explained beside its field, a good one changes the password and keeps the browser logged in."""
    email = live_server.login(page, "agent")
    page.click("header a.who")
    page.wait_for_url(lambda url: url.endswith("/account"))
    page.click("a[href='/account/password']")
    page.fill("input[name=current_password]", GOOD)
    page.fill("input[name=new_password]", "azerty123456")
    page.fill("input[name=confirm]", "azerty123456")
    page.click("form.card button[type=submit]")
    assert page.locator("#field-new_password .error").count() == 1
    page.fill("input[name=current_password]", GOOD)
    page.fill("input[name=new_password]", NEW)
    page.fill("input[name=confirm]", NEW)
    page.click("form.card button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/account"))
    assert page.locator(".flash-success").count() == 1
    with live_server.app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user.check_password(NEW) and user.session_version == 2
    page.goto(live_server.url + "/")
    assert "/login" not in page.url
