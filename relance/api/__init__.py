"""JSON API under /api/v1: bearer tokens instead of sessions, so no CSRF (nothing rides on a cookie)."""

from flask import Blueprint
from werkzeug.routing import PathConverter

from relance.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


class InvoiceNumberConverter(PathConverter):
    """An invoice number may hold a / (FA/2026/001, sent as FA%2F2026%2F001), but /invoices/X/payments and
    /invoices/X/reminders and /invoices/X/eligibility are the invoice's sub-resources, never an invoice numbered
    "X/payments"."""

    regex = r"[^/].*?(?<!/payments)(?<!/reminders)(?<!/eligibility)"


bp.record_once(lambda state: state.app.url_map.converters.setdefault("invoice_number", InvoiceNumberConverter))

from relance.api import routes  # noqa: E402,F401
