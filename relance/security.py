"""Security headers on every response: pages, htmx fragments, error pages, the API, static files.

- No framing by other sites (clickjacking): `X-Frame-Options: DENY` and the CSP's `frame-ancestors 'none'`. The one
  response a page of ours shows in a frame (the letter preview PDF of the text editor) is marked with
  `frame_by_this_site(response)`: SAMEORIGIN / `frame-ancestors 'self'`.
- `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin` (links to other sites carry no URL of ours).
- Content-Security-Policy: everything from this site only (`default-src 'self'`), no inline script, no inline event
  handler, no eval (htmx is vendored under static/vendor/, our own script is static/js/relance.js; htmx's `hx-on`
  and `js:` values would need `'unsafe-eval'`: the templates use none, tests/test_security.py checks it). Styles
  come from static/css/ only, plus the one `<style>` block of the email HTML (templates/email/reminder.html),
  allowed by its hash: the reminder page shows the email as it left in a sandboxed `srcdoc` frame, which inherits
  this policy. `base-uri` and `form-action` don't fall back to `default-src`: both are 'self'.
- `Strict-Transport-Security` when the cookies are marked secure (RELANCE_SECURE_COOKIES=1: the site is served over
  HTTPS), for HSTS_MAX_AGE seconds (0: no header).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache

from flask import Flask, Response


@cache
def _email_style_hash() -> str:
    """The CSP hash of the email HTML's <style> block (the same text for every email)."""
    from relance.services.sending.mailer import text_to_html

    match = re.search(r"<style>(.*?)</style>", text_to_html(""), re.S)
    if match is None:
        return ""
    digest = base64.b64encode(hashlib.sha256(match.group(1).encode()).digest()).decode()
    return f" 'sha256-{digest}'"


@cache
def content_security_policy(frame_ancestors: str = "'none'") -> str:
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'",
        f"style-src 'self'{_email_style_hash()}",
        "img-src 'self'",
        "base-uri 'self'",
        "form-action 'self'",
        f"frame-ancestors {frame_ancestors}",
    ))


def frame_by_this_site(response: Response) -> Response:
    """Let a page of this site (only) show `response` in a frame."""
    response.framed_by_this_site = True  # type: ignore[attr-defined]  # read back by add_headers below
    return response


def _add_headers(app: Flask, response: Response) -> Response:
    headers = response.headers
    framed = getattr(response, "framed_by_this_site", False)
    headers["X-Frame-Options"] = "SAMEORIGIN" if framed else "DENY"
    headers["Content-Security-Policy"] = content_security_policy("'self'" if framed else "'none'")
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    max_age = app.config.get("HSTS_MAX_AGE", 0)
    if app.config.get("SESSION_COOKIE_SECURE") and max_age:
        headers["Strict-Transport-Security"] = f"max-age={int(max_age)}"
    return response


def init_app(app: Flask) -> None:
    app.after_request(lambda response: _add_headers(app, response))
