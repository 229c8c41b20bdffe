"""Administration home, settings, legal interest rates and the audit log."""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta
from pathlib import Path

from flask import abort, current_app, flash, redirect, request, send_from_directory, url_for
from flask_babel import format_decimal, pgettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from relance import params
from relance.admin import bp
from relance.admin.rate_form import RATE_KIND_CHOICES, RateForm
from relance.admin.settings_form import SettingsForm
from relance.auth import role_required
from relance.auth.forms import EmptyForm
from relance.extensions import db
from relance.forms import parse_decimal
from relance.models import AuditLog, StatutoryRate, User
from relance.pagination import paginate
from relance.services import audit
from relance.services import settings as settings_service
from relance.templating import render

# (endpoint, title, explanation, minimum role)
SECTIONS = [
    ("golive.step", _l("Go-live"), _l("Company details for letters, automatic levels, send hour and go-live date; "
                                      "nothing is sent automatically before."), "manager"),
    ("admin.settings", _l("Settings"), _l("Your company, how and when reminders are sent."), "manager"),
    ("admin.levels", _l("Reminder levels"), _l("The steps from the friendly reminder to the formal notice: "
                                                  "delays, channels, penalties."), "manager"),
    ("admin.templates", _l("Reminder texts"), _l("The emails and letters of each level, in each language your "
                                                  "customers read."), "manager"),
    ("admin.rates", _l("Legal interest rates"), _l("The late-payment interest rates by country and date."),
     "manager"),
    ("admin.users", _l("Users"), _l("Who may log in and what each person may do."), "admin"),
    ("admin.tokens", _l("API tokens"), _l("Keys that let other software send invoices to Relance."), "admin"),
    ("admin.audit", _l("Change history"), _l("Who changed which setting, text, level, user or token, and when."),
     "admin"),
]

ENTITY_LABELS = {"settings": _l("Settings"), "level": _l("Reminder level"), "template": _l("Reminder text"),
                 "user": _l("User"), "token": _l("API token"), "rate": _l("Legal interest rate"),
                 "customer": _l("Customer"), "contact": _l("Contact"), "invoice": _l("Invoice"),
                 "payment": _l("Payment"), "customers": _l("Customers import"), "invoices": _l("Invoices import"),
                 "payments": _l("Payments import")}
ACTION_LABELS = {"create": _l("created"), "update": _l("changed"), "delete": _l("deleted"),
                 "revoke": _l("revoked"), "reset_password": _l("password reset"), "revert": _l("reverted"),
                 "reorder": _l("reordered"), "import": _l("imported"), "send_auto_now": _l("sent now"),
                 "change_password": _l("password changed"), "end_sessions": _l("logged out everywhere else")}


def sections_for(user) -> list[tuple]:
    return [s for s in SECTIONS if user.has_role(s[3]) and s[0] in current_app.view_functions]


@bp.app_context_processor
def _admin_globals():
    return {"admin_sections": lambda: sections_for(current_user) if current_user.is_authenticated else []}


@bp.route("/")
@role_required("manager")
def index():
    return render("admin/index.html", sections=sections_for(current_user))


# --- settings -----------------------------------------------------------------------------------------

@bp.route("/settings", methods=["GET", "POST"])
@role_required("manager")
def settings():
    stored = settings_service.load(db.session)
    current = stored.as_dict()
    form = SettingsForm()
    status = 200
    if request.method == "GET":
        form.fill(current)
    elif form.validate_on_submit():
        values = form.values()
        new_file = None
        upload = form.logo_upload()
        if upload:
            data, extension = upload
            name = f"company/logo-{hashlib.sha256(data).hexdigest()[:16]}.{extension}"
            new_file = Path(current_app.config["FILES_PATH"]) / name
            new_file.parent.mkdir(parents=True, exist_ok=True)
            existed = new_file.exists()
            new_file.write_bytes(data)
            values["company_logo"] = name
            if existed:
                new_file = None  # the same image was already stored: never remove it on failure
        elif form.remove_logo.data:
            values["company_logo"] = ""
        before, after = audit.changes(current, values)
        try:
            if after:
                settings_service.save(db.session, {key: values[key] for key in after})
                audit.record(db.session, current_user, "update", "settings", None, before, after)
            db.session.commit()
        except Exception:
            db.session.rollback()
            if new_file is not None:
                new_file.unlink(missing_ok=True)
            raise
        flash(_("Settings saved.") if after else _("Nothing was changed."), "success")
        return redirect(url_for("admin.settings"))
    else:
        status = 422
    return render("admin/settings.html", form=form, logo=stored.company_logo, status=status)


@bp.route("/settings/logo")
@role_required("manager")
def logo():
    name = settings_service.load(db.session).company_logo
    if not name:
        abort(404)
    return send_from_directory(current_app.config["FILES_PATH"], name, max_age=0)


# --- statutory rates ----------------------------------------------------------------------------------

def _rate_dict(rate: StatutoryRate) -> dict:
    return {"country": rate.country, "kind": rate.kind, "valid_from": rate.valid_from, "rate": rate.rate,
            "note": rate.note}


@bp.route("/rates", methods=["GET", "POST"])
@role_required("manager")
def rates():
    form = RateForm()
    status = 200
    if request.method == "GET":
        form.country.data = form.country.data or "FR"
    elif form.validate_on_submit():
        valid_from = form.valid_from.parsed  # type: ignore[attr-defined]  # set by RateForm.validate_valid_from
        exists = db.session.scalar(select(StatutoryRate.id).where(
            StatutoryRate.country == form.country.data, StatutoryRate.kind == form.kind.data,
            StatutoryRate.valid_from == valid_from))
        if exists:
            form.valid_from.errors = [*form.valid_from.errors, _(
                "A rate for this country, these customers and this date already exists: delete it first to "
                "replace it.")]
            status = 422
        else:
            rate = StatutoryRate(country=form.country.data, kind=form.kind.data, valid_from=valid_from,
                                 rate=parse_decimal(form.rate.data), note=(form.note.data or "").strip())
            db.session.add(rate)
            db.session.flush()
            audit.record(db.session, current_user, "create", "rate", rate.id, None, _rate_dict(rate))
            db.session.commit()
            flash(_("Rate added."), "success")
            return redirect(url_for("admin.rates"))
    else:
        status = 422
    rows = db.session.scalars(select(StatutoryRate).order_by(
        StatutoryRate.country, StatutoryRate.kind, StatutoryRate.valid_from.desc())).all()
    return render("admin/rates.html", form=form, rows=rows, status=status, kind_labels=dict(RATE_KIND_CHOICES),
                  percent=lambda value: format_decimal(value, "#,##0.00#") + "\u00a0%")


@bp.route("/rates/<int:rate_id>/delete", methods=["POST"])
@role_required("manager")
def delete_rate(rate_id: int):
    rate = db.get_or_404(StatutoryRate, rate_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    audit.record(db.session, current_user, "delete", "rate", rate.id, _rate_dict(rate), None)
    db.session.delete(rate)
    db.session.commit()
    flash(_("Rate deleted."), "success")
    return redirect(url_for("admin.rates"))


# --- audit log ----------------------------------------------------------------------------------------

@bp.route("/audit", endpoint="audit")
@role_required("admin")
def audit_log():
    query = select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc())
    entity = request.args.get("entity", "")
    if entity in ENTITY_LABELS:
        query = query.where(AuditLog.entity == entity)
    errors: list[str] = []
    user_id = params.collect(errors, params.parse_int, request.args.get("user"), _("Who"), 1, params.MAX_ID)
    start = params.collect(errors, params.parse_date, request.args.get("from"), pgettext("date range", "From"))
    end = params.collect(errors, params.parse_date, request.args.get("to"), pgettext("date range", "To"))
    if user_id:
        query = query.where(AuditLog.user_id == user_id)
    if start:
        query = query.where(AuditLog.at >= datetime.combine(start, time.min))
    if end:
        query = query.where(AuditLog.at < datetime.combine(end + timedelta(days=1), time.min))
    pagination = paginate(query, per_page=50)
    users = db.session.scalars(select(User).order_by(User.name, User.email)).all()
    return render("admin/audit.html", "admin/_audit_rows.html", pagination=pagination, users=users,
                  entity_labels=ENTITY_LABELS, action_labels=ACTION_LABELS,
                  filters={"entity": entity, "user": user_id, "from": start, "to": end}, filter_errors=errors,
                  status=422 if errors else 200)

