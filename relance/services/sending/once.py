"""One-time tokens of the sending forms: a form submitted twice (back button, reload, double click) acts once,
and the second submission is answered with the first one's result (the URL it led to)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relance.models import FormToken
from relance.models.base import utcnow

KEEP_DAYS = 30


class AlreadyUsed(Exception):
    """The token was used by another submission at the same moment."""


def new_token() -> str:
    return secrets.token_urlsafe(18)


def valid(token: str | None) -> bool:
    return token is not None and 8 <= len(token) <= 64


def result(session: Session, token: str | None) -> str | None:
    """The URL the first submission of `token` led to ("" while it runs), or None for a token never used."""
    if not valid(token):
        return None
    return session.scalar(select(FormToken.url).where(FormToken.token == token))


def use(session: Session, token: str | None, user_id: int | None) -> FormToken | None:
    """Mark the token used inside the caller's transaction (its writes and this row commit together); raises
    AlreadyUsed when another submission took it first. Tokens older than KEEP_DAYS are forgotten."""
    if not valid(token):
        return None
    session.execute(delete(FormToken).where(FormToken.created_at < utcnow() - timedelta(days=KEEP_DAYS)))
    row = FormToken(token=token, user_id=user_id, url="")
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyUsed(token) from None
    return row
