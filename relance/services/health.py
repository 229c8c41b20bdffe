"""Is Relance working? One list of checks for `/healthz` (monitoring) and the dashboard's health panel.

`checks(session, config, now)` returns a `Check` (name, ok, short translatable detail, figures) per part:

- database: `SELECT 1` answers.
- queue: Huey's storage as configured: Redis answers PING (`REDIS_URL`), else the SQLite file
  (`HUEY_SQLITE_PATH`) opens for writing (a file not made yet is fine when its folder is writable).
- worker: a consumer wrote its heartbeat (row "worker" of `ServiceState`, at start and every minute) less than
  `HEALTH_WORKER_MAX_AGE` seconds ago. No heartbeat ever is bad ("no worker has reported yet"), except in Huey's
  immediate mode (tasks run in the web process: tests, a demo) where no worker is needed; a heartbeat that
  exists is judged in every mode.
- auto_run / mass_run: the latest run of each kind; a failed one is bad (with its error) until a later run of
  that kind succeeds or it is resumed; no automatic run finished for 26 hours is bad too (`autorun.is_late`).
- smtp: the mail circuit's news (row "smtp", written by the mailer): circuit open until a time, the last send
  failed, or the last send worked; no news yet is fine.
- disk: free space of the instance folder at least `HEALTH_MIN_FREE_MB` and `HEALTH_MIN_FREE_PERCENT`.

When the database does not answer, the checks that read it say "not checked" (bad). Details are short and never
hold a password or a full path. `report(checks)` is the JSON of /healthz.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask_babel import format_datetime, format_timedelta
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from relance.models import Run
from relance.services import service_state

WORKER = "worker"
SMTP = "smtp"
DETAIL_MAX = 200

LABELS = {
    "database": _l("Database"),
    "queue": _l("Task queue"),
    "worker": _l("Background worker"),
    "auto_run": _l("Automatic run"),
    "mass_run": _l("Mass reminder run"),
    "smtp": _l("Mail server"),
    "disk": _l("Disk space"),
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: object  # a (lazy) translatable string: str() in the reader's language
    figures: dict = field(default_factory=dict)

    @property
    def label(self):
        return LABELS.get(self.name, self.name)

    def as_json(self) -> dict:
        return {"ok": self.ok, "detail": str(self.detail), **self.figures}


def report(found: list[Check]) -> dict:
    """/healthz's body: "status" ok or fail, every check by name, and the problems as "name: detail" lines."""
    return {
        "status": "ok" if all(c.ok for c in found) else "fail",
        "checks": {c.name: c.as_json() for c in found},
        "problems": [f"{c.name}: {c.detail}" for c in found if not c.ok],
    }


def problems(found: list[Check]) -> list[Check]:
    return [c for c in found if not c.ok]


def _short(message: object, secrets: tuple[str, ...] = ()) -> str:
    """The first line of an error message, without any secret, cut to DETAIL_MAX characters."""
    line = next((part.strip() for part in str(message).splitlines() if part.strip()), "")
    for secret in secrets:
        if secret:
            line = line.replace(secret, "***")
    return line if len(line) <= DETAIL_MAX else line[:DETAIL_MAX - 1] + "…"


def _error_text(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    origin = getattr(exc, "orig", None) or exc  # SQLAlchemy's wrapper names the statement, the driver the cause
    return _short(f"{type(origin).__name__}: {origin}", secrets)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None


def _when(moment: datetime) -> str:
    """A naive UTC moment in the reader's language and the app's time zone."""
    return format_datetime(moment, "medium")


# --- the checks --------------------------------------------------------------------------------------------------


def check_database(session: Session, config: Mapping) -> Check:
    try:
        session.execute(text("SELECT 1"))
        return Check("database", True, _l("answers"), {"engine": session.get_bind().dialect.name})
    except Exception as exc:  # noqa: BLE001 (any failure is the answer)
        with suppress(Exception):  # the connection is already gone
            session.rollback()
        url = config["SQLALCHEMY_DATABASE_URI"]
        try:
            secrets: tuple[str, ...] = (make_url(url).password or "",)
        except Exception:  # noqa: BLE001
            secrets = ()
        return Check("database", False, _l("unreachable: %(error)s", error=_error_text(exc, secrets)))


def check_queue(config: Mapping) -> Check:
    redis_url = config["REDIS_URL"]
    if redis_url:
        import redis

        try:
            client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
            try:
                client.ping()
            finally:
                client.close()
            return Check("queue", True, _l("Redis answers"), {"storage": "redis"})
        except Exception as exc:  # noqa: BLE001
            password = urlsplit(redis_url).password
            return Check("queue", False, _l("Redis unreachable: %(error)s",
                                            error=_error_text(exc, (password or "",))), {"storage": "redis"})
    path = Path(config["HUEY_SQLITE_PATH"])
    figures = {"storage": "sqlite"}
    if not path.exists():
        if path.parent.is_dir() and os.access(path.parent, os.W_OK):
            return Check("queue", True, _l("the queue file will be made when the worker starts"), figures)
        return Check("queue", False, _l("the queue file's folder is missing or read-only"), figures)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=2)
        try:
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock: the file is writable and not stuck
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.rollback()
        finally:
            conn.close()
        return Check("queue", True, _l("the queue file is writable"), figures)
    except Exception as exc:  # noqa: BLE001
        return Check("queue", False, _l("the queue file cannot be written: %(error)s",
                                        error=_error_text(exc, (str(path),))), figures)


def check_worker(session: Session, config: Mapping, now: datetime) -> Check:
    limit = int(config["HEALTH_WORKER_MAX_AGE"])
    row = service_state.get(session, WORKER)
    if row is None:
        if config["HUEY_IMMEDIATE"]:
            return Check("worker", True, _l("tasks run in the web process (immediate mode)"), {"mode": "immediate"})
        return Check("worker", False, _l("no worker has reported yet"), {"last_seen": None})
    age = max(0, int((now - row.updated_at).total_seconds()))
    figures = {"last_seen": _iso(row.updated_at), "age_seconds": age, "max_age_seconds": limit,
               "host": (row.data or {}).get("host"), "pid": (row.data or {}).get("pid")}
    if age > limit:
        return Check("worker", False, _l("no heartbeat for %(age)s (limit: %(limit)s): is the worker running?",
                                         age=format_timedelta(timedelta(seconds=age), threshold=1),
                                         limit=format_timedelta(timedelta(seconds=limit), threshold=1)),
                     figures)
    if not row.ok:
        return Check("worker", False, _l("the worker reports: %(detail)s", detail=_short(row.detail)), figures)
    return Check("worker", True, _l("last heartbeat %(age)s ago",
                                    age=format_timedelta(timedelta(seconds=age), threshold=1)), figures)


RUN_STATUSES = {"done": _l("done"), "failed": _l("failed"), "running": _l("running"), "queued": _l("queued")}


def check_run(session: Session, kind: str, now: datetime, settings=None) -> Check:
    name = f"{kind}_run"
    run = session.scalar(select(Run).where(Run.kind == kind, Run.dry_run.is_(False))
                         .order_by(Run.run_date.desc(), Run.id.desc()).limit(1))
    if run is None:
        return Check(name, True, _l("no run yet"), {"status": None})
    figures = {"id": run.id, "status": run.status, "run_date": run.run_date.isoformat(),
               "finished_at": _iso(run.finished_at) if run.status == "done" else None,
               "sent": run.sent, "failed": run.failed,
               "error": _short(run.error) if run.status == "failed" else None}
    status = RUN_STATUSES.get(run.status, run.status)
    if run.status == "failed":
        return Check(name, False, _l("the run of %(day)s failed: %(error)s", day=run.run_date.isoformat(),
                                     error=_short(run.error) or "?"), figures)
    if kind == "auto":
        from relance.services import settings as settings_service
        from relance.services.sending import autorun

        if autorun.is_late(session, settings or settings_service.load(session), now):
            return Check(name, False, _l("no automatic run finished in the last 26 hours"), figures)
    return Check(name, True, _l("run of %(day)s: %(status)s", day=run.run_date.isoformat(), status=status),
                 figures)


def check_smtp(session: Session, config: Mapping, now: datetime) -> Check:
    row = service_state.get(session, SMTP)
    figures: dict = {"configured": bool(config["SMTP_HOST"])}
    if row is None:
        if not config["SMTP_HOST"]:
            return Check("smtp", True, _l("no mail server set: emails are written to the outbox"), figures)
        return Check("smtp", True, _l("no email sent yet"), figures)
    figures.update(last_news=_iso(row.updated_at), circuit_open_until=None)
    detail = _short(row.detail)
    if not row.ok and row.until is not None and row.until > now:
        figures["circuit_open_until"] = _iso(row.until)
        return Check("smtp", False, _l("circuit open (mail server unreachable) until %(until)s: %(detail)s",
                                       until=_when(row.until), detail=detail or "?"), figures)
    if not row.ok:
        return Check("smtp", False, _l("the last send failed: %(detail)s", detail=detail or "?"), figures)
    return Check("smtp", True, _l("the last send worked (%(when)s)", when=_when(row.updated_at)), figures)


def check_disk(config: Mapping) -> Check:
    min_mb = int(config["HEALTH_MIN_FREE_MB"])
    min_percent = float(config["HEALTH_MIN_FREE_PERCENT"])
    try:
        usage = shutil.disk_usage(config["INSTANCE_PATH"])
    except OSError as exc:
        return Check("disk", False, _l("cannot read the free space: %(error)s",
                                       error=_error_text(exc, (str(config["INSTANCE_PATH"]),))))
    free_mb = usage.free // (1024 * 1024)
    percent = round(usage.free * 100 / usage.total, 1) if usage.total else 0.0
    figures = {"free_mb": free_mb, "free_percent": percent, "min_free_mb": min_mb, "min_free_percent": min_percent}
    if free_mb < min_mb or percent < min_percent:
        return Check("disk", False, _l("only %(mb)s MB (%(percent)s %%) free in the instance folder "
                                       "(minimum: %(min_mb)s MB and %(min_percent)s %%)",
                                       mb=free_mb, percent=percent, min_mb=min_mb, min_percent=min_percent),
                     figures)
    return Check("disk", True, _l("%(mb)s MB (%(percent)s %%) free", mb=free_mb, percent=percent), figures)


def checks(session: Session, config: Mapping, now: datetime) -> list[Check]:
    """Every check, in a fixed order; `now` is naive UTC. Never raises for a broken part."""
    database = check_database(session, config)
    found = [database, check_queue(config)]
    if database.ok:
        found += [check_worker(session, config, now), check_run(session, "auto", now),
                  check_run(session, "mass", now), check_smtp(session, config, now)]
    else:
        found += [Check(name, False, _l("not checked: the database is unreachable"))
                  for name in ("worker", "auto_run", "mass_run", "smtp")]
    found.append(check_disk(config))
    return found


# --- the heartbeat --------------------------------------------------------------------------------------------


def beat(session: Session, detail: str = "") -> None:
    """A consumer says it is alive (at start and every minute): row "worker", `updated_at` is the heartbeat."""
    service_state.put(session, WORKER, True, detail, data={"host": socket.gethostname(), "pid": os.getpid()})
