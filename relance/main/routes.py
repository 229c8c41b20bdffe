from datetime import date

from flask import jsonify, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import func, select

from relance.auth import role_required
from relance.extensions import db
from relance.main import bp
from relance.models import Invoice, Reminder, Run
from relance.templating import render


def _today() -> date:
    return date.today()


@bp.route("/")
@role_required("viewer")
def dashboard():
    today = _today()
    remaining = Invoice.total_incl_tax - Invoice.amount_paid
    open_filter = (Invoice.status == "validated", Invoice.kind == "invoice", remaining > 0)
    rows = db.session.execute(
        select(
            Invoice.currency,
            func.count(),
            func.sum(remaining),
        )
        .where(*open_filter)
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    ).all()
    overdue = db.session.execute(
        select(Invoice.currency, func.count(), func.sum(remaining))
        .where(*open_filter, Invoice.due_date < today)
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    ).all()
    failed = db.session.scalar(select(func.count()).select_from(Reminder).where(Reminder.status == "failed"))
    last_run = db.session.scalar(select(Run).where(Run.kind == "auto").order_by(Run.id.desc()).limit(1))
    return render(
        "main/dashboard.html",
        open_rows=rows,
        overdue_rows=overdue,
        failed=failed,
        last_run=last_run,
        today=today,
    )


@bp.route("/language", methods=["POST"])
def set_language():
    language = request.form.get("language", "")
    if language in ("fr", "en"):
        session["language"] = language
        if current_user.is_authenticated:
            current_user.language = language
            db.session.commit()
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("main.dashboard")
    return redirect(target)


@bp.route("/healthz")
def healthz():
    """Public liveness probe: database reachable and when the last automatic run ended."""
    db.session.execute(select(1))
    last = db.session.scalar(select(func.max(Run.finished_at)).where(Run.kind == "auto"))
    return jsonify({"status": "ok", "last_auto_run": last.isoformat() if last else None})
