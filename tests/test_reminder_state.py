"""The reminder state each invoice carries (highest level done, last reminder date, the next date a person set
on the last reminder), kept by the database triggers whatever writes the reminders: ORM inserts, bulk UPDATEs,
deletes, moves between invoices."""

from datetime import date

from sqlalchemy import delete, select, text, update

from relance.extensions import db
from relance.models import Invoice, Reminder, reminder_state
from tests.factories import make_invoice, make_user


def state(invoice) -> tuple:
    return tuple(db.session.execute(select(Invoice.reminder_level, Invoice.last_reminder_date)
                                    .where(Invoice.id == invoice.id)).one())


def add(invoice, level, day, status="sent", key=None, channel="email") -> Reminder:
    reminder = Reminder(key=key or f"{invoice.id}:{level}:{day}", invoice=invoice, level=level, channel=channel,
                        reminder_date=day, status=status)
    db.session.add(reminder)
    db.session.flush()
    return reminder


def test_state_follows_every_change_of_the_reminders(app):
    a, b = make_invoice(number="A"), make_invoice(number="B")
    db.session.flush()
    assert state(a) == (None, None)
    first = add(a, 1, date(2026, 3, 1))
    assert state(a) == (1, date(2026, 3, 1))
    second = add(a, 2, date(2026, 3, 20), status="pending")
    assert state(a) == (2, date(2026, 3, 20))
    add(a, 3, date(2026, 4, 1), status="failed")  # failed and cancelled reminders do not count
    assert state(a) == (2, date(2026, 3, 20))
    db.session.execute(update(Reminder).where(Reminder.id == second.id).values(status="cancelled"))
    assert state(a) == (1, date(2026, 3, 1))
    db.session.execute(update(Reminder).where(Reminder.id == first.id).values(invoice_id=b.id))
    assert state(a) == (None, None)
    assert state(b) == (1, date(2026, 3, 1))
    db.session.execute(update(Reminder).where(Reminder.id == first.id).values(reminder_date=date(2026, 3, 5)))
    assert state(b) == (1, date(2026, 3, 5))
    db.session.execute(delete(Reminder).where(Reminder.id == first.id))
    assert state(b) == (None, None)


def test_claiming_a_reminder_does_not_touch_the_invoice(app):
    invoice = make_invoice(number="A")
    db.session.flush()
    reminder = add(invoice, 1, date(2026, 3, 1), status="pending")
    db.session.execute(text("UPDATE invoices SET reminder_level = 7 WHERE id = :id"), {"id": invoice.id})
    db.session.execute(update(Reminder).where(Reminder.id == reminder.id).values(claimed_by="worker"))
    assert state(invoice)[0] == 7  # the trigger only watches invoice, level, status and date


def test_backfill_recomputes_every_invoice(app):
    invoice = make_invoice(number="A")
    db.session.flush()
    add(invoice, 2, date(2026, 3, 1))
    db.session.execute(text("UPDATE invoices SET reminder_level = NULL, last_reminder_date = NULL"))
    db.session.execute(text(reminder_state.backfill()))
    assert state(invoice) == (2, date(2026, 3, 1))


def manual_next(invoice):
    return db.session.scalar(select(Invoice.manual_next_date).where(Invoice.id == invoice.id))


def test_manual_next_date_is_the_last_reminders_when_a_person_made_it(app):
    invoice, person = make_invoice(number="A"), make_user(role="agent")
    db.session.flush()
    first = add(invoice, 1, date(2026, 3, 1))
    assert manual_next(invoice) is None
    db.session.execute(update(Reminder).where(Reminder.id == first.id).values(next_date=date(2026, 4, 1)))
    assert manual_next(invoice) is None  # the automatic run set it: the engine's own dates apply
    db.session.execute(update(Reminder).where(Reminder.id == first.id).values(user_id=person.id))
    assert manual_next(invoice) == date(2026, 4, 1)
    later = add(invoice, 2, date(2026, 3, 10))  # a later automatic reminder: the person's date no longer holds
    assert manual_next(invoice) is None
    db.session.execute(update(Reminder).where(Reminder.id == later.id).values(status="cancelled"))
    assert manual_next(invoice) == date(2026, 4, 1)
    db.session.execute(text("UPDATE invoices SET manual_next_date = NULL"))
    db.session.execute(text(reminder_state.backfill()))
    assert manual_next(invoice) == date(2026, 4, 1)


def delivered(invoice):
    return db.session.scalar(select(Invoice.delivered_level).where(Invoice.id == invoice.id))


def test_delivered_level_counts_emails_sent_and_letters_posted_only(app):
    invoice = make_invoice(number="A")
    db.session.flush()
    first = add(invoice, 1, date(2026, 3, 1), status="pending")
    assert (state(invoice)[0], delivered(invoice)) == (1, None)  # made, not delivered: the next level waits
    db.session.execute(update(Reminder).where(Reminder.id == first.id).values(status="sent"))
    assert delivered(invoice) == 1
    letter = add(invoice, 2, date(2026, 3, 20), status="to_post", channel="letter")
    assert (state(invoice)[0], delivered(invoice)) == (2, 1)  # printed, not posted
    db.session.execute(update(Reminder).where(Reminder.id == letter.id).values(status="posted"))
    assert delivered(invoice) == 2
    db.session.execute(delete(Reminder).where(Reminder.id == letter.id))
    assert (state(invoice)[0], delivered(invoice)) == (1, 1)
    db.session.execute(text("UPDATE invoices SET delivered_level = NULL"))
    db.session.execute(text(reminder_state.backfill()))
    assert delivered(invoice) == 1


def test_the_state_kept_row_by_row_is_the_state_recomputed(app):
    """Version 5 adds an inserted row to the state it finds and recomputes only what an update or delete may change:
    after every step of a random history (reminders of any status made by the run or a person, on the same day or
    not, moved, changed, deleted), every invoice's state is what recomputing it from all its reminders gives."""
    import random

    chance = random.Random(5)
    invoices, person = [make_invoice(number=f"R{n}") for n in range(3)], make_user(role="agent")
    db.session.flush()
    columns = (Invoice.id, Invoice.reminder_level, Invoice.last_reminder_date, Invoice.manual_next_date,
               Invoice.delivered_level)
    kept: list[int] = []
    statuses = ("pending", "sent", "to_post", "posted", "to_call", "called", "failed", "cancelled")
    for step in range(160):
        action = chance.choice(("insert", "insert", "update", "delete") if kept else ("insert",))
        day = date(2026, 3, chance.randint(1, 4))
        if action == "insert":
            reminder = Reminder(key=f"k{step}", invoice=chance.choice(invoices), level=chance.randint(0, 3),
                                channel="email", reminder_date=day, status=chance.choice(statuses),
                                user_id=person.id if chance.random() < 0.5 else None,
                                next_date=date(2026, 4, chance.randint(1, 28)) if chance.random() < 0.7 else None)
            db.session.add(reminder)
            db.session.flush()
            kept.append(reminder.id)
        elif action == "update":
            changes = chance.choice(({"status": chance.choice(statuses)}, {"level": chance.randint(0, 3)},
                                     {"reminder_date": day}, {"invoice_id": chance.choice(invoices).id},
                                     {"user_id": chance.choice((None, person.id))},
                                     {"next_date": date(2026, 5, chance.randint(1, 28))}))
            db.session.execute(update(Reminder).where(Reminder.id == chance.choice(kept)).values(**changes))
        else:
            gone = kept.pop(chance.randrange(len(kept)))
            db.session.execute(delete(Reminder).where(Reminder.id == gone))
        found = db.session.execute(select(*columns).order_by(Invoice.id)).all()
        db.session.execute(text(reminder_state.backfill()))
        assert db.session.execute(select(*columns).order_by(Invoice.id)).all() == found, (step, action)
