"""Bench: a bank statement imported and matched against a large book of open invoices (issue 21).

    .venv/bin/python bench/statement.py [--lines 10000] [--invoices 100000] [--postgresql | --database-url URL]

Builds, with bulk INSERTs (as `bench/firstrun.py --build bulk` does), N open invoices over N/10 customers
("Client k SARL"; invoice i: number FA-<i:06d>, 100 + (37i mod 900) + (7i mod 100)/100 incl. tax), then writes a
camt.053.001.08 statement (tests/statement_samples.py) of L credits: 40 % an invoice's number in an odd form (lower
case, spaces, no dashes, inside a longer text) with its exact amount, 15 % an RF creditor reference, 15 % the
customer's name and one invoice's exact amount, 10 % a partial payment with the number, 20 % unrelated. Times
`bank_lines.import_statement` (read, keep once, match, record the exact matches: setting on) and the commit, and
prints ONE line:
`statement lines=L invoices=N seconds=... matched=... proposed=... left=... read_s=... cpu_s=... load=...`
(`matched`: recorded automatically; `cpu_s`: this process's CPU seconds for the import, the database server's
excluded on PostgreSQL; `load`: the 1-minute load average at the end). Target: seconds < 10 for 10,000 lines
against 100,000 invoices.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text  # noqa: E402

from relance import create_app  # noqa: E402
from relance.extensions import db  # noqa: E402
from relance.models import Customer, Invoice  # noqa: E402
from relance.services import settings as settings_service  # noqa: E402
from relance.services.data_in.bank_lines import import_statement  # noqa: E402
from relance.services.data_in.matching import rf_reference  # noqa: E402
from relance.services.data_in.statements import read_statement  # noqa: E402
from tests.statement_samples import Credit, camt053  # noqa: E402

TODAY = date(2026, 6, 16)


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def amount(i: int) -> Decimal:
    return Decimal(100 + (37 * i) % 900) + Decimal((7 * i) % 100) / 100


def build(n: int) -> int:
    customers = max(1, n // 10)
    step = 20_000
    for start in range(0, customers, step):
        db.session.execute(insert(Customer), [
            {"code": f"C{k:06d}", "name": f"Client {k} SARL", "email": f"compta{k}@client{k}.example"}
            for k in range(start, min(customers, start + step))])
    ids = list(db.session.scalars(select(Customer.id).order_by(Customer.id)))
    for start in range(0, n, step):
        db.session.execute(insert(Invoice), [
            {"number": f"FA-{i:06d}", "customer_id": ids[i % customers], "issue_date": date(2026, 3, 1),
             "due_date": date(2026, 4, 1), "currency": "EUR", "total_excl_tax": (amount(i) / Decimal("1.2"))
             .quantize(Decimal("0.01")), "total_incl_tax": amount(i), "status": "validated", "kind": "invoice"}
            for i in range(start, min(n, start + step))])
        db.session.commit()
    return customers


def statement(lines: int, n: int, customers: int) -> bytes:
    credits = []
    for k in range(lines):
        i = (k * 7919) % n  # spread over the book, each invoice at most once
        kind = k % 20
        number = f"FA-{i:06d}"
        if kind < 8:
            forms = (number.lower(), number.replace("-", " "), number.replace("-", ""),
                     f"VIR SEPA REGLEMENT FACTURE {number} MERCI")
            credit = Credit(amount(i), forms[k % 4])
        elif kind < 11:
            credit = Credit(amount(i), "VIR SEPA RECU", reference=rf_reference(number))
        elif kind < 14:
            credit = Credit(amount(i), "VIREMENT", name=f"CLIENT {i % customers} SARL")
        elif kind < 16:
            credit = Credit(amount(i) - Decimal("5.00"), f"ACOMPTE {number}")
        else:
            credit = Credit(Decimal(5000 + k) + Decimal("0.37"), f"VIR DIVERS {k}", name="SOCIETE INCONNUE")
        credit.ref = f"B{k:07d}"
        credits.append(credit)
    return camt053(credits, version="08")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    parser.add_argument("--postgresql", action="store_true", help="use RELANCE_TEST_DATABASE_URL (own schema)")
    args = parser.parse_args()
    url = args.database_url or (os.environ.get("RELANCE_TEST_DATABASE_URL") if args.postgresql else None)
    if args.postgresql and not url:
        parser.error("--postgresql needs RELANCE_TEST_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        schema = f"bench_statement_{os.getpid()}"
        if url:
            from sqlalchemy import create_engine

            engine = create_engine(url)
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            engine.dispose()
            url = url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url or f"sqlite:///{tmp}/bench.db", "INSTANCE_PATH": tmp,
                          "SECRET_KEY": "bench", "FILES_PATH": tmp})
        try:
            with app.app_context(), app.test_request_context(headers={"Accept-Language": "en"}):
                db.create_all()
                settings_service.save(db.session, {"statement_auto_record": True})
                customers = build(args.invoices)
                if db.engine.dialect.name == "postgresql":
                    db.session.execute(text("ANALYZE"))
                db.session.commit()
                data = statement(args.lines, args.invoices, customers)
                start = time.perf_counter()
                read_statement(data)
                read_s = time.perf_counter() - start
                settings = settings_service.load(db.session)
                start, cpu = time.perf_counter(), cpu_seconds()
                result = import_statement(db.session, data, now=datetime(2026, 6, 16, 7, 0), settings=settings,
                                          filename="bench.xml")
                db.session.commit()
                seconds, cpu_s = time.perf_counter() - start, cpu_seconds() - cpu
                print(f"statement lines={result.read} invoices={args.invoices} seconds={seconds:.2f} "
                      f"matched={result.automatic} proposed={result.proposed} left={result.left} "
                      f"read_s={read_s:.2f} cpu_s={cpu_s:.2f} load={os.getloadavg()[0]:.2f} "
                      f"database={db.engine.dialect.name}")
        finally:
            if url:
                with app.app_context():
                    db.session.remove()
                    db.engine.dispose()
                from sqlalchemy import create_engine

                engine = create_engine(url.split("?options=")[0].split("&options=")[0])
                with engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                engine.dispose()


if __name__ == "__main__":
    main()
