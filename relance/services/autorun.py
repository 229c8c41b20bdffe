"""The automatic daily run: one service for the periodic task, `flask relance run-auto` and the test pages.

- `due_run_date(now, hour, zone, last)` (pure) says whether a run is due and for which local date.
- `run_auto(session, on, now)` takes the engine's due list (levels set to automatic), makes the reminders with
  the unique key (invoice, level, channel, date) and sends them. Several callers at once (consumers, a manual
  trigger) cooperate: the day's Run row and each chunk of new reminders are made under a per-day lock
  (PostgreSQL advisory lock; SQLite's single writer), one automatic level per invoice per day, and sending goes
  through `dunning.send`, whose claim lets only one caller send a row. A caller killed in the middle leaves
  pending rows that the next call sends once their claim is stale; a row whose email was being handed to the
  server ("in doubt") is never sent again but marked failed with the reason, to be checked by a person.
- `dry_run`, `test_invoice` / `send_one` and `dashboard_data` serve the pages.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from relance import clock
from relance.models import Invoice, Reminder, ReminderLevel, Run
from relance.models.base import utcnow
from relance.services import dunning, eligibility, letters, texts
from relance.services import schedule as engine
from relance.services import settings as settings_service
from relance.services.levels import MADE_STATUSES

KIND = "auto"
PLAN_CHUNK = 100  # reminders made per locked transaction
SEND_BATCH = 20  # reminders claimed and sent per dunning.send call
LOCK_CLASS = 0x52454C  # PostgreSQL advisory lock namespace ("REL")
LETTERS_DIR = "auto"
OPEN_STATUSES = ("queued", "running", "failed")

# the engine's skip codes plus the run's own
SKIP_LABELS = {
    "invoice_no_auto": _l("invoice marked \"no automatic reminders\""),
    "customer_no_auto": _l("customer marked \"no automatic reminders\""),
    "manual_level": _l("level not automatic"),
    "recent_manual": _l("reminder made by hand recently"),
    "paused": _l("customer paused"),
    "direct_debit": _l("direct debit customer"),
    "consumer_penalty": _l("consumer on a penalty level"),
    "below_minimum": _l("below the minimum amount"),
    "letters_off": _l("automatic letters are off"),
    "no_email_address": _l("no email address for the customer"),
}


class AutoRunError(ValueError):
    """A request the automatic run cannot do; `field` names the form field at fault."""

    def __init__(self, field_name: str, message):
        super().__init__(str(message))
        self.field = field_name
        self.message = message


# --- when ------------------------------------------------------------------------------------------------------


def due_run_date(now: datetime, hour: int, zone: str, last_run: date | None) -> date | None:
    """The local date whose run is due at `now` (aware, or naive UTC), or None.

    A run is due once the wall clock in `zone` has reached `hour` and no run was completed for that local date;
    a worker down for days runs once when it comes back (a catch-up run), never at night. Wall-clock
    arithmetic makes the hour hold across summer-time changes (an hour skipped in spring runs at the first
    instant after it).
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    local = now.astimezone(ZoneInfo(zone))
    today = local.date()
    if local.time() < time(hour):
        return None
    if last_run is not None and last_run >= today:
        return None
    return today


def local_today(settings, now: datetime | None = None) -> date:
    return clock.local_date(now or clock.now(), settings.auto_timezone)


def run_moment(on: date, settings, now: datetime | None = None) -> datetime:
    """The `now` the engine sees for the run of `on` (naive UTC): the real time for today, else the send hour."""
    now = now or clock.now()
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if on == local_today(settings, now):
        return now.astimezone(UTC).replace(tzinfo=None)
    return engine.default_now(on, settings)


def next_run_at(settings, now: datetime, last_run: date | None) -> datetime:
    """When the next run starts (aware, local): now when one is due, else today's or tomorrow's send hour."""
    zone = ZoneInfo(settings.auto_timezone)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    local = now.astimezone(zone)
    day = local.date()
    if due_run_date(now, settings.auto_hour, settings.auto_timezone, last_run) == day:
        return local
    if local.time() >= time(settings.auto_hour) or (last_run is not None and last_run >= day):
        day += timedelta(days=1)
    # through UTC and back: an hour skipped by a summer-time change becomes the first instant after it
    return datetime.combine(day, time(settings.auto_hour), tzinfo=zone).astimezone(UTC).astimezone(zone)


def last_completed(session: Session) -> date | None:
    return session.scalar(select(func.max(Run.run_date)).where(Run.kind == KIND, Run.status == "done",
                                                               Run.dry_run.is_(False)))


# --- what -------------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    on: date
    items: list[tuple[engine.DueReminder, tuple[str, ...]]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    skipped_rows: list[engine.Skipped] = field(default_factory=list)
    note: str = ""


def plan(session: Session, on: date, now: datetime, settings=None) -> Plan:
    """The engine's due list for an automatic run: automatic levels only, letters only with the setting on."""
    settings = settings or settings_service.load(session)
    result = engine.schedule(session, on, now, automatic=True)
    out = Plan(on, skipped=Counter(s.code for s in result.skipped), skipped_rows=list(result.skipped),
               note=result.note)
    for due in result.due:
        if not due.automatic:
            out.skipped["manual_level"] += 1
            continue
        channels = tuple(c for c in due.channels if c != "letter" or settings.auto_letters)
        if len(channels) < len(due.channels):
            out.skipped["letters_off"] += 1
        if "email" in channels and not due.to:  # skipped with its reason, not a new failed email every day
            channels = tuple(c for c in channels if c != "email")
            out.skipped["no_email_address"] += 1
        if channels:
            out.items.append((due, channels))
    return out


def _made_today(session: Session, on: date, invoice_ids: list[int]) -> set[int]:
    """Invoices that already have an automatic reminder dated `on` (one automatic level per invoice per day)."""
    if not invoice_ids:
        return set()
    return set(session.scalars(select(Reminder.invoice_id).where(
        Reminder.reminder_date == on, Reminder.user_id.is_(None), Reminder.status != "cancelled",
        Reminder.invoice_id.in_(invoice_ids))))


# --- locking and the Run row ------------------------------------------------------------------------------------


def _lock_day(session: Session, on: date) -> None:
    """Serialise the makers of one day's rows until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": LOCK_CLASS, "b": on.toordinal()})
    else:
        dunning.sqlite_write_lock(session)


def open_run(session: Session, on: date, now: datetime | None = None) -> Run:
    """The day's automatic Run, made once (a catch-up when the last completed run is older than the day before)."""
    _lock_day(session, on)
    run = session.scalar(select(Run).where(Run.kind == KIND, Run.run_date == on, Run.dry_run.is_(False))
                         .order_by(Run.id).limit(1))
    if run is None:
        previous = session.scalar(select(func.max(Run.run_date)).where(
            Run.kind == KIND, Run.status == "done", Run.dry_run.is_(False), Run.run_date < on))
        run = Run(kind=KIND, run_date=on, status="running", started_at=utcnow(),
                  catch_up=previous is not None and previous < on - timedelta(days=1), skipped_reasons={})
        session.add(run)
    elif run.status != "running":
        run.status, run.finished_at, run.error = "running", None, ""
    session.commit()
    return run


# --- the run ----------------------------------------------------------------------------------------------------


def run_auto(session: Session, on: date, now: datetime | None = None, *, send: bool = True) -> Run:
    """Make and send the automatic reminders of `on` (safe to call several times and from several processes)."""
    settings = settings_service.load(session)
    now = now or run_moment(on, settings)
    run = open_run(session, on, now)
    try:
        make_reminders(session, run, now, settings)
        if send:
            runs = [run.id, *session.scalars(select(Run.id).where(
                Run.kind == KIND, Run.dry_run.is_(False), Run.run_date < on, Run.status.in_(OPEN_STATUSES)))]
            send_pending(session, runs)
            for run_id in runs:
                finish(session, session.get(Run, run_id))
    except Exception as exc:
        session.rollback()
        session.execute(update(Run).where(Run.id == run.id).values(
            status="failed", error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=utcnow()))
        session.commit()
        raise
    session.refresh(run)
    return run


def make_reminders(session: Session, run: Run, now: datetime, settings) -> int:
    """Pending rows for every due reminder of the run's date not made yet; returns how many this call made.

    PostgreSQL: callers at once share the work, each taking the invoices no other caller holds (advisory
    locks, skipped when taken), then waiting for the ones it skipped and making what is still missing.
    SQLite has one writer: chunks are made one after the other under its write lock.
    """
    on = run.run_date
    todo = plan(session, on, now, settings)
    if not run.skipped_reasons:
        session.execute(update(Run).where(Run.id == run.id).values(skipped_reasons=dict(todo.skipped)))
        session.commit()
    levels = {level.rank: level for level in session.scalars(select(ReminderLevel))}
    items = {due.invoice_id: (due, channels) for due, channels in todo.items}
    order = list(items)
    chunks = [order[i:i + PLAN_CHUNK] for i in range(0, len(order), PLAN_CHUNK)]
    made = 0
    if session.get_bind().dialect.name != "postgresql":
        for chunk in chunks:
            _lock_day(session, on)
            made += _make(session, run, [items[i] for i in chunk], levels, settings)
        return made
    skipped: list[int] = []
    for chunk in chunks:
        mine = _lock_invoices(session, chunk, wait=False)
        skipped += [i for i in chunk if i not in mine]
        made += _make(session, run, [items[i] for i in chunk if i in mine], levels, settings)
    for start in range(0, len(skipped), PLAN_CHUNK):
        chunk = skipped[start:start + PLAN_CHUNK]
        _lock_invoices(session, chunk, wait=True)
        made += _make(session, run, [items[i] for i in chunk], levels, settings)
    return made


def _lock_invoices(session: Session, ids: list[int], wait: bool) -> set[int]:
    """PostgreSQL advisory locks on invoices until the transaction ends: the ones taken (all when waiting)."""
    keys = {(LOCK_CLASS << 32) | i: i for i in sorted(ids)}
    if wait:
        for key in keys:  # in order: two waiters never deadlock
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        return set(ids)
    taken = session.scalars(text("SELECT k FROM unnest(CAST(:keys AS bigint[])) AS t(k) "
                                 "WHERE pg_try_advisory_xact_lock(k)"), {"keys": list(keys)})
    return {keys[k] for k in taken}


def _make(session: Session, run: Run, entries, levels, settings) -> int:
    """Rows for the entries whose invoice has no automatic reminder on the run's date yet; commits."""
    on, made = run.run_date, 0
    have = _made_today(session, on, [due.invoice_id for due, _ in entries])
    rules = eligibility.day_rules(session, on)
    for due, channels in entries:
        if due.invoice_id in have:
            continue
        invoice = session.get(Invoice, due.invoice_id)
        for channel in channels:
            try:  # the rulebook's guard: a person may have sent it since the engine chose it
                reminder = dunning.create_reminder(session, invoice, levels[due.level], channel, on,
                                                   settings=settings, rules=rules)
            except dunning.ReminderRefused as refused:
                current_app.logger.warning("automatic run %s: %s level %s %s refused: %s", run.id, invoice.number,
                                           due.level, channel, refused.verdict)
                continue
            if reminder.run_id is None:
                reminder.run_id = run.id
            made += 1
    session.commit()
    return made


def _stale_before() -> datetime:
    timeout = int(current_app.config.get("SEND_CLAIM_TIMEOUT", dunning.DEFAULT_CLAIM_TIMEOUT))
    return utcnow() - timedelta(seconds=timeout)


def in_doubt_message(message_id: str) -> str:
    return str(_l("In doubt: the worker stopped while handing this email to the mail server (Message-ID "
                  "%(id)s). It was not sent again, to avoid a duplicate: check the mail server's log before sending "
                  "it again.", id=message_id))


def settle_in_doubt(session: Session, run_ids: list[int]) -> int:
    """Rows whose email was being handed over when their worker died: failed, with the reason, never re-sent."""
    rows = session.scalars(select(Reminder).where(
        Reminder.run_id.in_(run_ids), Reminder.status == "pending", Reminder.message_id.is_not(None),
        Reminder.claimed_by.is_not(None), Reminder.claimed_at < _stale_before())).all()
    for row in rows:
        row.status, row.error, row.in_doubt = "failed", in_doubt_message(row.message_id), True
        row.claimed_by = row.claimed_at = None
    session.commit()
    return len(rows)


def send_pending(session: Session, run_ids: list[int]) -> dict[str, int]:
    """Claim and send the runs' pending rows in small batches until none is left for this caller."""
    settle_in_doubt(session, run_ids)
    totals: Counter = Counter()
    tried: set[int] = set()  # a temporary failure waits for the next call
    while True:
        stale = _stale_before()
        candidates = list(session.scalars(
            select(Reminder.id).where(
                Reminder.run_id.in_(run_ids), Reminder.status == "pending", Reminder.message_id.is_(None),
                (Reminder.claimed_by.is_(None)) | (Reminder.claimed_at < stale))
            .order_by(Reminder.id).limit(SEND_BATCH * 8 + len(tried))))
        session.commit()
        candidates = [i for i in candidates if i not in tried]
        if not candidates:
            return dict(totals)
        random.shuffle(candidates)  # callers at once take different rows
        batch = sorted(candidates[:SEND_BATCH])
        report = dunning.send(batch, session=session, group_size=1)  # a crash leaves at most one in doubt
        tried.update(report.retry)
        totals.update(report.count())


def counts(session: Session, run_id: int) -> Counter:
    return Counter(dict(session.execute(select(Reminder.status, func.count()).where(Reminder.run_id == run_id)
                                        .group_by(Reminder.status)).all()))


def finish(session: Session, run: Run) -> bool:
    """Close the run when none of its rows is pending (only one caller does); builds the daily letters PDF."""
    by_status = counts(session, run.id)
    made = sum(by_status[status] for status in MADE_STATUSES)
    if by_status.get("pending"):
        session.execute(update(Run).where(Run.id == run.id).values(
            total=sum(by_status.values()), sent=made, failed=by_status["failed"],
            done=made + by_status["failed"] + by_status["cancelled"]))
        session.commit()
        return False
    closed = session.execute(update(Run).where(Run.id == run.id, Run.status != "done").values(
        status="done", finished_at=utcnow(), total=sum(by_status.values()), sent=made,
        failed=by_status["failed"], done=sum(by_status.values()),
        skipped=sum((run.skipped_reasons or {}).values()))).rowcount
    session.commit()
    if closed:
        path = build_letters_pdf(session, run)
        if path:
            session.execute(update(Run).where(Run.id == run.id).values(letters_pdf_path=path))
            session.commit()
    session.refresh(run)
    return bool(closed)


def sent_letters(session: Session, run: Run) -> list[Reminder]:
    return list(session.scalars(select(Reminder).where(Reminder.run_id == run.id, Reminder.channel == "letter",
                                                       Reminder.status.in_(MADE_STATUSES)).order_by(Reminder.id)))


def build_letters_pdf(session: Session, run: Run) -> str | None:
    """The run's letters merged into one PDF to print (FILES_PATH/auto/letters-<date>-<run>.pdf), or None."""
    rows = sent_letters(session, run)
    if not rows:
        return None
    relative = f"{LETTERS_DIR}/letters-{run.run_date.isoformat()}-{run.id}.pdf"
    path = Path(current_app.config["FILES_PATH"]) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    out = letters.StreamingPdf(tmp)
    try:
        for reminder in rows:
            out.add(dunning.letter_pdf(session, reminder))
    finally:
        out.close()
    tmp.replace(path)
    return relative


# --- dry run, test page -----------------------------------------------------------------------------------------


@dataclass
class Preview:
    due: engine.DueReminder
    channel: str
    subject: str
    text: str
    language: str


@dataclass
class DryRun:
    plan: Plan
    previews: list[Preview]
    already: set[int]  # invoices with an automatic reminder on that date already

    @property
    def count(self) -> int:
        return sum(len(channels) for due, channels in self.plan.items if due.invoice_id not in self.already)


def dry_run(session: Session, on: date, now: datetime | None = None, limit: int | None = None) -> DryRun:
    """What the run of `on` would send, with rendered previews (the first `limit`); nothing is written."""
    settings = settings_service.load(session)
    now = now or run_moment(on, settings)
    result = plan(session, on, now, settings)
    already = _made_today(session, on, [due.invoice_id for due, _ in result.items])
    levels = {level.rank: level for level in session.scalars(select(ReminderLevel))}
    previews = []
    for due, channels in result.items:
        if due.invoice_id in already:
            continue
        for channel in channels:
            if limit is not None and len(previews) >= limit:
                break
            invoice = session.get(Invoice, due.invoice_id)
            rendered = texts.render_for_invoice(session, invoice, levels[due.level], channel, on, settings)
            previews.append(Preview(due, channel, rendered.subject if rendered else "",
                                    rendered.text if rendered else "", rendered.language if rendered else ""))
    return DryRun(result, previews, already)


def find_invoice(session: Session, raw: str) -> Invoice:
    raw = (raw or "").strip()
    if not raw:
        raise AutoRunError("invoice", _l("Enter an invoice number or id."))
    invoice = session.scalar(select(Invoice).where(Invoice.number == raw))
    if invoice is None and raw.isdigit():
        invoice = session.get(Invoice, int(raw))
    if invoice is None:
        raise AutoRunError("invoice", _l("No invoice has the number or id %(value)s.", value=raw))
    return invoice


@dataclass
class InvoiceTest:
    invoice: Invoice
    on: date
    explanation: engine.Explanation
    due: engine.DueReminder | None
    channels: tuple[str, ...]
    existing: list[Reminder]  # automatic reminders of that invoice on that date
    note: str = ""

    @property
    def can_send(self) -> bool:
        return self.due is not None and bool(self.channels) and not self.existing


def test_invoice(session: Session, invoice: Invoice, on: date, now: datetime | None = None,
                 language: str | None = None) -> InvoiceTest:
    """What the automatic run of `on` would do for one invoice, and why (the engine's explanation)."""
    settings = settings_service.load(session)
    now = now or run_moment(on, settings)
    explanation = engine.explain(session, invoice, on, now, automatic=True, language=language)
    result = plan(session, on, now, settings)
    found = next(((due, channels) for due, channels in result.items if due.invoice_id == invoice.id), None)
    note = ""
    if found is None and explanation.status == "due":
        note = str(_l("Automatic letters are off: the letter of this level is not made automatically."))
    existing = list(session.scalars(select(Reminder).where(
        Reminder.invoice_id == invoice.id, Reminder.reminder_date == on, Reminder.user_id.is_(None),
        Reminder.status != "cancelled").order_by(Reminder.id)))
    return InvoiceTest(invoice, on, explanation, found[0] if found else None, found[1] if found else (), existing,
                       note)


def send_one(session: Session, invoice: Invoice, on: date, now: datetime | None = None) -> list[Reminder]:
    """Make and send now the automatic reminder of one invoice for `on` (same key as the run: never twice)."""
    settings = settings_service.load(session)
    if on > local_today(settings, now):
        raise AutoRunError("on", _l("Only today's or an earlier date's reminder can be sent now."))
    check = test_invoice(session, invoice, on, run_moment(on, settings, now))
    if check.existing:
        raise AutoRunError("invoice", _l("The automatic reminder of %(number)s for %(day)s was already made.",
                                         number=invoice.number, day=on.isoformat()))
    if not check.can_send:
        raise AutoRunError("invoice", _l("Nothing is due automatically for %(number)s on %(day)s.",
                                         number=invoice.number, day=on.isoformat()))
    level = session.scalar(select(ReminderLevel).where(ReminderLevel.rank == check.due.level))
    _lock_day(session, on)
    try:
        rows = [dunning.create_reminder(session, invoice, level, channel, on, settings=settings)
                for channel in check.channels]
    except dunning.ReminderRefused as refused:
        session.rollback()
        raise AutoRunError("invoice", str(refused.verdict)) from None
    session.commit()
    dunning.send([r.id for r in rows], session=session, group_size=1)
    for row in rows:
        session.refresh(row)
    return rows


# --- dashboard --------------------------------------------------------------------------------------------------


@dataclass
class DashboardData:
    next_at: datetime  # aware, local
    next_date: date
    next_count: int
    next_letters: int
    note: str
    last_run: Run | None
    letters_run: Run | None  # the latest run with a daily letters PDF
    problem_runs: list[Run]  # failed runs, or runs with failed reminders, in the last 7 days
    late: bool  # no run finished in the last 26 hours while one was due


def dashboard_data(session: Session, now: datetime | None = None) -> DashboardData:
    """For the dashboard include (templates/autorun/_dashboard.html)."""
    settings = settings_service.load(session)
    now = now or clock.now()
    last_date = last_completed(session)
    moment = next_run_at(settings, now, last_date)
    on = moment.date()
    upcoming = plan(session, on, engine.default_now(on, settings), settings)
    last_run = session.scalar(select(Run).where(Run.kind == KIND, Run.dry_run.is_(False))
                              .order_by(Run.run_date.desc(), Run.id.desc()).limit(1))
    letters_run = session.scalar(select(Run).where(Run.kind == KIND, Run.letters_pdf_path.is_not(None))
                                 .order_by(Run.run_date.desc(), Run.id.desc()).limit(1))
    week = (now.astimezone(UTC).replace(tzinfo=None) - timedelta(days=7)).date()
    problems = list(session.scalars(select(Run).where(
        Run.kind == KIND, Run.dry_run.is_(False), Run.run_date >= week,
        (Run.status == "failed") | (Run.failed > 0)).order_by(Run.run_date.desc())))
    return DashboardData(
        next_at=moment, next_date=on, next_count=sum(len(c) for _, c in upcoming.items),
        next_letters=sum(1 for _, c in upcoming.items if "letter" in c), note=upcoming.note, last_run=last_run,
        letters_run=letters_run, problem_runs=problems, late=is_late(session, settings, now),
    )


def is_late(session: Session, settings, now: datetime | None = None, hours: int = 26) -> bool:
    """No automatic run finished in the last `hours` hours (with none ever finished: a run started that long
    ago never finished). A new install without any run is not late."""
    now = now or clock.now()
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    limit = now.astimezone(UTC).replace(tzinfo=None) - timedelta(hours=hours)
    last = session.scalar(select(func.max(Run.finished_at)).where(Run.kind == KIND, Run.status == "done"))
    if last is not None:
        return last < limit
    first = session.scalar(select(func.min(Run.created_at)).where(Run.kind == KIND))
    return first is not None and first < limit
