"""CSV import pages: upload, preview what will change (and every error), confirm."""

from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/imports")

from relance.imports import routes  # noqa: E402,F401
