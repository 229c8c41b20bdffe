"""Contacts of the customers (billing, invoice follow-up), from a file or the API: checked and written like the
other kinds (`plan.plan_records` calls `plan_rows`, `apply.apply_plan` calls `apply`).

Key: the customer's code + the contact's email (compared without case): an existing contact is updated, a new one
created. Role: billing ("contact client facturation") or followup ("responsable suivi facture client"), French
words accepted (facture, relance).

Who receives a reminder email is the invoice's contacts (`engine.recipients`: the invoice's follow-up contact, else
its billing contact, else the customer's email). So that imported contacts route the emails, `link_contacts` gives
a customer's invoices that name no contact of a role its first contact of that role (with an email): after a
contacts import, and after an invoices import (an invoice imported later gets them too). An invoice that already
names a contact keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, insert, select, update
from sqlalchemy.orm import Session

from relance.models import Contact, Customer, Invoice
from relance.services.data_in.plan import DEFAULTS, Change, ImportPlan, _diff, _digest, chunks

FIELDS = ("name", "first_name", "email", "phone", "role")


def _read(session: Session, codes: Iterable[str]) -> tuple[dict[str, int], dict[tuple[int, str], dict]]:
    """The customers of these codes (code -> id) and their contacts ((customer id, lower-case email) -> columns;
    the first one when two share an email)."""
    customers: dict[str, int] = {}
    for chunk in chunks(sorted(set(codes))):
        customers.update(session.execute(select(Customer.code, Customer.id).where(Customer.code.in_(chunk))).all())
    contacts: dict[tuple[int, str], dict] = {}
    for chunk in chunks(sorted(customers.values())):
        for row in session.execute(select(Contact.id, Contact.customer_id, *(getattr(Contact, f) for f in FIELDS))
                                   .where(Contact.customer_id.in_(chunk)).order_by(Contact.id)):
            contacts.setdefault((row.customer_id, row.email.lower()), row._asdict())
    return customers, contacts


def basis(session: Session, plan: ImportPlan) -> str:
    customers, contacts = _read(session, [c.values["customer_code"] for c in plan.changes])
    return _digest(customers.items(), contacts.items())


def plan_rows(session: Session, parsed, plan: ImportPlan, labels: dict, today) -> None:
    label = lambda column: labels.get(column, column)  # noqa: E731
    customers, existing = _read(session, [v["customer_code"] for _, v, _ in parsed if v.get("customer_code")])
    plan.basis = _digest(customers.items(), existing.items())
    first_line: dict[tuple[str, str], int] = {}
    for line, values, failed in parsed:
        code, email = values.get("customer_code"), values.get("email")
        if code and code not in customers:
            plan.add_error(line, label("customer_code"), _l(
                'Unknown customer code "%(code)s": import the customers first.', code=code), code, "customer_code")
            failed = True
        if code and email:
            seen = first_line.setdefault((code, email.lower()), line)
            if seen != line:
                plan.add_error(line, label("email"), _l(
                    '"%(value)s" is already on line %(line)s of this file.', value=f"{code} {email}", line=seen),
                    email, "email")
                failed = True
        if failed:
            continue
        customer_id = customers[code]
        current = existing.get((customer_id, email.lower()))
        key = f"{code} · {email}"
        if current is None:
            plan.changes.append(Change(line, "create", key, {**DEFAULTS["contacts"], **values,
                                                               "customer_id": customer_id}))
            continue
        changes = _diff(current, {k: v for k, v in values.items() if k in FIELDS})
        plan.changes.append(Change(line, "update" if changes else "unchanged", key,
                                   {**values, "customer_id": customer_id}, changes, current["id"]))


def apply(session: Session, plan: ImportPlan) -> None:
    """Write the contacts, then link them to their customers' invoices (`link_contacts`)."""
    created = [{"customer_id": c.values["customer_id"], **{f: c.values.get(f, DEFAULTS["contacts"].get(f, ""))
                                                           for f in FIELDS}}
               for c in plan.changes if c.action == "create"]
    updated = [{"id": c.record_id, **{f: c.values[f] for f in FIELDS if f in c.values}}
               for c in plan.changes if c.action == "update"]
    for chunk in chunks(created):
        session.execute(insert(Contact), chunk)
    for chunk in chunks(updated):
        session.execute(update(Contact), chunk)
    link_contacts(session, {c.values["customer_id"] for c in plan.changes})


def link_contacts(session: Session, customer_ids: Iterable[int]) -> None:
    """The invoices of these customers that name no follow-up (billing) contact get the customer's first follow-up
    (billing) contact that has an email; the others are left as they are."""
    for role, column in (("followup", Invoice.followup_contact_id), ("billing", Invoice.billing_contact_id)):
        first = (select(Contact.id).where(and_(Contact.customer_id == Invoice.customer_id, Contact.role == role,
                                               Contact.email != ""))
                 .order_by(Contact.id).limit(1).correlate(Invoice).scalar_subquery())
        for chunk in chunks(sorted(set(customer_ids))):
            session.execute(update(Invoice).where(Invoice.customer_id.in_(chunk), column.is_(None))
                            .values({column: first}).execution_options(synchronize_session=False))
