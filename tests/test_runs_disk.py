"""Acceptance (issue 15): a full disk while a mass run makes its letters. The files folder is a 3 MB filesystem
(tmpfs, mounted by the test; needs root). The run stops cleanly (waiting, with the reason), no file descriptor is
left open on that filesystem, no partial file stays; once space is freed the run goes on and completes, its
merged PDF holding every letter."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from relance import tasks
from relance.extensions import db
from relance.models import Reminder, ReminderLevel, Run
from relance.services import settings as settings_service
from relance.services.sending import mass, runs
from relance.services.sending.config import SendingConfig
from tests.factories import install_live_defaults, make_customer, make_invoice, make_user

ON = date(2026, 2, 2)
START = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)  # the app's clock (10:00 in Paris on ON)
LETTERS = 14


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        reason = "mounting a 3 MB tmpfs needs root"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    mount = tmp_path / "files"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def open_files_under(folder: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


@pytest.mark.slow
@pytest.mark.clock(START)
def test_a_full_disk_stops_the_letters_cleanly_and_the_run_goes_on_once_space_is_back(app, small_disk):
    app.config["FILES_PATH"] = str(small_disk)
    install_live_defaults(db.session)
    settings_service.save(db.session, {"company_name": "Vendor SAS", "sender_email": "compta@vendor.example"})
    user = make_user(role="agent")
    invoices = [make_invoice(make_customer(name=f"Client {n}", address=f"{n} rue de la Paix", postcode="75002",
                                           city="Paris"), total="500.00", due=ON - timedelta(days=20))
                for n in range(LETTERS)]
    db.session.commit()
    assert db.session.scalar(select(ReminderLevel.rank).where(ReminderLevel.rank == 1)) == 1
    run = mass.start_run(db.session, user, [mass.Item(i.id, 1, "letter", "") for i in invoices], ON, None)
    db.session.commit()

    # the default safety margin refuses to start a letters batch on a nearly full disk, with the reason
    tasks.send_mass_run(run.id)
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert run.status == "waiting" and "MB free" in run.error and run.resume_at is not None
    assert not db.session.scalars(select(Reminder).where(Reminder.run_id == run.id,
                                                         Reminder.status != "pending")).all()

    # without the margin, the disk fills up while the letters are written: a clean stop
    app.config["LETTERS_MIN_FREE_MB"] = 0
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (2 * 1024 * 1024 + 512 * 1024))
    tasks.send_mass_run(run.id)
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert run.status == "waiting" and "disk is full" in run.error, run.error
    assert open_files_under(small_disk) == []  # every writer closed
    assert not list(small_disk.rglob("*.part")) and not list(small_disk.rglob("*.tmp"))  # no partial file
    made = db.session.scalars(select(Reminder).where(Reminder.run_id == run.id, Reminder.status == "to_post")).all()
    assert len(made) < LETTERS
    assert not db.session.scalars(select(Reminder).where(Reminder.run_id == run.id,
                                                         Reminder.claimed_by.is_not(None))).all()  # none held

    # space is back: the run goes on by itself when its wait is over (the watchdog) and completes
    filler.unlink()
    later = START + timedelta(minutes=6)
    app.config["CLOCK"] = lambda: later
    assert runs.stale_runs(db.session, SendingConfig.from_config(app.config)) == [run]
    tasks.send_mass_run(run.id)
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert run.status == "done", run.error
    letters = db.session.scalars(select(Reminder).where(Reminder.run_id == run.id).order_by(Reminder.id)).all()
    assert [r.status for r in letters] == ["to_post"] * LETTERS
    expected = 0
    for reminder in letters:
        pages = len(PdfReader(small_disk / reminder.pdf_path).pages)
        expected += pages + pages % 2
    assert len(PdfReader(small_disk / run.letters_pdf_path).pages) == expected
    assert open_files_under(small_disk) == []
