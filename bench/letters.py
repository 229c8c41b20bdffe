"""Bench: the mass-letter PDF (each letter + its invoice, every letter on an odd page) with 1 and with N processes.

    .venv/bin/python bench/letters.py --letters 1000 [--processes 2]

Builds a company, customers (one in ten with 30 overdue invoices, so its letter runs over two pages) and an
uploaded one-page invoice PDF per invoice, then sends two runs of letter reminders through
`dunning.send_run` (texts, letters, invoice merge, saved copies, streamed merged PDF, progress on the Run
row): first with one process, then with a process pool. Prints one line:
`letters letters=... pages=... p1_pages_s=... p2_pages_s=... speedup=... peak_rss_mb=... pages_ok=...`
(plus pages per CPU-second of each pass and the load average: on a busy machine the wall clock says little).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import current_app  # noqa: E402
from pypdf import PdfReader  # noqa: E402
from sqlalchemy import select  # noqa: E402

from relance import create_app  # noqa: E402
from relance.extensions import db  # noqa: E402
from relance.models import Customer, Invoice, ReminderLevel, Run, User  # noqa: E402
from relance.services import settings as settings_service  # noqa: E402
from relance.services.defaults import install_defaults  # noqa: E402
from relance.services.sending import dunning  # noqa: E402
from relance.services.sending.config import SendingConfig  # noqa: E402

ON = date(2026, 3, 3)

INVOICE_HTML = """<html><body style="font-family: DejaVu Sans; font-size: 10pt">
<h1>Facture {number}</h1><p>Atelier Durand SAS, 18 rue des Lilas, 75011 Paris</p>
<table style="width:100%">{rows}</table><p>Total TTC : 1 200,00 €</p></body></html>"""


def setup(count: int, files: Path) -> tuple[list[int], list[int]]:
    """Two runs of `count` letter reminders each; returns their reminder id lists."""
    from weasyprint import HTML

    install_defaults(db.session)
    settings_service.save(db.session, {
        "company_name": "Atelier Durand SAS", "company_address": "18 rue des Lilas", "company_postcode": "75011",
        "company_city": "Paris", "company_iban": "FR76 3000 6000 0112 3456 7890 189", "company_bic": "AGRIFRPP",
        "company_legal": "SAS au capital de 50 000 € — RCS Paris 123 456 789",
        "sender_email": "compta@atelier-durand.example",
        "payment_url_pattern": "https://pay.atelier-durand.example/{number}",
    })
    user = User(email="agent@bench.example", role="agent", name="Agent", signature="Claire Agent\nComptabilité")
    db.session.add(user)
    rows = "".join(f"<tr><td>Prestation {n}</td><td>100,00 €</td></tr>" for n in range(12))
    (files / "invoices").mkdir(parents=True, exist_ok=True)
    (files / "invoices" / "bench.pdf").write_bytes(HTML(string=INVOICE_HTML.format(number="X", rows=rows)).write_pdf())
    level = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    runs = []
    for run_number in range(2):
        run = Run(kind="mass", run_date=ON, user=user)
        db.session.add(run)
        db.session.flush()
        ids = []
        for n in range(count):
            customer = Customer(code=f"R{run_number}-{n:05d}", name=f"Client {run_number}-{n} SARL",
                                email=f"c{n}@customer.example", address=f"{n % 90 + 1} rue de la République",
                                postcode="69002", city="Lyon")
            db.session.add(customer)
            invoice = Invoice(number=f"FA{run_number}-{n:05d}", customer=customer, issue_date=date(2025, 12, 16),
                              due_date=date(2026, 1, 15), total_incl_tax=Decimal("1200.00"),
                              total_excl_tax=Decimal("1000.00"), pdf_path="invoices/bench.pdf")
            db.session.add(invoice)
            if n % 10 == 0:
                for k in range(30):
                    db.session.add(Invoice(number=f"FB{run_number}-{n:05d}-{k}", customer=customer,
                                           issue_date=date(2025, 11, 1), due_date=date(2025, 12, 1) + timedelta(k),
                                           total_incl_tax=Decimal("100.50"), total_excl_tax=Decimal("83.75")))
            db.session.flush()
            reminder = dunning.create_reminder(db.session, invoice, level, "letter", ON, user=user,
                                               key=dunning.manual_key(invoice.id, 1, "letter", f"bench{run_number}"))
            reminder.run_id = run.id
            ids.append(reminder.id)
        db.session.commit()
        runs.append(run.id)
    return runs


def cpu_seconds() -> float:
    """CPU time of this process and of its children, and of every process of the machine (the pool's workers are
    children of the forkserver, not of this process, so their time shows only in the machine's: /proc/stat)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def machine_cpu_seconds() -> float:
    with open("/proc/stat") as stat:
        user, nice, system = (int(v) for v in stat.readline().split()[1:4])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def timed_run(run_id: int, processes: int, files: Path) -> tuple[int, float, bool, float]:
    start, cpu = time.perf_counter(), (cpu_seconds() if processes == 1 else machine_cpu_seconds())
    report = dunning.send_run(run_id, SendingConfig.from_config(current_app.config), processes=processes)
    elapsed = time.perf_counter() - start
    cpu = (cpu_seconds() if processes == 1 else machine_cpu_seconds()) - cpu
    run = db.session.get(Run, run_id)
    merged = PdfReader(files / run.letters_pdf_path)
    expected = 0
    for reminder in run.reminders:
        pages = len(PdfReader(files / reminder.pdf_path).pages)
        expected += pages + pages % 2
    ok = len(report.sent) == len(run.reminders) and len(merged.pages) == expected and run.done == run.total
    return len(merged.pages), elapsed, ok, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.db'}", "INSTANCE_PATH": str(tmp),
                          "SECRET_KEY": "bench", "FILES_PATH": str(tmp / "files")})
        with app.app_context():
            db.create_all()
            runs = setup(args.letters, tmp / "files")
            pages1, t1, ok1, cpu1 = timed_run(runs[0], 1, tmp / "files")
            pages2, t2, ok2, cpu2 = timed_run(runs[1], args.processes, tmp / "files")
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    p1, p2 = pages1 / t1, pages2 / t2
    print(f"letters letters={args.letters} pages={pages1} p1_pages_s={p1:.1f} p2_pages_s={p2:.1f} "
          f"speedup={p2 / p1:.2f} peak_rss_mb={rss:.0f} processes={args.processes} "
          f"pages_ok={'true' if ok1 and ok2 and pages1 == pages2 else 'false'} "
          f"p1_cpu_pages_s={pages1 / cpu1:.1f} p2_machine_cpu_pages_s={pages2 / cpu2:.1f} "
          f"load={os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
