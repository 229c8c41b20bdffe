"""Making and sending reminders: Reminder rows from the engine's due list or a manual request, then `send()`.

A reminder goes pending -> sent / failed / cancelled. What was sent (subject, body, recipients, amounts) is
kept on the row. It is never emailed twice: the row's `key` is unique (invoice + level + channel + date, or a
"manual" key), and `send()` first claims the rows (one UPDATE ... WHERE claimed_by IS NULL on SQLite,
SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL) and records each outcome as soon as the server answered.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import cast

from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, Table, bindparam, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from relance.models import Customer, Invoice, Reminder, ReminderLevel, Run, User
from relance.models.base import utcnow
from relance.models.reminder import carries_message, claimable, message_rows
from relance.services import answers, audit
from relance.services import settings as settings_service
from relance.services.engine import eligibility, recipients
from relance.services.engine.levels import MADE_STATUSES
from relance.services.errors import RelanceError
from relance.services.letters import content, printing
from relance.services.letters.invoice_pdf import invoice_pdf_source, pdf_from_html
from relance.services.sending import mail_circuit, mailer, messages
from relance.services.sending.config import SendingConfig, given
from relance.services.texts import wording

logger = logging.getLogger(__name__)


class ReminderError(RelanceError):
    """A reminder that cannot be made; `field` names the form field at fault."""

    def __init__(self, field_name: str, message):
        super().__init__(message, field=field_name)


# --- making reminders -------------------------------------------------------------------------------------

CHANNELS = ("email", "letter", "phone")  # what a reminder row may be
SENT_CHANNELS = ("email", "letter")  # what `send` sends (a phone call is made by an agent: `services/calls.py`)


def reminder_key(invoice_id: int, rank: int, channel: str, on: date) -> str:
    return f"{invoice_id}:{rank}:{channel}:{on.isoformat()}"


def manual_key(invoice_id: int, rank: int, channel: str, token: str | None = None) -> str:
    """A hand-made reminder's key; pass the form's one-time token so a double submit makes one reminder."""
    return f"manual:{invoice_id}:{rank}:{channel}:{token or secrets.token_hex(8)}"[:120]


class ReminderRefused(ReminderError):
    """The rules refuse this reminder (`verdict` says why) and no person overrode them with a reason."""

    def __init__(self, verdict: eligibility.Verdict, message=None):
        super().__init__("level", message or str(verdict))
        self.verdict = verdict


def sqlite_write_lock(session: Session) -> None:
    """Take SQLite's single write lock for the rest of the transaction (a write that changes nothing)."""
    session.execute(update(Run).where(literal(False)).values(status=Run.status))


def lock_invoice(session: Session, invoice_id: int) -> None:
    """Serialise the makers of one invoice's reminders until the transaction ends (check, then write)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Invoice.id).where(Invoice.id == invoice_id).with_for_update())
    else:
        sqlite_write_lock(session)


def claim_columns(claim) -> dict:
    """What a reminder row keeps of a `penalties.Claim` (a missing interest rate is kept as 0: the text says it
    was not computed); the indemnity's currency when there is one."""
    return {"penalty": claim.penalty, "interest": claim.interest if claim.interest is not None else 0,
            "indemnity": claim.indemnity, "indemnity_currency": claim.indemnity_currency if claim.indemnity else "",
            "total_claimed": claim.total_claimed}


def create_reminder(session: Session, invoice: Invoice, level: ReminderLevel, channel: str, on: date, *,
                    user: User | None = None, note: str = "", next_date: date | None = None,
                    run: Run | None = None, key: str | None = None, settings=None, override: str = "",
                    rules=None, config: SendingConfig | None = None,
                    renderer: wording.Renderer | None = None) -> Reminder:
    """A pending reminder with its text rendered now (kept as sent), or the existing one with the same key.

    The hard guard of the one rulebook: whoever calls, the reminder is made only when `eligibility` allows it,
    or when a person (`user`) overrides refusals that may be overridden with a reason (`override`, kept on the
    reminder and in the audit log); else `ReminderRefused`. A reminder that cannot be sent (no text, no recipient,
    no sender) is stored as failed with the reason. The sender is the settings' or the user's, else the
    configuration's MAIL_FROM (`config`: SendingConfig, the current app's when None). `renderer`: a
    `wording.Renderer` of the day kept by a caller making many (`create_reminders` makes many at once).
    """
    if channel not in CHANNELS:
        raise ReminderError("channel", _l("Unknown channel %(channel)s.", channel=channel))
    if invoice.due_date is None:
        raise ReminderError("invoice", _l("Invoice %(number)s has no due date.", number=invoice.number))
    if next_date is not None and next_date < on:
        raise ReminderError("next_date", _l("The next reminder date cannot be before the reminder date."))
    key = key or (manual_key(invoice.id, level.rank, channel) if user else
                  reminder_key(invoice.id, level.rank, channel, on))
    lock_invoice(session, invoice.id)  # before the reads that decide (SQLite: a write begins the transaction)
    existing = session.scalar(select(Reminder).where(Reminder.key == key))
    if existing is not None:
        return existing
    verdict = eligibility.check(session, invoice, level.rank, channel, on, rules=rules, level_id=level.id)
    override = (override or "").strip() if user is not None else ""
    if verdict.refusals and not (verdict.may_override and override):
        raise ReminderRefused(verdict)
    settings = settings or settings_service.load(session)
    reminder = Reminder(key=key, invoice=invoice, channel=channel, note=note or "", user=user, run=run,
                        reminder_date=on, next_date=next_date, status="pending",
                        override_reason=override if verdict.refusals else "")
    reminder.snapshot_level(level)
    if channel == "phone":  # a call is not the formal notice (that is the letter)
        reminder.formal_notice = False
    if renderer is None or renderer.on != on:
        renderer = wording.Renderer(session, on, settings,
                                    links=answers.Links(session, utcnow(), settings, given(config).public_url))
    for name, value in made_columns(invoice, level, channel, renderer, settings, user, config).items():
        setattr(reminder, name, value)
    try:
        with session.begin_nested():
            session.add(reminder)
    except IntegrityError:  # made at the same moment by another worker
        return session.scalars(select(Reminder).where(Reminder.key == key)).one()
    if reminder.override_reason:
        audit.record(session, user, "override", "reminder", reminder.id,
                     {"refused": [r.as_json() for r in verdict.refusals]},
                     {"invoice": invoice.number, "level": level.rank, "channel": channel, "reason": override})
    return reminder


@dataclass
class Made:
    """What `create_reminders` did: the keys of the rows made now or found made, and the refusals."""

    keys: list[str] = field(default_factory=list)
    refused: list[tuple[Invoice, ReminderLevel, str, eligibility.Verdict]] = field(default_factory=list)


def create_reminders(session: Session, entries: Iterable[tuple[int, ReminderLevel, tuple[str, ...]]], on: date, *,
                     run: Run | None, settings, rules, renderer: wording.Renderer,
                     config: SendingConfig | None = None) -> Made:
    """`create_reminder` for many automatic reminders at once (no user, the run's keys): the same guard, keys,
    rows and failures, with the reads and writes done for all of them together.

    `entries`: (invoice id, level, channels). The caller holds the day's lock (`autorun.lock_day`); the invoices are
    locked here as `create_reminder` locks one (row locks on PostgreSQL, SQLite's write lock) before the reads
    that decide. Each entry's channels are made in order, the second one judged after the first is written (the
    two channels of a level are one step). A row whose key exists is found, not made again (INSERT ... ON
    CONFLICT DO NOTHING: a row made meanwhile by another worker is kept); it joins `run` when it has no run. The
    emails of a customer who groups them share one message (`messages.share`). The caller commits.
    """
    entries = list(entries)
    if not entries:
        return Made()
    ids = sorted({invoice_id for invoice_id, _, _ in entries})
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Invoice.id).where(Invoice.id.in_(ids)).order_by(Invoice.id).with_for_update())
    else:
        sqlite_write_lock(session)
    invoices = {i.id: i for i in session.scalars(select(Invoice).where(Invoice.id.in_(ids)).options(*LOADED))}
    renderer.prefetch(invoices.values())
    made = Made()
    for position in range(max(len(channels) for _, _, channels in entries)):
        step = [(invoices[i], level, channels[position]) for i, level, channels in entries if position < len(channels)]
        for invoice, _level, channel in step:
            if channel not in CHANNELS:
                raise ReminderError("channel", _l("Unknown channel %(channel)s.", channel=channel))
            if invoice.due_date is None:
                raise ReminderError("invoice", _l("Invoice %(number)s has no due date.", number=invoice.number))
        keys = [reminder_key(invoice.id, level.rank, channel, on) for invoice, level, channel in step]
        existing = set(session.scalars(select(Reminder.key).where(Reminder.key.in_(keys))))
        done = eligibility.done_reminders(session, [invoice.id for invoice, _, _ in step])
        rows = []
        items: dict[str, list[messages.Item]] = {}  # per channel: the rows that may share a message
        for key, (invoice, level, channel) in zip(keys, step, strict=True):
            if key in existing:
                made.keys.append(key)
                continue
            verdict = eligibility.judge(invoice, done.get(invoice.id, []), level.rank, channel, rules, level.id)
            if verdict.refusals:
                made.refused.append((invoice, level, channel, verdict))
                continue
            rows.append({"key": key, "invoice_id": invoice.id, "channel": channel, "note": "", "user_id": None,
                         "run_id": run.id if run is not None else None, "reminder_date": on, "next_date": None,
                         "override_reason": "", "level_id": level.id, "level": level.rank,
                         "level_names": dict(level.names or {}),
                         "formal_notice": bool(level.formal_notice) and channel != "phone",
                         **made_columns(invoice, level, channel, renderer, settings, None, config)})
            items.setdefault(channel, []).append((rows[-1], invoice, level))
            made.keys.append(key)
        for channel, together in items.items():  # a customer's invoices in one message (when grouped)
            messages.share(together, channel, renderer, settings, max_bytes=given(config).attachments_max_bytes)
        # one INSERT per set of columns (a row that failed before its text was rendered names fewer: the
        # columns' defaults fill the rest, as for `create_reminder`'s row)
        insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
        groups: dict[frozenset, list[dict]] = {}
        for row in rows:
            groups.setdefault(frozenset(row), []).append(row)
        for group in groups.values():  # Core, on the session's connection and transaction (no ORM objects made)
            session.connection().execute(insert(Reminder).on_conflict_do_nothing(index_elements=["key"]), group)
    if run is not None and made.keys:
        for start in range(0, len(made.keys), 500):
            session.execute(update(Reminder).where(Reminder.key.in_(made.keys[start:start + 500]),
                                                   Reminder.run_id.is_(None)).values(run_id=run.id)
                            .execution_options(synchronize_session=False))
    return made


# what making a reminder reads of its invoice (the rulebook, the texts, the recipients), loaded for many at once;
# the invoice's own contacts and users too (one query each for all: looked up one by one, even in the session,
# they were a tenth of making 5,664 reminders)
LOADED = (
    selectinload(Invoice.customer).selectinload(Customer.contacts),
    selectinload(Invoice.customer).selectinload(Customer.sales_reps),
    selectinload(Invoice.payments), selectinload(Invoice.answers),
    selectinload(Invoice.billing_contact), selectinload(Invoice.followup_contact),
    selectinload(Invoice.creator), selectinload(Invoice.followup_user),
)


def made_columns(invoice: Invoice, level: ReminderLevel, channel: str, renderer: wording.Renderer, settings,
                 user: User | None, config: SendingConfig | None) -> dict:
    """What a new reminder row holds once made: its text rendered (once), the amounts claimed, the sender and
    recipients, and `status`/`error` "failed" with the reasons when it cannot go (no text, an unknown variable
    in the text, no recipient, sender or postal address). A phone call has no text: "to_call" with the numbers
    to call as its recipients."""
    if channel == "phone":
        return phone_columns(invoice)
    page_url = renderer.links(invoice.customer_id) if renderer.links is not None else ""
    values: dict = {"status": "pending", "error": "", "page_url": page_url}
    reasons: list[str] = []
    rendered = renderer.render(invoice, level, channel, user=user, page_url=page_url)
    if rendered is None:
        reasons.append(str(_l("Level %(rank)s has no %(channel)s text.", rank=level.rank, channel=channel)))
    elif rendered.unknown:  # a text written to the database by hand: never sent with `__X__` left in it
        reasons.append(unknown_variables_message(level, channel, rendered.language, rendered.unknown))
    if rendered is not None:
        values.update(language=rendered.language, subject=rendered.subject[:300], body=rendered.text,
                      template_version=rendered.template_version, **claim_columns(rendered.claim))
    who = recipients.for_invoice(invoice, settings, user)
    values["sender"] = who.sender or given(config).mail_from
    if channel == "email":
        values.update(recipients=list(who.to), cc=list(who.cc))
        problem = email_problem(values.get("recipients"), values["sender"], values.get("subject"),
                                values.get("body"))
    else:
        problem = address_problem(invoice.customer)
    if problem:
        reasons.append(problem)
    if reasons:
        values.update(status="failed", error=" ".join(reasons))
    return values


def phone_columns(invoice: Invoice) -> dict:
    """A phone call made: waiting for an agent ("to_call"), the numbers to call, the customer's language. Nothing is
    sent: `send` leaves it alone; the agent records its outcome (`services/calls.py`)."""
    return {"status": "to_call", "error": "", "page_url": "", "recipients": recipients.phone_numbers(invoice),
            "language": invoice.customer.language or "fr"}


def missing_for_email(reminder: Reminder) -> str:
    """Why an email cannot go (no recipient, no sender, no subject or body), or ""."""
    return email_problem(reminder.recipients, reminder.sender, reminder.subject, reminder.body)


def email_problem(to, sender, subject, body) -> str:
    if not [a for a in to or [] if a]:
        return str(_l("No recipient email address: the email was not sent."))
    if not (sender or "").strip():
        return str(_l("No sender address: the email was not sent."))
    if not (subject or "").strip() or not (body or "").strip():
        return str(_l("The email has no subject or no text: it was not sent."))
    return ""


def unknown_variables_message(level: ReminderLevel, channel: str, language: str, names: Iterable[str]) -> str:
    """Why a reminder whose stored text holds `__X__` names no variable has is not sent (nor printed)."""
    values = {"rank": level.rank, "language": language, "names": ", ".join(names)}
    if channel == "letter":
        return str(_l("The letter text of level %(rank)s (%(language)s) holds unknown variable(s) %(names)s: the "
                      "letter was not printed. Correct the text in Reminder texts.", **values))
    return str(_l("The email text of level %(rank)s (%(language)s) holds unknown variable(s) %(names)s: the email "
                  "was not sent. Correct the text in Reminder texts.", **values))


def missing_for_letter(reminder: Reminder) -> str:
    """Why a letter cannot be printed (no address lines, postcode or city to post it to), or ""."""
    return address_problem(reminder.invoice.customer)


def address_problem(customer) -> str:
    if (customer.address or "").strip() or (customer.postcode or "").strip() or (customer.city or "").strip():
        return ""
    return str(_l("No postal address for %(customer)s: the letter was not printed.", customer=customer.name))


CANCELLABLE = ("pending", "to_post", "to_call")


def cancel(session: Session, reminder: Reminder, reason: str = "", user: User | None = None) -> bool:
    """Cancel a pending reminder that nobody is sending right now, a letter not posted yet or a call not made yet;
    audited. A reminder sharing a message with other invoices' cancels that message: every reminder of it (its text
    names them all)."""
    before = reminder.status
    which = (Reminder.message_key == reminder.message_key) if reminder.message_key else (Reminder.id == reminder.id)
    rows = session.execute(select(Reminder.id, Reminder.claimed_by)
                           .where(which, Reminder.status.in_(CANCELLABLE))).all()
    ids = [row.id for row in rows]
    done = 0
    if reminder.id in ids and not any(row.claimed_by for row in rows):  # none of it is being sent
        done = cast(CursorResult, session.execute(  # an UPDATE: a CursorResult (rowcount)
            update(Reminder).where(Reminder.id.in_(ids), Reminder.status.in_(CANCELLABLE),
                                   Reminder.claimed_by.is_(None))
            .values(status="cancelled", error=reason or "").execution_options(synchronize_session=False)
        )).rowcount
    session.refresh(reminder)
    if done:
        after: dict = {"status": "cancelled", "reason": reason}
        if len(ids) > 1:
            after["with"] = [i for i in ids if i != reminder.id]
        audit.record(session, user, "cancel", "reminder", reminder.id, {"status": before}, after)
    return bool(done)


def mark_run_posted(session: Session, run_id: int, user: User | None) -> int:
    """Every printed letter of a run is posted (one click for a mass run or the day's automatic run)."""
    return mark_posted(session, session.scalars(select(Reminder.id).where(
        Reminder.run_id == run_id, Reminder.channel == "letter")).all(), user)


def mark_posted(session: Session, reminder_ids: Iterable[int], user: User | None) -> int:
    """Letters printed and put in the post: "to post" -> "posted" (audited); returns how many changed."""
    ids = sorted(set(reminder_ids))
    changed = list(session.scalars(select(Reminder.id).where(Reminder.id.in_(ids), Reminder.channel == "letter",
                                                             Reminder.status == "to_post")))
    if changed:
        session.execute(update(Reminder).where(Reminder.id.in_(changed), Reminder.status == "to_post")
                        .values(status="posted").execution_options(synchronize_session=False))
        audit.record(session, user, "posted", "reminder", changed[0] if len(changed) == 1 else None, None,
                     {"reminders": changed, "count": len(changed)})
    return len(changed)


# --- claiming --------------------------------------------------------------------------------------------


def claim_stale_before(config: SendingConfig, now: datetime | None = None) -> datetime:
    """Claims taken before this moment belong to a worker that stopped (SEND_CLAIM_TIMEOUT)."""
    return (now or utcnow()) - timedelta(seconds=config.claim_timeout)


def claim(session: Session, ids: Iterable[int], worker: str, config: SendingConfig,
          now: datetime | None = None) -> list[int]:
    """Take the pending rows nobody holds (or whose holder is older than the claim timeout); commits."""
    ids = sorted(set(ids))
    if not ids:
        return []
    now = now or utcnow()
    stale = claim_stale_before(config, now)
    free = claimable(stale)
    sendable = Reminder.channel.in_(SENT_CHANNELS)  # a phone call is never sent: an agent makes it
    taken: list[int] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        if session.get_bind().dialect.name == "postgresql":
            rows = session.scalars(
                select(Reminder.id).where(Reminder.id.in_(chunk), Reminder.status == "pending", sendable, free)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                session.execute(update(Reminder).where(Reminder.id.in_(rows))
                                .values(claimed_by=worker, claimed_at=now))
            taken.extend(rows)
        else:  # SQLite serialises writers: the UPDATE's WHERE is the claim
            session.execute(update(Reminder).where(Reminder.id.in_(chunk), Reminder.status == "pending", sendable,
                                                   free)
                            .values(claimed_by=worker, claimed_at=now))
            taken.extend(session.scalars(select(Reminder.id).where(Reminder.id.in_(chunk),
                                                                   Reminder.claimed_by == worker)))
        session.commit()
    return sorted(taken)


# --- sending ---------------------------------------------------------------------------------------------


@dataclass
class SendReport:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # not pending, or held by another worker
    retry_delay: int = 0  # seconds before trying the `retry` ones again

    def count(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("sent", "failed", "retry", "skipped")}


def backoff(attempts: int) -> int:
    """1 min, 2, 4, 8 ... at most an hour."""
    return min(60 * 2 ** max(0, attempts - 1), 3600)


def send(reminder_ids: Iterable[int], *, session: Session | None = None, now: datetime | None = None,
         processes: int = 1, on_progress: Callable[[Reminder], None] | None = None,
         letter_sink: Callable[[Reminder, printing.LetterPdf], object] | None = None, group_size: int | None = None,
         config: SendingConfig | None = None, outbox: mailer.SmtpOutbox | None = None,
         count_runs: bool = False) -> SendReport:
    """Send the pending reminders among `reminder_ids` (emails over SMTP in one batch, letters to PDF).

    `config`: the app's (SendingConfig; the current app's when None). `group_size` (default: its SEND_GROUP_SIZE)
    bounds how many emails a crash can leave "in doubt"; the automatic run uses 1.

    Safe to call twice or from two workers at once: only the rows this call claimed are sent. Each outcome
    is committed as soon as it is known (an email's, with the next group's hand-over: the same transaction).
    `letter_sink(reminder, pdf)` receives every letter built (the mass PDF); `on_progress(reminder)` is called
    after each outcome (status sent, failed, or still pending for a retry), before that outcome's commit.
    `count_runs`: each final outcome is added to its run's progress counters (done, sent, failed), written with it.
    `outbox`: an SMTP connection kept by a caller sending batch after batch (`autorun.send_pending`), used and
    left open (see `SmtpOutbox.kept`); else one is opened and closed here.
    """
    from relance.extensions import db

    session = session or db.session
    config = given(config)
    printing.start_pool(processes)  # the letter workers start while the rows are claimed and read
    ids = messages.leads_of(session, list(reminder_ids))  # a shared message's member goes with its lead
    moment = now or utcnow()
    worker = f"{secrets.token_hex(6)}@{moment:%H%M%S}"
    report = SendReport()
    if ids and config.smtp_configured:
        circuit = mail_circuit.state(session)
        if circuit.open_at(moment):  # the mail server is down: the emails wait, untouched, letters go on
            waiting = _pending_emails(session, ids)
            report.retry, report.retry_delay = waiting, _seconds_until(circuit.until, moment)
            ids = [i for i in ids if i not in set(waiting)]
    mine = claim(session, ids, worker, config, now)
    report.skipped = [i for i in ids if i not in set(mine)]
    if not mine:
        return report
    member_ids = messages.claim_members(session, mine, worker, moment, claim_stale_before(config, now))
    session.commit()
    loaded = {r.id: r for r in session.scalars(
        select(Reminder).where(Reminder.id.in_([*mine, *(i for ids in member_ids.values() for i in ids)]))
        .options(selectinload(Reminder.invoice).selectinload(Invoice.customer)))}
    rows = [loaded[i] for i in mine]
    members = {lead: [loaded[i] for i in ids] for lead, ids in member_ids.items()}
    settings = settings_service.load(session)
    max_attempts, outage_days = config.max_attempts, config.outage_days
    outage: dict[str, mail_circuit.Circuit] = {}

    def server_down(reason: str) -> None:
        """The mail server cannot be reached: open the circuit (no message was tried)."""
        outage["circuit"] = mail_circuit.record_down(session, moment, reason)

    outcomes = _Outcomes(session, count_runs)

    def finish(reminder: Reminder, status: str, error: str = "", message_id: str = "", commit: bool = True) -> None:
        """Record an outcome on the row (through `outcomes`: the object shows it at once), and on the rows of the
        message it carries; with `commit`, written and committed now, else with the next write (an email group's
        hand-over, or the end of the group)."""
        for row in _message(reminder, members):
            finish_one(row, status, error, message_id)
        if commit:
            outcomes.write()
            session.commit()

    def finish_one(reminder: Reminder, status: str, error: str, message_id: str) -> None:
        values: dict = {}
        attempts = reminder.attempts or 0
        if status == "down":  # nothing was tried: no attempt counted; it waits, up to SEND_OUTAGE_DAYS
            circuit = outage.get("circuit") or mail_circuit.Circuit(False, error, moment + timedelta(minutes=1), moment)
            waited_from = max(circuit.since or moment, reminder.created_at or moment)
            if moment - waited_from >= timedelta(days=outage_days):
                status = "failed"
                error = str(_l("The mail server could not be reached since %(since)s: %(error)s",
                               since=f"{circuit.since or waited_from:%Y-%m-%d %H:%M} UTC", error=error))
            else:
                values["error"] = str(_l("The mail server cannot be reached, the email waits: %(error)s",
                                         error=error))
                values["message_id"] = None  # nothing was handed over
                report.retry.append(reminder.id)
                report.retry_delay = max(report.retry_delay, _seconds_until(circuit.until, moment))
        else:
            attempts = values["attempts"] = attempts + 1
        if status == "retry" and attempts >= max_attempts:
            status = "failed"
            error = str(_l("Gave up after %(n)s attempts: %(error)s", n=attempts, error=error))
        if status == "in_doubt":  # handed over, then no answer: it may have left, never sent again by itself
            handed = message_id or reminder.message_id
            values.update(status="failed", in_doubt=True, message_id=handed,
                          error=dropped_in_doubt_message(handed or "", error))
            report.failed.append(reminder.id)
        elif status == "down":
            pass
        elif status == "retry":
            values["error"] = str(_l("Temporary failure, will retry: %(error)s", error=error))
            values["message_id"] = None  # not in doubt: the server did not take it
            report.retry.append(reminder.id)
            report.retry_delay = max(report.retry_delay, backoff(attempts))
        else:
            values.update(status=status, error=error)
            if status in MADE_STATUSES:
                values.update(sent_at=utcnow(), message_id=message_id or reminder.message_id)
            (report.sent if status in MADE_STATUSES else report.failed).append(reminder.id)
        values.update(claimed_by=None, claimed_at=None)
        outcomes.set(reminder, values)
        outcomes.count(reminder)
        if on_progress:
            on_progress(reminder)

    emails = [r for r in rows if r.channel == "email"]
    letter_rows = [r for r in rows if r.channel == "letter"]
    # the claimed rows are ours until released: no need to reload each one after every commit
    real = _current(session)
    expire, real.expire_on_commit = real.expire_on_commit, False
    try:
        _send_emails(session, emails, settings, finish, outcomes, worker, report, config, group_size,
                     on_down=server_down, kept=outbox, members=members)
        _make_letters(session, letter_rows, settings, finish, outcomes, processes, letter_sink, worker, report,
                      members)
    except BaseException:
        with contextlib.suppress(Exception):  # the answers already received are kept (a broken database: lost)
            outcomes.write()
            session.commit()
        release_claims(session, worker)
        raise
    finally:
        real.expire_on_commit = expire
    return report


def _message(reminder: Reminder, members: dict[int, list[Reminder]]) -> tuple[Reminder, ...]:
    """The rows one email or letter carries: the reminder, then the members of the message it leads."""
    return (reminder, *members.get(reminder.id, ()))


def release_claims(session: Session, worker: str) -> None:
    """After an error: the rows this call still holds and was not handing to the mail server go back to the
    queue at once (not after the claim timeout); those being handed over stay held, to be settled "in doubt".
    Commits in steps."""
    session.rollback()
    session.execute(update(Reminder).where(Reminder.claimed_by == worker, Reminder.status == "pending",
                                           Reminder.message_id.is_(None)).values(claimed_by=None, claimed_at=None))
    session.commit()


def _pending_emails(session: Session, ids: list[int]) -> list[int]:
    found: list[int] = []
    for start in range(0, len(ids), 500):
        found += session.scalars(select(Reminder.id).where(Reminder.id.in_(ids[start:start + 500]),
                                                           Reminder.channel == "email", Reminder.status == "pending"))
    session.commit()
    return sorted(found)


def _seconds_until(moment: datetime | None, now: datetime) -> int:
    if moment is None:
        return 60
    return max(1, int((moment - now).total_seconds() + 0.999))


def dropped_in_doubt_message(message_id: str, error: str) -> str:
    return str(_l("In doubt: the connection to the mail server was lost after this email was handed over, before "
                  "the server confirmed it (Message-ID %(id)s; %(error)s). It was not sent again, to avoid a "
                  "duplicate: check the mail server's log before sending it again.", id=message_id, error=error))


def still_held(session: Session, reminder_id: int, worker: str) -> bool:
    """Whether this call still holds the row (pending, claimed by `worker`); locks it until the caller commits, so
    nobody can take it between this check and the outcome (a settler that judged its worker dead, a stale claim
    taken again). Whoever lost its claim leaves the row alone: it is never made or sent twice."""
    # through Core, on the session's connection: the ORM's UPDATE looked for the row among every object of the session
    return session.connection().execute(_STILL_HELD, {"row_id": reminder_id, "worker": worker,
                                                      "now": utcnow()}).rowcount == 1


def _current(session) -> Session:
    """The Session itself (a scoped session's current one: its proxy lacks `expire_on_commit` and `in_transaction`)."""
    return session() if callable(session) else session


_REMINDERS = cast(Table, Reminder.__table__)  # a declarative model's table is a Table
_STILL_HELD = (_REMINDERS.update().where(_REMINDERS.c.id == bindparam("row_id"),
                                         _REMINDERS.c.claimed_by == bindparam("worker"),
                                         _REMINDERS.c.status == "pending")
               .values(claimed_at=bindparam("now")))


class _Outcomes:
    """Outcomes written through Core (one UPDATE per set of columns for all the rows waiting, an executemany), not
    through the ORM's unit of work: the object takes each value as its committed state at once (`on_progress`
    and the callers read it), the row gets it at `write()`, in the caller's transaction. With `count_runs`, the
    final outcomes are added to their runs' progress counters the same way (`count`)."""

    def __init__(self, session: Session, count_runs: bool = False):
        self.session = session
        self.waiting: dict[int, dict] = {}
        self.count_runs = count_runs
        self.runs: dict[int, Run] = {}
        self.counted: dict[int, list[int]] = {}  # run id -> [done, sent, failed] to add at `write()`

    def count(self, reminder: Reminder) -> None:
        """With `count_runs`: a final outcome added to its run's counters (done; sent or failed), the Run object
        taking the new values as its committed state at once, the row getting them as additions at `write()` (no
        ORM flush per outcome)."""
        if not self.count_runs or reminder.run_id is None or reminder.status == "pending":
            return
        run = self.runs.get(reminder.run_id)
        if run is None:
            run = self.runs[reminder.run_id] = self.session.get_one(Run, reminder.run_id)
        made, failed = int(reminder.status in MADE_STATUSES), int(reminder.status == "failed")
        for name, value in (("done", run.done + 1), ("sent", run.sent + made), ("failed", run.failed + failed)):
            set_committed_value(run, name, value)
        add = self.counted.setdefault(run.id, [0, 0, 0])
        add[0], add[1], add[2] = add[0] + 1, add[1] + made, add[2] + failed

    def set(self, reminder: Reminder, values: dict) -> None:
        for name, value in values.items():
            set_committed_value(reminder, name, value)
        self.waiting.setdefault(reminder.id, {}).update(values)

    def write(self) -> None:
        if not self.waiting and not self.counted:
            return
        by_columns: dict[tuple[str, ...], list[dict]] = {}
        for reminder_id, values in self.waiting.items():
            by_columns.setdefault(tuple(sorted(values)), []).append(
                {"row_id": reminder_id, **{f"new_{name}": value for name, value in values.items()}})
        self.waiting = {}
        connection = self.session.connection()
        for columns, rows in by_columns.items():
            connection.execute(_outcome_update(columns), rows)
        if self.counted:
            connection.execute(_COUNT_RUN, [{"run_id": run_id, "add_done": done, "add_sent": sent,
                                             "add_failed": failed}
                                            for run_id, (done, sent, failed) in self.counted.items()])
            self.counted = {}


@lru_cache(maxsize=64)
def _outcome_update(columns: tuple[str, ...]):
    table = _REMINDERS
    return (table.update().where(table.c.id == bindparam("row_id"))
            .values({table.c[name]: bindparam(f"new_{name}") for name in columns}))


# the hand-over (`_send_emails`): the Message-ID is recorded only on a row this call still holds, never sent
_HAND_OVER = (_REMINDERS.update().where(
    _REMINDERS.c.id == bindparam("row_id"), _REMINDERS.c.claimed_by == bindparam("worker"),
    _REMINDERS.c.status == "pending", _REMINDERS.c.message_id.is_(None))
    .values(message_id=bindparam("new_message_id")))
_HANDED = select(_REMINDERS.c.id, _REMINDERS.c.message_id).where(_REMINDERS.c.id.in_(bindparam("ids", expanding=True)))
# the progress counters of a run (`_Outcomes.count`): the outcomes counted since the last write, added
_RUNS = cast(Table, Run.__table__)
_COUNT_RUN = (_RUNS.update().where(_RUNS.c.id == bindparam("run_id"))
              .values(done=_RUNS.c.done + bindparam("add_done"), sent=_RUNS.c.sent + bindparam("add_sent"),
                      failed=_RUNS.c.failed + bindparam("add_failed")))


def _send_emails(session: Session, rows: list[Reminder], settings, finish, outcomes: _Outcomes, worker: str,
                 report: SendReport, config: SendingConfig, group_size: int | None = None,
                 on_down: Callable[[str], None] | None = None, kept: mailer.SmtpOutbox | None = None,
                 members: dict[int, list[Reminder]] | None = None) -> None:
    """Send over one SMTP connection, in groups: each group's Message-IDs are recorded and committed before the
    server may take them, in one transaction with the outcomes of the group before (one commit per group; a
    crash leaves at most one group "in doubt", never sent again); the last group's outcomes are committed after
    it, and at once when no hand-over follows (the connection given up, the server down).

    A server that cannot be reached is reported once to `on_down(reason)` (the circuit) before any Message-ID is
    recorded; every email then comes back as "down". The server's last answer is recorded after the batch.
    `members`: lead id -> the other rows of the message it carries (their invoices attached too, the lead's
    Message-ID and outcome theirs)."""
    members = members or {}
    by_id: dict[int, Reminder] = {}
    outgoing: list[mailer.Outgoing] = []
    sources: dict[int, list[bytes | str]] = {}
    for reminder in rows:
        problem = missing_for_email(reminder)
        if problem:
            finish(reminder, "failed", problem)
            continue
        try:
            sources[reminder.id] = [invoice_pdf_source(r.invoice, settings) for r in _message(reminder, members)]
        except Exception as exc:  # noqa: BLE001 (a broken invoice file must not stop the batch)
            finish(reminder, "failed", str(_l("The invoice PDF could not be made: %(error)s", error=exc)))
    # The reads are over: no transaction stays open while the messages are built (on SQLite, a transaction that has
    # written holds the one write lock: office writes would wait for every PDF of the batch). A generated invoice
    # PDF is made by the message's builder, just before the message goes: none for a server that is down.
    session.commit()
    reason = str(_l("The invoice PDF could not be made: %(error)s", error="\x00"))  # the reader's words, now
    for reminder in rows:
        if reminder.id in sources:
            by_id[reminder.id] = reminder
            pdfs = [_invoice_pdf(source, reason) for source in sources.pop(reminder.id)]
            outgoing.append(outgoing_email(reminder, settings, pdfs[0],
                                           list(zip(members.get(reminder.id, ()), pdfs[1:], strict=True))))
    if not outgoing:
        return

    def record(outcome: mailer.Outcome) -> None:
        reminder = by_id[outcome.ref]
        error = outcome.error
        if outcome.status == "sent" and outcome.refused:
            error = str(_l("Refused by the server: %(list)s",
                           list="; ".join(f"{a}: {t}" for a, t in outcome.refused.items())))
        finish(reminder, outcome.status, error, outcome.message_id, commit=False)

    def handing_over(group: list[mailer.Outgoing]) -> list[mailer.Outgoing]:
        """Recorded before the server may take the messages, committed at once together with the outcomes of the
        group before: a crash now leaves these rows "in doubt", never sent again. Only the rows this call still
        holds get their Message-ID; the group shrinks to them."""
        connection = session.connection()
        outcomes.write()
        rows = [{"row_id": row.id, "worker": worker, "new_message_id": out.message_id}
                for out in group for row in _message(by_id[out.ref], members)]
        if len(rows) == 1:  # the automatic run's groups: the UPDATE's row count says whether the row is held
            held_one = connection.execute(_HAND_OVER, rows[0]).rowcount == 1
            recorded = {group[0].ref: group[0].message_id} if held_one else {}
        else:
            connection.execute(_HAND_OVER, rows)
            recorded = dict(connection.execute(_HANDED, {"ids": [out.ref for out in group]}).all())
        session.commit()
        held = [out for out in group if recorded.get(out.ref) == out.message_id]
        for out in held:
            for row in _message(by_id[out.ref], members):
                set_committed_value(row, "message_id", out.message_id)
        report.skipped += [out.ref for out in group if out not in held]
        return held

    outbox: mailer.SmtpOutbox | mailer.FileOutbox
    if kept is not None and config.smtp_configured:
        outbox = kept
        kept.kept()
    else:
        outbox = mailer.outbox_from_config(config.smtp)
    size = max(1, group_size or config.group_size)
    ahead = mailer.BuiltAhead(outgoing)  # the next messages are built while the server and the database answer
    try:
        for start in range(0, len(outgoing), size):
            group = outgoing[start:start + size]
            if not outbox.broken and not outbox.down:
                if outbox.ready():  # refused, unreachable, timed out: the circuit opens, nothing is tried
                    if on_down:
                        on_down(outbox.down)
                elif not outbox.broken:
                    group = handing_over(group)  # with the outcomes of the group before
            if group:
                outbox.send_batch(group, record, close=False, built_by=ahead.get)
            if outbox.broken or outbox.down:  # no hand-over follows to carry these outcomes
                outcomes.write()
                session.commit()
        outcomes.write()
        session.commit()
    finally:
        ahead.close()
        if outbox is not kept or outbox.broken or outbox.down:
            outbox.close()
    if isinstance(outbox, mailer.SmtpOutbox) and not outbox.down:
        mail_circuit.record_answer(session, not outbox.broken, outbox.broken)


def _invoice_pdf(source: bytes | str, reason: str) -> bytes | Callable[[], bytes]:
    """The invoice's PDF, or a function making it from its HTML that fails with `reason` (its \\x00 the error)."""
    if isinstance(source, bytes):
        return source

    def make() -> bytes:
        try:
            return pdf_from_html(source)
        except Exception as exc:  # noqa: BLE001 (reported on this reminder alone)
            raise mailer.ContentError(reason.replace("\x00", str(exc))) from exc

    return make


INVOICE_WORDS = {"fr": "Facture", "en": "Invoice", "de": "Rechnung", "es": "Factura", "it": "Fattura",
                 "nl": "Factuur"}  # the attached invoice's file name in the email's language (else English)


def outgoing_email(reminder: Reminder, settings, pdf: bytes | Callable[[], bytes],
                   more: Iterable[tuple[Reminder, bytes | Callable[[], bytes]]] = ()) -> mailer.Outgoing:
    """The email of a reminder (its stored subject, body and recipients; the invoice PDF attached), with a new
    Message-ID; `more`: the other reminders of the message it carries, with their invoices' PDFs."""
    return mailer.Outgoing(
        ref=reminder.id, sender=reminder.sender, sender_name=settings.company_name,
        to=list(reminder.recipients), cc=list(reminder.cc or []), subject=reminder.subject,
        text=reminder.body, language=reminder.language,
        attachments=[mailer.Attachment(_l_filename(reminder, row.invoice), data)
                     for row, data in ((reminder, pdf), *more)],
        message_id=mailer.new_message_id(reminder.sender),
    )


def _l_filename(reminder: Reminder, invoice: Invoice) -> str:
    word = INVOICE_WORDS.get((reminder.language or "").split("_")[0], "Invoice")
    return f"{word}-{invoice.number}.pdf"


def attachment_name(reminder: Reminder) -> str:
    """The invoice PDF's file name as the email carries it."""
    return mailer.safe_filename(_l_filename(reminder, reminder.invoice))


def is_in_doubt(reminder: Reminder) -> bool:
    """An email whose worker stopped while handing it to the server: it may have left, it is never re-sent."""
    return reminder.channel == "email" and reminder.status == "failed" and reminder.in_doubt


def mark_sent(session: Session, reminder: Reminder, checked: str, user: User | None) -> bool:
    """A person checked the mail server's log: the email "in doubt" did leave (audited), for every reminder of it
    (a message for several invoices)."""
    if not is_in_doubt(reminder):
        return False
    for row in message_rows(session, reminder):
        if not is_in_doubt(row) or row.message_id != reminder.message_id:
            continue
        before = {"status": row.status, "error": row.error}
        row.status, row.sent_at, row.in_doubt = "sent", row.sent_at or utcnow(), False
        row.error = str(_l("Marked sent by a person: %(checked)s", checked=checked))
        audit.record(session, user, "mark_sent", "reminder", row.id, before, {"status": "sent", "checked": checked})
    return True


# what a letter reads of its reminder rows (`content.letter_job`: the text rendered again with its claim and promise
# to pay, the postal address and its contact, the signature), loaded for many at once: looked up letter by letter,
# these lazy loads were a sixth of the parent's time in a run of 564 letters
LETTER_LOADED = (
    selectinload(Reminder.user), selectinload(Reminder.level_ref),
    selectinload(Reminder.invoice).options(
        selectinload(Invoice.customer).selectinload(Customer.contacts), selectinload(Invoice.payments),
        selectinload(Invoice.answers), selectinload(Invoice.billing_contact)),
)


def _make_letters(session: Session, rows: list[Reminder], settings, finish, outcomes: _Outcomes, processes: int,
                  sink, worker: str, report: SendReport, members: dict[int, list[Reminder]] | None = None) -> None:
    """`members`: lead id -> the other rows of the letter it carries (their invoices enclosed too, its saved copy
    and outcome theirs)."""
    if not rows:
        return
    members = members or {}
    by_id = {r.id: r for r in rows}
    ids = [row.id for reminder in rows for row in _message(reminder, members)]
    for start in range(0, len(ids), 500):  # what the letters read, for all of them at once (not letter by letter)
        session.scalars(select(Reminder).where(Reminder.id.in_(ids[start:start + 500])).options(*LETTER_LOADED)).all()
    real = _current(session)
    renderers: dict[date, wording.Renderer] = {}  # the letters' texts rendered again, read once per date
    for on in sorted({r.reminder_date for r in rows}):  # what they need read at once, not letter by letter
        renderers[on] = wording.Renderer(session, on, settings)
        renderers[on].prefetch(m.invoice for r in rows if r.reminder_date == on for m in _message(r, members))

    def jobs() -> Iterator[printing.LetterJob]:
        for reminder in rows:
            problem = missing_for_letter(reminder)
            if problem:  # before anything is printed
                finish(reminder, "failed", problem)
                continue
            try:
                job = content.letter_job(session, reminder, settings, renderers, members.get(reminder.id, ()))
            except Exception as exc:  # noqa: BLE001 (one broken letter must not stop the others)
                logger.exception("letter %s", reminder.id)
                finish(reminder, "failed", str(_l("The letter could not be made: %(error)s", error=exc)))
                continue
            if real.in_transaction():  # what the letter needs is read: no transaction stays open while it is built
                session.commit()
            yield job

    # Each outcome is committed at once, in its own short write transaction (the office keeps writing meanwhile)
    for reminder_id, pdf, error in printing.render_many(jobs(), processes=processes):
        reminder = by_id[reminder_id]
        if not still_held(session, reminder_id, worker):  # taken over meanwhile: the new holder makes it
            session.commit()
            report.skipped.append(reminder_id)
            continue
        if pdf is None:
            finish(reminder, "failed", str(_l("The letter could not be made: %(error)s", error=error)))
        else:
            if settings.save_letter_copy:
                saved = content.save_letter(reminder, pdf.data)
                for row in _message(reminder, members):  # written with the outcome
                    outcomes.set(row, {"pdf_path": saved})
            if sink:
                sink(reminder, pdf)
            finish(reminder, "to_post")  # posted when a person says so
    session.commit()


# --- a run (mass reminder or automatic run) --------------------------------------------------------------


def run_letters_path(run_id: int) -> str:
    return f"{content.LETTERS_DIR}/run-{run_id}.pdf"


def send_run(run_id: int, config: SendingConfig, processes: int | None = None,
             session: Session | None = None) -> SendReport:
    """Send every pending reminder of a run, count the progress on the Run row as it goes, and build the
    run's merged letters PDF (each letter + its invoice, each starting on an odd page).

    The run ends `done` when none of its reminders is left pending; reminders waiting for a retry (the mail
    server) or for disk space leave it `waiting` until `resume_at` (services/sending/runs.py goes on with it then).
    Commits in steps.
    """
    from relance.extensions import db
    from relance.services.sending import runs

    session = session or db.session
    runs.settle_dead(session, [run_id], held_before=claim_stale_before(config))
    run = session.get_one(Run, run_id)
    run.status, run.started_at, run.error, run.resume_at = "running", run.started_at or utcnow(), "", None
    rows = session.execute(select(Reminder.id, Reminder.channel, Reminder.status,
                                  carries_message().label("carries"))
                           .where(Reminder.run_id == run_id).order_by(Reminder.id)).all()
    _count_run(run, rows)
    session.commit()
    pending = [r.id for r in rows if r.status == "pending"]
    letter_ids = [r.id for r in rows if r.channel == "letter" and r.status == "pending"]
    earlier_letters = [r.id for r in rows if r.channel == "letter" and r.status in MADE_STATUSES and r.carries]
    if processes is None:
        processes = printing.pool_size(config.letter_processes) if len(letter_ids) > 20 else 1
    if letter_ids:
        printing.start_pool(processes)  # the letter workers start while the emails go
    report = SendReport()
    try:
        email_ids = [i for i in pending if i not in set(letter_ids)]
        for start in range(0, len(email_ids), 200):
            _merge_reports(report, send(email_ids[start:start + 200], session=session, config=config,
                                        count_runs=True))
        if letter_ids or (earlier_letters and not run.letters_pdf_path):
            _run_letters(session, run, letter_ids, earlier_letters, processes, report, config)
        waiting = session.scalar(select(func.count()).select_from(Reminder).where(
            Reminder.run_id == run_id, Reminder.status == "pending"))
        run = session.get_one(Run, run_id)
        if waiting:
            delay = report.retry_delay or backoff(1)
            run.status, run.resume_at = "waiting", utcnow() + timedelta(seconds=delay)
            run.error = str(_l("%(n)s reminder(s) wait for a new attempt (temporary failure).", n=waiting))
        else:
            run.status, run.finished_at = "done", utcnow()
    except OSError as exc:  # a full disk, an unreadable file: the run waits and goes on once it is fixed
        session.rollback()
        run = session.get_one(Run, run_id)
        run.status, run.resume_at = "waiting", utcnow() + timedelta(seconds=300)
        run.error = str(_l("Stopped, will go on by itself in 5 minutes: %(error)s", error=_os_error(exc)))
        logger.warning("run %s waits: %s", run_id, exc)
    except Exception as exc:
        session.rollback()
        run = session.get_one(Run, run_id)
        run.status, run.error, run.finished_at = "failed", f"{type(exc).__name__}: {exc}", utcnow()
        session.commit()
        raise
    session.commit()
    return report


def _count_run(run: Run, rows) -> None:
    run.total = len(rows) if not (run.selection or {}).get("items") else run.total
    run.done = sum(1 for r in rows if r.status != "pending")
    run.sent = sum(1 for r in rows if r.status in MADE_STATUSES)
    run.failed = sum(1 for r in rows if r.status == "failed")


def _os_error(exc: OSError) -> str:
    import errno
    import os

    if exc.errno == errno.ENOSPC:
        return str(_l("the disk is full (%(detail)s)", detail=exc.strerror or os.strerror(exc.errno)))
    return exc.strerror or str(exc)


def _run_letters(session: Session, run: Run, letter_ids: list[int], earlier: list[int], processes: int,
                 report: SendReport, config: SendingConfig) -> None:
    """Make the run's pending letters and the merged PDF of all its letters (those of an earlier, interrupted
    pass first); written to a `.part` file renamed when complete, removed if anything fails."""
    from relance.services.sending import runs

    path = config.files_path / run_letters_path(run.id)
    runs.check_disk(path.parent, config)
    tmp = path.with_suffix(".part")
    with printing.StreamingPdf(tmp) as merged:
        for reminder_id in earlier:  # an interrupted pass's letters: their saved copies, else made again
            merged.add(content.letter_pdf(session, session.get_one(Reminder, reminder_id)))
        _merge_reports(report, send(letter_ids, session=session, processes=processes, config=config,
                                    count_runs=True,
                                    letter_sink=lambda reminder, pdf: merged.add(pdf)))
    tmp.replace(path)
    session.execute(update(Run).where(Run.id == run.id).values(letters_pdf_path=run_letters_path(run.id)))


def _merge_reports(total: SendReport, part: SendReport) -> None:
    for name in ("sent", "failed", "retry", "skipped"):
        getattr(total, name).extend(getattr(part, name))
    total.retry_delay = max(total.retry_delay, part.retry_delay)
