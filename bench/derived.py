"""Bench: invoices.amount_paid (and the paid status) kept by application code or by triggers on payments.

    .venv/bin/python bench/derived.py                        # SQLite file in a temporary directory
    .venv/bin/python bench/derived.py --postgresql           # and PostgreSQL (RELANCE_TEST_DATABASE_URL, own schema)
    .venv/bin/python bench/derived.py --invoices 10000 --payments 10000 --one-by-one 1000 --repeat 3

Both options are measured in the same run, on fresh databases, in alternating order (app first, then trigger
first, ...); each figure is the best of `--repeat`:
- "app": the code Relance had before the triggers (copied here): the payment service summed the invoice's payments
  in Python and set the status; the CSV import ran two bulk UPDATEs over the invoices it touched;
- "trigger": the triggers of `relance/models/paid_state.py` (row triggers that recompute the invoice's sum; on
  PostgreSQL after locking the invoice, the sum planned at each call) and today's service and import (no such code).
Phases: `import` (a CSV of N payments, checked and written by the import, commit), `record` and `delete` (payments
one at a time through the service, one commit each, like one web request each: milliseconds per payment),
`bulkdel` (the imported payments deleted with one DELETE, e.g. undoing an import; the app option must then
recompute the invoices it touched, code that a writer has to remember). After each phase every invoice is checked,
in cents: amount_paid = sum of its payments, no validated invoice settled by its payments; `left_wrong` is the
most invoices found wrong after a phase (the trigger option must leave none, else exit 1), and both options must
agree on the sum of amount_paid. Then `raw_sql_wrong`: payments inserted with plain SQL, nothing else run, and the
invoices left with a wrong amount_paid; on PostgreSQL `concurrent_lost`: two sessions pay one invoice at once
through the service, 1 when amount_paid then misses one of the payments.

Prints one line: `derived invoices=... payments=... one_by_one=... repeat=... order=app/trigger` then, per
backend, `<backend>_<phase>_s` (wall), `<backend>_<phase>_cpu_s` (this process + on PostgreSQL the server
backends of this bench, from /proc), as `app/trigger` pairs, and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, insert, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from relance import create_app  # noqa: E402
from relance.extensions import db  # noqa: E402
from relance.models import Customer, Invoice, Payment, paid_state  # noqa: E402
from relance.models.base import ZERO  # noqa: E402
from relance.services import payments as payment_service  # noqa: E402
from relance.services.data_in import apply, plan, reading  # noqa: E402

OPTIONS = ("app", "trigger")
PHASES = ("import", "record", "delete", "bulkdel")
TODAY = date(2026, 3, 2)
PAID_ON = date(2026, 2, 10)
SCHEMA = f"relance_bench_derived_{os.getpid()}"
APP_NAME = "relance-bench-derived"
RAW = 100  # payments written with plain SQL


# --- the application code that kept amount_paid before the triggers (relance/services/payments.py and
# --- relance/services/data_in/importing.py as it was), and what a bulk delete would have needed ---------------

def app_record(session, invoice: Invoice, amount, on: date, reference: str = "") -> Payment:
    amount = payment_service.parse_amount(amount)
    payment_service.check_payment(invoice, amount)
    payment = Payment(date=on, amount=amount, reference=reference)
    invoice.payments.append(payment)
    session.add(payment)
    invoice.amount_paid = sum((p.amount for p in invoice.payments), ZERO)
    if invoice.remaining_due <= ZERO:
        invoice.status = "paid"
    session.flush()
    return payment


def app_delete(session, payment: Payment) -> Invoice:
    invoice = payment.invoice
    invoice.payments.remove(payment)
    session.delete(payment)
    invoice.amount_paid = sum((p.amount for p in invoice.payments), ZERO)
    if invoice.status == "paid" and invoice.remaining_due > ZERO:
        invoice.status = "validated"
    session.flush()
    return invoice


def app_sync(session, invoice_ids: list[int], reopen: bool = False) -> None:
    """The import's sync_amount_paid (amount_paid = sum; a validated invoice paid in full becomes paid), or after
    a bulk delete (`reopen`: a paid invoice no longer settled is validated again)."""
    total = (select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.invoice_id == Invoice.id)
             .correlate(Invoice).scalar_subquery())
    for start in range(0, len(invoice_ids), plan.CHUNK):
        chunk = invoice_ids[start:start + plan.CHUNK]
        session.execute(update(Invoice).where(Invoice.id.in_(chunk)).values(amount_paid=total)
                        .execution_options(synchronize_session=False))
        if reopen:
            status = update(Invoice).where(Invoice.id.in_(chunk), Invoice.status == "paid",
                                           Invoice.kind == "invoice", Invoice.amount_paid < Invoice.total_incl_tax
                                           ).values(status="validated")
        else:
            status = update(Invoice).where(Invoice.id.in_(chunk), Invoice.status == "validated",
                                           Invoice.kind == "invoice", Invoice.amount_paid >= Invoice.total_incl_tax
                                           ).values(status="paid")
        session.execute(status.execution_options(synchronize_session=False))


# --- measuring ---------------------------------------------------------------------------------------------------

def _server_ticks() -> int:
    """CPU ticks used so far by this bench's PostgreSQL backends (the server runs on this machine)."""
    if db.engine.dialect.name != "postgresql":
        return 0
    with db.engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
                            {"n": APP_NAME}).scalars().all()
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


@contextmanager
def measure(into: dict, phase: str):
    ticks = _server_ticks()
    cpu, wall = time.process_time(), time.perf_counter()
    yield
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    into[phase] = (wall, cpu + (_server_ticks() - ticks) / os.sysconf("SC_CLK_TCK"))


def check(phase: str, option: str, left_wrong: list) -> tuple:
    """Count the invoices left wrong (amount_paid not the sum of its payments, or a validated invoice settled by
    its payments, compared in cents); the trigger option must leave none (else exit 1). Returns the state both
    options must agree on (the sum of amount_paid)."""
    wrong = db.session.execute(text(
        "SELECT count(*) FROM invoices WHERE round(amount_paid, 2) <> "
        "(SELECT round(coalesce(sum(amount), 0), 2) FROM payments WHERE invoice_id = invoices.id)")).scalar()
    unsettled = db.session.execute(text(
        "SELECT count(*) FROM invoices WHERE status = 'validated' AND kind = 'invoice' "
        "AND round(amount_paid, 2) >= round(total_incl_tax, 2) AND amount_paid > 0")).scalar()
    if option == "trigger" and (wrong or unsettled):
        sys.exit(f"derived FAILED {option} after {phase}: amount_paid wrong on {wrong}, {unsettled} not marked paid")
    left_wrong.append(wrong + unsettled)
    total = db.session.execute(text("SELECT round(coalesce(sum(amount_paid), 0), 2) FROM invoices")).scalar()
    return phase, Decimal(str(total)).quantize(Decimal("0.01"))


# --- data --------------------------------------------------------------------------------------------------------

def build(n: int) -> list[tuple[int, str, Decimal]]:
    customers = max(10, n // 20)
    db.session.execute(insert(Customer), [{"id": i, "code": f"C{i:05d}", "name": f"Customer {i}"}
                                          for i in range(1, customers + 1)])
    invoices = []
    for i in range(1, n + 1):
        total = Decimal(100 + (i * 7919) % 900_000) / 100
        invoices.append({"id": i, "number": f"FA{i:07d}", "customer_id": 1 + i % customers,
                         "issue_date": date(2026, 1, 1), "due_date": date(2026, 1, 31), "currency": "EUR",
                         "total_excl_tax": (total / Decimal("1.2")).quantize(Decimal("0.01")),
                         "total_incl_tax": total, "status": "validated", "kind": "invoice"})
    for start in range(0, n, 5000):
        db.session.execute(insert(Invoice), invoices[start:start + 5000])
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        for table in ("customers", "invoices"):
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"(SELECT max(id) FROM {table}))"))
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    return [(r["id"], r["number"], r["total_incl_tax"]) for r in invoices]


def split(count: int) -> tuple[int, int]:
    """Of `count` imported payments: invoices paid in two payments (40 % + 60 %: settled), in one (half)."""
    two = count * 2 // 5
    return two, count - 2 * two


def payments_csv(invoices, count: int) -> bytes:
    two, one = split(count)
    lines = ["invoice_number;date;amount;reference"]
    for n, (_, number, total) in enumerate(invoices[:two + one]):
        if n < two:
            first = (total * Decimal("0.4")).quantize(Decimal("0.01"))
            lines += [f"{number};{PAID_ON:%Y-%m-%d};{first};IMP-{n}-a",
                      f"{number};{PAID_ON + timedelta(days=5):%Y-%m-%d};{total - first};IMP-{n}-b"]
        else:
            lines.append(f"{number};{PAID_ON:%Y-%m-%d};{(total / 2).quantize(Decimal('0.01'))};IMP-{n}")
    return ("\n".join(lines) + "\n").encode()


# --- one run: a fresh database, one option -----------------------------------------------------------------------

def fresh_database(url: str, dialect: str) -> None:
    db.session.remove()
    db.engine.dispose()
    if dialect == "postgresql":
        engine = create_engine(make_url(url).set(query={}))
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
        engine.dispose()
    else:
        path = Path(make_url(url).database)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    db.create_all()  # with the paid_state triggers


def run(url: str, dialect: str, option: str, args) -> tuple[dict, list, int]:
    fresh_database(url, dialect)
    if option == "app":
        with db.engine.begin() as conn:
            for sql in paid_state.statements(dialect, drop=True):
                conn.exec_driver_sql(sql)
    invoices = build(args.invoices)
    two, one = split(args.payments)
    by_hand = invoices[two + one:two + one + args.one_by_one]
    times, states, left_wrong = {}, [], []
    data = payments_csv(invoices, args.payments)

    with measure(times, "import"):
        plan = reading.plan_csv(db.session, "payments", data, TODAY, filename="payments.csv")
        if not plan.ok:
            sys.exit("; ".join(str(e) for e in plan.errors[:5]))
        apply.apply_plan(db.session, plan)
        if option == "app":
            app_sync(db.session, sorted({c.record_id for c in plan.changes if c.action == "create"}))
        db.session.commit()
    states.append(check("import", option, left_wrong))

    record = app_record if option == "app" else payment_service.record_payment
    recorded = []
    with measure(times, "record"):
        for n, (invoice_id, _, total) in enumerate(by_hand):
            invoice = db.session.get(Invoice, invoice_id)
            amount = total if n % 2 == 0 else (total / 3).quantize(Decimal("0.01"))
            recorded.append(record(db.session, invoice, amount, PAID_ON, "CHQ").id)
            db.session.commit()
    states.append(check("record", option, left_wrong))

    remove = app_delete if option == "app" else payment_service.delete_payment
    with measure(times, "delete"):
        for payment_id in recorded:
            remove(db.session, db.session.get(Payment, payment_id))
            db.session.commit()
    states.append(check("delete", option, left_wrong))

    with measure(times, "bulkdel"):
        if option == "app":
            touched = db.session.execute(select(Payment.invoice_id).distinct().where(
                Payment.reference.like("IMP-%"))).scalars().all()
        db.session.execute(text("DELETE FROM payments WHERE reference LIKE 'IMP-%'"))
        if option == "app":
            app_sync(db.session, sorted(touched), reopen=True)
        db.session.commit()
    states.append(check("bulkdel", option, left_wrong))
    db.session.expire_all()

    raw = invoices[two + one + args.one_by_one:][:RAW]
    with db.engine.begin() as conn:
        for invoice_id, _, total in raw:
            conn.execute(text("INSERT INTO payments (invoice_id, date, amount, reference, created_at) VALUES "
                              f"({invoice_id}, '{PAID_ON}', {(total / 2).quantize(Decimal('0.01'))}, 'SQL', "
                              f"'{TODAY} 12:00:00')"))
        wrong = conn.execute(text(
            "SELECT count(*) FROM invoices WHERE round(amount_paid, 2) <> "
            "(SELECT round(coalesce(sum(amount), 0), 2) FROM payments WHERE invoice_id = invoices.id)")).scalar()
    lost = concurrent(option, invoices[two + one + args.one_by_one + RAW][0]) if dialect == "postgresql" else None
    return times, states, (max(left_wrong), wrong, lost)


def concurrent(option: str, invoice_id: int) -> int:
    """PostgreSQL: two sessions record a payment on the same invoice at once (the second while the first has not
    committed). Returns 1 when amount_paid is not the sum of the payments after both commits (a lost update)."""
    record = app_record if option == "app" else payment_service.record_payment
    one, two = Session(db.engine), Session(db.engine)
    try:
        first, second = one.get(Invoice, invoice_id), two.get(Invoice, invoice_id)
        record(one, first, Decimal("10.00"), PAID_ON)
        thread = threading.Thread(target=lambda: (record(two, second, Decimal("20.00"), PAID_ON), two.commit()))
        thread.start()
        time.sleep(0.5)  # the second one now waits for the first one's lock on the invoice
        one.commit()
        thread.join()
    finally:
        one.close()
        two.close()
    return int(db.session.execute(text(
        f"SELECT amount_paid <> (SELECT sum(amount) FROM payments WHERE invoice_id = {invoice_id}) "
        f"FROM invoices WHERE id = {invoice_id}")).scalar())


def pg_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    query = {**parsed.query, "options": f"-csearch_path={SCHEMA}", "application_name": APP_NAME}
    return parsed.set(query=query).render_as_string(hide_password=False)


def bench(url: str, name: str, args, tmp: str) -> list[str]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": tmp, "TESTING": True})
    dialect = make_url(url).get_backend_name()
    best = {option: {} for option in OPTIONS}
    wrong = {}
    load_before = os.getloadavg()[0]
    with app.app_context(), app.test_request_context(headers={"Accept-Language": "en"}):
        try:
            for repeat in range(args.repeat):
                states = {}
                for option in OPTIONS if repeat % 2 == 0 else reversed(OPTIONS):
                    times, states[option], wrong[option] = run(url, dialect, option, args)
                    for phase, figures in times.items():
                        old = best[option].get(phase)
                        best[option][phase] = figures if old is None else tuple(map(min, old, figures))
                if states["app"] != states["trigger"]:
                    sys.exit(f"derived FAILED: the options disagree on {name}: {states}")
        finally:  # also after a failure: no schema left behind
            db.session.remove()
            if dialect == "postgresql":
                with db.engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
            db.engine.dispose()
    out = []
    per = {"record": 1000 / args.one_by_one, "delete": 1000 / args.one_by_one}
    for phase in PHASES:
        unit = "ms" if phase in per else "s"
        scale = per.get(phase, 1)
        fmt = ".2f" if unit == "ms" else ".3f"
        for i, key in enumerate(("", "_cpu")):
            pair = "/".join(f"{best[o][phase][i] * scale:{fmt}}" for o in OPTIONS)
            out.append(f"{name}_{phase}{key}_{unit}={pair}")
    out.append(f"{name}_left_wrong={wrong['app'][0]}/{wrong['trigger'][0]}")
    out.append(f"{name}_raw_sql_wrong={wrong['app'][1]}/{wrong['trigger'][1]}")
    if dialect == "postgresql":
        out.append(f"{name}_concurrent_lost={wrong['app'][2]}/{wrong['trigger'][2]}")
    out.append(f"{name}_load={load_before:.2f}-{os.getloadavg()[0]:.2f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--payments", type=int, default=10_000, help="payments imported from one CSV file")
    parser.add_argument("--one-by-one", type=int, default=1000, help="payments recorded, then deleted, one by one")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgresql", action="store_true", help="also on RELANCE_TEST_DATABASE_URL (own schema)")
    parser.add_argument("--only-postgresql", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    two, one = split(args.payments)
    if two + one + args.one_by_one + RAW >= args.invoices:
        parser.error(f"--invoices must be at least {two + one + args.one_by_one + RAW + 1}")
    pg = os.environ.get("RELANCE_TEST_DATABASE_URL")
    if (args.postgresql or args.only_postgresql) and not pg:
        parser.error("--postgresql needs RELANCE_TEST_DATABASE_URL")
    fields = [f"invoices={args.invoices}", f"payments={args.payments}", f"one_by_one={args.one_by_one}",
              f"repeat={args.repeat}", "order=app/trigger"]
    with tempfile.TemporaryDirectory() as tmp:
        if not args.only_postgresql:
            fields += bench(f"sqlite:///{tmp}/bench.db", "sqlite", args, tmp)
        if args.postgresql or args.only_postgresql:
            fields += bench(pg_url(pg), "pg", args, tmp)
    print("derived " + " ".join(fields), flush=True)


if __name__ == "__main__":
    main()
