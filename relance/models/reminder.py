"""Reminder levels, their texts, the reminders made and the runs that made them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    and_,
    event,
    false,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relance.extensions import Model
from relance.models.base import money_column, utcnow
from relance.models.customer import Customer
from relance.models.invoice import Invoice
from relance.models.user import User

CHANNELS = ("email", "letter")
# "phone": a call only (a level may also ask for a call beside its email or letter: `ReminderLevel.phone_call`)
LEVEL_CHANNELS = ("email", "letter", "both", "phone")
DELAY_BASES = ("due_date", "previous")
PENALTY_KINDS = ("none", "fixed", "percent")
# Emails: pending -> sent / failed. Letters: pending -> to_post (printed, to be posted) -> posted, or failed.
# Either may be cancelled while pending (or to_post). Phone calls: to_call (made, waiting for an agent) -> called
# (an outcome recorded, `CALL_OUTCOMES`), or cancelled.
REMINDER_STATUSES = ("pending", "sent", "to_post", "posted", "failed", "cancelled", "to_call", "called")
CALL_OUTCOMES = ("reached", "no_answer", "wrong_number", "promise", "dispute", "note")
RUN_KINDS = ("mass", "auto")
RUN_STATUSES = ("queued", "running", "waiting", "done", "failed")


def level_label(names: dict | None, language: str, rank: int) -> str:
    """A level's name in a language, else in French, else in English, else its rank."""
    names = names or {}
    return names.get(language) or names.get("fr") or names.get("en") or str(rank)


class Policy(Model):
    """A named set of levels (a gentle one for good customers, a short one for risky ones). The default policy holds
    the levels of every customer that chose none (`Customer.policy_id` NULL); exactly one policy is the default."""

    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    levels: Mapped[list[ReminderLevel]] = relationship(back_populates="policy", order_by="ReminderLevel.rank")

    def __repr__(self) -> str:
        return f"<Policy {self.id} {self.name!r}>"


class ReminderLevel(Model):
    """Rank 0 = before the due date, 1 = first reminder, 2 = second, 3 = formal notice; one rank per policy."""

    __tablename__ = "reminder_levels"
    __table_args__ = (UniqueConstraint("policy_id", "rank"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id", ondelete="RESTRICT"))
    rank: Mapped[int]
    names: Mapped[dict] = mapped_column(JSON, default=dict)  # {"fr": "...", "en": "..."}
    delay: Mapped[str] = mapped_column(String(32), default="+15 days")
    basis: Mapped[str] = mapped_column(String(16), default="due_date")
    automatic: Mapped[bool] = mapped_column(default=False)
    channels: Mapped[str] = mapped_column(String(8), default="email")
    penalty_kind: Mapped[str] = mapped_column(String(8), default="none")
    penalty_value: Mapped[Decimal] = money_column()
    formal_notice: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # also a phone call to make (beside the email and/or letter of `channels`; a "phone" level is a call only)
    phone_call: Mapped[bool] = mapped_column(default=False, server_default=false())

    templates: Mapped[list[Template]] = relationship(back_populates="level", cascade="all, delete-orphan")
    policy: Mapped[Policy] = relationship(back_populates="levels")

    def name(self, language: str) -> str:
        return level_label(self.names, language, self.rank)

    def __repr__(self) -> str:
        return f"<ReminderLevel {self.rank} {self.delay}>"


class Template(Model):
    """The text of one level for one channel in one language (subject + body with __VARIABLES__)."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("level_id", "channel", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    level_id: Mapped[int] = mapped_column(ForeignKey("reminder_levels.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    level: Mapped[ReminderLevel] = relationship(back_populates="templates")
    versions: Mapped[list[TemplateVersion]] = relationship(
        back_populates="template", cascade="all, delete-orphan", order_by="TemplateVersion.version"
    )


class TemplateVersion(Model):
    __tablename__ = "template_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    template: Mapped[Template] = relationship(back_populates="versions")


class Run(Model):
    """A mass reminder (by a user) or an automatic daily run."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    run_date: Mapped[date] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    catch_up: Mapped[bool] = mapped_column(default=False)
    dry_run: Mapped[bool] = mapped_column(default=False)
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    skipped_reasons: Mapped[dict] = mapped_column(JSON, default=dict)
    letters_pdf_path: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # durable runs (services/sending/runs.py): what a mass run was asked to send (the worker makes the reminders), the
    # notes of what it left out, who works on it now and when it last said so, and when a waiting run goes on
    selection: Mapped[dict] = mapped_column(JSON, default=dict)
    notes: Mapped[list] = mapped_column(JSON, default=list)
    owner: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None]
    resume_at: Mapped[datetime | None]

    user: Mapped[User | None] = relationship()
    reminders: Mapped[list[Reminder]] = relationship(back_populates="run")


class Reminder(Model):
    """One reminder of one invoice at one level through one channel (a letter or an email)."""

    __tablename__ = "reminders"
    __table_args__ = (
        # An invoice's done reminders (the reminder state triggers, the engine) read from the index alone.
        Index("ix_reminders_invoice_state", "invoice_id", "status", "level", "reminder_date"),
        Index("ix_reminders_status", "status"),
        # "Level reached" (max level of the sent reminders, per invoice) read from the index alone.
        Index("ix_reminders_status_invoice_id_level", "status", "invoice_id", "level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # invoice + level + channel + date (+ "manual-<n>" for hand-made ones): never sent twice.
    key: Mapped[str] = mapped_column(String(120), unique=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    # the level, and a snapshot of it as it was when the reminder was made (reordering or renaming levels
    # never relabels the history; an old formal notice rebuilt as PDF still says so)
    level_id: Mapped[int | None] = mapped_column(ForeignKey("reminder_levels.id", ondelete="SET NULL"))
    level: Mapped[int]  # the level's rank when the reminder was made
    level_names: Mapped[dict] = mapped_column(JSON, default=dict)
    formal_notice: Mapped[bool] = mapped_column(default=False)
    # "send anyway": why a person sent what the rules refused (empty: the rules allowed it)
    override_reason: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))  # none: automatic
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), index=True)
    reminder_date: Mapped[date]
    next_date: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    language: Mapped[str] = mapped_column(String(8), default="fr")
    sender: Mapped[str] = mapped_column(String(254), default="")
    recipients: Mapped[list] = mapped_column(JSON, default=list)
    cc: Mapped[list] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    template_version: Mapped[int | None]
    penalty: Mapped[Decimal] = money_column()
    interest: Mapped[Decimal] = money_column()
    indemnity: Mapped[Decimal] = money_column()
    # the indemnity's currency when it is not the invoice's (40 EUR on a USD invoice: its own line, not in
    # total_claimed); "": the invoice's currency, part of the total (every reminder made before this column)
    indemnity_currency: Mapped[str] = mapped_column(String(3), default="")
    total_claimed: Mapped[Decimal] = money_column()
    pdf_path: Mapped[str | None] = mapped_column(String(255))
    # the link to the customer's page this reminder carries (its text's __CUSTOMER_PAGE_URL__, its letter's QR code);
    # "" when Relance has no public address (PUBLIC_URL)
    page_url: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # one message for several invoices of a customer (`group_by_customer`): every reminder of it holds the key of
    # the one that carries it (the lead: highest level), the lead its own; None: a message of its own
    message_key: Mapped[str | None] = mapped_column(String(120), index=True)
    message_id: Mapped[str | None] = mapped_column(String(254))
    # a phone call's outcome (CALL_OUTCOMES) and the agent's note, who called and when (status "called")
    outcome: Mapped[str] = mapped_column(String(16), default="", server_default="")
    outcome_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    called_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    called_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(default=0)
    # the worker stopped while handing this email to the server: it may have left, it is never re-sent by itself
    in_doubt: Mapped[bool] = mapped_column(default=False)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    invoice: Mapped[Invoice] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    called_by: Mapped[User | None] = relationship(foreign_keys=[called_by_id])
    run: Mapped[Run | None] = relationship(back_populates="reminders")
    level_ref: Mapped[ReminderLevel | None] = relationship()

    @property
    def automatic(self) -> bool:
        return self.user_id is None

    @property
    def indemnity_apart(self) -> bool:
        """The indemnity was claimed in another currency than the invoice's: not part of `total_claimed`."""
        return bool(self.indemnity) and self.indemnity_currency not in ("", None, self.invoice.currency)

    def level_name(self, language: str) -> str:
        """The level's name as it was when the reminder was made."""
        return level_label(self.level_names, language, self.level)

    def snapshot_level(self, level: ReminderLevel) -> None:
        self.level_id, self.level = level.id, level.rank
        self.level_names, self.formal_notice = dict(level.names or {}), bool(level.formal_notice)


class FormToken(Model):
    """A sending form's one-time token: a second submission of the same token answers with the first result."""

    __tablename__ = "form_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


def message_rows(session, reminder: Reminder) -> list[Reminder]:
    """Every reminder of the message (one email or letter for several invoices, `Reminder.message_key`) this one is
    part of, the lead first, then by invoice; or just this one."""
    if not reminder.message_key:
        return [reminder]
    rows = session.scalars(select(Reminder).where(Reminder.message_key == reminder.message_key)
                           .order_by(Reminder.invoice_id)).all()
    return sorted(rows, key=lambda r: r.key != r.message_key)


def claimable(stale: datetime):
    """SQL: nobody holds the row, or its holder claimed it before `stale` (a worker that stopped) and handed nothing
    to the mail server: an email with a Message-ID and no outcome is "in doubt", never taken again by itself."""
    return or_(Reminder.claimed_by.is_(None), and_(Reminder.claimed_at < stale, Reminder.message_id.is_(None)))


def carries_message():
    """SQL: the row is sent on its own or carries its message (not a member of another row's message)."""
    return (Reminder.message_key.is_(None)) | (Reminder.message_key == Reminder.key)


def ensure_default_policy(connection) -> int:
    """The id of the default policy, made ("Standard") when there is none yet (a fresh database)."""
    found = connection.execute(select(Policy.id).where(Policy.is_default).order_by(Policy.id).limit(1)).scalar()
    if found is None:
        found = connection.execute(insert(Policy).values(name="Standard", is_default=True, created_at=utcnow())
                                   .returning(Policy.id)).scalar_one()
    return found


@event.listens_for(ReminderLevel, "before_insert")
def _default_policy(_mapper, connection, level: ReminderLevel) -> None:
    """A level made without its policy (the defaults, an import, a test) belongs to the default policy."""
    if level.policy_id is None and level.policy is None:
        level.policy_id = ensure_default_policy(connection)


@event.listens_for(Reminder, "before_insert")
def _snapshot_level(_mapper, connection, reminder: Reminder) -> None:
    """A reminder written without its level (an import, a test, a script) takes the level of its rank now, in its
    customer's policy."""
    if reminder.level_id is not None or reminder.level is None:
        return
    chosen = (select(Customer.policy_id).join(Invoice, Invoice.customer_id == Customer.id)
              .where(Invoice.id == reminder.invoice_id).scalar_subquery())
    default = select(Policy.id).where(Policy.is_default).order_by(Policy.id).limit(1).scalar_subquery()
    found = connection.execute(select(ReminderLevel.id, ReminderLevel.names, ReminderLevel.formal_notice)
                               .where(ReminderLevel.rank == reminder.level,
                                      ReminderLevel.policy_id == func.coalesce(chosen, default))).first()
    if found is not None:
        reminder.level_id = found.id
        reminder.level_names = reminder.level_names or dict(found.names or {})
        reminder.formal_notice = bool(reminder.formal_notice or found.formal_notice)
