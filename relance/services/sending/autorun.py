"""The automatic daily run: one service for the periodic task, `flask relance run-auto` and the run pages.

- `due_run_date(now, hour, zone, last)` (pure) says whether a run is due and for which local date.
- `run_auto(session, on, now)` takes the engine's due list (levels set to automatic), makes the reminders with
  the unique key (invoice, level, channel, date) and sends them. Several callers at once (consumers, a manual
  trigger) cooperate: the day's Run row and each chunk of new reminders are made under a per-day lock
  (PostgreSQL advisory lock; SQLite's single writer), one automatic level per invoice per day, and sending goes
  through `dunning.send`, whose claim lets only one caller send a row. A caller killed in the middle leaves
  pending rows that the next call sends once their claim is stale; a row whose email was being handed to the
  server ("in doubt") is never sent again but marked failed with the reason, to be checked by a person.
- `is_late` (no run finished for a day) is read by the health checks and the dashboard.

The dry run and the test page are `autorun_preview`; the dashboard's figures of the runs, `services/dashboard.py`.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, func, select, text, update
from sqlalchemy.orm import Session

from relance import clock
from relance.models import Reminder, Run
from relance.models.base import utcnow
from relance.models.reminder import carries_message, claimable
from relance.services import answers, gc_pause
from relance.services import settings as settings_service
from relance.services.engine import eligibility
from relance.services.engine import schedule as engine
from relance.services.engine.levels import MADE_STATUSES, levels_by_id
from relance.services.letters import content, printing
from relance.services.sending import dunning, mail_circuit, mailer
from relance.services.sending import runs as durable
from relance.services.sending.config import SendingConfig, given
from relance.services.texts import wording

logger = logging.getLogger(__name__)

KIND = "auto"
PLAN_CHUNK = 500  # reminders made per locked transaction (made together: ~0.2 s of write lock)
SEND_BATCH = 100  # emails claimed and sent per dunning.send call (the claim, reads and commits of a call: a fifth of
# the run at 20)
LETTER_CHUNK = 200  # letters claimed and printed per dunning.send call (in the process pool when more than 20)
LOCK_CLASS = 0x52454C  # PostgreSQL advisory lock namespace ("REL")
LETTERS_DIR = "auto"
OPEN_STATUSES = ("queued", "running", "failed")

# the engine's skip codes plus the run's own
SKIP_LABELS = {
    "invoice_no_auto": _l("invoice marked \"no automatic reminders\""),
    "customer_no_auto": _l("customer marked \"no automatic reminders\""),
    "manual_level": _l("level not automatic"),
    "recent_manual": _l("reminder made by hand recently"),
    "before_go_live": _l("overdue before go-live"),
    "paused": _l("customer paused"),
    "direct_debit": _l("direct debit customer"),
    "consumer_penalty": _l("consumer on a penalty level"),
    "below_minimum": _l("below the minimum amount"),
    "letters_off": _l("automatic letters are off"),
    "no_email_address": _l("no email address for the customer"),
}


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


def made_today(session: Session, on: date, invoice_ids: list[int]) -> set[int]:
    """Invoices that already have an automatic reminder dated `on` (one automatic level per invoice per day)."""
    if not invoice_ids:
        return set()
    return set(session.scalars(select(Reminder.invoice_id).where(
        Reminder.reminder_date == on, Reminder.user_id.is_(None), Reminder.status != "cancelled",
        Reminder.invoice_id.in_(invoice_ids))))


# --- locking and the Run row ------------------------------------------------------------------------------------


def lock_class(session: Session) -> int:
    """The advisory locks' namespace of this database schema (int4): LOCK_CLASS mixed with the schema's name, so two
    installs in two schemas of one PostgreSQL database (or the test workers) never wait for each other's locks."""
    schema_hash = session.scalar(text("SELECT hashtext(current_schema())")) or 0
    return (LOCK_CLASS ^ schema_hash) & 0x7FFFFFFF


def lock_day(session: Session, on: date) -> None:
    """Serialise the makers of one day's rows until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": lock_class(session),
                                                                       "b": on.toordinal()})
    else:
        dunning.sqlite_write_lock(session)


def open_run(session: Session, on: date, now: datetime | None = None) -> Run:
    """The day's automatic Run, made once (a catch-up when the last completed run is older than the day before).
    Commits in steps."""
    lock_day(session, on)
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


def run_auto(session: Session, on: date, now: datetime | None = None, *, send: bool = True,
             config: SendingConfig | None = None) -> Run:
    """Make and send the automatic reminders of `on` (safe to call several times and from several processes).
    `config`: SendingConfig (the current app's when None). Commits in steps."""
    config = given(config)
    settings = settings_service.load(session)
    now = now or run_moment(on, settings)
    lost = list(session.scalars(select(Run.id).where(
        Run.kind == KIND, Run.dry_run.is_(False), Run.status == "running", Run.run_date <= on,
        Run.heartbeat_at < durable.stale_before(config))))
    run = open_run(session, on, now)
    try:
        open_ids = [run.id, *session.scalars(select(Run.id).where(
            Run.kind == KIND, Run.dry_run.is_(False), Run.run_date < on, Run.status.in_(OPEN_STATUSES)))]
        # every caller of a lost run is gone (no heartbeat): the one caller that takes it over settles what they
        # held (two callers at once: the second finds a fresh heartbeat and leaves the first one's claims alone)
        durable.settle_dead(session, durable.take_over(session, lost, config))
        session.commit()
        with durable.Heartbeat(open_ids, config):
            make_reminders(session, run, now, settings, config)
            if send:
                send_pending(session, open_ids, config)
                for run_id in open_ids:
                    finish(session, session.get_one(Run, run_id), config)
    except Exception as exc:
        session.rollback()
        session.execute(update(Run).where(Run.id == run.id).values(
            status="failed", error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=utcnow()))
        session.commit()
        raise
    session.refresh(run)
    return run


def make_reminders(session: Session, run: Run, now: datetime, settings, config: SendingConfig) -> int:
    """Pending rows for every due reminder of the run's date not made yet; returns how many this call made.

    PostgreSQL: callers at once share the work, each taking the invoices no other caller holds (advisory
    locks, skipped when taken), then waiting for the ones it skipped and making what is still missing.
    SQLite has one writer: chunks are made one after the other under its write lock. Commits in steps.
    """
    on = run.run_date
    todo = plan(session, on, now, settings)
    if not run.skipped_reasons:
        session.execute(update(Run).where(Run.id == run.id).values(skipped_reasons=dict(todo.skipped)))
        session.commit()
    levels = levels_by_id(session)
    # texts, rates and tables read once for the run; one link to their page per customer reminded
    renderer = wording.Renderer(session, on, settings, links=answers.Links(session, now, settings, config.public_url))
    items = {due.invoice_id: (due, channels) for due, channels in todo.items}
    chunks = customer_chunks([due for due, _ in todo.items])
    made = 0
    if session.get_bind().dialect.name != "postgresql":
        for chunk in chunks:
            lock_day(session, on)
            made += _make(session, run, [items[i] for i in chunk], levels, settings, config, renderer)
        return made
    skipped: list[int] = []
    for chunk in chunks:
        mine = _lock_invoices(session, chunk, wait=False)
        skipped += [i for i in chunk if i not in mine]
        made += _make(session, run, [items[i] for i in chunk if i in mine], levels, settings, config, renderer)
    for start in range(0, len(skipped), PLAN_CHUNK):
        chunk = skipped[start:start + PLAN_CHUNK]
        _lock_invoices(session, chunk, wait=True)
        made += _make(session, run, [items[i] for i in chunk], levels, settings, config, renderer)
    return made


def customer_chunks(due: list[engine.DueReminder], size: int = PLAN_CHUNK) -> list[list[int]]:
    """The invoice ids in chunks of about `size`, a customer's invoices never cut apart (they may share a message:
    `messages.share` sees the rows made together); customers in their order of first appearance."""
    by_customer: dict[int, list[int]] = {}
    for item in due:
        by_customer.setdefault(item.customer_id, []).append(item.invoice_id)
    chunks: list[list[int]] = [[]]
    for ids in by_customer.values():
        if chunks[-1] and len(chunks[-1]) + len(ids) > size:
            chunks.append([])
        chunks[-1].extend(ids)
    return [chunk for chunk in chunks if chunk]


def _lock_invoices(session: Session, ids: list[int], wait: bool) -> set[int]:
    """PostgreSQL advisory locks on invoices until the transaction ends: the ones taken (all when waiting)."""
    namespace = lock_class(session) << 32
    keys = {namespace | i: i for i in sorted(ids)}
    if wait:
        for key in keys:  # in order: two waiters never deadlock
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        return set(ids)
    taken = session.scalars(text("SELECT k FROM unnest(CAST(:keys AS bigint[])) AS t(k) "
                                 "WHERE pg_try_advisory_xact_lock(k)"), {"keys": list(keys)})
    return {keys[k] for k in taken}


def _make(session: Session, run: Run, entries, levels, settings, config: SendingConfig,
          renderer: wording.Renderer | None = None) -> int:
    """Rows for the entries whose invoice has no automatic reminder on the run's date yet, made together
    (`dunning.create_reminders`: the rulebook's guard, the keys, texts rendered once); commits."""
    on = run.run_date
    have = made_today(session, on, [due.invoice_id for due, _ in entries])
    rules = eligibility.day_rules(session, on)
    renderer = renderer or wording.Renderer(session, on, settings,
                                            links=answers.Links(session, utcnow(), settings, config.public_url))
    with gc_pause.paused():  # a chunk's ORM objects and texts: the collector ran over the app's objects again and again
        made = dunning.create_reminders(
            session, [(due.invoice_id, levels[due.level_id], channels) for due, channels in entries
                      if due.invoice_id not in have],
            on, run=run, settings=settings, rules=rules, renderer=renderer, config=config)
    for invoice, level, channel, verdict in made.refused:  # a person may have sent it since the engine chose it
        logger.warning("automatic run %s: %s level %s %s refused: %s", run.id, invoice.number, level.rank, channel,
                       verdict)
    session.commit()
    return len(made.keys)


def send_pending(session: Session, run_ids: list[int], config: SendingConfig) -> dict[str, int]:
    """Claim and send the runs' pending rows in small batches until none is left for this caller. Commits in steps."""
    durable.settle_dead(session, run_ids, held_before=dunning.claim_stale_before(config))  # claims past the timeout
    totals: Counter = Counter()
    tried: set[int] = set()  # a temporary failure waits for the next call
    # one SMTP connection for every batch of this call (checked by NOOP before each, opened again when lost)
    outbox = mailer.SmtpOutbox.from_config(config.smtp) if config.smtp_configured else None
    try:
        return _send_batches(session, run_ids, config, totals, tried, outbox)
    finally:
        if outbox is not None:
            outbox.close()


def _send_batches(session: Session, run_ids: list[int], config: SendingConfig, totals: Counter, tried: set[int],
                  outbox: mailer.SmtpOutbox | None) -> dict[str, int]:
    """The emails in small batches (a crash leaves at most one in doubt), then the letters, many at once in the
    process pool as a mass run prints them."""
    smtp = config.smtp_configured
    while True:
        if smtp and mail_circuit.state(session).open_at(utcnow()):  # the mail server is down: the emails wait
            break
        stale = dunning.claim_stale_before(config)
        query = select(Reminder.id).where(
            Reminder.run_id.in_(run_ids), Reminder.status == "pending", Reminder.message_id.is_(None),
            Reminder.channel == "email", claimable(stale))
        candidates = list(session.scalars(query.order_by(Reminder.id).limit(SEND_BATCH * 8 + len(tried))))
        session.commit()
        candidates = [i for i in candidates if i not in tried]
        if not candidates:
            break
        random.shuffle(candidates)  # callers at once take different rows
        batch = sorted(candidates[:SEND_BATCH])
        with gc_pause.young_only():  # not paused: a generated invoice leaves cyclic garbage (WeasyPrint)
            report = dunning.send(batch, session=session, group_size=1, config=config,  # a crash: at most one in doubt
                                  outbox=outbox)
        tried.update(report.retry)
        totals.update(report.count())
    _print_letters(session, run_ids, config, totals)
    return dict(totals)


def _print_letters(session: Session, run_ids: list[int], config: SendingConfig, totals: Counter) -> None:
    """The runs' pending letters nobody holds, LETTER_CHUNK per `dunning.send` call, printed in the process pool
    (LETTER_PROCESSES) when there are more than a few; until none is left for this caller."""
    while True:
        stale = dunning.claim_stale_before(config)
        ids = list(session.scalars(select(Reminder.id).where(
            Reminder.run_id.in_(run_ids), Reminder.status == "pending", Reminder.channel == "letter",
            claimable(stale)).order_by(Reminder.id).limit(LETTER_CHUNK)))
        session.commit()
        if not ids:
            return
        processes = printing.pool_size(config.letter_processes) if len(ids) > 20 else 1
        report = dunning.send(ids, session=session, processes=processes, config=config)
        totals.update(report.count())
        if not report.sent and not report.failed:  # all held by another caller: theirs to print
            return


def counts(session: Session, run_id: int) -> Counter:
    return Counter(dict(session.execute(select(Reminder.status, func.count()).where(Reminder.run_id == run_id)
                                        .group_by(Reminder.status)).all()))


def finish(session: Session, run: Run, config: SendingConfig) -> bool:
    """Close the run when none of its rows is pending (only one caller does); builds the daily letters PDF.
    Commits in steps."""
    by_status = counts(session, run.id)
    made = sum(by_status[status] for status in MADE_STATUSES)
    if by_status.get("pending"):
        session.execute(update(Run).where(Run.id == run.id).values(
            total=sum(by_status.values()), sent=made, failed=by_status["failed"],
            done=made + by_status["failed"] + by_status["cancelled"]))
        session.commit()
        return False
    # an UPDATE's result is a CursorResult (rowcount), which Session.execute's annotation doesn't promise
    closed = cast(CursorResult, session.execute(update(Run).where(Run.id == run.id, Run.status != "done").values(
        status="done", finished_at=utcnow(), total=sum(by_status.values()), sent=made,
        failed=by_status["failed"], done=sum(by_status.values()),
        skipped=sum((run.skipped_reasons or {}).values())))).rowcount
    session.commit()
    if closed:
        path = build_letters_pdf(session, run, config)
        if path:
            session.execute(update(Run).where(Run.id == run.id).values(letters_pdf_path=path))
            session.commit()
    session.refresh(run)
    return bool(closed)


def sent_letters(session: Session, run: Run) -> list[Reminder]:
    """The run's letters made (one for several invoices once: the row carrying it)."""
    return list(session.scalars(select(Reminder).where(Reminder.run_id == run.id, Reminder.channel == "letter",
                                                       Reminder.status.in_(MADE_STATUSES), carries_message())
                                .order_by(Reminder.id)))


def build_letters_pdf(session: Session, run: Run, config: SendingConfig) -> str | None:
    """The run's letters merged into one PDF to print (FILES_PATH/auto/letters-<date>-<run>.pdf), or None."""
    rows = sent_letters(session, run)
    if not rows:
        return None
    relative = f"{LETTERS_DIR}/letters-{run.run_date.isoformat()}-{run.id}.pdf"
    path = config.files_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with printing.StreamingPdf(tmp) as out:  # removed, not left half written, if anything fails
        for reminder in rows:
            out.add(content.letter_pdf(session, reminder))
    tmp.replace(path)
    return relative
