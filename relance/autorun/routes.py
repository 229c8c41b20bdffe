"""Runs list and detail (managers), the test page (one invoice on one date, with "send it now") and the dry run
of a whole day. The runs come from services/sending/autorun.py, the same service as the periodic task; the test
page and the dry run from services/sending/autorun_preview.py, built on it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from relance import params
from relance.auth import role_required
from relance.autorun import bp
from relance.extensions import db
from relance.models import REMINDER_STATUSES, Reminder, Run
from relance.pagination import paginate
from relance.services import audit
from relance.services import settings as settings_service
from relance.services.engine.levels import MADE_STATUSES
from relance.services.sending import autorun, autorun_preview, dunning
from relance.services.sending.config import SendingConfig
from relance.templating import render

RUNS_PER_PAGE = 50
REMINDERS_PER_PAGE = 100
PREVIEWS = 30


def _day(raw: str | None, errors: dict) -> date:
    """The date field (YYYY-MM-DD, the browser's date input, within params' bounds), today in the company's time
    zone when empty or wrong (with the error in `errors["date"]`)."""
    problems: list[str] = []
    day = params.collect(problems, params.parse_date, raw, _("Date"))
    if problems:
        errors["date"] = problems[0]
    return day or autorun.local_today(settings_service.load(db.session))


@bp.route("/")
@role_required("manager")
def index():
    runs = paginate(select(Run).where(Run.kind == autorun.KIND).order_by(Run.run_date.desc(), Run.id.desc()),
                    RUNS_PER_PAGE)
    settings = settings_service.load(db.session)
    return render("autorun/index.html", runs=runs, settings=settings, labels=autorun.SKIP_LABELS)


def _auto_run_or_404(run_id: int) -> Run:
    item = db.session.get(Run, run_id)
    if item is None or item.kind != autorun.KIND:
        abort(404)
    return item


@bp.route("/runs/<int:run_id>")
@role_required("manager")
def run(run_id: int):
    item = _auto_run_or_404(run_id)
    status = request.args.get("status", "")
    query = select(Reminder).where(Reminder.run_id == run_id)
    if status in REMINDER_STATUSES:
        query = query.where(Reminder.status == status)
    reminders = paginate(query.options(selectinload(Reminder.invoice)).order_by(Reminder.id), REMINDERS_PER_PAGE)
    return render("autorun/run.html", run=item, reminders=reminders, counts=autorun.counts(db.session, run_id),
                  filter_status=status, labels=autorun.SKIP_LABELS)


@bp.route("/runs/<int:run_id>/posted", methods=["POST"])
@role_required("agent")
def posted(run_id: int):
    """The day's letters were printed and posted: one click marks them all posted."""
    item = _auto_run_or_404(run_id)
    count = dunning.mark_run_posted(db.session, item.id, current_user._get_current_object())
    db.session.commit()
    flash(ngettext("%(num)d letter marked posted.", "%(num)d letters marked posted.", count), "success")
    if current_user.has_role("manager"):
        return redirect(url_for("autorun.run", run_id=item.id), code=303)
    return redirect(url_for("main.dashboard"), code=303)


@bp.route("/runs/<int:run_id>/letters.pdf")
@role_required("agent")
def letters(run_id: int):
    """The run's letters merged into one PDF to print (built again when the file is missing)."""
    item = _auto_run_or_404(run_id)
    root = Path(current_app.config["FILES_PATH"]).resolve()
    path = (root / item.letters_pdf_path).resolve() if item.letters_pdf_path else None
    if path is None or not path.is_relative_to(root) or not path.is_file():
        relative = autorun.build_letters_pdf(db.session, item, SendingConfig.from_config(current_app.config))
        if relative is None:
            abort(404)
        item.letters_pdf_path = relative
        db.session.commit()
        path = root / relative
    return send_file(path, mimetype="application/pdf", as_attachment=False,
                     download_name=f"letters-{item.run_date.isoformat()}.pdf")


@bp.route("/test")
@role_required("manager")
def test():
    errors: dict[str, str] = {}
    raw = request.args.get("invoice", "").strip()
    on = _day(request.args.get("date"), errors)
    result = None
    if raw and not errors:
        try:
            invoice = autorun_preview.find_invoice(db.session, raw)
            result = autorun_preview.test_invoice(db.session, invoice, on, language=str(get_locale() or "fr"))
        except autorun_preview.AutoRunError as exc:
            errors[exc.field or "invoice"] = str(exc.message)
    today = autorun.local_today(settings_service.load(db.session))
    return render("autorun/test.html", raw=raw, on=on, errors=errors, result=result, today=today,
                  status=422 if errors else 200)


@bp.route("/test/send", methods=["POST"])
@role_required("manager")
def send_now():
    errors: dict[str, str] = {}
    on = _day(request.form.get("date"), errors)
    raw = request.form.get("invoice", "")
    target = url_for("autorun.test", invoice=raw, date=on.isoformat())
    if errors:
        flash(errors["date"], "error")
        return redirect(target)
    try:
        invoice = autorun_preview.find_invoice(db.session, raw)
        rows = autorun_preview.send_one(db.session, invoice, on, config=SendingConfig.from_config(current_app.config))
    except autorun_preview.AutoRunError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(target)
    audit.record(db.session, current_user._get_current_object(), "send_auto_now", "invoice", invoice.id,
                 after={"date": on.isoformat(), "reminders": [r.id for r in rows],
                        "statuses": [r.status for r in rows]})
    db.session.commit()
    for row in rows:
        if row.status in MADE_STATUSES:
            flash(_("The automatic reminder of %(number)s (%(channel)s) was sent.", number=invoice.number,
                    channel=_("email") if row.channel == "email" else _("letter")), "success")
        else:
            flash(_("The automatic reminder of %(number)s was not sent: %(error)s", number=invoice.number,
                    error=row.error or row.status), "error")
    return redirect(target)


@bp.route("/dry-run")
@role_required("manager")
def dry_run():
    errors: dict[str, str] = {}
    on = _day(request.args.get("date"), errors)
    result = None if errors else autorun_preview.dry_run(
        db.session, on, limit=PREVIEWS, config=SendingConfig.from_config(current_app.config))
    db.session.rollback()
    return render("autorun/dry_run.html", on=on, errors=errors, result=result, labels=autorun.SKIP_LABELS,
                  previews_limit=PREVIEWS, status=422 if errors else 200)
