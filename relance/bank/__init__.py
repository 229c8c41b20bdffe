"""Bank statements for the agents: a statement uploaded (services/data_in/bank_lines.py reads, keeps and matches
it) and the review of its lines: accept a proposal, record on other invoices or split, ignore, bring back."""

from flask import Blueprint

bp = Blueprint("bank", __name__, url_prefix="/bank")

from relance.bank import routes  # noqa: E402,F401
