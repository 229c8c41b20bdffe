"""Durable runs: a run (mass or automatic) is state in the database, not a Huey task.

- A mass run starts as a `queued` Run row holding the checked selection (`Run.selection`); the worker makes its
  reminders (each through the rulebook's guard, with a key per run, so making them twice makes them once), sends
  them and builds the merged letters PDF (`dunning.send_run`).
- Whoever works on a run owns it (`Run.owner`) and keeps `Run.heartbeat_at` fresh from a thread while it works.
  A run whose heartbeat is older than RUN_STALE_SECONDS has lost its worker (killed, machine rebooted): any
  consumer that starts, and the watchdog task every minute, take it over. Taking over first settles what the
  dead worker held: an email it was handing to the mail server is "in doubt" (failed with the reason, listed for
  a person to check, never sent again by itself); anything else it held is released and sent.
- A run is `done` only when none of its reminders is pending: each is sent (or printed), failed with a reason, or
  cancelled. Reminders waiting for the mail server (a temporary failure) or for disk space leave the run
  `waiting` until `Run.resume_at`, when it goes on by itself.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, CursorResult, and_, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.local import LocalProxy

from relance.models import Invoice, Reminder, ReminderLevel, Run, User
from relance.models.base import utcnow
from relance.services.sending.config import SendingConfig

logger = logging.getLogger(__name__)

OPEN = ("queued", "running", "waiting")
MAKE_CHUNK = 20  # reminders made per commit (short write transactions)
# SQLite: after each chunk the write lock stays free this long. Its lock is not fair: a waiting writer sleeps up to
# 100 ms between tries, and a worker that begins its next chunk right after its commit takes the lock again first,
# so office writes waited for the whole making of a run's reminders.
MAKE_PAUSE = 0.1


def new_owner() -> str:
    import os
    import socket

    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


def stale_before(config: SendingConfig, now: datetime | None = None) -> datetime:
    """Runs whose heartbeat is older than this lost their worker (RUN_STALE_SECONDS)."""
    return (now or utcnow()) - timedelta(seconds=config.stale_seconds)


# --- owning a run -------------------------------------------------------------------------------------------------


def take(session: Session, run_id: int, owner: str, config: SendingConfig) -> bool:
    """Own the run when it is open and nobody alive works on it (no owner, or a stale heartbeat); commits.
    Taking over a dead worker's run settles what it held first."""
    now = utcnow()
    previous = session.scalar(select(Run.owner).where(Run.id == run_id))
    taken = cast(CursorResult, session.execute(
        update(Run).where(Run.id == run_id, Run.status.in_(OPEN), or_(
            Run.owner.is_(None), Run.owner == owner, Run.heartbeat_at.is_(None),
            Run.heartbeat_at < stale_before(config, now)))
        .values(owner=owner, heartbeat_at=now))).rowcount
    session.commit()
    if taken and previous and previous != owner:
        settle_dead(session, [run_id])
    return bool(taken)


def take_over(session: Session, run_ids: list[int], config: SendingConfig) -> list[int]:
    """The runs among `run_ids` whose heartbeat is still stale, each won by exactly one caller (a conditional
    update of the heartbeat); commits. Only the winner may settle what the dead workers held."""
    won = [run_id for run_id in run_ids if cast(CursorResult, session.execute(  # an UPDATE: a CursorResult
        update(Run).where(Run.id == run_id, Run.heartbeat_at < stale_before(config)).values(heartbeat_at=utcnow())
    )).rowcount]
    session.commit()
    return won


def release(session: Session, run_id: int, owner: str) -> None:
    """Gives up the run (another consumer may take it); commits."""
    session.execute(update(Run).where(Run.id == run_id, Run.owner == owner).values(owner=None))
    session.commit()


class Heartbeat:
    """While the block runs, a thread writes `Run.heartbeat_at` every RUN_HEARTBEAT_SECONDS (own connection,
    short commits): a live run is never taken over, however long one letter or one SMTP batch takes."""

    def __init__(self, run_ids: list[int], config: SendingConfig, owner: str | None = None):
        from relance.extensions import db

        # the thread's app context (the clock, the database); Flask types the proxy as Flask
        self.app = cast("LocalProxy[Flask]", current_app)._get_current_object()
        self.engine = db.engine
        self.run_ids, self.owner = list(run_ids), owner
        self.every = config.heartbeat_seconds
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name="run-heartbeat")

    def beat(self) -> None:
        with self.app.app_context():
            where: list[ColumnElement[bool]] = [Run.id.in_(self.run_ids)]
            if self.owner:
                where.append(Run.owner == self.owner)
            with self.engine.connect() as conn:
                short = conn.dialect.name == "sqlite"
                if short:  # never wait long for the writer: the next beat comes soon
                    cast(sqlite3.Connection, conn.connection.dbapi_connection).execute("PRAGMA busy_timeout=2000")
                try:
                    conn.execute(update(Run).where(*where).values(heartbeat_at=utcnow()))
                    conn.commit()
                finally:
                    if short:
                        conn.rollback()
                        cast(sqlite3.Connection, conn.connection.dbapi_connection).execute("PRAGMA busy_timeout=30000")

    def _beat(self) -> None:
        while True:  # at once, then every few seconds (never in the caller's thread: SQLite has one writer)
            try:
                self.beat()
            except Exception:  # noqa: BLE001 (a busy database: the next beat tries again)
                logger.warning("run heartbeat %s missed", self.run_ids, exc_info=True)
            if self.stop.wait(self.every):
                return

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=self.every + 5)


# --- what a dead worker left ----------------------------------------------------------------------------------


def in_doubt_message(message_id: str) -> str:
    return str(_l("In doubt: the worker stopped while handing this email to the mail server (Message-ID "
                  "%(id)s). It was not sent again, to avoid a duplicate: check the mail server's log before sending "
                  "it again.", id=message_id))


def settle_dead(session: Session, run_ids: list[int], held_before: datetime | None = None) -> int:
    """The runs' pending reminders held by a worker that is gone (all holders when `held_before` is None, else
    claims older than it): an email being handed over is failed "in doubt" (never re-sent by itself), any other
    is released to be sent. Returns how many were put in doubt; commits."""
    if not run_ids:
        return 0
    held = [Reminder.run_id.in_(run_ids), Reminder.status == "pending", Reminder.claimed_by.is_not(None)]
    if held_before is not None:
        held.append(Reminder.claimed_at < held_before)
    doubtful = session.scalars(select(Reminder).where(*held, Reminder.message_id.is_not(None))).all()
    for row in doubtful:
        row.status, row.error, row.in_doubt = "failed", in_doubt_message(row.message_id or ""), True
        row.claimed_by = row.claimed_at = None
    session.flush()
    session.execute(update(Reminder).where(*held, Reminder.message_id.is_(None))
                    .values(claimed_by=None, claimed_at=None).execution_options(synchronize_session=False))
    session.commit()
    return len(doubtful)


# --- a mass run: the selection becomes reminders, in the worker ------------------------------------------------


def selection_of(items, next_date) -> dict:
    return {"items": [[item.invoice_id, item.level, item.channel, item.override] for item in items],
            "next_date": next_date.isoformat() if next_date else None}


def make_selected(session: Session, run: Run, settings, config: SendingConfig) -> int:
    """The run's reminders from its selection, those not made yet (a key per run and item: making twice makes
    once), MAKE_CHUNK per commit; each refused one (a person or the automatic run was faster) becomes a note."""
    from datetime import date

    from relance.services.engine import eligibility
    from relance.services.sending import dunning

    selection = run.selection or {}
    items = selection.get("items") or []
    if not items:
        return 0
    next_date = date.fromisoformat(selection["next_date"]) if selection.get("next_date") else None
    user = session.get(User, run.user_id) if run.user_id else None
    levels = {(level.policy_id, level.rank): level for level in session.scalars(select(ReminderLevel))}
    rules = eligibility.day_rules(session, run.run_date)
    notes, made = list(run.notes or []), 0
    for start in range(0, len(items), MAKE_CHUNK):
        for invoice_id, rank, channel, override in items[start:start + MAKE_CHUNK]:
            invoice = session.get(Invoice, invoice_id)
            level = levels.get((rules.policy(invoice.customer.policy_id), rank)) if invoice is not None else None
            if invoice is None or level is None:
                notes.append(str(_l("An invoice or level of the selection no longer exists: left out.")))
                continue
            try:
                reminder = dunning.create_reminder(
                    session, invoice, level, channel, run.run_date, user=user, next_date=next_date,
                    settings=settings, override=override, rules=rules, config=config,
                    key=dunning.manual_key(invoice_id, rank, channel, f"run{run.id}"))
            except dunning.ReminderRefused as refused:
                notes.append(str(_l("%(number)s: left out: %(reasons)s", number=invoice.number,
                                    reasons=str(refused.verdict))))
                continue
            if reminder.run_id is None:
                reminder.run_id = run.id
            made += 1
        session.execute(update(Run).where(Run.id == run.id).values(notes=notes))
        session.commit()
        if start + MAKE_CHUNK < len(items) and session.get_bind().dialect.name == "sqlite":
            time.sleep(MAKE_PAUSE)
    session.execute(update(Run).where(Run.id == run.id).values(selection={}, notes=notes))
    session.commit()
    session.refresh(run)
    return made


def share_messages(session: Session, run: Run, settings, config: SendingConfig) -> int:
    """A customer's emails or letters of the run in one message when they group them (`messages.share_run`);
    commits."""
    from relance.services.sending import messages
    from relance.services.texts import wording

    user = session.get(User, run.user_id) if run.user_id else None
    shared = messages.share_run(session, run, settings, wording.Renderer(session, run.run_date, settings), user,
                                config.attachments_max_bytes)
    session.commit()
    return shared


def process_mass(run_id: int, config: SendingConfig, owner: str | None = None):
    """The worker's whole job for a mass run (safe to call again, from any consumer): own it, make its reminders,
    send them, build the merged PDF. Returns the send report, or None when someone alive works on it.
    Commits in steps."""
    from relance.extensions import db
    from relance.services import settings as settings_service
    from relance.services.sending import dunning

    session = db.session
    owner = owner or new_owner()
    if not take(session, run_id, owner, config):
        return None
    try:
        with Heartbeat([run_id], config, owner):
            run = session.get_one(Run, run_id)  # take() found it
            session.execute(update(Run).where(Run.id == run_id).values(
                status="running", started_at=run.started_at or utcnow(), resume_at=None))
            session.commit()
            settings = settings_service.load(session)
            make_selected(session, run, settings, config)
            share_messages(session, run, settings, config)
            return dunning.send_run(run_id, config, session=session)
    finally:
        session.rollback()
        release(session, run_id, owner)


def check_disk(path: Path, config: SendingConfig) -> None:
    """Refuse to start a letters batch without room for it (OSError, as a full disk would raise)."""
    import errno

    path.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(path).free / 1024 / 1024
    need = config.min_free_mb
    if free_mb < need:
        raise OSError(errno.ENOSPC, str(_l("Only %(free)s MB free on the disk of the files, %(need)s MB needed",
                                           free=int(free_mb), need=need)))


# --- the watchdog ---------------------------------------------------------------------------------------------


def stale_runs(session: Session, config: SendingConfig, now: datetime | None = None) -> list[Run]:
    """Open runs nobody alive works on: queued or running with an old (or no) heartbeat, waiting ones whose time
    has come."""
    now = now or utcnow()
    old = stale_before(config, now)
    lost = and_(Run.status.in_(("queued", "running")),
                or_(Run.heartbeat_at < old, and_(Run.heartbeat_at.is_(None), Run.created_at < old)))
    due = and_(Run.status == "waiting", or_(Run.resume_at.is_(None), Run.resume_at <= now),
               or_(Run.heartbeat_at.is_(None), Run.heartbeat_at < old, Run.owner.is_(None)))
    return list(session.scalars(select(Run).where(Run.dry_run.is_(False), or_(lost, due)).order_by(Run.id)))
