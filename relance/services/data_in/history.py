"""The reminders already sent by a previous tool (Dolibarr's reminder module, another accounting tool), so that the
reminder engine goes on from where that tool stopped: an invoice whose history says "level 2 sent" gets level 3
next, not level 1.

Rows: invoice_number, level (its rank), date, channel (email / letter, courriel / courrier), note. Each becomes a
Reminder row already delivered (an email `sent`, a letter `posted`: `engine.levels.DELIVERED_STATUSES`), without
message, recipients or PDF, with the key `import:<invoice id>:<rank>:<channel>:<date>` and a note saying it was
imported; the reminder-state triggers update the invoice's level and last reminder date as for any reminder. An
invoice the previous tool was chasing stays in the automatic schedule from its next level (`Invoice.auto_from_rank`,
as a person bringing it in after the go-live step would do), so "overdue before go-live" does not stop it.

Refused (row errors, nothing saved): an unknown invoice, a rank no level has, a date in the future, a reminder the
invoice already has at that level by that channel (made here, or imported on another date), the same invoice,
level and channel twice in the file. The same row imported again is "unchanged".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from relance.models import Customer, Invoice, Reminder, ReminderLevel
from relance.services.data_in.plan import DEFAULTS, Change, Day, ImportPlan, _digest, chunks, unknown_invoice
from relance.services.engine.levels import DONE_STATUSES, default_policy_id

CHANNEL_LABELS = {"email": _l("by email"), "letter": _l("by letter")}
STATUS_OF = {"email": "sent", "letter": "posted"}  # delivered: the engine counts the level as reached


def import_key(invoice_id: int, rank: int, channel: str, on) -> str:
    return f"import:{invoice_id}:{rank}:{channel}:{on.isoformat()}"


def _read(session: Session, numbers: Iterable[str]):
    """The invoices of these numbers (number -> columns, with their customer's policy), the levels ((policy, rank)
    -> columns) and the done reminders of those invoices ((invoice id, rank, channel) -> [(key, date)])."""
    invoices: dict[str, dict] = {}
    policy = func.coalesce(Customer.policy_id, default_policy_id(session)).label("policy")
    for chunk in chunks(sorted(set(numbers))):
        for row in session.execute(select(Invoice.id, Invoice.number, Customer.language, policy)
                                   .join(Customer, Customer.id == Invoice.customer_id)
                                   .where(Invoice.number.in_(chunk))):
            invoices[row.number] = row._asdict()
    levels = {(row.policy_id, row.rank): row._asdict() for row in session.execute(
        select(ReminderLevel.policy_id, ReminderLevel.rank, ReminderLevel.id, ReminderLevel.names,
               ReminderLevel.formal_notice))}
    done: dict[tuple[int, int, str], list] = {}
    for chunk in chunks(sorted(i["id"] for i in invoices.values())):
        for made in session.execute(select(Reminder.invoice_id, Reminder.level, Reminder.channel, Reminder.key,
                                           Reminder.reminder_date)
                                    .where(Reminder.invoice_id.in_(chunk), Reminder.status.in_(DONE_STATUSES))
                                    .order_by(Reminder.id)):
            done.setdefault((made.invoice_id, made.level, made.channel), []).append((made.key, made.reminder_date))
    return invoices, levels, done


def basis(session: Session, plan: ImportPlan) -> str:
    invoices, levels, done = _read(session, [c.key for c in plan.changes])
    return _digest(invoices.items(), levels.items(), done.items())


def plan_rows(session: Session, parsed, plan: ImportPlan, labels: dict, today) -> None:
    label = lambda column: labels.get(column, column)  # noqa: E731
    invoices, levels, done = _read(session, [v["invoice_number"] for _, v, _ in parsed if v.get("invoice_number")])
    plan.basis = _digest(invoices.items(), levels.items(), done.items())
    first_line: dict[tuple[str, int, str], int] = {}
    for line, values, failed in parsed:
        number, rank, channel, day = (values.get(c) for c in ("invoice_number", "level", "channel", "date"))
        invoice = invoices.get(number) if number else None
        if number and invoice is None:
            unknown_invoice(plan, line, label("invoice_number"), number)
            failed = True
        ranks = {r for p, r in levels if invoice is None or p == invoice["policy"]}  # of the customer's policy
        if rank is not None and rank not in ranks:
            plan.add_error(line, label("level"), _l(
                "No reminder level has rank %(rank)s (ranks: %(ranks)s).", rank=rank,
                ranks=", ".join(str(r) for r in sorted(ranks)) or "—"), plan.cell(line, "level"), "level")
            failed = True
        if day is not None and day > today:
            plan.add_error(line, label("date"), _l(
                "The reminder date %(date)s is in the future.", date=Day(day)), plan.cell(line, "date"), "date")
            failed = True
        if number and rank is not None and channel:
            seen = first_line.setdefault((number, rank, channel), line)
            if seen != line:
                plan.add_error(line, label("level"), _l(
                    "Invoice %(number)s, level %(rank)s %(channel)s is already on line %(line)s of this file.",
                    number=number, rank=rank, channel=CHANNEL_LABELS[channel], line=seen),
                    plan.cell(line, "level"), "level")
                failed = True
        if failed or invoice is None or rank is None or channel is None or day is None:
            continue
        key = import_key(invoice["id"], rank, channel, day)
        made = done.get((invoice["id"], rank, channel), [])
        if any(k == key for k, _ in made):
            plan.changes.append(Change(line, "unchanged", number, values, record_id=invoice["id"]))
            continue
        if made:
            plan.add_error(line, label("level"), _l(
                "Invoice %(number)s already has a level %(rank)s reminder %(channel)s (%(date)s): it is not "
                "recorded twice.", number=number, rank=rank, channel=CHANNEL_LABELS[channel], date=Day(made[0][1])),
                plan.cell(line, "level"), "level")
            continue
        level = levels[(invoice["policy"], rank)]
        plan.changes.append(Change(line, "create", number, {
            **DEFAULTS["history"], **values, "key": key, "invoice_id": invoice["id"], "level_id": level["id"],
            "level_names": dict(level["names"] or {}), "formal_notice": bool(level["formal_notice"]),
            "language": invoice["language"] or "fr"}, record_id=invoice["id"]))


def apply(session: Session, plan: ImportPlan) -> None:
    """Write the reminders as delivered, marked imported (the reminder-state triggers move the invoices on)."""
    marker = _("Imported from the previous tool.")
    rows = []
    for change in plan.changes:
        if change.action != "create":
            continue
        v = change.values
        rows.append({
            "key": v["key"], "invoice_id": v["invoice_id"], "level_id": v["level_id"], "level": v["level"],
            "level_names": v["level_names"], "formal_notice": v["formal_notice"], "channel": v["channel"],
            "note": f"{marker} {v['note']}".strip(), "user_id": None, "reminder_date": v["date"],
            "status": STATUS_OF[v["channel"]], "language": v["language"],
            "sent_at": datetime.combine(v["date"], datetime.min.time()), "attempts": 0})
    for chunk in chunks(rows):
        session.execute(insert(Reminder), chunk)
    reached: dict[int, int] = {}
    for row in rows:
        reached[row["invoice_id"]] = max(reached.get(row["invoice_id"], -1), row["level"])
    for invoice_id, rank in reached.items():  # few rows: one statement each, only where nobody chose a level yet
        session.execute(update(Invoice).where(Invoice.id == invoice_id, Invoice.auto_from_rank.is_(None))
                        .values(auto_from_rank=rank + 1))
