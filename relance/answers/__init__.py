"""What customers answered from their page, for the agents: the list to handle (filters: kind, open or handled,
the invoices one follows up) and the actions on an answer (services/answers.py decides)."""

from flask import Blueprint

bp = Blueprint("answers", __name__, url_prefix="/answers")

from relance.answers import routes  # noqa: E402,F401
