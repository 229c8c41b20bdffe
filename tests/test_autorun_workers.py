"""Acceptance: on PostgreSQL + Redis, 2,000 invoices due, 4 real consumer processes and a manual trigger start the
same day's run at once; every reminder reaches the SMTP server exactly once (by Message-ID and by invoice). Then
the same with one consumer SIGKILLed in the middle and a second run started: still never twice, none lost
silently (an email cut while being handed to the server is marked "in doubt", never re-sent)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.auto import (
    ROOT,
    RUN_DAY,
    consumer_env,
    enqueue,
    make_app,
    reset_schema,
    results,
    seed,
    start_consumers,
    stop,
    tally,
)
from relance.extensions import db
from relance.models import Reminder, Run
from relance.services.sending import autorun
from tests.conftest import PG_URL, REDIS_URL, need_service
from tests.pgschema import drop_pg_schema
from tests.smtp import SmtpServer

INVOICES = int(os.environ.get("RELANCE_TEST_AUTO_INVOICES", "2000"))
CONSUMERS = 4
SCHEMA = f"relance_test_autorun_{os.getpid()}"  # one per test process


@pytest.fixture
def world(tmp_path):
    """PostgreSQL schema with INVOICES due on RUN_DAY, a Redis queue, an SMTP server, 4 consumers."""
    pg = need_service(PG_URL, "PostgreSQL (RELANCE_TEST_DATABASE_URL)")
    redis_url = need_service(REDIS_URL, "Redis (RELANCE_TEST_REDIS_URL)")
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    url = reset_schema(pg, SCHEMA)
    smtp = SmtpServer().start()
    app = make_app(url, tmp_path / "instance", smtp.port)
    with app.app_context():
        numbers = seed(db.session, INVOICES, Path(app.config["FILES_PATH"]))
        env = consumer_env(url, redis_url, tmp_path / "instance", smtp.port)
        env.update(RELANCE_RUN_HEARTBEAT_SECONDS="1", RELANCE_RUN_STALE_SECONDS="3")
        consumers = start_consumers(CONSUMERS, env, tmp_path)
        try:
            yield app, smtp, env, consumers, numbers
        finally:
            stop(consumers)
            smtp.stop()
            db.session.remove()
            db.engine.dispose()
            drop_pg_schema(pg, SCHEMA)


def manual_trigger(app, errors: list) -> threading.Thread:
    def go():
        with app.app_context():
            try:
                autorun.run_auto(db.session, RUN_DAY)
            except Exception as exc:  # noqa: BLE001 (reported by the test)
                errors.append(exc)
            finally:
                db.session.remove()

    thread = threading.Thread(target=go)
    thread.start()
    return thread


def wait_started(consumers, timeout=20) -> None:
    time.sleep(1)
    for proc in consumers:
        assert proc.poll() is None, f"consumer {proc.pid} exited early"


def rows_by_status() -> dict[str, int]:
    db.session.expire_all()
    return dict(db.session.execute(select(Reminder.status, func.count()).group_by(Reminder.status)).all())


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_four_consumers_and_a_manual_trigger_send_each_reminder_once(world):
    app, smtp, env, consumers, numbers = world
    wait_started(consumers)
    started = time.perf_counter()
    client = enqueue(env, RUN_DAY, CONSUMERS, timeout=600)
    errors: list = []
    manual_trigger(app, errors).join(timeout=600)
    answers = results(client, timeout=620)
    elapsed = time.perf_counter() - started
    assert not errors, errors
    assert len(answers) == CONSUMERS and all("error" not in a for a in answers), answers
    assert len({a["run"] for a in answers}) == 1  # one Run row for the day

    by_id, by_invoice = tally(smtp.received)
    assert len(smtp.received) == INVOICES
    assert max(by_id.values()) == 1 and len(by_id) == INVOICES
    assert set(by_invoice) == set(numbers) and max(by_invoice.values()) == 1
    assert rows_by_status() == {"sent": INVOICES}
    run = db.session.scalars(select(Run)).one()
    assert (run.status, run.total, run.sent, run.failed) == ("done", INVOICES, INVOICES, 0)
    sent_ids = set(db.session.scalars(select(Reminder.message_id)))
    assert sent_ids == set(by_id)  # each row's Message-ID is the one that arrived
    print(f"\n{INVOICES} reminders by {CONSUMERS} consumers + 1 trigger in {elapsed:.1f}s")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_consumer_killed_in_the_middle_then_a_second_run(world):
    app, smtp, env, consumers, numbers = world
    wait_started(consumers)
    client = enqueue(env, RUN_DAY, CONSUMERS, timeout=600)
    errors: list = []
    trigger = manual_trigger(app, errors)
    victim = consumers[0]
    deadline = time.monotonic() + 600
    while len(smtp.received) < INVOICES // 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    trigger.join(timeout=600)
    answers = results(client, timeout=600, expected=CONSUMERS - 1)  # the killed consumer's task never answers
    assert not errors, errors
    assert len(answers) == CONSUMERS - 1 and all("error" not in a for a in answers), answers

    leftover = rows_by_status().get("pending", 0)
    # nobody works on the run any more (its heartbeat goes stale): a new consumer takes it over by itself,
    # settles what the dead one held (in doubt or released) and completes it
    time.sleep(3.5)
    # (-n: no periodic task, so no run of the real today joins in; the start-up watchdog takes the stale run over)
    consumers.append(subprocess.Popen([sys.executable, "relance/worker.py", "-w", "1", "-n", "-d", "0.05", "-m", "0.2"],
                                      cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        db.session.expire_all()
        run = db.session.scalars(select(Run).where(Run.run_date == RUN_DAY)).one()
        db.session.commit()
        if run.status == "done":
            break
        time.sleep(0.2)
    assert run.status == "done" and rows_by_status().get("pending", 0) == 0

    by_id, by_invoice = tally(smtp.received)
    statuses = rows_by_status()
    in_doubt = db.session.scalars(select(Reminder).where(Reminder.status == "failed")).all()
    assert all("Message-ID <" in r.error for r in in_doubt)  # written by a consumer (French) or here (English)
    assert max(by_id.values()) == 1 and max(by_invoice.values()) == 1  # never twice
    assert set(statuses) <= {"sent", "failed"} and statuses["sent"] + len(in_doubt) == INVOICES
    got = set(by_invoice)
    doubtful = {r.invoice.number for r in in_doubt}
    assert set(numbers) - got <= doubtful  # nothing lost silently: a missing one is flagged in doubt
    sent_rows = set(db.session.scalars(select(Reminder.message_id).where(Reminder.status == "sent")))
    assert sent_rows <= set(by_id)
    print(f"\nkilled consumer left {leftover} pending rows; {len(in_doubt)} in doubt "
          f"({len(doubtful & got)} of them had arrived); {len(smtp.received)} messages for {INVOICES} invoices")
