"""Time the mass reminder page over HTTP (Flask test client, real database) with N unpaid invoices.

    .venv/bin/python bench/web.py [--invoices 10000] [--requests 60] [--database postgresql+psycopg://...]

Prints one line per page: `web page=NAME n=REQUESTS p50_ms=... p95_ms=... cpu_ms=... load1=...` for the mass page
(full HTML: what is due today, its default, and every unpaid invoice), a filtered page (htmx fragment: search +
level reached + sort) and an inline level change (htmx POST of one row).
Target: p95 < 150 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select  # noqa: E402

from relance import create_app  # noqa: E402
from relance.extensions import db  # noqa: E402
from relance.models import Contact, Customer, Invoice, Reminder, User  # noqa: E402
from relance.services.defaults import install_defaults  # noqa: E402

PASSWORD = "correct horse 42"


def populate(invoices: int, customers: int) -> list[int]:
    install_defaults(db.session)
    user = User(email="bench@example.com", role="agent", name="Bench")
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.execute(insert(Customer), [
        {"code": f"C{i:05d}", "name": f"Customer {i}", "email": "" if i % 10 == 0 else f"billing{i}@example.com",
         "language": "fr"} for i in range(customers)])
    ids = dict(db.session.execute(select(Customer.code, Customer.id)).all())
    db.session.execute(insert(Contact), [{"customer_id": ids[f"C{i:05d}"], "name": f"Contact {i}",
                                          "email": f"contact{i}@example.com", "role": "billing"}
                                         for i in range(0, customers, 7)])
    today = date.today()
    rows = []
    for n in range(invoices):
        total = Decimal(100 + (n * 37) % 9000) + Decimal(n % 100) / 100
        due = today - timedelta(days=(n * 13) % 200 - 20)
        rows.append({"number": f"FA-{n:07d}", "customer_id": ids[f"C{n % customers:05d}"], "issue_date":
                     due - timedelta(days=30), "due_date": due, "total_excl_tax": (total / Decimal("1.2")).quantize(
                         Decimal("0.01")), "total_incl_tax": total, "amount_paid": Decimal("0.00"),
                     "status": "validated", "kind": "invoice", "currency": "EUR"})
    db.session.execute(insert(Invoice), rows)
    invoice_ids = list(db.session.scalars(select(Invoice.id).order_by(Invoice.id)))
    db.session.execute(insert(Reminder), [
        {"key": f"bench:{i}", "invoice_id": i, "level": 1 + i % 2, "channel": "email", "status": "sent",
         "reminder_date": today - timedelta(days=5), "next_date": today + timedelta(days=10),
         "note": "relance bench"} for i in invoice_ids[::3]])
    db.session.commit()
    return invoice_ids


def timed(call, n: int) -> tuple[list[float], float]:
    """Wall times (ms) of n calls, and the process CPU time per call (ms) beside them."""
    call()  # warm up
    out = []
    cpu = time.process_time()
    for _ in range(n):
        started = time.perf_counter()
        response = call()
        out.append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            sys.exit(f"HTTP {response.status_code}: {response.get_data(as_text=True)[:300]}")
    return out, (time.process_time() - cpu) * 1000 / n


def report(name: str, measured: tuple[list[float], float]) -> None:
    samples, cpu_ms = sorted(measured[0]), measured[1]
    p95 = samples[min(len(samples) - 1, int(round(0.95 * len(samples))) - 1)]
    print(f"web page={name} n={len(samples)} p50_ms={statistics.median(samples):.1f} p95_ms={p95:.1f} "
          f"cpu_ms={cpu_ms:.1f} load1={os.getloadavg()[0]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10000)
    parser.add_argument("--customers", type=int, default=700)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--database", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/bench.db"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": tmp, "SECRET_KEY": "bench",
                          "WTF_CSRF_ENABLED": False, "HUEY_IMMEDIATE": True})
        with app.app_context():
            db.drop_all()
            db.create_all()
            invoice_ids = populate(args.invoices, args.customers)
            if db.engine.dialect.name == "postgresql":  # planner statistics, as autovacuum would gather them
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("ANALYZE")
        client = app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
        response = client.post("/login", data={"email": "bench@example.com", "password": PASSWORD})
        assert response.status_code == 302, response.status_code
        hx = {"HX-Request": "true"}
        report("mass", timed(lambda: client.get("/reminders/mass"), args.requests))  # due today (the default)
        report("mass_all", timed(lambda: client.get("/reminders/mass?due=all"), args.requests))
        report("mass_filtered", timed(lambda: client.get("/reminders/mass?q=Customer+12&level=1&sort=late&overdue=1",
                                                         headers=hx), args.requests))
        counter = iter(range(10**9))

        def change_level():
            invoice_id = invoice_ids[next(counter) % len(invoice_ids)]
            return client.post(f"/reminders/mass/rows/{invoice_id}", headers=hx,
                               data={f"level-{invoice_id}": "2", f"letter-{invoice_id}": "1"})

        report("mass_level_change", timed(change_level, args.requests))
        with app.app_context():
            db.drop_all()


if __name__ == "__main__":
    main()
