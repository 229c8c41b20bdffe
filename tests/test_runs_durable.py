"""Acceptance (issue 15): a mass run survives its worker. Real consumer processes on the embedded default (SQLite
database, Huey's SQLite queue), a real SMTP server that answers slowly: the consumer working on the run is
SIGKILLed during the emails phase, or during the letters phase; a new consumer started afterwards takes the run
over by itself. Then: no email twice at the server, nothing pending, every email sent or "in doubt" (listed,
never re-sent), every letter printed and the merged PDF holding all of them, the run done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from bench.auto import ROOT, RUN_DAY, consumer_env, make_app, seed
from relance.extensions import db
from relance.models import Invoice, Reminder, ReminderLevel, Run, User
from relance.services.sending import mass
from tests.smtp import SmtpServer

EMAILS, LETTERS = 40, 12


def start_consumer(env: dict, log: Path) -> subprocess.Popen:
    """A real consumer as an office runs it (periodic tasks on), polling fast."""
    with open(log, "a") as out:
        return subprocess.Popen([sys.executable, "relance/worker.py", "-w", "1", "-d", "0.05", "-m", "0.2"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def world(tmp_path):
    """A SQLite database with EMAILS + LETTERS invoices due on RUN_DAY, a slow SMTP server, a queued mass run."""
    smtp = SmtpServer().start()
    smtp.handler.delay = 0.08
    instance = tmp_path / "instance"
    url = f"sqlite:///{tmp_path / 'relance.db'}"
    app = make_app(url, instance, smtp.port)
    procs: list[subprocess.Popen] = []
    with app.app_context():
        numbers = seed(db.session, EMAILS + LETTERS, Path(app.config["FILES_PATH"]))
        # the consumers' periodic tick (every 5 minutes) must not start the real today's automatic run beside it
        for level in db.session.scalars(select(ReminderLevel)):
            level.automatic = False
        user = User(email="agent@vendor.example", name="Agent", role="agent")
        user.set_password("correct horse 42")
        db.session.add(user)
        db.session.commit()
        invoices = db.session.scalars(select(Invoice).order_by(Invoice.id)).all()
        items = [mass.Item(invoice.id, 1, "email" if n < EMAILS else "letter", "")
                 for n, invoice in enumerate(invoices)]
        run = mass.start_run(db.session, user, items, RUN_DAY, None)
        run.created_at -= timedelta(seconds=10)  # queued a while ago, its task lost: a consumer's watchdog takes it
        db.session.commit()
        run_id = run.id
        db.session.commit()  # reading run.id began a transaction: on SQLite it would hold the consumers' write lock
        env = consumer_env(url, "", instance, smtp.port)
        env.update(RELANCE_RUN_HEARTBEAT_SECONDS="1", RELANCE_RUN_STALE_SECONDS="3")
        try:
            yield app, smtp, env, procs, run_id, numbers
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(timeout=20)
            smtp.stop()
            db.session.remove()
            db.engine.dispose()


def run_row(run_id: int) -> Run:
    """The run as it is now, detached: reading it after the commit begins no transaction (on SQLite one would hold
    the write lock the consumers wait for)."""
    db.session.expire_all()
    run = db.session.get(Run, run_id)
    db.session.expunge(run)
    db.session.commit()
    return run


def statuses(run_id: int) -> Counter:
    found = Counter(dict(db.session.execute(select(Reminder.status, func.count()).where(Reminder.run_id == run_id)
                                            .group_by(Reminder.status)).all()))
    db.session.commit()
    return found


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("phase", ["emails", "letters"])
def test_a_mass_run_survives_its_worker_killed(world, tmp_path, phase):
    app, smtp, env, procs, run_id, numbers = world
    files = Path(app.config["FILES_PATH"])
    procs.append(start_consumer(env, tmp_path / "consumer-1.log"))
    if phase == "emails":
        wait_for(lambda: len(smtp.handler.received) >= 10, 120, "the first emails")
    else:
        part = files / "letters" / f"run-{run_id}.part"
        wait_for(lambda: part.exists() and part.stat().st_size > 20_000, 120, "the first letters in the merged PDF")
    os.kill(procs[0].pid, signal.SIGKILL)
    procs[0].wait(timeout=10)
    with app.app_context():
        killed = run_row(run_id)
        assert killed.status == "running" and killed.owner  # left as the dead worker had it
        time.sleep(3.5)  # its heartbeat is now stale
        procs.append(start_consumer(env, tmp_path / "consumer-2.log"))
        wait_for(lambda: run_row(run_id).status == "done", 180, "the run to complete by itself")

        run = run_row(run_id)
        by_status = statuses(run_id)
        assert by_status.get("pending", 0) == 0
        rows = db.session.scalars(select(Reminder).where(Reminder.run_id == run_id)).all()
        emails = [r for r in rows if r.channel == "email"]
        letters = [r for r in rows if r.channel == "letter"]
        assert len(emails) == EMAILS and len(letters) == LETTERS
        # never twice at the mail server, by Message-ID and by invoice
        arrived = list(smtp.messages)
        by_id = Counter(m["Message-ID"] for m in arrived)
        by_invoice = Counter(m["Subject"] for m in arrived)
        assert max(by_id.values()) == 1 and max(by_invoice.values()) == 1, (by_id, by_invoice)
        sent = [r for r in emails if r.status == "sent"]
        doubtful = [r for r in emails if r.status == "failed"]
        assert all(r.in_doubt and r.message_id in r.error for r in doubtful)  # listed for a person, with its id
        assert len(sent) + len(doubtful) == EMAILS
        assert {r.message_id for r in sent} <= set(by_id)  # each sent row's Message-ID is one that arrived
        assert set(by_id) - {r.message_id for r in sent} <= {r.message_id for r in doubtful}  # nothing silent
        if phase == "letters":
            assert not doubtful and len(sent) == EMAILS  # the emails were over before the kill
        # every letter printed once, all of them in the merged PDF, each starting on an odd page
        assert all(r.status == "to_post" and r.pdf_path for r in letters)
        expected = 0
        for reminder in letters:
            pages = len(PdfReader(files / reminder.pdf_path).pages)
            expected += pages + pages % 2
        merged = PdfReader(files / run.letters_pdf_path)
        assert len(merged.pages) == expected
        assert not list((files / "letters").glob("*.part"))
        assert (run.total, run.done, run.failed) == (EMAILS + LETTERS, EMAILS + LETTERS, len(doubtful))
        print(f"\nkilled during the {phase}: {len(sent)} sent, {len(doubtful)} in doubt, "
              f"{len(arrived)} messages at the server, {len(merged.pages)} pages merged")
