"""Making and sending reminders: Reminder rows from the engine's due list or a manual request, then `send()`.

A reminder goes pending -> sent / failed / cancelled. What was sent (subject, body, recipients, amounts) is
kept on the row. It is never emailed twice: the row's `key` is unique (invoice + level + channel + date, or a
"manual" key), and `send()` first claims the rows (one UPDATE ... WHERE claimed_by IS NULL on SQLite,
SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL) and records each outcome as soon as the server answered.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from babel import Locale
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from relance.models import Customer, Invoice, Reminder, ReminderLevel, Run, User
from relance.models.base import utcnow
from relance.services import audit, eligibility, letters, mailer, placeholders, recipients, texts
from relance.services import settings as settings_service
from relance.services.formatting import format_locale
from relance.services.invoice_pdf import _logo_data_url, invoice_pdf_bytes
from relance.services.invoice_pdf import resolve as resolve_file
from relance.services.levels import MADE_STATUSES

LETTERS_DIR = "letters"
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_CLAIM_TIMEOUT = 900  # seconds: a claim older than this (a crashed worker) may be taken again


class ReminderError(ValueError):
    """A reminder that cannot be made; `field` names the form field at fault."""

    def __init__(self, field_name: str, message):
        super().__init__(str(message))
        self.field = field_name
        self.message = message


# --- making reminders -------------------------------------------------------------------------------------


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


def create_reminder(session: Session, invoice: Invoice, level: ReminderLevel, channel: str, on: date, *,
                    user: User | None = None, note: str = "", next_date: date | None = None,
                    run: Run | None = None, key: str | None = None, settings=None, override: str = "",
                    rules=None) -> Reminder:
    """A pending reminder with its text rendered now (kept as sent), or the existing one with the same key.

    The hard guard of the one rulebook: whoever calls, the reminder is made only when `eligibility` allows it,
    or when a person (`user`) overrides refusals that may be overridden with a reason (`override`, kept on the
    reminder and in the audit log); else `ReminderRefused`. A reminder that cannot be sent (no text, no recipient,
    no sender) is stored as failed with the reason.
    """
    if channel not in ("email", "letter"):
        raise ReminderError("channel", _l("Unknown channel %(channel)s.", channel=channel))
    if invoice.due_date is None:
        raise ReminderError("invoice", _l("Invoice %(number)s has no due date.", number=invoice.number))
    if next_date is not None and next_date < on:
        raise ReminderError("next_date", _l("The next reminder date cannot be before the reminder date."))
    key = key or (manual_key(invoice.id, level.rank, channel) if user else
                  reminder_key(invoice.id, level.rank, channel, on))
    existing = session.scalar(select(Reminder).where(Reminder.key == key))
    if existing is not None:
        return existing
    lock_invoice(session, invoice.id)
    verdict = eligibility.check(session, invoice, level.rank, channel, on, rules=rules)
    override = (override or "").strip() if user is not None else ""
    if verdict.refusals and not (verdict.may_override and override):
        raise ReminderRefused(verdict)
    settings = settings or settings_service.load(session)
    reminder = Reminder(key=key, invoice=invoice, channel=channel, note=note or "", user=user, run=run,
                        reminder_date=on, next_date=next_date, status="pending",
                        override_reason=override if verdict.refusals else "")
    reminder.snapshot_level(level)
    reasons: list[str] = []
    rendered = texts.render_for_invoice(session, invoice, level, channel, on, settings, user=user)
    if rendered is None:
        reasons.append(str(_l("Level %(rank)s has no %(channel)s text.", rank=level.rank, channel=channel)))
    else:
        claim = rendered.claim
        reminder.language = rendered.language
        reminder.subject, reminder.body = rendered.subject[:300], rendered.text
        reminder.template_version = rendered.template_version
        reminder.penalty, reminder.indemnity = claim.penalty, claim.indemnity
        reminder.interest = claim.interest if claim.interest is not None else reminder.interest or 0
        reminder.total_claimed = claim.total_claimed
    who = recipients.for_invoice(invoice, settings, user)
    reminder.sender = who.sender or current_app.config.get("MAIL_FROM", "")
    if channel == "email":
        reminder.recipients, reminder.cc = list(who.to), list(who.cc)
        problem = missing_for_email(reminder)
        if problem:
            reasons.append(problem)
    if reasons:
        reminder.status, reminder.error = "failed", " ".join(reasons)
    try:
        with session.begin_nested():
            session.add(reminder)
    except IntegrityError:  # made at the same moment by another worker
        return session.scalar(select(Reminder).where(Reminder.key == key))
    if reminder.override_reason:
        audit.record(session, user, "override", "reminder", reminder.id,
                     {"refused": [r.as_json() for r in verdict.refusals]},
                     {"invoice": invoice.number, "level": level.rank, "channel": channel, "reason": override})
    return reminder


def create_from_due(session: Session, due, on: date, run: Run | None = None, settings=None) -> list[Reminder]:
    """Reminder rows for one entry of the engine's due list (one per channel of the level)."""
    settings = settings or settings_service.load(session)
    invoice = session.get(Invoice, _attr(due, "invoice_id"))
    level = _attr(due, "level")
    if not isinstance(level, ReminderLevel):
        level = session.scalar(select(ReminderLevel).where(ReminderLevel.rank == int(level)))
    channels = _attr(due, "channels")
    if isinstance(channels, str):
        channels = ("email", "letter") if channels == "both" else (channels,)
    return [create_reminder(session, invoice, level, channel, on, run=run, settings=settings)
            for channel in channels]


def _attr(due, name: str):
    value = getattr(due, name, None)
    if value is None and name == "invoice_id":
        value = due.invoice.id
    return value


def missing_for_email(reminder: Reminder) -> str:
    """Why an email cannot go (no recipient, no sender, no subject or body), or ""."""
    if not [a for a in reminder.recipients or [] if a]:
        return str(_l("No recipient email address: the email was not sent."))
    if not (reminder.sender or "").strip():
        return str(_l("No sender address: the email was not sent."))
    if not (reminder.subject or "").strip() or not (reminder.body or "").strip():
        return str(_l("The email has no subject or no text: it was not sent."))
    return ""


CANCELLABLE = ("pending", "to_post")


def cancel(session: Session, reminder: Reminder, reason: str = "", user: User | None = None) -> bool:
    """Cancel a pending reminder that nobody is sending right now, or a letter not posted yet; audited."""
    before = reminder.status
    done = session.execute(
        update(Reminder).where(Reminder.id == reminder.id, Reminder.status.in_(CANCELLABLE),
                               Reminder.claimed_by.is_(None))
        .values(status="cancelled", error=reason or "")
    ).rowcount
    session.refresh(reminder)
    if done:
        audit.record(session, user, "cancel", "reminder", reminder.id, {"status": before},
                     {"status": "cancelled", "reason": reason})
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


def claim(session: Session, ids: Iterable[int], worker: str, now: datetime | None = None) -> list[int]:
    """Take the pending rows nobody holds (or whose holder is older than the claim timeout); commits."""
    ids = sorted(set(ids))
    if not ids:
        return []
    now = now or utcnow()
    stale = now - timedelta(seconds=int(current_app.config.get("SEND_CLAIM_TIMEOUT", DEFAULT_CLAIM_TIMEOUT)))
    # a stale claim is taken again, unless its email was being handed to the server (message_id recorded,
    # no outcome): that one is "in doubt" and never sent again automatically
    free = or_(Reminder.claimed_by.is_(None), and_(Reminder.claimed_at < stale, Reminder.message_id.is_(None)))
    taken: list[int] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        if session.get_bind().dialect.name == "postgresql":
            rows = session.scalars(
                select(Reminder.id).where(Reminder.id.in_(chunk), Reminder.status == "pending", free)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                session.execute(update(Reminder).where(Reminder.id.in_(rows))
                                .values(claimed_by=worker, claimed_at=now))
            taken.extend(rows)
        else:  # SQLite serialises writers: the UPDATE's WHERE is the claim
            session.execute(update(Reminder).where(Reminder.id.in_(chunk), Reminder.status == "pending", free)
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
         letter_sink: Callable[[Reminder, bytes], None] | None = None, group_size: int | None = None) -> SendReport:
    """Send the pending reminders among `reminder_ids` (emails over SMTP in one batch, letters to PDF).

    `group_size` (default: the SEND_GROUP_SIZE setting) bounds how many emails a crash can leave "in doubt";
    the automatic run uses 1.

    Safe to call twice or from two workers at once: only the rows this call claimed are sent. Each outcome
    is committed as soon as it is known. `letter_sink(reminder, pdf)` receives every letter built (the mass
    PDF); `on_progress(reminder)` is called after each outcome (status sent, failed, or still pending for a
    retry), before that outcome's commit.
    """
    from relance.extensions import db

    session = session or db.session
    ids = sorted(set(reminder_ids))
    worker = f"{secrets.token_hex(6)}@{now or utcnow():%H%M%S}"
    mine = claim(session, ids, worker, now)
    report = SendReport(skipped=[i for i in ids if i not in set(mine)])
    if not mine:
        return report
    rows = session.scalars(
        select(Reminder).where(Reminder.id.in_(mine)).order_by(Reminder.id)
        .options(selectinload(Reminder.invoice).selectinload(Invoice.customer))
    ).all()
    settings = settings_service.load(session)
    max_attempts = int(current_app.config.get("SEND_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))

    def finish(reminder: Reminder, status: str, error: str = "", message_id: str = "", commit: bool = True) -> None:
        reminder.attempts = (reminder.attempts or 0) + 1
        if status == "retry" and reminder.attempts >= max_attempts:
            status = "failed"
            error = str(_l("Gave up after %(n)s attempts: %(error)s", n=reminder.attempts, error=error))
        if status == "retry":
            reminder.error = str(_l("Temporary failure, will retry: %(error)s", error=error))
            reminder.message_id = None  # not in doubt: the server did not take it
            report.retry.append(reminder.id)
            report.retry_delay = max(report.retry_delay, backoff(reminder.attempts))
        else:
            reminder.status, reminder.error = status, error
            if status in MADE_STATUSES:
                reminder.sent_at = utcnow()
                reminder.message_id = message_id or reminder.message_id
            (report.sent if status in MADE_STATUSES else report.failed).append(reminder.id)
        reminder.claimed_by, reminder.claimed_at = None, None
        if on_progress:
            on_progress(reminder)
        if commit:
            session.commit()

    emails = [r for r in rows if r.channel == "email"]
    letter_rows = [r for r in rows if r.channel == "letter"]
    # the claimed rows are ours until released: no need to reload each one after every commit
    real = session() if callable(session) else session  # the scoped session's current Session
    expire, real.expire_on_commit = real.expire_on_commit, False
    try:
        _send_emails(session, emails, settings, finish, group_size)
        _make_letters(session, letter_rows, settings, finish, processes, letter_sink)
    finally:
        real.expire_on_commit = expire
    return report


def _send_emails(session: Session, rows: list[Reminder], settings, finish, group_size: int | None = None) -> None:
    """Send over one SMTP connection, in groups: each group's Message-IDs are recorded (one commit) before
    the server may take them, and the group's outcomes are committed together (two commits per group
    instead of two per message; a crash leaves at most one group "in doubt", never sent again)."""
    by_id: dict[int, Reminder] = {}
    outgoing: list[mailer.Outgoing] = []
    for reminder in rows:
        problem = missing_for_email(reminder)
        if problem:
            finish(reminder, "failed", problem)
            continue
        invoice = reminder.invoice
        try:
            pdf = invoice_pdf_bytes(invoice)
        except Exception as exc:  # noqa: BLE001 (a broken invoice file must not stop the batch)
            finish(reminder, "failed", str(_l("The invoice PDF could not be made: %(error)s", error=exc)))
            continue
        by_id[reminder.id] = reminder
        outgoing.append(mailer.Outgoing(
            ref=reminder.id, sender=reminder.sender, sender_name=settings.company_name,
            to=list(reminder.recipients), cc=list(reminder.cc or []), subject=reminder.subject,
            text=reminder.body, language=reminder.language,
            attachments=[mailer.Attachment(_l_filename(reminder, invoice), pdf)],
            message_id=mailer.new_message_id(reminder.sender),
        ))
    if not outgoing:
        return

    def record(outcome: mailer.Outcome) -> None:
        reminder = by_id[outcome.ref]
        error = outcome.error
        if outcome.status == "sent" and outcome.refused:
            error = str(_l("Refused by the server: %(list)s",
                           list="; ".join(f"{a}: {t}" for a, t in outcome.refused.items())))
        finish(reminder, outcome.status, error, outcome.message_id, commit=False)

    def handing_over(group: list[mailer.Outgoing]) -> None:
        """Recorded before the server may take the messages (on its own connection, committed at once, so
        the session's objects stay loaded): a crash now leaves these rows "in doubt", never sent again."""
        with session.get_bind().connect() as conn:
            conn.execute(update(Reminder).where(Reminder.id == bindparam("rid")).values(message_id=bindparam("mid")),
                         [{"rid": out.ref, "mid": out.message_id} for out in group])
            conn.commit()
        for out in group:
            set_committed_value(by_id[out.ref], "message_id", out.message_id)

    outbox = mailer.outbox_from_config(current_app.config)
    size = max(1, int(group_size or current_app.config.get("SEND_GROUP_SIZE", 25)))
    try:
        for start in range(0, len(outgoing), size):
            group = outgoing[start:start + size]
            if not outbox.broken:
                handing_over(group)
            outbox.send_batch(group, record, close=False)
            session.commit()
    finally:
        outbox.close()


def _l_filename(reminder: Reminder, invoice: Invoice) -> str:
    word = "Facture" if reminder.language == "fr" else "Invoice"
    return f"{word}-{invoice.number}.pdf"


def attachment_name(reminder: Reminder) -> str:
    """The invoice PDF's file name as the email carries it."""
    return mailer.safe_filename(_l_filename(reminder, reminder.invoice))


def is_in_doubt(reminder: Reminder) -> bool:
    """An email whose worker stopped while handing it to the server: it may have left, it is never re-sent."""
    return reminder.channel == "email" and reminder.status == "failed" and reminder.in_doubt


def mark_sent(session: Session, reminder: Reminder, checked: str, user: User | None) -> bool:
    """A person checked the mail server's log: the email "in doubt" did leave (audited)."""
    if not is_in_doubt(reminder):
        return False
    before = {"status": reminder.status, "error": reminder.error}
    reminder.status, reminder.sent_at, reminder.in_doubt = "sent", reminder.sent_at or utcnow(), False
    reminder.error = str(_l("Marked sent by a person: %(checked)s", checked=checked))
    audit.record(session, user, "mark_sent", "reminder", reminder.id, before,
                 {"status": "sent", "checked": checked})
    return True


# --- letters ---------------------------------------------------------------------------------------------


def letter_data(session: Session, reminder: Reminder, settings=None) -> letters.LetterData:
    """What the letter of a reminder shows, from the row (its text as sent) and the invoice."""
    settings = settings or settings_service.load(session)
    invoice: Invoice = reminder.invoice
    customer: Customer = invoice.customer
    language = reminder.language or customer.language or "fr"
    body_html = _letter_body(session, reminder, settings)
    overdue = texts.overdue_lines(session, customer.id, reminder.reminder_date)
    if invoice.number not in {line.number for line in overdue}:
        overdue = (placeholders.OverdueLine(invoice.number, invoice.issue_date, invoice.due_date,
                                                  invoice.remaining_due, invoice.currency,
                                                  invoice.days_late(reminder.reminder_date)), *overdue)
    logo = resolve_file(settings.company_logo) if settings.company_logo else None
    signature = (reminder.user.signature if reminder.user else "") or settings.company_name
    principal = reminder.total_claimed - reminder.penalty - reminder.interest - reminder.indemnity
    return letters.LetterData(
        language=language, on=reminder.reminder_date, subject=reminder.subject, body_html=body_html,
        recipient=postal_lines(customer, invoice, settings, language),
        company={
            "name": settings.company_name, "address": settings.company_address,
            "postcode": settings.company_postcode, "city": settings.company_city,
            "phone": settings.company_phone, "email": settings.company_email, "legal": settings.company_legal,
            "iban": settings.company_iban, "bic": settings.company_bic, "logo_url": _logo_data_url(logo),
        },
        invoices=[letters.InvoiceLine(line.number, line.issue_date, line.due_date, line.days_late,
                                      line.remaining_due, line.currency) for line in overdue],
        currency=invoice.currency, principal=principal, penalty=reminder.penalty, interest=reminder.interest,
        indemnity=reminder.indemnity, total=reminder.total_claimed,
        payment_url=_payment_url(settings.payment_url_pattern, invoice, customer), payment_reference=invoice.number,
        signature="" if signature.strip() and signature.strip() in reminder.body else signature,
        formal_notice=bool(reminder.formal_notice), reference=f"{customer.code} / {invoice.number}",
        locale=format_locale(language, customer.country),
    )


def _payment_url(pattern: str, invoice: Invoice, customer: Customer) -> str:
    from urllib.parse import quote

    if not pattern:
        return ""
    return (pattern.replace("{number}", quote(invoice.number, safe="")).replace("{customer}", quote(customer.code))
            .replace("{amount}", str(invoice.remaining_due)))


def _letter_body(session: Session, reminder: Reminder, settings):
    """The body as HTML: rendered again from the template when that gives the same text as was kept (so the
    invoices table is a real table), else the kept text as paragraphs."""
    level = reminder.level_ref
    if level is not None:
        again = texts.render_for_invoice(session, reminder.invoice, level, "letter", reminder.reminder_date,
                                         settings, user=reminder.user, language=reminder.language)
        if again is not None and again.text == reminder.body:
            return again.html
    return letters.body_from_text(reminder.body)


def postal_lines(customer: Customer, invoice: Invoice, settings, language: str) -> list[str]:
    lines = [customer.name]
    contact = invoice.billing_contact or customer.contact("billing")
    if contact and contact.full_name and customer.kind == "business":
        lines.append(str(_l("Attn: %(name)s", name=contact.full_name)))
    lines += [line.strip() for line in (customer.address or "").splitlines() if line.strip()]
    lines.append(" ".join(p for p in (customer.postcode, customer.city) if p))
    if customer.country and customer.country != settings.company_country:
        lines.append(Locale.parse(language).territories.get(customer.country, customer.country).upper())
    return [line for line in lines if line]


def letter_job(session: Session, reminder: Reminder, settings) -> letters.LetterJob:
    from flask_babel import force_locale

    with force_locale(reminder.language or "fr"):
        data = letter_data(session, reminder, settings)
    return letters.make_job(reminder.id, data, invoice_pdf_bytes(reminder.invoice))


def save_letter(reminder: Reminder, pdf: bytes) -> str:
    """Store the letter under FILES_PATH/letters/<invoice id>/; returns the path relative to FILES_PATH."""
    relative = f"{LETTERS_DIR}/{reminder.invoice_id}/reminder-{reminder.id}-{secrets.token_hex(4)}.pdf"
    path = Path(current_app.config["FILES_PATH"]) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pdf)
    tmp.replace(path)
    return relative


def letter_pdf(session: Session, reminder: Reminder) -> bytes:
    """The PDF of a letter reminder: the saved copy, else built again from the row."""
    saved = resolve_file(reminder.pdf_path)
    if saved is not None:
        return saved.read_bytes()
    settings = settings_service.load(session)
    return letters.build_job(letter_job(session, reminder, settings))[1]


def _make_letters(session: Session, rows: list[Reminder], settings, finish, processes: int, sink) -> None:
    if not rows:
        return
    by_id = {r.id: r for r in rows}

    def jobs() -> Iterator[letters.LetterJob]:
        for reminder in rows:
            try:
                yield letter_job(session, reminder, settings)
            except Exception as exc:  # noqa: BLE001 (one broken letter must not stop the others)
                current_app.logger.exception("letter %s", reminder.id)
                finish(reminder, "failed", str(_l("The letter could not be made: %(error)s", error=exc)))

    # Outcomes are committed every few letters: a crash before a commit only means those letters are made
    # again once their claim times out (nothing has left the building yet).
    every = max(1, int(current_app.config.get("SEND_GROUP_SIZE", 25)))
    for count, (reminder_id, pdf, error) in enumerate(letters.render_many(jobs(), processes=processes), 1):
        reminder = by_id[reminder_id]
        if pdf is None:
            finish(reminder, "failed", str(_l("The letter could not be made: %(error)s", error=error)), commit=False)
        else:
            if settings.save_letter_copy:
                reminder.pdf_path = save_letter(reminder, pdf)
            if sink:
                sink(reminder, pdf)
            finish(reminder, "to_post", commit=count % every == 0)  # posted when a person says so
    session.commit()


# --- a run (mass reminder or automatic run) --------------------------------------------------------------


def count_outcome(session: Session, reminder: Reminder) -> None:
    """Add a final outcome to its run's progress counters (the caller's commit stores it)."""
    if reminder.run_id is None or reminder.status == "pending":
        return
    run = session.get(Run, reminder.run_id)
    run.done += 1
    run.sent += reminder.status in MADE_STATUSES
    run.failed += reminder.status == "failed"


def run_letters_path(run_id: int) -> str:
    return f"{LETTERS_DIR}/run-{run_id}.pdf"


def send_run(run_id: int, processes: int | None = None, session: Session | None = None) -> SendReport:
    """Send every pending reminder of a run, count the progress on the Run row as it goes, and build the
    run's merged letters PDF (each letter + its invoice, each starting on an odd page)."""
    from relance.extensions import db

    session = session or db.session
    run = session.get(Run, run_id)
    run.status, run.started_at, run.error = "running", run.started_at or utcnow(), ""
    rows = session.execute(select(Reminder.id, Reminder.channel, Reminder.status)
                           .where(Reminder.run_id == run_id).order_by(Reminder.id)).all()
    run.total = len(rows)
    run.done = sum(1 for r in rows if r.status != "pending")
    run.sent = sum(1 for r in rows if r.status in MADE_STATUSES)
    run.failed = sum(1 for r in rows if r.status == "failed")
    session.commit()
    pending = [r.id for r in rows if r.status == "pending"]
    letter_ids = [r.id for r in rows if r.channel == "letter" and r.status == "pending"]
    earlier_letters = [r.id for r in rows if r.channel == "letter" and r.status in MADE_STATUSES]
    if processes is None:
        processes = letters.pool_size(current_app.config.get("LETTER_PROCESSES")) if len(letter_ids) > 20 else 1
    report = SendReport()
    try:
        email_ids = [i for i in pending if i not in set(letter_ids)]
        for start in range(0, len(email_ids), 200):
            _merge_reports(report, send(email_ids[start:start + 200], session=session,
                                        on_progress=lambda r: count_outcome(session, r)))
        path = Path(current_app.config["FILES_PATH"]) / run_letters_path(run_id)
        if letter_ids or earlier_letters:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            with letters.StreamingPdf(tmp) as merged:
                for reminder_id in earlier_letters:  # made by an earlier, interrupted pass
                    merged.add(letter_pdf(session, session.get(Reminder, reminder_id)))
                _merge_reports(report, send(letter_ids, session=session, processes=processes,
                                            on_progress=lambda r: count_outcome(session, r),
                                            letter_sink=lambda reminder, pdf: merged.add(pdf)))
            tmp.replace(path)
            run.letters_pdf_path = run_letters_path(run_id)
        if report.retry:
            run.error = str(_l("%(n)s email(s) will be sent again later (temporary failure).", n=len(report.retry)))
        run.status, run.finished_at = "done", utcnow()
    except Exception as exc:
        session.rollback()
        run = session.get(Run, run_id)
        run.status, run.error, run.finished_at = "failed", f"{type(exc).__name__}: {exc}", utcnow()
        session.commit()
        raise
    session.commit()
    return report


def _merge_reports(total: SendReport, part: SendReport) -> None:
    for name in ("sent", "failed", "retry", "skipped"):
        getattr(total, name).extend(getattr(part, name))
    total.retry_delay = max(total.retry_delay, part.retry_delay)
