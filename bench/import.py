"""Time a CSV import of N invoices (French format: ; separator, decimal commas, dd/mm/yyyy) into a fresh database.

    .venv/bin/python bench/import.py --invoices 10000 [--database postgresql+psycopg://...] [--reimport]

Prints `import invoices=N seconds=S` (checking + writing + commit; with --reimport, also the time to import the
same file again, which updates nothing).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select  # noqa: E402

from relance import create_app  # noqa: E402
from relance.extensions import db  # noqa: E402
from relance.models import Customer, Invoice  # noqa: E402
from relance.services.data_in.apply import apply_plan  # noqa: E402
from relance.services.data_in.reading import plan_csv  # noqa: E402


def make_csv(count: int, customers: int) -> bytes:
    lines = ["N° facture;Code client;Date facture;Échéance;Devise;Total HT;Total TTC;Statut;Type"]
    start = date(2025, 1, 1)
    for n in range(count):
        issue = start + timedelta(days=n % 365)
        excl = 100 + (n * 37) % 90000 + (n % 100) / 100
        incl = round(excl * 1.2, 2)
        lines.append(f"FA-{n:07d};C{n % customers:05d};{issue:%d/%m/%Y};{issue + timedelta(days=30):%d/%m/%Y};EUR;"
                     f"{excl:_.2f};{incl:_.2f};validée;facture".replace(".", ",").replace("_", "\u00a0"))
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10000)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--database", help="database URL (default: a new SQLite file)")
    parser.add_argument("--reimport", action="store_true", help="import the same file a second time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/bench.db"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": tmp, "SECRET_KEY": "bench"})
        with app.app_context(), app.test_request_context(headers={"Accept-Language": "en"}):
            db.drop_all()
            db.create_all()
            db.session.execute(insert(Customer), [{"code": f"C{i:05d}", "name": f"Customer {i}"}
                                                  for i in range(args.customers)])
            db.session.commit()
            data = make_csv(args.invoices, args.customers)
            started = time.perf_counter()
            plan = plan_csv(db.session, "invoices", data, date.today(), filename="bench.csv")
            if not plan.ok:
                sys.exit("; ".join(str(e) for e in plan.errors[:5]))
            apply_plan(db.session, plan)
            db.session.commit()
            seconds = time.perf_counter() - started
            saved = db.session.scalar(select(func.count()).select_from(Invoice))
            assert saved == args.invoices, saved
            extra = ""
            if args.reimport:
                started = time.perf_counter()
                plan = plan_csv(db.session, "invoices", data, date.today())
                apply_plan(db.session, plan)
                db.session.commit()
                extra = f" reimport_seconds={time.perf_counter() - started:.2f} reimport_unchanged={plan.unchanged}"
            if args.database:
                db.drop_all()
        print(f"import invoices={args.invoices} seconds={seconds:.2f}{extra}")


if __name__ == "__main__":
    main()
