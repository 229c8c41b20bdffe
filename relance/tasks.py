"""The task queue and the tasks.

`huey` is made at import without storage (the tasks are declared on it); `init_app(app)` gives it the storage of
the app's config (Redis when REDIS_URL is set, else the SQLite file HUEY_SQLITE_PATH; in memory in immediate mode)
and the app whose context the tasks run in, and keeps it in `app.extensions["huey"]`.
Tasks are thin: they load rows by id and call a service inside an application context.
"""

from __future__ import annotations

from functools import wraps
from pathlib import Path

from flask import Flask, current_app, has_app_context
from huey import Huey, crontab
from huey.storage import RedisStorage, SqliteStorage

from relance.services.sending.config import SendingConfig


class AppHuey(Huey):
    """Huey configured by a Flask app (`init_app`) rather than at import: until then it has no storage."""

    app: Flask | None = None
    _storage = None

    @property
    def storage(self):
        if self._storage is None:
            raise RuntimeError("relance.tasks.init_app(app) was not called: the task queue has no storage")
        return self._storage

    @storage.setter
    def storage(self, value) -> None:
        self._storage = value

    def create_storage(self):
        if self.storage_class is None and not self._immediate:
            return None  # not configured yet (Huey's __init__)
        return super().create_storage()

    def init_app(self, app: Flask) -> None:
        config = app.config
        if config["REDIS_URL"]:
            self.storage_class, self.storage_kwargs = RedisStorage, {"url": config["REDIS_URL"]}
        else:
            Path(config["HUEY_SQLITE_PATH"]).parent.mkdir(parents=True, exist_ok=True)
            self.storage_class, self.storage_kwargs = SqliteStorage, {"filename": config["HUEY_SQLITE_PATH"]}
        self._immediate = bool(config["HUEY_IMMEDIATE"])
        self.storage = self.create_storage()
        self.app = app
        app.extensions["huey"] = self


huey = AppHuey("relance")


def init_app(app: Flask) -> None:
    """The queue of this app (its storage; tasks run by a consumer use its context); tests run tasks at once
    (immediate mode, in memory)."""
    huey.init_app(app)


def _in_app(fn):
    """`fn` run inside the Flask application context (the caller's, else that of the app given to `init_app`),
    marked as background work for its own transactions (relance.extensions._sqlite_begin)."""

    @wraps(fn)
    def with_context(*a, **kw):
        from relance.extensions import background

        token = background.set(True)
        try:
            if has_app_context():
                return fn(*a, **kw)
            if huey.app is None:
                raise RuntimeError("relance.tasks.init_app() was not called")
            with huey.app.app_context():
                return fn(*a, **kw)
        finally:
            background.reset(token)

    return with_context


def task(*args, **kwargs):
    """A Huey task that runs inside the Flask application context."""
    return lambda fn: huey.task(*args, **kwargs)(_in_app(fn))


def periodic_task(validate_datetime, **kwargs):
    """A Huey periodic task that runs inside the Flask application context."""
    return lambda fn: huey.periodic_task(validate_datetime, **kwargs)(_in_app(fn))


def sending_config() -> SendingConfig:
    """The current app's sending configuration, read once per task (a test's change of app.config is seen)."""
    return SendingConfig.from_config(current_app.config)


@task()
def ping(value: int) -> dict:
    """A trivial task to prove the worker runs: doubles a number and reports the database in use."""
    from relance.extensions import db

    return {"value": value * 2, "database": db.engine.dialect.name}


# --- sending (reminder emails and letters) ----------------------------------------------------------------


@task()
def send_reminders(reminder_ids: list[int]) -> dict:
    """Send these reminders; those that met a temporary failure are sent again later (backoff)."""
    from relance.services.sending import dunning

    report = dunning.send(reminder_ids, count_runs=True, config=sending_config())
    if report.retry:
        send_reminders.schedule((report.retry,), delay=report.retry_delay)
    return report.count()


class NoticeNotSent(RuntimeError):
    """The mail server could not take an answer's notice now: Huey tries again later (the error is on the answer)."""


@task(retries=6, retry_delay=600)
def notify_answer(answer_id: int, event: str) -> str:
    """Tell the agent of a customer's answer ("new"), or the customer of their rejected dispute ("rejected")."""
    from relance.extensions import db
    from relance.services.sending import notices

    status = notices.notify(db.session, answer_id, event, sending_config())
    if status in ("retry", "down"):
        raise NoticeNotSent(f"answer {answer_id}: the mail server could not take the email now")
    return status


def queue_send(reminder):
    """Hand a just-made pending reminder to the worker (at once in immediate mode) and return it as it is now."""
    from relance.extensions import db
    from relance.models import Reminder

    if reminder.status != "pending":
        return reminder
    send_reminders([reminder.id])  # the worker sends it (and retries a temporary failure)
    db.session.expire_all()
    return db.session.get(Reminder, reminder.id)


class RunNotVisible(LookupError):
    """The run's row is not committed yet (the task was queued just before the commit): Huey tries again."""


@task(retries=5, retry_delay=2)
def send_mass_run(run_id: int) -> dict:
    """A mass run's whole job (services/sending/runs.py): make its reminders, send them, build its merged letters PDF;
    safe to run twice. A run left waiting (a temporary failure) is taken up again when its wait is over."""
    from relance.extensions import db
    from relance.models import Run
    from relance.services.sending import runs

    if db.session.get(Run, run_id) is None:
        db.session.rollback()
        raise RunNotVisible(run_id)
    report = runs.process_mass(run_id, sending_config())
    if report is None:
        return {"run": run_id, "busy": True}
    run = db.session.get_one(Run, run_id)
    if run.status == "waiting" and run.resume_at is not None:
        from relance.models.base import utcnow

        send_mass_run.schedule((run_id,), delay=max(1, int((run.resume_at - utcnow()).total_seconds())))
    return report.count()


def start_run(session, run) -> None:
    """Queue a new run's task, then commit: with the queue down nothing is committed (the caller's except rolls
    back); a task that runs before the commit waits for the row (retries), and the watchdog takes up a run whose
    task was lost. In immediate mode (tests) the task runs at once, after the commit."""
    if huey.immediate:
        session.commit()
        send_mass_run(run.id)
        return
    send_mass_run(run.id)
    session.commit()


@periodic_task(crontab(minute="*"))
def watch_runs() -> list[int]:
    """Every minute: take up the runs whose worker is gone (killed, restarted) or whose wait is over."""
    return _resume_stale()


@task()
def watch_runs_now() -> list[int]:
    """The same, once, when a consumer starts."""
    return _resume_stale()


def _resume_stale() -> list[int]:
    """Queue the work of every run that lost its worker or whose wait is over; returns their ids."""
    from relance.extensions import db
    from relance.services.sending import runs

    stale = runs.stale_runs(db.session, sending_config())
    db.session.commit()
    for run in stale:
        if run.kind == "mass":
            send_mass_run(run.id)
        else:
            run_auto_task(run.run_date.isoformat())
    return [run.id for run in stale]


# --- automatic reminders: the daily run at the company's hour (services/sending/autorun.py) ----------------------



@task()
def run_auto_task(day: str) -> dict:
    """Perform (or join, or finish) the automatic run of a date given as YYYY-MM-DD."""
    from datetime import date

    from relance.extensions import db
    from relance.services.sending import autorun

    run = autorun.run_auto(db.session, date.fromisoformat(day), config=sending_config())
    return {"run": run.id, "status": run.status, "sent": run.sent, "failed": run.failed}


@periodic_task(crontab(minute="*/5"))
def auto_run_tick() -> str | None:
    """Every 5 minutes: when the company's send hour has come in its time zone and today's run is not complete,
    run it (every consumer's scheduler enqueues this; the calls cooperate and send each reminder once)."""
    from relance import clock
    from relance.extensions import db
    from relance.services import settings as settings_service
    from relance.services.sending import autorun

    settings = settings_service.load(db.session)
    on = autorun.due_run_date(clock.now(), settings.auto_hour, settings.auto_timezone,
                              autorun.last_completed(db.session))
    db.session.commit()
    if on is None:
        return None
    from relance.services.engine import schedule

    if schedule.automatic_note(db.session, on):  # before go-live the engine sends nothing: no empty run either
        db.session.commit()
        return None
    autorun.run_auto(db.session, on, config=sending_config())
    return on.isoformat()


# --- imports: a large CSV file checked by the worker (services/data_in/staging.py) ------------------------------


@task()
def check_import(token: str) -> dict:
    """Read and check a staged CSV upload once and keep its plan for the confirmation; its page polls the
    progress written to the upload's JSON file. Reads only: the confirmation writes."""
    from relance import clock
    from relance.extensions import db
    from relance.services.data_in import staging

    pending = staging.prepare(db.session, staging.folder(current_app.instance_path), token, clock.today(),
                              max_rows=current_app.config["IMPORT_MAX_ROWS"])
    return {"token": token, "state": pending.state if pending else "gone"}


# --- the worker's heartbeat (services/health.py; /healthz and the dashboard read it) --------------------------


@periodic_task(crontab(minute="*"), priority=100)
def worker_heartbeat() -> None:
    """Every minute: this consumer (its scheduler, the queue, a free worker, the database) is alive. First in
    line (priority) so queued work does not hide a live worker; the consumer also beats once when it starts."""
    from relance.extensions import db
    from relance.services import health

    health.beat(db.session)
