"""Users, API tokens and the audit log."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from relance.extensions import Model
from relance.models.base import utcnow

ROLES = ("viewer", "agent", "manager", "admin")


def role_rank(role: str) -> int:
    return ROLES.index(role)


def password_hash_method() -> str:
    """Werkzeug's hash method for new passwords: the app's PASSWORD_HASH_METHOD (scrypt; the test suite's is cheap)."""
    return current_app.config["PASSWORD_HASH_METHOD"] if has_app_context() else "scrypt"


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    language: Mapped[str | None] = mapped_column(String(8))
    signature: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # part of the identity kept in the session and the remember-me cookie (get_id): changing it ends every
    # session of this user (services/accounts.end_sessions: logout, password change or reset, deactivation)
    session_version: Mapped[int] = mapped_column(default=1)
    last_login_at: Mapped[datetime | None]  # the last login with the password (not a session resumed by cookie)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=password_hash_method())

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login: deactivated users cannot log in
        return self.active

    def get_id(self) -> str:
        """Flask-Login's identity, stored in the session and the remember-me cookie: "id:session_version". A
        cookie made before the version changed names an identity that no longer exists (auth.load_user)."""
        return f"{self.id}:{self.session_version}"

    def has_role(self, role: str) -> bool:
        return role_rank(self.role) >= role_rank(role)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    @classmethod
    def issue(cls, user: User, name: str) -> tuple[ApiToken, str]:
        """A new token; the clear value is returned once and only its hash is stored."""
        clear = "rl_" + secrets.token_urlsafe(32)
        return cls(user=user, name=name, prefix=clear[:10], token_hash=hash_token(clear)), clear


class AuditLog(Model):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)

    user: Mapped[User | None] = relationship()


class LoginFailure(Model):
    """A failed login (kept a day): the login throttle (services/throttle.py) counts these, so it holds across
    processes. `ip` is the address key (IPv6: its /64), `device` the known-browser id the attempt came with."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_email_at", "email", "at"), Index("ix_login_failures_ip_at", "ip", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    email: Mapped[str] = mapped_column(String(254), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    device: Mapped[str] = mapped_column(String(32), default="")
