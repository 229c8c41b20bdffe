from flask import Blueprint

bp = Blueprint("auth", __name__)

from relance.auth import routes  # noqa: E402,F401
from relance.auth.roles import role_required  # noqa: E402,F401
