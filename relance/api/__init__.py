"""JSON API under /api/v1: bearer tokens instead of sessions, so no CSRF (nothing rides on a cookie)."""

from flask import Blueprint

from relance.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

from relance.api import routes  # noqa: E402,F401
