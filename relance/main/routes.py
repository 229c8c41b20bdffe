from contextlib import suppress
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app, jsonify, redirect, request, session, url_for
from flask_babel import force_locale
from flask_login import current_user

from relance import clock
from relance.auth import role_required
from relance.extensions import db
from relance.main import bp
from relance.redirects import local_target
from relance.services import dashboard as dashboard_service
from relance.services import golive
from relance.services import health as health_service
from relance.services import settings as settings_service
from relance.services.engine import readiness
from relance.services.engine.levels import level_list
from relance.templating import render


@bp.route("/")
@role_required("viewer")
def dashboard():
    today = clock.today()
    tz = ZoneInfo(clock.company_zone())
    midnight = datetime.combine(today, time.min, tz).astimezone(UTC).replace(tzinfo=None)
    failed_total, failed = dashboard_service.failed_reminders(db.session)
    levels = {level.rank: level for level in reversed(level_list(db.session))}  # a rank's name: the default's
    settings = settings_service.load(db.session)
    go_live = golive.go_live_day(settings)
    return render(
        "main/dashboard.html",
        aging=dashboard_service.aging(db.session, today),
        buckets=dashboard_service.BUCKETS,
        level_counts=dashboard_service.level_counts(db.session),
        levels=levels,
        today_counts=dashboard_service.reminders_today(db.session, midnight),
        failed_total=failed_total,
        failed=failed,
        answers_open=dashboard_service.open_answers(db.session),
        calls_waiting=dashboard_service.calls_to_make(db.session),
        today=today,
        auto=dashboard_service.automatic_runs(db.session),
        readiness=readiness.check(db.session),
        go_live_pending=not golive.is_done(settings),
        go_live_overdue=golive.overdue_count(db.session, go_live) if golive.is_done(settings) and go_live else 0,
        health=(health_service.checks(db.session, current_app.config, clock.utcnow())
                if current_user.has_role("manager") else None),
    )


@bp.route("/language", methods=["POST"])
def set_language():
    language = request.form.get("language", "")
    if language in ("fr", "en"):
        session["language"] = language
        if current_user.is_authenticated:
            current_user.language = language
            db.session.commit()
    return redirect(local_target(request.form.get("next"), url_for("main.dashboard")))


@bp.route("/healthz")
def healthz():
    """Public health probe for monitoring (no login): JSON always, 200 when every check is ok, else 503 with the
    reason of each fault (services/health.py; README "Monitoring"). Details in English, whatever the browser."""
    with force_locale("en"):
        try:
            body = health_service.report(health_service.checks(db.session, current_app.config, clock.utcnow()))
        except Exception as exc:  # noqa: BLE001 (a probe answers JSON, never an HTML 500)
            current_app.logger.exception("/healthz failed")
            body = {"status": "fail", "checks": {}, "problems": [f"healthz: {type(exc).__name__}"]}
    with suppress(Exception):  # the database is down: already said
        db.session.rollback()  # read only: leave no transaction open
    response = jsonify(body)
    response.status_code = 200 if body["status"] == "ok" else 503
    response.headers["Cache-Control"] = "no-store"
    return response
