"""Settings read from RELANCE_* environment variables, with defaults that need nothing installed."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import overload

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from relance import instance as instance_files

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting is wrong; the message names the environment variable."""


@overload
def _env(name: str, default: str) -> str: ...


@overload
def _env(name: str, default: None = None) -> str | None: ...


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _int_env(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None


def _secret_key(instance: Path) -> str:
    key = _env("RELANCE_SECRET_KEY")
    if key:
        return key
    try:
        return instance_files.secret_key(instance)
    except instance_files.KeyFileError as exc:
        raise ConfigError(str(exc)) from None


def check_database_url(url: str, name: str = "RELANCE_DATABASE_URL") -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{name}={url!r} is not a database URL "
            "(expected e.g. sqlite:////path/relance.db or postgresql+psycopg://user@host/db)"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"{name}={url!r}: only sqlite and postgresql databases are supported")
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


SMTP_SECURITY = ("none", "starttls", "ssl")


def load_config(overrides: dict | None = None) -> dict:
    """Build the Flask config mapping from the environment (then `overrides`)."""
    overrides = dict(overrides or {})
    instance = Path(
        overrides.get("INSTANCE_PATH") or _env("RELANCE_INSTANCE_PATH") or PROJECT_ROOT / "instance"
    ).resolve()
    instance_files.prepare(instance)  # umask 0o077, the folder 0o700 (relance/instance.py)
    db_url = overrides.get("SQLALCHEMY_DATABASE_URI") or _env(
        "RELANCE_DATABASE_URL", f"sqlite:///{instance / 'relance.db'}"
    )
    security = (_env("RELANCE_SMTP_SECURITY", "none") or "none").lower()
    if security not in SMTP_SECURITY:
        raise ConfigError(f"RELANCE_SMTP_SECURITY={security!r}: expected one of {', '.join(SMTP_SECURITY)}")
    # Every setting, once: the RELANCE_* variable it comes from (if any) and its default. Code reads
    # app.config[NAME] (sending: services/sending/config.SendingConfig) with no default of its own.
    config = {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": overrides.get("SECRET_KEY") or _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": check_database_url(db_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # the task queue (relance/tasks.py): Redis when set, else an SQLite file; immediate: tasks run at once
        # in the caller (the tests)
        "REDIS_URL": _env("RELANCE_REDIS_URL"),
        "HUEY_SQLITE_PATH": str(instance / "huey.db"),
        "HUEY_IMMEDIATE": False,
        # /healthz and the dashboard's health panel (services/health.py): worker heartbeat age, free disk
        "HEALTH_WORKER_MAX_AGE": _int_env("RELANCE_HEALTH_WORKER_MAX_AGE", 180),
        "HEALTH_MIN_FREE_MB": _int_env("RELANCE_HEALTH_MIN_FREE_MB", 200),
        "HEALTH_MIN_FREE_PERCENT": _int_env("RELANCE_HEALTH_MIN_FREE_PERCENT", 2),
        # the mail server (services/sending/mailer.py); without SMTP_HOST emails are .eml files in OUTBOX_PATH
        "SMTP_HOST": _env("RELANCE_SMTP_HOST"),
        "SMTP_PORT": _int_env("RELANCE_SMTP_PORT", 465 if security == "ssl" else 587 if security == "starttls" else 25),
        "SMTP_USER": _env("RELANCE_SMTP_USER"),
        "SMTP_PASSWORD": _env("RELANCE_SMTP_PASSWORD"),
        "SMTP_SECURITY": security,
        "SMTP_TIMEOUT": _int_env("RELANCE_SMTP_TIMEOUT", 30),
        "SMTP_CA_FILE": _env("RELANCE_SMTP_CA_FILE"),  # None: the system's certificate authorities
        "SMTP_ENVELOPE_FROM": _env("RELANCE_SMTP_ENVELOPE_FROM"),  # None: each email's sender
        "MAIL_FROM": _env("RELANCE_MAIL_FROM", "relance@localhost"),
        "OUTBOX_PATH": str(instance / "outbox"),
        # sending (services/sending/dunning.py): emails handed to the server per group (a crash leaves at most
        # one group "in doubt"), seconds after which a stopped worker's claim is taken again, attempts before a
        # temporary failure fails, processes printing a run's letters (0: one per CPU)
        "SEND_GROUP_SIZE": _int_env("RELANCE_SEND_GROUP_SIZE", 25),
        "SEND_CLAIM_TIMEOUT": _int_env("RELANCE_SEND_CLAIM_TIMEOUT", 900),
        "SEND_MAX_ATTEMPTS": _int_env("RELANCE_SEND_MAX_ATTEMPTS", 8),
        "LETTER_PROCESSES": _int_env("RELANCE_LETTER_PROCESSES", 0),
        # days a run keeps waiting for an unreachable mail server before failing each email with the reason
        "SEND_OUTAGE_DAYS": _int_env("RELANCE_SEND_OUTAGE_DAYS", 2),
        # an email for several invoices of a customer carries at most this many MB of invoice PDFs (more: several
        # emails, each under it); most mail servers refuse messages above 10 to 25 MB, base64 adds a third
        "SEND_ATTACHMENTS_MAX_MB": _int_env("RELANCE_SEND_ATTACHMENTS_MAX_MB", 10),
        "TIMEZONE": _env("RELANCE_TIMEZONE", "Europe/Paris"),
        # how customers reach Relance (https://relance.example.com): the links to their page in every reminder
        # (relance/portal); empty: reminders carry no link
        "PUBLIC_URL": (_env("RELANCE_PUBLIC_URL", "") or "").rstrip("/"),
        # a callable returning an aware datetime runs the whole app at another moment (relance/clock.py; tests)
        "CLOCK": None,
        "FILES_PATH": str(instance / "files"),
        # the largest invoice PDF accepted (services/letters/invoice_pdf.py)
        "INVOICE_PDF_MAX_BYTES": _int_env("RELANCE_INVOICE_PDF_MAX_BYTES", 10 * 1024 * 1024),
        # durable runs (services/sending/runs.py): heartbeat period, silence after which a run is taken over, and the
        # disk space a letters batch needs before it starts
        "RUN_HEARTBEAT_SECONDS": _int_env("RELANCE_RUN_HEARTBEAT_SECONDS", 10),
        "RUN_STALE_SECONDS": _int_env("RELANCE_RUN_STALE_SECONDS", 120),
        "LETTERS_MIN_FREE_MB": _int_env("RELANCE_LETTERS_MIN_FREE_MB", 50),
        # CSV imports (services/data_in/staging.py): a file larger than this is checked by the worker while its page
        # shows the progress (smaller ones at once); a file with more rows is refused
        "IMPORT_BACKGROUND_BYTES": _int_env("RELANCE_IMPORT_BACKGROUND_BYTES", 256 * 1024),
        "IMPORT_MAX_ROWS": _int_env("RELANCE_IMPORT_MAX_ROWS", 200_000),
        "MAX_CONTENT_LENGTH": 60 * 1024 * 1024,
        # werkzeug's password hash method; the test suite sets a cheap one (tests/conftest.py), never production
        "PASSWORD_HASH_METHOD": "scrypt",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": (_env("RELANCE_SECURE_COOKIES", "0") == "1"),
        "REMEMBER_COOKIE_NAME": "remember_token",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "fr",
        "BABEL_DEFAULT_TIMEZONE": _env("RELANCE_TIMEZONE", "Europe/Paris"),
        "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "translations"),
    }
    config.update(_authentication_settings())
    config.update(_security_settings())
    config.update(overrides)
    # the remember-me cookie is as secure as the session cookie (also when a caller overrides the latter)
    config.setdefault("REMEMBER_COOKIE_SECURE", config["SESSION_COOKIE_SECURE"])
    return config


# --- authentication (login throttle, sessions, reverse proxy) ----------------------------------------------

def _authentication_settings() -> dict:
    """Logins and sessions: the remember-me cookie, and the reverse proxies whose headers are trusted."""
    proxies = _int_env("RELANCE_TRUSTED_PROXIES", 0)
    if proxies < 0:
        raise ConfigError(f"RELANCE_TRUSTED_PROXIES={proxies}: expected 0 (no proxy) or the number of proxies")
    remember_days = _int_env("RELANCE_REMEMBER_DAYS", 30)
    if not 1 <= remember_days <= 365:
        raise ConfigError(f"RELANCE_REMEMBER_DAYS={remember_days}: expected a number of days from 1 to 365")
    return {
        # reverse proxies in front of the app (0: none, the client talks to the app server directly); with N,
        # the client address and scheme are read from the N-th last X-Forwarded-For / X-Forwarded-Proto entry
        "TRUSTED_PROXIES": proxies,
        # "Remember me": how long the cookie lasts (HttpOnly and SameSite=Lax above; Secure like the session's)
        "REMEMBER_COOKIE_DURATION": timedelta(days=remember_days),
    }


def _security_settings() -> dict:
    """Input limits and security headers (relance/params.py, relance/security.py, the API's body checks)."""
    return {
        # the API's JSON bodies: at most this many bytes and this many nested arrays/objects (else 400)
        "API_MAX_BODY_BYTES": _int_env("RELANCE_API_MAX_BODY_BYTES", 1024 * 1024),
        "API_MAX_JSON_DEPTH": _int_env("RELANCE_API_MAX_JSON_DEPTH", 32),
        # Strict-Transport-Security max-age, sent when the cookies are secure (RELANCE_SECURE_COOKIES=1); 0: none
        "HSTS_MAX_AGE": _int_env("RELANCE_HSTS_MAX_AGE", 365 * 24 * 3600),
    }
