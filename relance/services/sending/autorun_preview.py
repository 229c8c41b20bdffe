"""What the automatic run would do, for the pages and the CLI's `--dry-run`; the run itself is `autorun`.

- `dry_run(session, on)`: the reminders the run of `on` would make, with rendered previews; nothing is written.
- `find_invoice`, `test_invoice(session, invoice, on)`: the test page, what the run would do for one invoice and
  why (the engine's explanation); `send_one` makes and sends that reminder now, with the run's key (never twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from relance.models import Invoice, Reminder, ReminderLevel
from relance.models.base import MAX_ID
from relance.services import answers
from relance.services import settings as settings_service
from relance.services.engine import schedule as engine
from relance.services.engine.levels import levels_by_id
from relance.services.errors import RelanceError
from relance.services.sending import autorun, dunning, messages
from relance.services.sending.config import SendingConfig, given
from relance.services.texts import wording


class AutoRunError(RelanceError):
    """A request the automatic run cannot do; `field` names the form field at fault."""

    def __init__(self, field_name: str, message):
        super().__init__(message, field=field_name)


@dataclass
class Preview:
    due: engine.DueReminder
    channel: str
    subject: str
    text: str
    language: str
    together: tuple[str, ...] = ()  # the other invoices in the same email or letter (`messages.share`)


@dataclass
class DryRun:
    plan: autorun.Plan
    previews: list[Preview]
    already: set[int]  # invoices with an automatic reminder on that date already

    @property
    def count(self) -> int:
        return sum(len(channels) for due, channels in self.plan.items if due.invoice_id not in self.already)


def dry_run(session: Session, on: date, now: datetime | None = None, limit: int | None = None,
            config: SendingConfig | None = None) -> DryRun:
    """What the run of `on` would send, with rendered previews (the first `limit`), a customer's invoices in one
    preview when they would share one email or letter; nothing is written. `config` (the current app's when
    None): its PUBLIC_URL shows what the link to the customer's page looks like (no link is made), its attachments
    limit cuts messages as the run would."""
    config = given(config)
    settings = settings_service.load(session)
    now = now or autorun.run_moment(on, settings)
    result = autorun.plan(session, on, now, settings)
    already = autorun.made_today(session, on, [due.invoice_id for due, _ in result.items])
    todo = [(due, channel) for due, channels in result.items if due.invoice_id not in already for channel in channels]
    if limit == 0 or not todo:
        return DryRun(result, [], already)
    levels = levels_by_id(session)
    renderer = wording.Renderer(session, on, settings)  # texts, rates and tables read once for the whole list
    link = answers.preview_url(config.public_url)
    by_customer: dict[int, list[tuple[engine.DueReminder, str]]] = {}  # a message never joins two customers
    for due, channel in todo:
        by_customer.setdefault(due.customer_id, []).append((due, channel))
    previews: list[Preview] = []
    for customer_todo in by_customer.values():  # only the customers of the previews shown are read and rendered
        if limit is not None and len(previews) >= limit:
            break
        previews += _previews(session, customer_todo, levels, renderer, settings, link, config)
    return DryRun(result, previews[:limit] if limit is not None else previews, already)


def _previews(session: Session, todo: list[tuple[engine.DueReminder, str]], levels: dict[int, ReminderLevel],
              renderer: wording.Renderer, settings, link: str, config: SendingConfig) -> list[Preview]:
    """One customer's previews: one per email or letter, the invoices that would share one in a single preview."""
    invoices = {i.id: i for i in session.scalars(select(Invoice).where(
        Invoice.id.in_([due.invoice_id for due, _ in todo])).options(*dunning.LOADED))}
    items: dict[str, list[messages.Item]] = {}
    for due, channel in todo:  # the values `messages.share` reads, as the run would write them
        values: dict[str, Any] = {"key": f"{due.invoice_id}:{channel}", "status": "pending",
                                  "language": due.language, "sender": due.sender, "recipients": list(due.to),
                                  "cc": list(due.cc), "page_url": link}
        items.setdefault(channel, []).append((values, invoices[due.invoice_id], levels[due.level_id]))
    for channel, together in items.items():
        messages.share(together, channel, renderer, settings, max_bytes=config.attachments_max_bytes)
    by_key = {item[0]["key"]: item for together in items.values() for item in together}
    members: dict[str, list[str]] = {}
    for values, invoice, _ in by_key.values():
        if values.get("message_key", values["key"]) != values["key"]:
            members.setdefault(values["message_key"], []).append(invoice.number)
    previews: list[Preview] = []
    for due, channel in todo:
        values, invoice, level = by_key[f"{due.invoice_id}:{channel}"]
        if values.get("message_key", values["key"]) != values["key"]:
            continue  # in the preview of the email or letter it goes with
        if "message_key" not in values:
            rendered = renderer.render(invoice, level, channel, page_url=link)
            values.update(subject=rendered.subject if rendered else "", body=rendered.text if rendered else "",
                          language=rendered.language if rendered else "")
        previews.append(Preview(due, channel, values["subject"], values["body"], values["language"] or "",
                                tuple(members.get(values["key"], ()))))
    return previews


def find_invoice(session: Session, raw: str) -> Invoice:
    raw = (raw or "").strip()
    if not raw:
        raise AutoRunError("invoice", _l("Enter an invoice number or id."))
    invoice = session.scalar(select(Invoice).where(Invoice.number == raw))
    if invoice is None and raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) <= MAX_ID:
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
    now = now or autorun.run_moment(on, settings)
    explanation = engine.explain(session, invoice, on, now, automatic=True, language=language)
    result = autorun.plan(session, on, now, settings)
    found = next(((due, channels) for due, channels in result.items if due.invoice_id == invoice.id), None)
    note = ""
    if found is None and explanation.status == "due":
        note = str(_l("Automatic letters are off: the letter of this level is not made automatically."))
    existing = list(session.scalars(select(Reminder).where(
        Reminder.invoice_id == invoice.id, Reminder.reminder_date == on, Reminder.user_id.is_(None),
        Reminder.status != "cancelled").order_by(Reminder.id)))
    return InvoiceTest(invoice, on, explanation, found[0] if found else None, found[1] if found else (), existing,
                       note)


def send_one(session: Session, invoice: Invoice, on: date, now: datetime | None = None, *,
             config: SendingConfig) -> list[Reminder]:
    """Make and send now the automatic reminder of one invoice for `on` (same key as the run: never twice).
    Commits in steps."""
    settings = settings_service.load(session)
    if on > autorun.local_today(settings, now):
        raise AutoRunError("on", _l("Only today's or an earlier date's reminder can be sent now."))
    check = test_invoice(session, invoice, on, autorun.run_moment(on, settings, now))
    if check.existing:
        raise AutoRunError("invoice", _l("The automatic reminder of %(number)s for %(day)s was already made.",
                                         number=invoice.number, day=on.isoformat()))
    if check.due is None or not check.can_send:
        raise AutoRunError("invoice", _l("Nothing is due automatically for %(number)s on %(day)s.",
                                         number=invoice.number, day=on.isoformat()))
    level = session.get_one(ReminderLevel, check.due.level_id)
    autorun.lock_day(session, on)
    try:
        rows = [dunning.create_reminder(session, invoice, level, channel, on, settings=settings, config=config)
                for channel in check.channels]
    except dunning.ReminderRefused as refused:
        session.rollback()
        raise AutoRunError("invoice", str(refused.verdict)) from None
    session.commit()
    dunning.send([r.id for r in rows], session=session, group_size=1, config=config)
    for row in rows:
        session.refresh(row)
    return rows
