"""Reminder screens: the follow-up page, the new reminder form, the mass reminder page and its runs."""

from flask import Blueprint

bp = Blueprint("reminders", __name__, url_prefix="/reminders")

from relance.reminders import routes  # noqa: E402,F401
