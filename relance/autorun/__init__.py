"""Automatic run pages: the runs and their reminders, the "test automatic sending" page, a day's dry run."""

from flask import Blueprint

bp = Blueprint("autorun", __name__, url_prefix="/auto")

from relance.autorun import routes  # noqa: E402,F401
