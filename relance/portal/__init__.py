"""The customer's page (issue 20): reached from the link in every reminder, no account. The link's token is the only
key (services/answers.py: random, kept hashed, expiring, revocable); the page never logs anyone in, never writes the
staff session (its forms carry their own token made from the link, not Flask-WTF's session one), and answers in the
customer's language."""

from flask import Blueprint

from relance.extensions import csrf

bp = Blueprint("portal", __name__, url_prefix="/c")
csrf.exempt(bp)  # its own form token (routes.form_token): Flask-WTF's would set a session cookie

from relance.portal import routes  # noqa: E402,F401
