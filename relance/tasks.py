"""The Huey instance (SQLite storage by default, Redis when RELANCE_REDIS_URL is set) and the tasks.

Tasks are thin: they load rows by id and call a service inside an application context.
"""

from __future__ import annotations

import os
from functools import wraps
from pathlib import Path

from flask import Flask, has_app_context
from huey import RedisHuey, SqliteHuey

from relance.config import PROJECT_ROOT

_app: Flask | None = None


def build_huey(redis_url: str | None = None, instance_path: str | None = None):
    redis_url = redis_url if redis_url is not None else os.environ.get("RELANCE_REDIS_URL") or None
    if redis_url:
        return RedisHuey("relance", url=redis_url)
    instance = Path(instance_path or os.environ.get("RELANCE_INSTANCE_PATH") or PROJECT_ROOT / "instance")
    instance.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("relance", filename=str(instance / "huey.db"))


huey = build_huey()


def init_app(app: Flask) -> None:
    """Remember the app for tasks run by a consumer; tests run tasks at once (immediate mode)."""
    global _app
    _app = app
    huey.immediate = bool(app.config.get("HUEY_IMMEDIATE"))


def task(*args, **kwargs):
    """A Huey task that runs inside the Flask application context."""

    def decorator(fn):
        @wraps(fn)
        def with_context(*a, **kw):
            if has_app_context():
                return fn(*a, **kw)
            if _app is None:
                raise RuntimeError("relance.tasks.init_app() was not called")
            with _app.app_context():
                return fn(*a, **kw)

        return huey.task(*args, **kwargs)(with_context)

    return decorator


@task()
def ping(value: int) -> dict:
    """A trivial task to prove the worker runs: doubles a number and reports the database in use."""
    from relance.extensions import db

    return {"value": value * 2, "database": db.engine.dialect.name}


# --- sending (reminder emails and letters) ----------------------------------------------------------------


@task()
def send_reminders(reminder_ids: list[int]) -> dict:
    """Send these reminders; those that met a temporary failure are sent again later (backoff)."""
    from relance.extensions import db
    from relance.services import dunning

    report = dunning.send(reminder_ids, on_progress=lambda r: dunning.count_outcome(db.session, r))
    if report.retry:
        send_reminders.schedule((report.retry,), delay=report.retry_delay)
    return report.count()


def queue_send(reminder):
    """Hand a just-made pending reminder to the worker (at once in immediate mode) and return it as it is now."""
    from relance.extensions import db
    from relance.models import Reminder

    if reminder.status != "pending":
        return reminder
    send_reminders([reminder.id])  # the worker sends it (and retries a temporary failure)
    db.session.expire_all()
    return db.session.get(Reminder, reminder.id)


@task()
def send_mass_run(run_id: int) -> dict:
    """Send a run's reminders and build its merged letters PDF; progress is kept on the Run row."""
    from relance.services import dunning

    report = dunning.send_run(run_id)
    if report.retry:
        send_reminders.schedule((report.retry,), delay=report.retry_delay)
    return report.count()


# --- automatic reminders: the daily run at the company's hour (services/autorun.py) ------------------------------

from huey import crontab  # noqa: E402


@task()
def run_auto_task(day: str) -> dict:
    """Perform (or join, or finish) the automatic run of a date given as YYYY-MM-DD."""
    from datetime import date

    from relance.extensions import db
    from relance.services import autorun

    run = autorun.run_auto(db.session, date.fromisoformat(day))
    return {"run": run.id, "status": run.status, "sent": run.sent, "failed": run.failed}


@huey.periodic_task(crontab(minute="*/5"))
def auto_run_tick() -> str | None:
    """Every 5 minutes: when the company's send hour has come in its time zone and today's run is not complete,
    run it (every consumer's scheduler enqueues this; the calls cooperate and send each reminder once)."""
    if _app is None:
        raise RuntimeError("relance.tasks.init_app() was not called")
    with _app.app_context():
        from relance import clock
        from relance.extensions import db
        from relance.services import autorun
        from relance.services import settings as settings_service

        settings = settings_service.load(db.session)
        on = autorun.due_run_date(clock.now(), settings.auto_hour, settings.auto_timezone,
                                  autorun.last_completed(db.session))
        db.session.commit()
        if on is None:
            return None
        autorun.run_auto(db.session, on)
        return on.isoformat()
