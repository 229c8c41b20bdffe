from flask import g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from relance.errors import bp
from relance.extensions import db
from relance.params import BadParameter


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _error(status: int, title: str, message: str):
    if _wants_json():
        return jsonify({"error": {"status": status, "message": message}}), status
    template = "errors/_error.html" if g.get("htmx") else "errors/error.html"
    return render_template(template, status=status, title=title, message=message), status


@bp.app_errorhandler(400)
def bad_request(error):
    message = error.description if isinstance(error, BadParameter) else _("This request is not valid.")
    return _error(400, _("Invalid request"), message)


@bp.app_errorhandler(422)
def unprocessable(error):
    return _error(422, _("Invalid value"), _("This request is not valid."))


@bp.app_errorhandler(403)
def forbidden(error):
    return _error(403, _("Not allowed"), _("Your role does not allow this action."))


@bp.app_errorhandler(404)
def not_found(error):
    return _error(404, _("Page not found"), _("This page does not exist or was removed."))


@bp.app_errorhandler(405)
def method_not_allowed(error):
    body, status = _error(405, _("Not allowed"), _("This address does not accept this kind of request."))
    return body, status, {"Allow": ", ".join(sorted(getattr(error, "valid_methods", None) or []))}


@bp.app_errorhandler(413)
def too_large(error):
    return _error(413, _("File too large"), _("The file sent is larger than the allowed size."))


@bp.app_errorhandler(CSRFError)
def csrf_error(error):
    return _error(
        400,
        _("Form expired"),
        _("The security token of this form is missing or expired. Reload the page and try again."),
    )


@bp.app_errorhandler(500)
def internal_error(error):
    db.session.rollback()
    return _error(500, _("Unexpected error"), _("Something went wrong on our side; nothing was saved."))
