"""Time the invoices list on a big book: 100,000 invoices in a SQLite file, 100 requests through the test client.

    .venv/bin/python bench/list.py [--invoices 100000] [--requests 100] [--db PATH]

Prints `list invoices=N p50_ms=... p95_ms=... cpu_p95_ms=... load=...` (wall clock, then this process's CPU
time per request and the machine's load average: on a busy machine wall clock includes waiting for a core).
The database file is built once and reused when it already
holds the right number of invoices (delete it, or pass another --db, to rebuild).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select  # noqa: E402

from relance import create_app  # noqa: E402
from relance.extensions import db  # noqa: E402
from relance.models import Customer, Invoice, Reminder, User  # noqa: E402

TODAY = date(2026, 3, 10)
PASSWORD = "bench password 42"
# Filters a user really combines: each request picks one (page 1..3), all with 50 rows a page.
QUERIES = [
    "?status=open&sort=due",
    "?overdue=1&sort=late",
    "?overdue=1&currency=EUR&sort=remaining",
    "?status=open&level=1&sort=due",
    "?level=2&overdue=1",
    "?q=C00042",
    "?q=FA-0012&status=open",
    "?customer=C00123&sort=-due",
    "?status=paid&sort=-issue",
    "?sort=remaining",
]


def build(url: str, invoices: int, rng: random.Random) -> None:
    customers = max(1, invoices // 50)
    db.create_all()
    db.session.execute(insert(User), [{"email": "bench@bench.example", "name": "Bench", "role": "viewer"}])
    user = db.session.scalar(select(User))
    user.set_password(PASSWORD)
    db.session.execute(insert(Customer), [
        {"code": f"C{n:05d}", "name": f"Customer {n:05d} {rng.choice(['SARL', 'SAS', 'Ltd', 'GmbH'])}",
         "email": f"c{n}@bench.example", "city": rng.choice(["Lyon", "Paris", "Nantes", "Lille"])}
        for n in range(customers)
    ])
    customer_ids = list(db.session.scalars(select(Customer.id)))
    rows, reminders = [], []
    for n in range(invoices):
        issue = TODAY - timedelta(days=rng.randint(0, 720))
        total = Decimal(rng.randint(5000, 1_500_000)) / 100
        status = rng.choices(["validated", "paid", "cancelled", "draft"], [55, 38, 4, 3])[0]
        paid = total if status == "paid" else (total / 2).quantize(Decimal("0.01")) if rng.random() < 0.15 else 0
        rows.append({
            "number": f"FA-{n:07d}", "customer_id": rng.choice(customer_ids), "issue_date": issue,
            "due_date": issue + timedelta(days=30) if rng.random() > 0.02 else None,
            "currency": rng.choices(["EUR", "USD", "GBP"], [90, 6, 4])[0],
            "total_excl_tax": (total / Decimal("1.2")).quantize(Decimal("0.01")), "total_incl_tax": total,
            "amount_paid": paid, "status": status,
            "kind": "credit_note" if rng.random() < 0.03 else "invoice",
        })
    for start in range(0, invoices, 10_000):
        db.session.execute(insert(Invoice), rows[start:start + 10_000])
    ids = list(db.session.scalars(select(Invoice.id).where(Invoice.status == "validated")))
    for invoice_id in rng.sample(ids, k=len(ids) // 2):
        for level in range(rng.randint(1, 3)):
            reminders.append({"key": f"{invoice_id}-{level}", "invoice_id": invoice_id, "level": level + 1,
                              "channel": "email", "reminder_date": TODAY - timedelta(days=30 - level * 10),
                              "status": "sent"})
    for start in range(0, len(reminders), 10_000):
        db.session.execute(insert(Reminder), reminders[start:start + 10_000])
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "relance-bench-list.db"))
    args = parser.parse_args()
    path = Path(args.db)
    instance = Path(tempfile.mkdtemp(prefix="relance-bench-"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "INSTANCE_PATH": str(instance),
                      "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False, "TESTING": True})
    rng = random.Random(2026)
    with app.app_context():
        existing = 0
        if path.exists():
            db.create_all()
            existing = db.session.scalar(select(func.count()).select_from(Invoice))
        if existing != args.invoices:
            db.session.remove()
            db.engine.dispose()
            path.unlink(missing_ok=True)
            started = time.perf_counter()
            build(str(path), args.invoices, rng)
            print(f"# built {args.invoices} invoices in {time.perf_counter() - started:.1f} s ({path})",
                  file=sys.stderr)
        db.session.remove()

    client = app.test_client()
    response = client.post("/login", data={"email": "bench@bench.example", "password": PASSWORD})
    assert response.status_code == 302, "login failed"
    for query in QUERIES:  # warm-up (and a check that every query answers)
        response = client.get("/invoices/" + query)
        assert response.status_code == 200, (query, response.status_code)
    timings, cpu, by_query = [], [], {}
    for n in range(args.requests):
        query = QUERIES[n % len(QUERIES)] + f"&page={1 + n % 3}"
        headers = {"HX-Request": "true"} if n % 2 else {}
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get("/invoices/" + query, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        by_query.setdefault(QUERIES[n % len(QUERIES)], []).append(timings[-1])
        assert response.status_code == 200
    def p95(values):
        return sorted(values)[max(0, int(round(0.95 * len(values))) - 1)]

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    for query, values in by_query.items():
        print(f"# {query:45s} max_ms={max(values):.1f}", file=sys.stderr)
    # Wall-clock figures are the acceptance ones; CPU time and the load average tell a busy machine apart.
    print(f"list invoices={args.invoices} p50_ms={statistics.median(timings):.1f} p95_ms={p95(timings):.1f} "
          f"cpu_p95_ms={p95(cpu):.1f} load={load:.1f}")


if __name__ == "__main__":
    main()
