from flask import Blueprint

bp = Blueprint("invoices", __name__, url_prefix="/invoices")

from relance.invoices import routes  # noqa: E402,F401
