"""The customers' answers that hold an invoice's reminders (relance/models/answer.py), as engine exclusions.

An open dispute holds until an agent resolves it (`disputed`); an open paid claim (`paid_claimed`) or promise
(`promised`) holds through its `hold_until` day, then the chase resumes at the next level. One function decides
(`hold_of`); the set-based selection, the reference, the rulebook and the SQL of the mass page apply it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from relance.models import Answer

HOLD_CODES = ("disputed", "paid_claimed", "promised")
_CODE = {"dispute": "disputed", "paid": "paid_claimed", "promise": "promised"}


def _holding(on: date):
    """WHERE terms of the answers holding their invoice on `on`."""
    return (Answer.status == "open", or_(Answer.kind == "dispute", Answer.hold_until >= on))


def hold_of(answers: Iterable, on: date) -> tuple[str, tuple] | None:
    """(code, arguments of its reason) of what holds the invoice on `on`, from its answers (objects or rows), or
    None. A dispute first; else the paid claim or promise that holds longest (a paid claim before a promise on the
    same day)."""
    best = None
    for answer in answers:
        if answer.status != "open":
            continue
        if answer.kind == "dispute":
            return "disputed", (answer.created_at.date(),)
        if answer.hold_until is None or answer.hold_until < on:
            continue
        rank = (answer.hold_until, answer.kind == "paid", answer.id)
        if best is None or rank > best[0]:
            given = answer.paid_on if answer.kind == "paid" else answer.promise_date
            best = rank, (_CODE[answer.kind], (given, answer.hold_until))
    return best[1] if best else None


def holds(session: Session, on: date) -> dict[int, tuple[str, tuple]]:
    """{invoice id: hold} of the invoices held on `on`: one query over the open answers (few: answers are closed as
    agents handle them)."""
    query = select(Answer.id, Answer.invoice_id, Answer.kind, Answer.status, Answer.hold_until, Answer.paid_on,
                   Answer.promise_date, Answer.created_at).where(*_holding(on))
    by_invoice: dict[int, list] = defaultdict(list)
    for row in session.execute(query):
        by_invoice[row.invoice_id].append(row)
    return {invoice_id: hold for invoice_id, rows in by_invoice.items() if (hold := hold_of(rows, on))}


def held_ids(on):
    """A SELECT of the ids of the invoices an answer holds on `on` (a value or a bound parameter)."""
    return select(Answer.invoice_id).where(*_holding(on))
