"""Settings read from RELANCE_* environment variables, with defaults that need nothing installed."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting is wrong; the message names the environment variable."""


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
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


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
    instance.mkdir(parents=True, exist_ok=True)
    db_url = overrides.get("SQLALCHEMY_DATABASE_URI") or _env(
        "RELANCE_DATABASE_URL", f"sqlite:///{instance / 'relance.db'}"
    )
    security = (_env("RELANCE_SMTP_SECURITY", "none") or "none").lower()
    if security not in SMTP_SECURITY:
        raise ConfigError(f"RELANCE_SMTP_SECURITY={security!r}: expected one of {', '.join(SMTP_SECURITY)}")
    config = {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": overrides.get("SECRET_KEY") or _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": check_database_url(db_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": _env("RELANCE_REDIS_URL"),
        "HUEY_SQLITE_PATH": str(instance / "huey.db"),
        "HUEY_IMMEDIATE": False,
        "SMTP_HOST": _env("RELANCE_SMTP_HOST"),
        "SMTP_PORT": _int_env("RELANCE_SMTP_PORT", 465 if security == "ssl" else 587 if security == "starttls" else 25),
        "SMTP_USER": _env("RELANCE_SMTP_USER"),
        "SMTP_PASSWORD": _env("RELANCE_SMTP_PASSWORD"),
        "SMTP_SECURITY": security,
        "SMTP_TIMEOUT": _int_env("RELANCE_SMTP_TIMEOUT", 30),
        "MAIL_FROM": _env("RELANCE_MAIL_FROM", "relance@localhost"),
        "TIMEZONE": _env("RELANCE_TIMEZONE", "Europe/Paris"),
        "OUTBOX_PATH": str(instance / "outbox"),
        "FILES_PATH": str(instance / "files"),
        "MAX_CONTENT_LENGTH": 60 * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": (_env("RELANCE_SECURE_COOKIES", "0") == "1"),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "fr",
        "BABEL_DEFAULT_TIMEZONE": _env("RELANCE_TIMEZONE", "Europe/Paris"),
        "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "translations"),
        "LANGUAGES": ["fr", "en"],
    }
    config.update(overrides)
    return config
