"""The known-browser cookie: this browser logged into an account with its password before.

It never logs anyone in: it only chooses the login throttle's counter (services/throttle.py). The tries of a known
browser for its account are counted on their own, so the failures of others sharing the same address (an office
behind one NAT) never make a person wait in their usual browser.

The cookie holds a digest of the account's email and a random id, signed with the secret key (itsdangerous, with a
timestamp); it is HttpOnly, SameSite=Lax, Secure like the session cookie, and lasts MAX_AGE, renewed by each login.
One account per browser: logging into another account replaces it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import cast

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

COOKIE = "relance_browser"
MAX_AGE = timedelta(days=180)
_SALT = "relance.known-browser"
_ID = re.compile(r"[0-9a-f]{32}")


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(cast(str, current_app.secret_key), salt=_SALT)  # set by load_config


def _account(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def browser_id(email: str) -> str:
    """This browser's id for that account, "" when it holds no valid cookie for it."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return ""
    try:
        data = _serializer().loads(raw, max_age=int(MAX_AGE.total_seconds()))
    except BadSignature:  # also an expired one (SignatureExpired)
        return ""
    if not isinstance(data, dict) or data.get("a") != _account(email):
        return ""
    value = data.get("b")
    return value if isinstance(value, str) and _ID.fullmatch(value) else ""


def remember(response: Response, email: str, known: str = "") -> None:
    """After the right password: give (or renew) the cookie for this account, keeping its id when it had one."""
    value = _serializer().dumps({"a": _account(email), "b": known or secrets.token_hex(16)})
    response.set_cookie(COOKIE, value, max_age=int(MAX_AGE.total_seconds()), path="/",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")), httponly=True,
                        samesite="Lax")
