"""/calls/: the phone calls to make (a level with the channel "phone" or a call beside its email or letter), the
customers the agent follows first, and the form for a call's outcome (services/calls.py decides)."""

from flask import Blueprint

bp = Blueprint("calls", __name__, url_prefix="/calls")

from relance.calls import routes  # noqa: E402,F401
