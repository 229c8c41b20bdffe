"""Fixtures: an app on SQLite (always) and on PostgreSQL (when RELANCE_TEST_DATABASE_URL is set).

A test that needs a missing service is skipped with its reason on a laptop and fails when CI=true.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from relance import create_app
from relance.extensions import db
from tests.factories import make_user
from tests.pgschema import drop_pg_schema, reset_pg_schema

PG_URL = os.environ.get("RELANCE_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("RELANCE_TEST_REDIS_URL")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_SCHEMA = "relance_test"


def need_service(value: str | None, what: str) -> str:
    """The value, or skip (fail in CI) when the service is not configured."""
    if value:
        return value
    message = f"{what} is not configured for tests"
    if IN_CI:
        pytest.fail(f"{message}: CI=true requires it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_schema_url():
    url = need_service(PG_URL, "PostgreSQL (RELANCE_TEST_DATABASE_URL)")
    yield reset_pg_schema(url, PG_SCHEMA)
    drop_pg_schema(url, PG_SCHEMA)


_pg_tables_created = False


def _build_app(db_url: str, tmp_path: Path, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": db_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "HUEY_IMMEDIATE": True,
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": "localhost",
        # Messages in English unless a test asks for French (Accept-Language: fr, or a browser in fr-FR).
        "BABEL_DEFAULT_LOCALE": "en",
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def app(request, backend, tmp_path):
    """The app with an empty schema on the backend of this run, inside an app context."""
    global _pg_tables_created
    overrides = {}
    if request.node.get_closest_marker("csrf"):
        overrides["WTF_CSRF_ENABLED"] = True
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = request.getfixturevalue("pg_schema_url")
    app = _build_app(url, tmp_path, **overrides)
    with app.app_context():
        if backend == "sqlite":
            db.create_all()
        else:
            if not _pg_tables_created:
                db.drop_all()
                db.create_all()
                _pg_tables_created = True
            names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            db.session.commit()
        yield app
        db.session.remove()
        if backend == "sqlite":
            db.engine.dispose()


@pytest.fixture
def sqlite_app(tmp_path):
    """An app on SQLite only, for tests whose subject is not the database (browser, files)."""
    app = _build_app(f"sqlite:///{tmp_path / 'test.db'}", tmp_path)
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    """Log in as a user of a given role (created on first use)."""

    def __init__(self, client):
        self.client = client

    def login(self, role: str = "agent", email: str | None = None, password: str = "correct horse 42"):
        email = email or f"{role}@test.example"
        from relance.models import User

        if db.session.query(User).filter_by(email=email).first() is None:
            make_user(email=email, role=role, password=password)
            db.session.commit()
        response = self.client.post("/login", data={"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no csrf_token in the page"
    return match.group(1)


# --- live server and browser (Playwright driving Debian's Chromium) ---------------------------------

CHROMIUM = os.environ.get("RELANCE_TEST_CHROMIUM", "/usr/bin/chromium")


class LiveServer:
    def __init__(self, app, server, thread):
        self.app, self.server, self.thread = app, server, thread
        self.url = f"http://127.0.0.1:{server.server_port}"

    def login(self, page, role: str = "agent", password: str = "correct horse 42") -> str:
        """Create (once) a user of that role and log in through the form; returns the email."""
        email = f"{role}@live.example"
        with self.app.app_context():
            from relance.models import User

            if db.session.query(User).filter_by(email=email).first() is None:
                make_user(email=email, role=role, password=password)
                db.session.commit()
        page.goto(self.url + "/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("section.login button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        return email


def start_live_server(tmp_path, setup=None) -> LiveServer:
    """Serve the app over HTTP on a free port (SQLite, CSRF on) in a thread; `setup(app)` runs first."""
    import threading

    from werkzeug.serving import make_server

    app = _build_app(f"sqlite:///{tmp_path / 'live.db'}", tmp_path, WTF_CSRF_ENABLED=True, SERVER_NAME=None)
    if setup:
        setup(app)
    with app.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return LiveServer(app, server, thread)


def stop_live_server(live: LiveServer) -> None:
    live.server.shutdown()
    with live.app.app_context():
        db.engine.dispose()


@pytest.fixture
def live_server(tmp_path):
    live = start_live_server(tmp_path)
    yield live
    stop_live_server(live)


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        need_service(None, f"Chromium ({CHROMIUM}; apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(locale="fr-FR", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def pytest_terminal_summary(terminalreporter):
    """One line per backend so CI logs show the PostgreSQL and Redis tests really ran."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            for backend in ("sqlite", "postgresql", "redis"):
                if f"[{backend}" in nodeid or f"-{backend}]" in nodeid or f"-{backend}-" in nodeid:
                    counts.setdefault(backend, {}).setdefault(outcome, 0)
                    counts[backend][outcome] += 1
    for backend, by_outcome in sorted(counts.items()):
        figures = " ".join(f"{k}={v}" for k, v in sorted(by_outcome.items()))
        terminalreporter.write_line(f"backend {backend}: {figures}")
