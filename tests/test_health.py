"""/healthz and the dashboard's health panel (services/health.py): 503 with the reason of each fault (dead worker
heartbeat, queue down, mail circuit open, disk low, last run failed, database down), 200 when all is well.
SQLite and PostgreSQL; real Redis (and a closed port), real SQLite queue files, a live HTTP server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta

import pytest
from huey import SqliteHuey

from relance import clock, tasks
from relance.extensions import db
from relance.models import Run
from relance.models.base import utcnow
from relance.services import health, service_state
from tests.conftest import REDIS_URL, _build_app, need_service, start_live_server, stop_live_server
from tests.factories import NOW


def healthz(client):
    response = client.get("/healthz")
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert response.status_code == (200 if body["status"] == "ok" else 503)
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, body


def faults(body) -> set[str]:
    return {name for name, check in body["checks"].items() if not check["ok"]}


def beat_at(app, moment: datetime) -> None:
    """A worker heartbeat written at `moment` (the app's clock set there while it writes, then put back)."""
    before = app.config.get("CLOCK")
    app.config["CLOCK"] = lambda: moment
    try:
        health.beat(db.session)
    finally:
        app.config["CLOCK"] = before


def test_all_well_answers_200_with_every_check(app, client):
    status, body = healthz(client)
    assert status == 200 and body["status"] == "ok" and body["problems"] == []
    assert set(body["checks"]) == {"database", "queue", "worker", "auto_run", "mass_run", "smtp", "disk"}
    assert all(check["ok"] and check["detail"] for check in body["checks"].values())
    # tests run Huey in immediate mode: no worker needed, and none reported
    assert body["checks"]["worker"]["mode"] == "immediate"
    assert body["checks"]["database"]["engine"] == db.engine.dialect.name
    assert body["checks"]["disk"]["free_mb"] >= 200
    health.beat(db.session)
    status, body = healthz(client)
    worker = body["checks"]["worker"]
    assert status == 200 and worker["age_seconds"] < 60 and worker["pid"] and worker["last_seen"].endswith("Z")


@pytest.mark.clock  # the app runs at tests.factories.NOW
def test_dead_worker_heartbeat(app, client):
    beat_at(app, NOW - timedelta(minutes=10))
    status, body = healthz(client)
    assert status == 503 and faults(body) == {"worker"}
    detail = body["checks"]["worker"]["detail"]
    assert "no heartbeat for 10 minutes (limit: 3 minutes)" in detail and "worker: no heartbeat" in body["problems"][0]
    app.config["HEALTH_WORKER_MAX_AGE"] = 15 * 60  # configurable
    assert healthz(client)[0] == 200


def test_no_worker_ever_is_a_fault_outside_immediate_mode(app, client):
    app.config["HUEY_IMMEDIATE"] = False
    status, body = healthz(client)
    assert status == 503 and faults(body) == {"worker"}
    assert body["checks"]["worker"]["detail"] == "no worker has reported yet"
    health.beat(db.session)
    assert healthz(client)[0] == 200


def test_queue_down_redis_on_a_closed_port(app, client):
    app.config["REDIS_URL"] = "redis://:hunter2@127.0.0.1:1/0"
    status, body = healthz(client)
    assert status == 503 and faults(body) == {"queue"}
    assert body["checks"]["queue"]["detail"].startswith("Redis unreachable: ")
    assert body["checks"]["queue"]["storage"] == "redis"
    assert "hunter2" not in json.dumps(body)


def test_queue_on_a_live_redis_is_ok(app, client):
    app.config["REDIS_URL"] = need_service(REDIS_URL, "Redis (RELANCE_TEST_REDIS_URL)")
    status, body = healthz(client)
    assert status == 200 and body["checks"]["queue"] == {"ok": True, "detail": "Redis answers", "storage": "redis"}


def test_queue_down_sqlite_file_unusable(app, client, tmp_path):
    app.config["HUEY_SQLITE_PATH"] = str(tmp_path / "no such folder" / "huey.db")
    status, body = healthz(client)
    assert status == 503 and faults(body) == {"queue"}
    assert body["checks"]["queue"]["detail"] == "the queue file's folder is missing or read-only"
    broken = tmp_path / "broken-huey.db"
    broken.write_bytes(b"this is not a database" * 100)
    app.config["HUEY_SQLITE_PATH"] = str(broken)
    status, body = healthz(client)
    assert status == 503 and faults(body) == {"queue"}
    assert body["checks"]["queue"]["detail"].startswith("the queue file cannot be written: DatabaseError")
    assert str(tmp_path) not in json.dumps(body)


def test_queue_on_a_real_huey_sqlite_file_is_ok(app, client, tmp_path):
    queue = SqliteHuey("relance", filename=str(tmp_path / "huey.db"))
    noop = queue.task()(lambda: None)
    noop()  # a real Huey storage with a task waiting in it
    app.config["HUEY_SQLITE_PATH"] = queue.storage.filename
    status, body = healthz(client)
    assert status == 200 and body["checks"]["queue"]["detail"] == "the queue file is writable"
    assert len(queue) == 1


def test_smtp_circuit_open_then_last_send_failed_then_working(app, client):
    until = clock.utcnow() + timedelta(minutes=5)
    service_state.put(db.session, "smtp", False, "[Errno 111] Connection refused", until=until)
    status, body = healthz(client)
    assert status == 503 and faults(body) == {"smtp"}
    smtp = body["checks"]["smtp"]
    assert smtp["detail"].startswith("circuit open (mail server unreachable) until ")
    assert smtp["detail"].endswith(": [Errno 111] Connection refused")
    assert smtp["circuit_open_until"] == until.isoformat(timespec="seconds") + "Z"
    service_state.put(db.session, "smtp", False, "550 mailbox unavailable")
    status, body = healthz(client)
    assert status == 503 and body["checks"]["smtp"]["detail"] == "the last send failed: 550 mailbox unavailable"
    service_state.put(db.session, "smtp", True)
    status, body = healthz(client)
    assert status == 200 and body["checks"]["smtp"]["detail"].startswith("the last send worked (")


def test_disk_low(app, client):
    app.config["HEALTH_MIN_FREE_MB"] = 10**9
    status, body = healthz(client)
    assert status == 503 and faults(body) == {"disk"}
    assert body["checks"]["disk"]["detail"].startswith("only ") and "free in the instance folder" in body[
        "checks"]["disk"]["detail"]
    app.config["HEALTH_MIN_FREE_MB"] = 1
    app.config["HEALTH_MIN_FREE_PERCENT"] = 101
    assert healthz(client)[0] == 503
    app.config["HEALTH_MIN_FREE_PERCENT"] = 0
    assert healthz(client)[0] == 200


def test_last_run_failed_by_kind(app, client):
    db.session.add(Run(kind="auto", run_date=date(2026, 3, 1), status="done", finished_at=utcnow()))
    failed = Run(kind="auto", run_date=date(2026, 3, 2), status="failed", error="RuntimeError: boom\nline two",
                 finished_at=utcnow())
    db.session.add(failed)
    db.session.commit()
    status, body = healthz(client)
    auto = body["checks"]["auto_run"]
    assert status == 503 and faults(body) == {"auto_run"}
    assert auto["detail"] == "the run of 2026-03-02 failed: RuntimeError: boom"
    assert auto["status"] == "failed" and auto["error"] == "RuntimeError: boom" and auto["finished_at"] is None
    failed.status, failed.error = "done", ""  # resumed and finished by the next tick
    db.session.commit()
    status, body = healthz(client)
    assert status == 200 and body["checks"]["auto_run"]["finished_at"]
    db.session.add(Run(kind="mass", run_date=date(2026, 3, 2), status="failed", error="OSError: disk full"))
    db.session.commit()
    status, body = healthz(client)
    assert status == 503 and faults(body) == {"mass_run"}
    assert body["checks"]["mass_run"]["detail"] == "the run of 2026-03-02 failed: OSError: disk full"
    db.session.add(Run(kind="mass", run_date=date(2026, 3, 2), status="done", finished_at=utcnow()))
    db.session.commit()
    assert healthz(client)[0] == 200


def test_no_automatic_run_finished_for_a_day(app, client):
    db.session.add(Run(kind="auto", run_date=date(2026, 3, 1), status="done",
                       finished_at=utcnow() - timedelta(hours=30), created_at=utcnow() - timedelta(hours=31)))
    db.session.commit()
    status, body = healthz(client)
    assert status == 503 and faults(body) == {"auto_run"}
    assert body["checks"]["auto_run"]["detail"] == "no automatic run finished in the last 26 hours"


@pytest.mark.parametrize("url", [
    "sqlite:///{tmp}/no such folder/relance.db",
    "postgresql+psycopg://relance:s3cret@127.0.0.1:1/relance",
], ids=["sqlite-missing-folder", "postgresql-closed-port"])
def test_database_down_answers_json_503(tmp_path, url):
    app = _build_app(url.format(tmp=tmp_path), tmp_path)
    with app.app_context():
        client = app.test_client()
        status, body = healthz(client)
        assert status == 503 and body["checks"]["database"]["detail"].startswith("unreachable: OperationalError")
        assert {"database", "worker", "auto_run", "mass_run", "smtp"} <= faults(body)
        assert body["checks"]["worker"]["detail"] == "not checked: the database is unreachable"
        assert body["checks"]["queue"]["ok"] and body["checks"]["disk"]["ok"]
        assert "s3cret" not in json.dumps(body)
        db.engine.dispose()


def test_worker_heartbeat_task_writes_the_row(app):
    assert service_state.get(db.session, "worker") is None
    tasks.worker_heartbeat()  # the periodic task (immediate mode runs it here)
    db.session.expire_all()
    row = service_state.get(db.session, "worker")
    assert row.ok and row.data["pid"] and row.data["host"]
    assert (clock.utcnow() - row.updated_at).total_seconds() < 60


@pytest.mark.clock  # the app runs at tests.factories.NOW
def test_dashboard_panel_for_managers(app, client, auth):
    auth.login("agent")
    page = client.get("/").get_data(as_text=True)
    assert 'id="health"' not in page
    auth.logout()
    auth.login("manager")
    page = client.get("/").get_data(as_text=True)
    assert 'class="muted health health-ok"' in page and "All systems working" in page
    app.config["HEALTH_MIN_FREE_MB"] = 10**9
    beat_at(app, NOW - timedelta(hours=2))
    page = client.get("/").get_data(as_text=True)
    assert 'class="card health health-fail"' in page and "All systems working" not in page
    assert '<li data-check="worker">Background worker: no heartbeat for 2 hours' in page
    assert '<li data-check="disk">Disk space: only ' in page
    assert page.count("<li data-check=") == 2


def test_healthz_through_a_live_server(tmp_path):
    live = start_live_server(tmp_path)
    url = f"http://127.0.0.1:{live.server.server_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200 and json.load(response)["status"] == "ok"
        with live.app.app_context():
            service_state.put(db.session, "smtp", False, "timed out", until=clock.utcnow() + timedelta(minutes=2))
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=10)
        assert caught.value.code == 503 and caught.value.headers["Content-Type"] == "application/json"
        body = json.load(caught.value)
        assert body["status"] == "fail" and body["problems"][0].startswith("smtp: circuit open")
    finally:
        stop_live_server(live)
