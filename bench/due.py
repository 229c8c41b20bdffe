"""Bench: the set-based `schedule` against the plain per-invoice reference on a large realistic database.

    .venv/bin/python bench/due.py --invoices 100000                 # SQLite file in a temporary directory
    .venv/bin/python bench/due.py --invoices 100000 --postgresql    # RELANCE_TEST_DATABASE_URL, own schema
    .venv/bin/python bench/due.py --database-url postgresql+psycopg://...

Builds the invoices (30 % unpaid, some partly paid) with the reminder history that daily automatic runs would
have left (levels done on their dates, some runs missed, formal notices made by hand, manual reminders with a
next date), times both implementations on the same day, checks they agree and prints one line:
`due invoices=... open=... selected=... set_based_s=... reference_s=... speedup=...` (then the backend, the
build time, the best CPU time of this process for the set-based run (SQLite runs in-process, so this is the
figure that does not depend on other load) and the load average).

Then, in the same run, a second reminder policy ("Twin": levels of its own, with their own names and texts, at
the default policy's delays, so the same invoices are due) is made and every third customer follows it: the
set-based run is timed again (checked against the reference too) and the line ends with `policies=2
policies_selected=... policies_s=... policies_cpu_s=... policies_ratio=...` (policies_cpu_s / set_based_cpu_s: the
cost of telling the customers' policies apart in the selection, on the same work).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from relance import create_app  # noqa: E402
from relance.extensions import db  # noqa: E402
from relance.models import (  # noqa: E402
    Contact,
    Customer,
    Invoice,
    Payment,
    Policy,
    Reminder,
    ReminderLevel,
    User,
    customer_sales_reps,
)
from relance.services import settings as settings_service  # noqa: E402
from relance.services.defaults import install_defaults  # noqa: E402
from relance.services.engine.schedule import reference_schedule, schedule  # noqa: E402
from relance.services.texts.wording import install_default_texts  # noqa: E402

ON = date(2026, 3, 3)  # a Tuesday
SCHEMA = "relance_bench"
LEVEL_OFFSETS = {0: -5, 1: 15, 2: 30, 3: 45}  # the default levels (3 is made by hand)


def pg_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    engine.dispose()
    return parsed.set(query={**parsed.query, "options": f"-csearch_path={SCHEMA}"}).render_as_string(
        hide_password=False)


def history(rng: random.Random, due: date, until: date) -> list[tuple[int, date, bool, date | None]]:
    """(rank, date, by hand, next date) of the reminders daily runs would have made before `until`.

    Each automatic level went out on its date (a missed run is caught up the next day); the formal notice
    (level 3, not automatic) was made by hand a few days after its date; 5 % of reminders were made by hand,
    half of them with a next reminder date.
    """
    made, last, postponed = [], None, None
    for rank, offset in LEVEL_OFFSETS.items():
        day = due + timedelta(days=offset)
        if rank == 0 and rng.random() < 0.3:
            continue  # invoices entered after their before-due date
        if last and day < last + timedelta(days=7):
            day = last + timedelta(days=7)
        if postponed and day < postponed:
            day = postponed  # a next reminder date set by hand
        manual = rank == 3 or rng.random() < 0.05
        if manual:
            day += timedelta(days=rng.randint(0, 10))
        elif rng.random() < 0.02:
            day += timedelta(days=1)  # that day's run was missed, the next one caught up
        next_date = day + timedelta(days=rng.choice((10, 15, 20))) if manual and rng.random() < 0.5 else None
        if day >= until:
            break
        made.append((rank, day, manual, next_date))
        last, postponed = day, next_date
    return made


def build(n: int, seed: int) -> None:
    rng = random.Random(seed)
    install_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example", "copy_to_sales": True,
                                       "company_name": "Vendor SAS"})
    # a company that went live long ago with levels 0-2 automatic (services/golive.py: before its go-live step a
    # company sends nothing automatically)
    settings_service.save(db.session, {"go_live_date": "2000-01-01", "auto_start_date": "2000-01-01"})
    for level in db.session.scalars(select(ReminderLevel)):
        level.automatic = level.rank in (0, 1, 2)
    db.session.commit()
    users = [{"id": i, "email": f"agent{i}@vendor.example", "name": f"Agent {i}", "role": "agent",
              "signature": "", "active": True, "password_hash": ""} for i in range(1, 21)]
    n_customers = max(10, n // 40)
    customers, contacts, reps = [], [], []
    for i in range(1, n_customers + 1):
        customers.append({
            "id": i, "code": f"C{i:06d}", "name": f"Customer {i}", "email": f"ap{i}@customer{i}.example",
            "language": rng.choice(("fr", "fr", "fr", "en")), "kind": "consumer" if i % 9 == 0 else "business",
            "country": "FR", "no_auto_reminders": i % 50 == 0, "direct_debit": i % 40 == 0,
            "paused_until": ON + timedelta(days=10) if i % 60 == 0 else None, "pause_reason": "",
            "phone": "", "address": "", "postcode": "", "city": "",
        })
        contacts.append({"id": 2 * i - 1, "customer_id": i, "name": "Billing", "first_name": "Bea",
                         "email": f"billing@customer{i}.example", "role": "billing", "phone": ""})
        contacts.append({"id": 2 * i, "customer_id": i, "name": "Followup", "first_name": "Fred",
                         "email": f"followup@customer{i}.example", "role": "followup", "phone": ""})
        reps.append({"customer_id": i, "user_id": rng.randint(1, 20)})
    invoices, payments, reminders = [], [], []
    for i in range(1, n + 1):
        customer = rng.randint(1, n_customers)
        due = ON + timedelta(days=rng.randint(-200, 40))
        total = Decimal(rng.randint(5_000, 2_000_000)) / 100
        unpaid = rng.random() < 0.30
        status, paid, pay_day = "validated", Decimal("0.00"), None
        if not unpaid:
            pay_day = min(ON - timedelta(days=1), due + timedelta(days=rng.randint(-10, 60)))
            paid, status = total, "paid"
            payments.append({"invoice_id": i, "date": pay_day, "amount": total, "reference": ""})
        elif rng.random() < 0.15:
            paid = (total * Decimal("0.4")).quantize(Decimal("0.01"))
            payments.append({"invoice_id": i, "date": due + timedelta(days=rng.randint(-5, 20)), "amount": paid,
                             "reference": ""})
        invoices.append({
            "id": i, "number": f"FA{i:07d}", "customer_id": customer, "issue_date": due - timedelta(days=30),
            "due_date": due, "currency": "EUR", "total_excl_tax": (total / Decimal("1.2")).quantize(Decimal("0.01")),
            "total_incl_tax": total, "amount_paid": paid, "status": status,
            "kind": "credit_note" if i % 97 == 0 else "invoice", "no_auto_reminders": i % 101 == 0,
            "billing_contact_id": 2 * customer - 1, "followup_contact_id": 2 * customer if i % 3 == 0 else None,
            "creator_id": rng.randint(1, 20), "followup_user_id": rng.randint(1, 20) if i % 4 == 0 else None,
        })
        # yesterday's run was missed: what fell due then is caught up on the bench day
        for rank, day, manual, next_date in history(rng, due, pay_day or ON - timedelta(days=1)):
            reminders.append({
                "key": f"{i}-{rank}", "invoice_id": i, "level": rank, "channel": "letter" if rank == 3 else "email",
                "user_id": rng.randint(1, 20) if manual else None, "reminder_date": day, "next_date": next_date,
                "status": "sent" if rng.random() < 0.97 else "failed",
                "created_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=9),
            })
    for model, rows in ((User, users), (Customer, customers), (Contact, contacts), (customer_sales_reps, reps),
                        (Invoice, invoices), (Payment, payments), (Reminder, reminders)):
        table = model if model is customer_sales_reps else model.__table__
        for start in range(0, len(rows), 20_000):
            db.session.execute(insert(table), rows[start:start + 20_000])
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        for model in (User, Customer, Contact, Invoice, Payment, Reminder):
            table = model.__tablename__
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))
        db.session.commit()
        db.session.execute(text("ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
    db.session.commit()


def timed(repeat: int):
    """The set-based schedule of the bench day, run `repeat` times: (its result, the best wall and CPU seconds)."""
    timings, cpu = [], []
    for _ in range(repeat):
        db.session.expire_all()
        started, cpu_started = time.perf_counter(), time.process_time()
        fast = schedule(db.session, ON)
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return fast, min(timings), min(cpu)


def with_policies(repeat: int):
    """A second policy, "Twin" (the default levels' delays), followed by every third customer: the best of `repeat`
    set-based runs (wall and CPU), checked against the reference."""
    short = Policy(name="Twin")
    for level in db.session.scalars(select(ReminderLevel).order_by(ReminderLevel.rank)).all():
        db.session.add(ReminderLevel(policy=short, rank=level.rank, names={"fr": f"Jumeau {level.rank}",
                                                                           "en": f"Twin {level.rank}"},
                                     delay=level.delay, automatic=level.automatic, channels=level.channels,
                                     formal_notice=level.formal_notice))
    db.session.flush()
    install_default_texts(db.session)
    db.session.execute(update(Customer).where(Customer.id % 3 == 0).values(policy_id=short.id))
    db.session.commit()
    fast, best_s, best_cpu = timed(repeat)
    db.session.expire_all()
    plain = reference_schedule(db.session, ON)
    if fast.due != plain.due or fast.skipped != plain.skipped:
        print(f"due MISMATCH with policies set_based={len(fast.due)}/{len(fast.skipped)} "
              f"reference={len(plain.due)}/{len(plain.skipped)}")
        sys.exit(1)
    return fast, best_s, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    parser.add_argument("--postgresql", action="store_true", help="use RELANCE_TEST_DATABASE_URL (own schema)")
    parser.add_argument("--repeat", type=int, default=5, help="set-based runs (the best one is reported)")
    args = parser.parse_args()
    url = args.database_url or (os.environ.get("RELANCE_TEST_DATABASE_URL") if args.postgresql else None)
    if args.postgresql and not url:
        parser.error("--postgresql needs RELANCE_TEST_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        if url is None:
            url = f"sqlite:///{tmp}/bench.db"
        elif url.startswith("postgresql"):
            url = pg_url(url)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": tmp,
                          "TESTING": True})
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            build(args.invoices, args.seed)
            build_s = time.perf_counter() - started
            open_count = db.session.execute(text(
                "SELECT COUNT(*) FROM invoices WHERE status = 'validated' AND kind = 'invoice' "
                "AND due_date IS NOT NULL AND total_incl_tax > amount_paid")).scalar()
            fast, set_based_s, set_based_cpu = timed(args.repeat)
            db.session.expire_all()
            started = time.perf_counter()
            plain = reference_schedule(db.session, ON)
            reference_s = time.perf_counter() - started
            if fast.due != plain.due or fast.skipped != plain.skipped:
                print(f"due MISMATCH set_based={len(fast.due)}/{len(fast.skipped)} "
                      f"reference={len(plain.due)}/{len(plain.skipped)}")
                sys.exit(1)
            two, two_s, two_cpu = with_policies(args.repeat)
            print(f"due invoices={args.invoices} open={open_count} selected={len(fast.due)} "
                  f"skipped={len(fast.skipped)} set_based_s={set_based_s:.4f} reference_s={reference_s:.2f} "
                  f"speedup={reference_s / set_based_s:.0f} backend={db.engine.dialect.name} build_s={build_s:.1f} "
                  f"set_based_cpu_s={set_based_cpu:.4f} load={os.getloadavg()[0]:.1f} policies=2 "
                  f"policies_selected={len(two.due)} policies_s={two_s:.4f} policies_cpu_s={two_cpu:.4f} "
                  f"policies_ratio={two_cpu / set_based_cpu:.2f}")
            if url.startswith("postgresql"):
                db.session.remove()
                with db.engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
            db.engine.dispose()


if __name__ == "__main__":
    main()
