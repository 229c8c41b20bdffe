"""Small factories for test data: make_invoice(...) and friends. They add to db.session and flush."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from relance.extensions import db
from relance.models import Contact, Customer, Invoice, Payment, Reminder, User, paid_state

_seq = itertools.count(1)

# The moment at which the tests that depend on "today" run the app (`@pytest.mark.clock`, which sets
# app.config["CLOCK"]; DEVELOPERS.md "One clock"), never the machine's date: a Tuesday, 11:00 in Paris.
NOW = datetime(2026, 6, 16, 9, 0, tzinfo=UTC)
TODAY = date(2026, 6, 16)  # NOW's date in the company's time zone (Europe/Paris, the default setting)


def make_user(email: str | None = None, role: str = "agent", password: str = "correct horse 42", **kw) -> User:
    n = next(_seq)
    user = User(email=email or f"user{n}@test.example", role=role, name=kw.pop("name", f"User {n}"), **kw)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def make_customer(code: str | None = None, **kw) -> Customer:
    n = next(_seq)
    kw.setdefault("name", f"Customer {n}")
    kw.setdefault("email", f"billing{n}@customer.example")
    kw.setdefault("address", f"{n} rue de la Paix")
    kw.setdefault("postcode", "75002")
    kw.setdefault("city", "Paris")
    contacts = kw.pop("contacts", [])
    customer = Customer(code=code or f"C{n:05d}", **kw)
    for contact in contacts:
        customer.contacts.append(contact if isinstance(contact, Contact) else Contact(**contact))
    db.session.add(customer)
    db.session.flush()
    return customer


def make_invoice(
    customer: Customer | None = None,
    total: Decimal | str | int = "1200.00",
    due: date | None = date(2026, 1, 15),
    issue: date | None = None,
    paid: Decimal | str | int = "0",
    number: str | None = None,
    **kw,
) -> Invoice:
    """An invoice (validated, kind invoice by default); `paid` adds one payment on the due date."""
    n = next(_seq)
    customer = customer or make_customer()
    total = Decimal(str(total))
    kw.setdefault("total_excl_tax", (total / Decimal("1.2")).quantize(Decimal("0.01")))
    invoice = Invoice(
        number=number or f"FA-{n:06d}",
        customer=customer,
        issue_date=issue or ((due or date(2026, 1, 1)) - timedelta(days=30)),
        due_date=due,
        total_incl_tax=total,
        **kw,
    )
    db.session.add(invoice)
    paid = Decimal(str(paid))
    if paid:
        make_payment(invoice, paid, on=due or invoice.issue_date)
    db.session.flush()
    return invoice


def make_payment(invoice: Invoice, amount: Decimal | str, on: date) -> Payment:
    payment = Payment(date=on, amount=Decimal(str(amount)))  # appended once below (not also via invoice=)
    invoice.payments.append(payment)
    db.session.flush()
    db.session.expire(invoice, paid_state.DERIVED)  # amount_paid and status, as the triggers left them
    return payment


def go_live(session=None, on: date = date(2000, 1, 1), automatic=(0, 1, 2)) -> None:
    """Mark the company live since `on` (the go-live step done, automatic sending from that day) with the levels
    `automatic` automatic, the others not: what the tests of automatic sending need, since a new company sends
    nothing automatically before its go-live step (services/golive.py). Its default day is before every invoice of
    the tests, so none is "overdue before go-live"."""
    from relance.models import ReminderLevel
    from relance.services import settings as settings_service

    session = session or db.session
    settings_service.save(session, {"go_live_date": on.isoformat(), "auto_start_date": on.isoformat()})
    for level in session.query(ReminderLevel):
        level.automatic = level.rank in automatic
    session.flush()


def install_live_defaults(session=None, **kw) -> None:
    """The defaults (`install_defaults`) of a company that went live (`go_live`): levels 0-2 automatic."""
    from relance.services.defaults import install_defaults

    session = session or db.session
    install_defaults(session)
    go_live(session, **kw)


def reminder_rows(**where) -> list[Reminder]:
    """The reminders as stored now (the session's copies expired first), by id, those whose columns equal `where`."""
    db.session.expire_all()
    query = select(Reminder).order_by(Reminder.id)
    for name, value in where.items():
        query = query.where(getattr(Reminder, name) == value)
    return list(db.session.scalars(query))
