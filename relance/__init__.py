"""Relance: chase unpaid invoices. `create_app()` builds the Flask application."""

from __future__ import annotations

from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_login import current_user

from relance import params, security
from relance.config import load_config
from relance.extensions import babel, csrf, db, login, migrate


def select_locale() -> str | None:
    languages = ["fr", "en"]
    if not has_request_context():  # CLI, worker: the default locale (services use force_locale for a reader)
        return None
    if "language" in session and session["language"] in languages:
        return session["language"]
    if current_user and current_user.is_authenticated and current_user.language in languages:
        return current_user.language
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def create_app(config: dict | None = None) -> Flask:
    settings = load_config(config)
    app = Flask(__name__, instance_path=settings["INSTANCE_PATH"], instance_relative_config=False)
    app.config.update(settings)
    _trust_proxies(app)
    params.init_app(app)  # before any route: `<int:...>` is an id within the database's range
    security.init_app(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    login.init_app(app)
    login.login_view = "auth.login"
    login.login_message_category = "info"
    login.login_message = _l("Please log in to access this page.")
    login.localize_callback = str  # the lazy message in the reader's language, flashed as plain text
    babel.init_app(app, locale_selector=select_locale, timezone_selector=lambda: app.config["TIMEZONE"])
    csrf.init_app(app)

    from relance import tasks

    tasks.init_app(app)

    from relance import auth, errors, main

    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)
    app.register_blueprint(errors.bp)
    _register_optional_blueprints(app)

    from relance import templating

    templating.init_app(app)

    from relance.commands import load_commands

    app.cli.add_command(load_commands())

    @app.before_request
    def _per_request():
        g.htmx = request.headers.get("HX-Request") == "true"
        refresh()  # locale is per request, even when an app context outlives it (tests, CLI)

    return app


def _trust_proxies(app: Flask) -> None:
    """Behind N reverse proxies (RELANCE_TRUSTED_PROXIES=N), the client's address and scheme are the N-th last
    entries of X-Forwarded-For and X-Forwarded-Proto, those our own proxies wrote (what the client sent itself comes
    before them and is ignored). With 0, these headers are ignored: the address is the connection's. The Host header
    is the one the proxy forwards (nginx: `proxy_set_header Host $host`); X-Forwarded-Host is not trusted, since a
    proxy that does not set it passes the client's own value through."""
    hops = app.config.get("TRUSTED_PROXIES", 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # the WSGI middleware pattern Flask documents
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)


def _register_optional_blueprints(app: Flask) -> None:
    """Areas each live in their own package; register the ones present."""
    import importlib

    for name in ("customers", "invoices", "imports", "reminders", "admin", "api", "autorun", "golive", "portal",
                 "answers", "bank", "calls"):
        try:
            module = importlib.import_module(f"relance.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"relance.{name}":
                raise
            continue
        app.register_blueprint(module.bp)
        if hasattr(module, "init_app"):
            module.init_app(app)


def _migrations_dir():
    from relance.config import PROJECT_ROOT

    return PROJECT_ROOT / "migrations"
