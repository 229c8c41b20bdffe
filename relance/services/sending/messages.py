"""One message for several invoices of a customer (the `group_by_customer` setting, or the customer's own choice).

Every invoice keeps its own reminder row (its key, level, amounts and history); the rows of one message hold the
key of the row that carries it (`Reminder.message_key`): the lead, the highest level (then the oldest due date),
whose level text is the message's, rendered for them all (`wording.Renderer.render(group=...)`). Only rows that
can go share a message, with the same language and currency and the same recipients and sender (an email) or
postal address (a letter). `send()` sends a lead with its members (one email with every invoice attached, or one
letter with every invoice enclosed) and gives them its outcome; cancelling one cancels the message
(`dunning.cancel`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from relance.models import Customer, Invoice, Reminder, ReminderLevel, Run
from relance.models.reminder import claimable
from relance.services.letters.invoice_pdf import invoice_pdf_path
from relance.services.texts import wording

# (the row's values, its invoice, its level): a row about to be written, or a written row's values
Item = tuple[dict[str, Any], Invoice, ReminderLevel]


def grouped(customer: Customer, settings) -> bool:
    """Whether this customer's invoices reminded together share one message."""
    return settings.group_by_customer if customer.group_reminders is None else bool(customer.group_reminders)


def _together_key(values: dict[str, Any], invoice: Invoice, channel: str, settings) -> tuple | None:
    """What rows must share to share a message: the customer, language and currency, and the same recipients (an
    email) or the same postal address (a letter: its attention line names the invoice's billing contact)."""
    if channel not in ("email", "letter") or values.get("status") != "pending":
        return None  # a phone call is each invoice's own; a row that cannot go goes nowhere
    if not grouped(invoice.customer, settings):
        return None
    if channel == "letter":
        return (invoice.customer_id, values.get("language"), invoice.currency, invoice.billing_contact_id)
    return (invoice.customer_id, values.get("language"), values.get("sender"), tuple(values.get("recipients") or ()),
            tuple(values.get("cc") or ()), invoice.currency)


GENERATED_PDF_BYTES = 60 * 1024  # what a generated invoice PDF weighs at most, counted before it is made


def pdf_bytes(invoice: Invoice) -> int:
    """The size of the invoice's PDF in an email: its uploaded file's, else a generated one's at most."""
    path = invoice_pdf_path(invoice)
    return path.stat().st_size if path is not None else GENERATED_PDF_BYTES


def within(members: list[Item], channel: str, max_bytes: int | None) -> list[list[Item]]:
    """The items of one message cut, in the table's order, into emails whose invoice PDFs stay under `max_bytes`
    (an invoice larger than that alone); a letter, or no limit: one."""
    members = sorted(members, key=lambda m: (m[1].due_date or date.min, m[1].number))
    if channel != "email" or max_bytes is None:
        return [members]
    parts: list[list[Item]] = [[]]
    size = 0
    for member in members:
        weight = pdf_bytes(member[1])
        if parts[-1] and size + weight > max_bytes:
            parts.append([])
            size = 0
        parts[-1].append(member)
        size += weight
    return parts


def share(items: Iterable[Item], channel: str, renderer: wording.Renderer, settings, user=None,
          max_bytes: int | None = None) -> int:
    """Put the items (rows of one channel made together) that go to the same people into shared messages: each
    such row gets the message's subject and body and the lead's key as `message_key`. `max_bytes`: an email's
    invoice PDFs at most (SEND_ATTACHMENTS_MAX_MB: more make several emails). Returns how many messages are
    shared."""
    together: dict[tuple, list[Item]] = {}
    for item in items:
        key = _together_key(item[0], item[1], channel, settings)
        if key is not None:
            together.setdefault(key, []).append(item)
    shared = 0
    for members in (part for group in together.values() for part in within(group, channel, max_bytes)):
        if len(members) < 2:
            continue
        # the highest level, then the oldest due date (a reminded invoice has one: eligibility refuses the others)
        lead = max(members, key=lambda m: (m[2].rank, -cast(date, m[1].due_date).toordinal(), -m[1].id))
        values, invoice, level = lead
        rendered = renderer.render(invoice, level, channel, user=user, language=values.get("language"),
                                   page_url=values.get("page_url") or "",
                                   group=[(m[1], m[2]) for m in members if m is not lead])
        if rendered is None:  # the lead's own text was found a moment ago
            continue
        for member_values, _, _ in members:
            member_values.update(subject=rendered.subject[:300], body=rendered.text, message_key=values["key"])
        shared += 1
    return shared


def share_run(session: Session, run: Run, settings, renderer: wording.Renderer, user=None,
              max_bytes: int | None = None) -> int:
    """`share` for a run's emails and letters already written and not sent yet (a mass run, once all its rows are
    made): rows nobody holds, none handed to the server. The caller commits."""
    from relance.services.sending.dunning import LOADED, sqlite_write_lock

    query = (select(Reminder).where(Reminder.run_id == run.id, Reminder.status == "pending",
                                    Reminder.message_key.is_(None), Reminder.claimed_by.is_(None),
                                    Reminder.message_id.is_(None))
             .order_by(Reminder.id))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    else:
        sqlite_write_lock(session)
    rows = list(session.scalars(query))
    if len(rows) < 2:
        return 0
    invoices = {i.id: i for i in session.scalars(select(Invoice).where(
        Invoice.id.in_({r.invoice_id for r in rows})).options(*LOADED))}
    renderer.prefetch(invoices.values())
    items: dict[str, list[Item]] = {}
    for row in rows:
        if row.level_ref is not None:
            values = {name: getattr(row, name) for name in
                      ("key", "status", "language", "sender", "recipients", "cc", "page_url", "subject", "body")}
            items.setdefault(row.channel, []).append((values, invoices[row.invoice_id], row.level_ref))
    shared = sum(share(together, channel, renderer, settings, user, max_bytes) for channel, together in items.items())
    by_key = {row.key: row for row in rows}
    for values, _, _ in (item for together in items.values() for item in together):
        if values.get("message_key"):
            row = by_key[values["key"]]
            row.subject, row.body, row.message_key = values["subject"], values["body"], values["message_key"]
    return shared


def leads_of(session: Session, ids: Sequence[int]) -> list[int]:
    """The rows to send for `ids`: a member of a shared message stands for its lead while the lead is pending
    (it goes with it), else for itself."""
    ids = sorted(set(ids))
    out: set[int] = set()
    for start in range(0, len(ids), 500):
        members: dict[str, list[int]] = {}
        for row in session.execute(select(Reminder.id, Reminder.key, Reminder.message_key)
                                   .where(Reminder.id.in_(ids[start:start + 500]))):
            if row.message_key and row.message_key != row.key:
                members.setdefault(row.message_key, []).append(row.id)
            else:
                out.add(row.id)
        if members:
            leads = dict(session.execute(select(Reminder.key, Reminder.id).where(
                Reminder.key.in_(list(members)), Reminder.message_key == Reminder.key,
                Reminder.status == "pending")).all())
            for key, member_ids in members.items():
                out.update([leads[key]] if key in leads else member_ids)
    return sorted(out)


def claim_members(session: Session, lead_ids: Sequence[int], worker: str, now: datetime,
                  stale: datetime) -> dict[int, list[int]]:
    """Claim, for `worker`, the pending members of the shared messages carried by these rows it claimed (free ones:
    held by nobody, or by a claim older than `stale` that handed nothing over); returns lead id -> its members'
    ids. The caller commits (before loading the rows: a commit expires what is loaded)."""
    found: dict[int, list[int]] = {}
    ids = sorted(set(lead_ids))
    free = claimable(stale)
    for start in range(0, len(ids), 500):
        keys = dict(session.execute(select(Reminder.key, Reminder.id).where(
            Reminder.id.in_(ids[start:start + 500]), Reminder.message_key == Reminder.key)).all())
        if not keys:
            continue
        which = and_(Reminder.message_key.in_(list(keys)), Reminder.key.not_in(list(keys)),
                     Reminder.status == "pending")
        session.execute(update(Reminder).where(which, free).values(claimed_by=worker, claimed_at=now)
                        .execution_options(synchronize_session=False))
        for member_id, message_key in session.execute(select(Reminder.id, Reminder.message_key).where(
                which, Reminder.claimed_by == worker).order_by(Reminder.id)):
            found.setdefault(keys[str(message_key)], []).append(member_id)  # one of the keys: not None
    return found
