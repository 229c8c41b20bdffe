"""Writing a plan: one all-or-nothing bulk write.

`apply_plan(session, plan, user)` writes a plan without errors (inserts and updates in chunks, an audit entry);
the caller commits, or rolls back on error, so a file is imported whole or not at all. `Invoice.amount_paid` and
the paid status follow the payments by themselves (triggers, `models/paid_state.py`). A customer's `sales_reps`
column replaces its sales representatives; invoices get their customer's contacts (`contacts.link_contacts`); credit
notes the invoice they credit, by number, and their payment on it (`credit_notes.sync`).
Contacts and the reminders history are written by their own modules.
"""

from __future__ import annotations

from sqlalchemy import delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from relance.models import Customer, Invoice, Payment, User
from relance.models.customer import customer_sales_reps
from relance.services import audit, credit_notes
from relance.services.data_in.plan import KEY, ImportPlan, chunks, own_module, read_policies


def apply_plan(session: Session, plan: ImportPlan, user=None) -> None:
    """Write a plan without errors in bulk (the caller commits, or rolls back on error)."""
    if not plan.ok:
        raise ValueError("a plan with errors can't be applied")
    model = {"customers": Customer, "invoices": Invoice}.get(plan.kind)
    if plan.kind == "invoices":
        _find_coming_customers(session, plan)
    module = own_module(plan.kind)
    if module is not None:
        module.apply(session, plan)
    elif model is not None:
        if plan.kind == "customers":
            _policy_ids(session, plan)
        drop = {"customer_code", "sales_reps", "credits_invoice", "policy"}
        created = [{k: v for k, v in c.values.items() if k not in drop} for c in plan.changes if c.action == "create"]
        updated = [{"id": c.record_id, **{k: v for k, v in c.values.items() if k not in drop | {KEY[plan.kind]}}}
                   for c in plan.changes if c.action == "update"]
        for chunk in chunks(created):
            session.execute(insert(model), chunk)
        for chunk in chunks(updated):
            session.execute(update(model), chunk)
        if plan.kind == "customers" and "sales_reps" in plan.columns:
            _apply_sales_reps(session, plan)
        if plan.kind == "invoices":
            from relance.services.data_in.contacts import link_contacts

            link_contacts(session, {c.values["customer_id"] for c in plan.changes})
            _apply_credits(session, plan)
    else:
        _apply_payments(session, plan)
    audit.record(session, user, "import", plan.kind, after={
        "file": plan.filename, "created": plan.created, "updated": plan.updated, "unchanged": plan.unchanged})
    session.flush()
    session.expire_all()


def _apply_payments(session: Session, plan: ImportPlan) -> None:
    rows = [{"invoice_id": c.record_id, "date": c.values["date"], "amount": c.values["amount"],
             "reference": c.values["reference"]} for c in plan.changes if c.action == "create"]
    for chunk in chunks(rows):
        session.execute(insert(Payment), chunk)


def _apply_credits(session: Session, plan: ImportPlan) -> None:
    """The credited invoices of the `credits_invoice` column, by number (an invoice of the same file included, written
    now), then the payments of the file's credit notes (and of the invoices that were credit notes)."""
    named = [c for c in plan.changes if c.action != "unchanged" and "credits_invoice" in c.values]
    numbers = sorted({c.key for c in named} | {c.values["credits_invoice"] for c in named} - {""})
    ids: dict[str, int] = {}
    for chunk in chunks(numbers):
        ids.update(session.execute(select(Invoice.number, Invoice.id).where(Invoice.number.in_(chunk))).all())
    rows = [{"id": ids[c.key], "credits_invoice_id": ids.get(c.values["credits_invoice"])} for c in named]
    for chunk in chunks(rows):
        session.execute(update(Invoice), chunk)
    keys = [c.key for c in plan.changes if c.action != "unchanged"]
    notes: list[int] = []
    for chunk in chunks(keys):
        notes += session.scalars(select(Invoice.id).where(Invoice.number.in_(chunk), or_(
            Invoice.kind == "credit_note", exists().where(Payment.credit_note_id == Invoice.id))))
    credit_notes.sync(session, notes)


def _find_coming_customers(session: Session, plan: ImportPlan) -> None:
    """The ids of the customers an import created before its invoices (`plan_records(..., coming=...)`)."""
    waiting = [c for c in plan.changes if c.action != "unchanged" and c.values.get("customer_id") is None]
    codes = sorted({c.values["customer_code"] for c in waiting})
    found: dict[str, int] = {}
    for chunk in chunks(codes):
        found.update(session.execute(select(Customer.code, Customer.id).where(Customer.code.in_(chunk))).all())
    for change in waiting:
        change.values["customer_id"] = found[change.values["customer_code"]]


def _policy_ids(session: Session, plan: ImportPlan) -> None:
    """A customer's `policy` (a policy's name as stored, planned by `plan._plan_customers`) becomes its `policy_id`:
    None for the default policy (the customer follows whichever policy is the default)."""
    ids = {name: (None if is_default else policy_id) for policy_id, name, is_default in read_policies(session)}
    for change in plan.changes:
        if "policy" in change.values and change.action != "unchanged":
            change.values["policy_id"] = ids.get(change.values["policy"])


def _apply_sales_reps(session: Session, plan: ImportPlan) -> None:
    """The `sales_reps` column replaces the sales representatives of the customers whose list changed."""
    changed = [c for c in plan.changes if c.action == "create" and c.values.get("sales_reps")
               or c.action == "update" and "sales_reps" in c.changes]
    if not changed:
        return
    ids = dict(session.execute(select(Customer.code, Customer.id).where(
        Customer.code.in_([c.key for c in changed]))).all())
    emails = {e.lower() for c in changed for e in (c.values.get("sales_reps") or "").split(", ") if e}
    users: dict[str, int] = dict(session.execute(select(func.lower(User.email), User.id).where(
        func.lower(User.email).in_(sorted(emails)))).all())
    for chunk in chunks(sorted(ids.values())):
        session.execute(delete(customer_sales_reps).where(customer_sales_reps.c.customer_id.in_(chunk)))
    rows = [{"customer_id": ids[c.key], "user_id": users[e.lower()]}
            for c in changed for e in (c.values.get("sales_reps") or "").split(", ") if e]
    for chunk in chunks(rows):
        session.execute(insert(customer_sales_reps), chunk)
