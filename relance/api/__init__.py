"""JSON API under /api/v1: bearer tokens instead of sessions, so no CSRF (nothing rides on a cookie)."""

from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter

from relance.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


class InvoiceNumberConverter(PathConverter):
    """An invoice number may hold a / (FA/2026/001, sent as FA%2F2026%2F001), but /invoices/X/payments and
    /invoices/X/reminders and /invoices/X/eligibility are the invoice's sub-resources, never an invoice numbered
    "X/payments"."""

    regex = r"[^/].*?(?<!/payments)(?<!/reminders)(?<!/eligibility)"


def _add_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("invoice_number", InvoiceNumberConverter)


bp.record_once(_add_converter)

from relance.api import routes  # noqa: E402,F401
