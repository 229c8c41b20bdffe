"""A test client that behaves as its own browser.

The test client's requests run in the test's app context, so what a request caches in `g` is seen by the next
request of any client: Flask-Login's user, Flask-WTF's CSRF token. A `Visitor` drops them before each request: each
visitor is known only by its own cookies, as a browser is (tests of sessions and logins from several browsers).
"""

from __future__ import annotations

from flask import Flask, current_app, g, has_app_context
from flask.testing import FlaskClient


class Visitor(FlaskClient):
    def open(self, *args, **kwargs):
        if has_app_context():
            g.pop("_login_user", None)
            g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
            g.pop("csrf_valid", None)
        return super().open(*args, **kwargs)


def visitor(app: Flask) -> Visitor:
    return Visitor(app, app.response_class, use_cookies=True)
