from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from flask import jsonify, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import func, select

from relance import clock
from relance.auth import role_required
from relance.extensions import db
from relance.main import bp
from relance.models import ReminderLevel, Run
from relance.services import autorun
from relance.services import dashboard as dashboard_service
from relance.templating import render


@bp.route("/")
@role_required("viewer")
def dashboard():
    today = clock.today()
    tz = ZoneInfo(clock.company_zone())
    midnight = datetime.combine(today, time.min, tz).astimezone(UTC).replace(tzinfo=None)
    failed_total, failed = dashboard_service.failed_reminders(db.session)
    levels = {level.rank: level for level in db.session.scalars(select(ReminderLevel))}
    return render(
        "main/dashboard.html",
        aging=dashboard_service.aging(db.session, today),
        buckets=dashboard_service.BUCKETS,
        level_counts=dashboard_service.level_counts(db.session),
        levels=levels,
        today_counts=dashboard_service.reminders_today(db.session, midnight),
        failed_total=failed_total,
        failed=failed,
        today=today,
        auto=autorun.dashboard_data(db.session),
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
    """Public liveness probe: database reachable and when the last automatic run ended ("late": none finished
    in the last 26 hours, the worker or its schedule is down)."""
    from relance.services import autorun
    from relance.services import settings as settings_service

    db.session.execute(select(1))
    last = db.session.scalar(select(func.max(Run.finished_at)).where(Run.kind == "auto"))
    late = autorun.is_late(db.session, settings_service.load(db.session))
    return jsonify({"status": "late" if late else "ok", "last_auto_run": last.isoformat() if last else None})
