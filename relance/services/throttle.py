"""Login protection: after 5 failed logins for one account or one address within 15 minutes, wait.

Failures are rows in the database, so the limit holds across web processes and servers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from relance.models.user import LoginFailure

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
KEEP = timedelta(days=1)


def _key(email: str) -> str:
    return (email or "").strip().lower()[:254]


def wait_seconds(session: Session, email: str, ip: str, now: datetime) -> int:
    """Seconds to wait before the next try (0: allowed). Counts the account and the address separately."""
    since = now - WINDOW
    longest = 0
    for column, value in ((LoginFailure.email, _key(email)), (LoginFailure.ip, ip or "")):
        if not value:
            continue
        times = session.scalars(
            select(LoginFailure.at).where(column == value, LoginFailure.at > since).order_by(LoginFailure.at.desc())
        ).all()
        if len(times) >= MAX_FAILURES:
            # allowed again when the MAX_FAILURES-th most recent failure leaves the window
            free_at = times[MAX_FAILURES - 1] + WINDOW
            longest = max(longest, int((free_at - now).total_seconds()) + 1)
    return longest


def record_failure(session: Session, email: str, ip: str, now: datetime) -> None:
    session.add(LoginFailure(email=_key(email), ip=(ip or "")[:64], at=now))
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - KEEP))


def clear_account(session: Session, email: str) -> None:
    """A successful login forgets that account's failures (the address keeps its count)."""
    session.execute(delete(LoginFailure).where(LoginFailure.email == _key(email)))

