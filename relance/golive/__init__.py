"""Go-live: the step a manager completes before anything is sent automatically, and the invoices already overdue on
the go-live date (services/golive.py)."""

from flask import Blueprint

bp = Blueprint("golive", __name__)

from relance.golive import routes  # noqa: E402,F401
