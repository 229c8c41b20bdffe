"""Fixtures: an app on SQLite (always) and on PostgreSQL (when RELANCE_TEST_DATABASE_URL is set).

A test that needs a missing service is skipped with its reason on a laptop and fails when CI=true.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from jinja2 import BytecodeCache
from sqlalchemy import text

from relance import create_app
from relance.extensions import db
from tests.factories import NOW, make_user
from tests.pgschema import drop_pg_schema, reset_pg_schema


def _worker_redis_url(url: str | None) -> str | None:
    """Each pytest-xdist worker its own Redis database (tests flushdb() it): worker k uses the base
    database + k, or the base - k when that would pass 15 (the default redis.conf has 16)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker.startswith("gw"):
        return url
    from urllib.parse import urlsplit, urlunsplit

    k = int(worker[2:])
    parts = urlsplit(url)
    base = int(parts.path.lstrip("/") or 0)
    number = base + k if base + k <= 15 else base - k
    return urlunsplit(parts._replace(path=f"/{number}"))


PG_URL = os.environ.get("RELANCE_TEST_DATABASE_URL")
REDIS_URL = _worker_redis_url(os.environ.get("RELANCE_TEST_REDIS_URL"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_SCHEMA = f"relance_test_{os.getpid()}"  # one per test process (each xdist worker too): never collide
# The cheapest werkzeug hash: a login in a test costs microseconds, not scrypt's ~100 ms (production keeps scrypt,
# tests/test_auth.py checks it).
TEST_PASSWORD_HASH = "pbkdf2:sha256:1"


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
    yield reset_pg_schema(url, PG_SCHEMA, fast_commits=True)
    drop_pg_schema(url, PG_SCHEMA)


_pg_tables_created = False


class SharedBytecodeCache(BytecodeCache):
    """Every test builds its own app, so its own Jinja environment, which would compile each template again
    (a third of a page test's time). The compiled code is shared by all apps of the process instead; Jinja
    checks each entry against the template's source, so an edited template is compiled afresh."""

    def __init__(self):
        self.store: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        code = self.store.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        self.store[bucket.key] = bucket.bytecode_to_string()


JINJA_BYTECODE = SharedBytecodeCache()


def _share_url_builders() -> None:
    """Werkzeug compiles two URL builder functions per route (Python `compile()` of an AST) for every new app:
    ~40 ms an app, as much as the rest of create_app(). The builders of a route are the same in every app of
    the process (they read the rule's converters at call time), so they are made once and bound to each
    app's rule. Test-only; if werkzeug's private method changes, routing keeps its own behaviour."""
    from werkzeug.routing.rules import Rule

    original = getattr(Rule, "_compile_builder", None)
    if original is None or getattr(original, "_shared", False):
        return
    builders: dict = {}

    def _compile_builder(self, append_unknown: bool = True):
        converters = tuple(sorted(
            (name, type(c).__name__, repr({a: v for a, v in vars(c).items() if a != "map"}))
            for name, c in self._converters.items()
        ))
        defaults = tuple(sorted((k, repr(v)) for k, v in (self.defaults or {}).items()))
        key = (self.rule, tuple(self._trace), append_unknown, defaults, converters)
        builder = builders.get(key)
        if builder is None:
            builder = builders[key] = original(self, append_unknown)
        return builder

    _compile_builder._shared = True
    Rule._compile_builder = _compile_builder


_share_url_builders()


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
        "PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH,
    }
    config.update(overrides)
    app = create_app(config)
    app.jinja_env.bytecode_cache = JINJA_BYTECODE
    _share_compiled_sql(app)
    return app


_SHARED_SQL: dict[tuple, tuple] = {}


def _share_compiled_sql(app) -> None:
    """SQLAlchemy keeps the SQL it compiled per engine, keyed by the engine's dialect object, and every test's app
    has a new engine: each test compiled every statement it ran again (a tenth of a page test's time). The engines
    of one database kind in this process share one dialect (made alike from the same options: what a statement
    compiles to depends on nothing else) and one cache instead. Test-only."""
    with app.app_context():
        engine = db.engine
    kind = (engine.url.get_backend_name(), engine.url.get_driver_name(), repr(engine.dialect.isolation_level))
    shared = _SHARED_SQL.get(kind)
    if shared is None:
        from sqlalchemy.util import LRUCache

        _SHARED_SQL[kind] = (engine.dialect, LRUCache(20000))
        engine._compiled_cache = _SHARED_SQL[kind][1]
        return
    engine.dialect, engine._compiled_cache = shared
    engine.pool._dialect = shared[0]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """An SQLite file with the whole schema (tables, indexes, triggers) made once per session (per xdist
    worker); each test gets a copy of it (a few ms) instead of running create_all()."""
    base = tmp_path_factory.mktemp("sqlite-template")
    path = base / "template.db"
    app = _build_app(f"sqlite:///{path}", base)
    with app.app_context():
        db.create_all()
        db.session.remove()
        db.engine.dispose()
    return path


def sqlite_url_from_template(template: Path, path: Path) -> str:
    """A fresh database at `path` (a copy of the template) and its URL."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


# The id sequences a test used (with or without rows left: a rolled-back insert leaves none), with their table.
_USED_SEQUENCES = """
SELECT t.relname::text, s.sequencename::text FROM pg_sequences s
JOIN pg_class sc ON sc.relname = s.sequencename AND sc.relnamespace = to_regnamespace(s.schemaname)
JOIN pg_depend d ON d.objid = sc.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
JOIN pg_class t ON t.oid = d.refobjid
WHERE s.schemaname = current_schema() AND s.last_value IS NOT NULL
"""
_BIG = 2000  # rows from which TRUNCATE (constant time) beats DELETE (per row, triggers included)


def _empty_pg_tables() -> None:
    """Empty the schema for the next test, tables and triggers kept. Only the tables the last test touched
    (one query finds them): DELETE children first and restart their id sequences, ~3 ms, where a TRUNCATE
    ... RESTART IDENTITY of every table costs ~30 ms; TRUNCATE when a table holds many rows."""
    tables = db.metadata.sorted_tables
    with_rows = " UNION ALL ".join(
        f"SELECT '{t.name}', EXISTS (SELECT 1 FROM \"{t.name}\" OFFSET {_BIG}) "
        f"WHERE EXISTS (SELECT 1 FROM \"{t.name}\")"
        for t in tables
    )
    filled = dict(db.session.execute(text(with_rows)).all())
    sequences = db.session.execute(text(_USED_SEQUENCES)).all()
    touched = set(filled) | {table for table, _ in sequences}
    if any(filled.values()):
        names = ", ".join(f'"{name}"' for name in sorted(touched))
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(tables):
            if table.name in filled:
                db.session.execute(text(f'DELETE FROM "{table.name}"'))
        for _, sequence in sequences:
            db.session.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    db.session.commit()


def marked_clock(request) -> dict:
    """`@pytest.mark.clock` (tests.factories.NOW) or `@pytest.mark.clock(moment)`: the app runs at that moment."""
    marker = request.node.get_closest_marker("clock")
    if marker is None:
        return {}
    moment = marker.args[0] if marker.args else NOW
    return {"CLOCK": lambda: moment}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@contextmanager
def app_on(request, backend: str, tmp_path: Path, **overrides):
    """An app on `backend` with an empty schema, inside its app context (the `app` fixture; a module may keep
    one for all its tests)."""
    global _pg_tables_created
    if backend == "sqlite":
        url = sqlite_url_from_template(request.getfixturevalue("sqlite_template"), tmp_path / "test.db")
    else:
        url = request.getfixturevalue("pg_schema_url")
    app = _build_app(url, tmp_path, **overrides)
    with app.app_context():
        if backend == "postgresql":
            if not _pg_tables_created:
                db.drop_all()
                db.create_all()
                _pg_tables_created = True
            _empty_pg_tables()
        yield app
        db.session.remove()
        db.engine.dispose()  # its connections closed now, not when the engine is collected (PostgreSQL's 100)


@pytest.fixture
def app(request, backend, tmp_path):
    """The app with an empty schema on the backend of this run, inside an app context."""
    overrides = marked_clock(request)
    if request.node.get_closest_marker("csrf"):
        overrides["WTF_CSRF_ENABLED"] = True
    with app_on(request, backend, tmp_path, **overrides) as app:
        yield app


@pytest.fixture
def sqlite_app(request, tmp_path):
    """An app on SQLite only, for tests whose subject is not the database (browser, files)."""
    with app_on(request, "sqlite", tmp_path, **marked_clock(request)) as app:
        yield app


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
def live_server(request, tmp_path):
    clock = marked_clock(request)
    live = start_live_server(tmp_path, setup=lambda app: app.config.update(clock))
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


# Every frame of every page reports a Content-Security-Policy violation on the console (Chromium logs one too, but
# not for every kind, and not always with the same words).
_REPORT_CSP = """document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " in "
                + e.documentURI + " line " + e.lineNumber);
});"""
_CSP_WORDS = ("content security policy", "content-security-policy", "csp violation", "unsafe-eval", "unsafe-inline")


def _wait_for_function(page, expression: str, arg=None, timeout: float | None = None, polling=None):
    """Playwright's `wait_for_function` polls by evaluating its string with eval() inside the page, which the CSP
    forbids (no 'unsafe-eval'): poll with `page.evaluate` instead (the DevTools protocol, which the page's CSP does
    not govern). Same arguments and truthy result; TimeoutError after `timeout` ms (default 15 s)."""
    from playwright.sync_api import Error
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + (timeout if timeout is not None else 15000) / 1000
    pause = polling if isinstance(polling, int | float) else 50
    while True:
        try:
            value = page.evaluate(expression, arg)
        except Error as exc:  # a navigation replaced the document: ask the next one
            if "context was destroyed" not in str(exc) and "navigat" not in str(exc):
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise PlaywrightTimeout(f"wait_for_function: {expression!r} still false after {timeout or 15000} ms")
        page.wait_for_timeout(pause)


class ConsoleWatch:
    """The console errors and uncaught exceptions of a browser context's pages (`page.on("console")` of type
    error, `page.on("pageerror")`); `csp_violations()` are the ones a Content-Security-Policy caused."""

    def __init__(self, context):
        self.errors: list[str] = []
        context.add_init_script(_REPORT_CSP)
        context.on("page", self.watch)

    def watch(self, page) -> None:
        page.on("console", lambda message: self.errors.append(f"console: {message.text}")
                if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.wait_for_function = functools.partial(_wait_for_function, page)

    def csp_violations(self) -> list[str]:
        return [e for e in self.errors if any(word in e.lower() for word in _CSP_WORDS)]


def browser_context(chromium, **options):
    """A browser context whose pages are watched for CSP violations (`context.console_watch`)."""
    context = chromium.new_context(**options)
    context.console_watch = ConsoleWatch(context)
    return context


@pytest.fixture
def page(chromium):
    """A page in French; the test fails when anything it loaded broke the Content-Security-Policy (relance/security.py:
    an inline script or style, an event handler attribute, an eval)."""
    context = browser_context(chromium, locale="fr-FR", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()
    violations = context.console_watch.csp_violations()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


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


def pytest_collection_modifyitems(items):
    """The long tests first (slow, then browser), the quick ones after, in their own order otherwise: pytest-xdist's
    workers then end together on quick tests, instead of one of them running a 30-second test alone at the end."""
    def weight(item) -> int:
        return 0 if item.get_closest_marker("slow") else 1 if item.get_closest_marker("browser") else 2

    items.sort(key=weight)
