"""/bank/: the bank lines to review, a statement upload, and what an agent does with a line."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from relance import clock
from relance.auth import role_required
from relance.bank import bp
from relance.extensions import db
from relance.models import BankLine
from relance.pagination import paginate
from relance.redirects import local_target
from relance.services import settings as company_settings
from relance.services.data_in import bank_lines
from relance.services.data_in.matching import RULE_LABELS
from relance.services.data_in.statements import FORMATS, StatementError
from relance.services.errors import RelanceError
from relance.templating import render

PER_PAGE = 50
MAX_UPLOAD = 50 * 1024 * 1024


def _status(raw: str | None) -> str:
    return raw if raw in bank_lines.REVIEW_STATUSES else "matched"


@bp.route("/")
@role_required("viewer")
def index():
    status = _status(request.args.get("status"))
    pagination = paginate(bank_lines.review_query(status), PER_PAGE)
    return render("bank/index.html", pagination=pagination, shown=status, formats=FORMATS,
                  invoices=bank_lines.candidate_invoices(db.session, pagination.items), rules=RULE_LABELS)


@bp.route("/upload", methods=["POST"])
@role_required("agent")
def upload():
    file = request.files.get("statement")
    if file is None or not file.filename:
        flash(_("Choose a statement file."), "error")
        return redirect(url_for("bank.index"), 303)
    data = file.read(MAX_UPLOAD + 1)
    fmt = request.form.get("format") or None
    try:
        result = bank_lines.import_statement(
            db.session, data, now=clock.utcnow(), settings=company_settings.load(db.session),
            fmt=fmt if fmt in FORMATS else None, filename=file.filename)
    except StatementError as exc:
        db.session.rollback()
        flash(_("%(file)s: %(error)s Nothing was imported.", file=file.filename, error=str(exc)), "error")
        return redirect(url_for("bank.index"), 303)
    db.session.commit()
    flash(_("%(file)s: %(imported)s lines imported (%(already)s already there), %(automatic)s recorded "
            "automatically, %(proposed)s to check, %(left)s without a match.", file=file.filename,
            imported=result.imported, already=result.already, automatic=result.automatic,
            proposed=result.proposed, left=result.left), "success")
    return redirect(url_for("bank.index"), 303)


def _line(line_id: int) -> BankLine:
    line = db.session.get(BankLine, line_id)
    if line is None:
        abort(404)
    return line


def _answer(line: BankLine, message: str, error: str | None = None):
    """htmx: the line's row again (422 with the error); otherwise back to the list with a message."""
    if g.get("htmx"):
        return render("bank/_row.html", "bank/_row.html", status=422 if error else 200, line=line,
                      invoices=bank_lines.candidate_invoices(db.session, [line]), rules=RULE_LABELS,
                      error=error, done=None if error else message)
    flash(error or message, "error" if error else "success")
    return redirect(local_target(request.form.get("next"), url_for("bank.index")), 303)


def _act(line_id: int, action) -> object:
    line = _line(line_id)
    try:
        message = action(line)
    except RelanceError as exc:
        db.session.rollback()
        line = _line(line_id)
        return _answer(line, "", str(exc.message))
    db.session.commit()
    return _answer(line, message)


@bp.route("/<int:line_id>/accept", methods=["POST"])
@role_required("agent")
def accept(line_id: int):
    def action(line: BankLine) -> str:
        raw = request.form.get("proposal", "")
        index = int(raw) if raw.isdigit() and len(raw) < 4 else -1
        bank_lines.accept(db.session, line, index, current_user, clock.utcnow())
        return _("Payment recorded.")
    return _act(line_id, action)


@bp.route("/<int:line_id>/record", methods=["POST"])
@role_required("agent")
def record(line_id: int):
    def action(line: BankLine) -> str:
        pairs = [(request.form.get(f"invoice_{k}", ""), request.form.get(f"amount_{k}", ""))
                 for k in range(bank_lines.MAX_SPLIT)]
        bank_lines.record_numbers(db.session, line, pairs, current_user, clock.utcnow())
        return _("Payment recorded.")
    return _act(line_id, action)


@bp.route("/<int:line_id>/ignore", methods=["POST"])
@role_required("agent")
def ignore(line_id: int):
    def action(line: BankLine) -> str:
        bank_lines.ignore_line(db.session, line, current_user)
        return _("Line ignored.")
    return _act(line_id, action)


@bp.route("/<int:line_id>/restore", methods=["POST"])
@role_required("agent")
def restore(line_id: int):
    def action(line: BankLine) -> str:
        bank_lines.restore(db.session, line, current_user)
        return _("Line back in the list.")
    return _act(line_id, action)
