"""/answers/: the customers' answers to handle, and what an agent does with each one."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from relance import clock, params, tasks
from relance.answers import bp
from relance.auth import role_required
from relance.extensions import db
from relance.models import ANSWER_KINDS, Answer, Invoice
from relance.pagination import paginate
from relance.redirects import is_local
from relance.services import answers
from relance.services.errors import RelanceError
from relance.templating import render

PER_PAGE = 50
ACTIONS = ("accept", "reject", "kept", "broken", "resolve")


def _filters(args) -> dict:
    kind = args.get("kind", "")
    state = args.get("state", "open")
    return {"kind": kind if kind in ANSWER_KINDS else "", "state": state if state in ("open", "handled", "all")
            else "open", "mine": args.get("mine") == "1"}


@bp.route("/")
@role_required("viewer")
def index():
    f = _filters(request.args)
    query = (select(Answer).join(Invoice, Invoice.id == Answer.invoice_id)
             .options(joinedload(Answer.invoice).joinedload(Invoice.customer), joinedload(Answer.handled_by))
             .order_by(Answer.created_at.desc(), Answer.id.desc()))
    if f["kind"]:
        query = query.where(Answer.kind == f["kind"])
    if f["state"] == "open":
        query = query.where(Answer.status == "open")
    elif f["state"] == "handled":
        query = query.where(Answer.status != "open")
    if f["mine"]:
        query = query.where(or_(Invoice.followup_user_id == current_user.id, Invoice.creator_id == current_user.id))
    return render("answers/index.html", pagination=paginate(query, PER_PAGE), f=f, today=clock.today())


@bp.route("/<int:answer_id>/<action>", methods=["POST"])
@role_required("agent")
def act(answer_id: int, action: str):
    answer = db.session.get(Answer, answer_id)
    if answer is None or action not in ACTIONS:
        abort(404)
    now = clock.utcnow()
    form = request.form
    try:
        if action == "accept":
            paid_on = params.parse_date(form.get("paid_on"), _("Payment date")) if form.get("paid_on") else None
            answers.accept_payment(db.session, answer, current_user, now, amount=form.get("amount") or None,
                                   paid_on=paid_on)
            message = _("Payment recorded for %(number)s.", number=answer.invoice.number)
        elif action == "reject":
            answers.reject(db.session, answer, current_user, now, form.get("resolution", ""))
            message = _("Rejected: the reminders of %(number)s resume.", number=answer.invoice.number)
        elif action in ("kept", "broken"):
            answers.settle_promise(db.session, answer, current_user, now, kept=action == "kept")
            message = _("Promise on %(number)s marked.", number=answer.invoice.number)
        else:
            answers.resolve_dispute(db.session, answer, current_user, now, form.get("credit_note", ""),
                                    form.get("resolution", ""))
            message = _("Dispute on %(number)s resolved.", number=answer.invoice.number)
    except (RelanceError, params.ParamError) as exc:  # a refused answer or payment, a bad date
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(message, "success")
        if action == "reject" and answer.kind == "dispute":
            tasks.notify_answer(answer.id, "rejected")  # the worker sends the customer the reason
    back = form.get("next", "")
    return redirect(back if is_local(back) else url_for("answers.index"), 303)
