"""Administration: settings, reminder levels, texts, users, API tokens, legal rates and the audit log."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from relance.admin import editor, levels, routes, users  # noqa: E402,F401
