"""Bench: a company's first automatic run on a realistic book of invoices (issue 18).

    .venv/bin/python bench/firstrun.py --invoices 10000 [--phases select,create,emails,letters] [--letters 564]
    .venv/bin/python bench/firstrun.py --invoices 10000 --phases create --baseline /work/main
    .venv/bin/python bench/firstrun.py --invoices 1000000 --phases select [--build bulk|import] [--keep DIR]

Builds, through the CSV/API import path (`data_in.plan_records` / `apply_plan`), on SQLite in a temporary directory:
N invoices over N/10 customers (invoice i dated today - (7i mod 120) days, due 30 days later, 100 + (37i mod 900)
incl. tax, every 10th paid by an imported payment), the default levels with the before-due level (rank 0) off and
levels 1-3 automatic, and an uploaded one-page invoice PDF on every invoice (as the invoice page's upload would:
the emails and letters carry it). Above 100,000 invoices (or with `--build bulk`) the invoices and payments are
written with bulk INSERTs instead of the import (the same values, the same payment triggers) and the line says
`build=bulk` (else `build=import`). Then times each phase from a copy of that same starting database:
- `select_s`: the engine's due selection for today (`schedule(..., automatic=True)`);
- `create_s`: what the automatic run does before sending (`autorun.run_auto(..., send=False)`: the plan, the Run
  row, the reminder rows with their rendered subject and body); `create_limit_s`: this machine's physical limit in
  the same run, the rows the run made written again as they are stored (plain sqlite3, one executemany and one
  commit, the triggers included) into a fresh copy of the starting database;
- `emails_s`: the whole automatic run, its emails written to a local aiosmtpd server (in its own process);
  `emails_limit_s`: this machine's physical limit, in the same run: the run's messages built beforehand and sent as
  bytes with plain smtplib over one connection to the same server (bench/emails.py's `limit`);
- `letters_s`: a mass run of letters for the first `--letters` due invoices (`dunning.send_run`: every letter with
  its invoice and the merged PDF; making the reminder rows is not timed), `pages` in the merged PDF,
  `letters_pages_s` per second and `letters_cpu_pages_s` per CPU second (the pool workers included);
  `--letter-processes N` sets LETTER_PROCESSES (default: the app's, one per CPU; 1: printed in this process).
`--baseline DIR` runs the same phases again with the code of DIR (e.g. /work/main) on the same database snapshot,
in a child process, and prints its figures as `base_...`. Prints ONE line:
`firstrun invoices=N due=... select_s=... create_s=... emails_s=... letters_s=... pages=... peak_rss_mb=... cpu_s=...
load=...` (each phase's CPU seconds as `<phase>_cpu_s`: a busy machine slows the wall clock, not the CPU time).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

# the code measured: this checkout, or the one named by RELANCE_BENCH_CODE (the --baseline child)
sys.path.insert(0, os.environ.get("RELANCE_BENCH_CODE") or str(Path(__file__).resolve().parent.parent))

from _smtp import Server  # noqa: E402  (bench/_smtp.py: this folder is on sys.path)
from sqlalchemy import insert, select, update  # noqa: E402

from relance import create_app  # noqa: E402
from relance.extensions import db  # noqa: E402
from relance.models import Invoice, Reminder, ReminderLevel, Run, User  # noqa: E402
from relance.services import settings as settings_service  # noqa: E402
from relance.services.data_in.apply import apply_plan  # noqa: E402
from relance.services.data_in.plan import plan_records  # noqa: E402
from relance.services.defaults import install_defaults  # noqa: E402

PHASES = ("select", "create", "emails", "letters")

INVOICE_HTML = """<html><body style="font-family: DejaVu Sans; font-size: 10pt">
<h1>Facture</h1><p>Atelier Durand SAS, 18 rue des Lilas, 75011 Paris</p>
<table style="width:100%">{rows}</table><p>Total TTC : 1 200,00 €</p></body></html>"""


def app_for(database: Path, files: Path, **extra):
    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}", "INSTANCE_PATH": str(database.parent),
                       "SECRET_KEY": "bench", "FILES_PATH": str(files), **extra})


def check(plan) -> None:
    if not plan.ok:
        sys.exit("; ".join(str(e) for e in plan.errors[:5]))


BULK_ABOVE = 100_000  # above this many invoices, `build` writes the invoices and payments with bulk inserts


def invoice_values(i: int, today: date, customers: int) -> tuple[dict, dict | None]:
    """Invoice i's import row (as a CSV file gives it: text values) and its payment row (every 10th is paid)."""
    issue = today - timedelta(days=(7 * i) % 120)
    incl = Decimal(100 + (37 * i) % 900)
    excl = (incl / Decimal("1.2")).quantize(Decimal("0.01"))
    number = f"FA-{i:06d}"
    row = {"number": number, "customer_code": f"C{i % customers:05d}", "issue_date": issue.isoformat(),
           "due_date": (issue + timedelta(days=30)).isoformat(), "currency": "EUR", "total_excl_tax": str(excl),
           "total_incl_tax": str(incl)}
    payment = {"invoice_number": number, "date": issue.isoformat(), "amount": str(incl),
               "reference": f"VIR {number}"} if i % 10 == 0 else None
    return row, payment


def bulk_invoices(session, n: int, today: date, customers: int) -> None:
    """The invoices and payments written with bulk INSERTs (the import path checks every row in memory first:
    minutes and gigabytes above 100,000 invoices). The values are those the import would write (`plan_records`
    parses the first rows the same way and `build_check` compares both ways), the payments go through the same
    triggers (amount paid, paid status)."""
    from relance.models import Customer, Payment

    codes = dict(session.execute(select(Customer.code, Customer.id)).all())
    sample = [invoice_values(i, today, customers)[0] for i in range(min(n, 50))]
    plan = plan_records(session, "invoices", [(k + 2, row) for k, row in enumerate(sample)], today)
    check(plan)
    expected = [{k: v for k, v in change.values.items() if k != "customer_code"} for change in plan.changes]
    step = 20_000
    for start in range(0, n, step):
        rows, payments = [], []
        for i in range(start, min(n, start + step)):
            row, payment = invoice_values(i, today, customers)
            values = {"number": row["number"], "customer_id": codes[row["customer_code"]],
                      "issue_date": date.fromisoformat(row["issue_date"]),
                      "due_date": date.fromisoformat(row["due_date"]), "currency": row["currency"],
                      "total_excl_tax": Decimal(row["total_excl_tax"]),
                      "total_incl_tax": Decimal(row["total_incl_tax"]), "status": "validated", "kind": "invoice",
                      "no_auto_reminders": False}
            if i < len(expected) and values != expected[i]:
                sys.exit(f"bulk build: invoice {i} {values} differs from the import's {expected[i]}")
            rows.append(values)
            if payment:
                payments.append(payment)
        session.execute(insert(Invoice), rows)
        ids = dict(session.execute(select(Invoice.number, Invoice.id).where(
            Invoice.number.in_([p["invoice_number"] for p in payments]))).all())
        session.execute(insert(Payment), [
            {"invoice_id": ids[p["invoice_number"]], "date": date.fromisoformat(p["date"]),
             "amount": Decimal(p["amount"]), "reference": p["reference"]} for p in payments])
        session.commit()


def build(n: int, today: date, database: Path, files: Path, bulk: bool = False) -> None:
    """The starting database (see the module's docstring), written through the import path (customers always;
    invoices and payments with `bulk_invoices` when `bulk`)."""
    from weasyprint import HTML

    app = app_for(database, files)
    with app.app_context(), app.test_request_context(headers={"Accept-Language": "en"}):
        db.create_all()
        install_defaults(db.session)
        settings_service.save(db.session, {
            "company_name": "Atelier Durand SAS", "company_address": "18 rue des Lilas", "company_postcode": "75011",
            "company_city": "Paris", "company_iban": "FR76 3000 6000 0112 3456 7890 189",
            "company_bic": "AGRIFRPP", "sender_email": "compta@atelier-durand.example",
            "payment_url_pattern": "https://pay.atelier-durand.example/{number}",
            # live before every invoice (the go-live step done): the whole book is chased, as the issue measures
            "go_live_date": "2000-01-01", "auto_start_date": "2000-01-01",
        })
        db.session.execute(update(ReminderLevel).where(ReminderLevel.rank == 0).values(active=False, automatic=False))
        db.session.execute(update(ReminderLevel).where(ReminderLevel.rank > 0).values(automatic=True))
        customers = max(1, n // 10)
        rows = [(k + 2, {"code": f"C{k:05d}", "name": f"Client {k} SARL", "email": f"compta{k}@client{k}.example",
                         "language": "en" if k % 4 == 0 else "fr", "country": "GB" if k % 8 == 0 else "FR",
                         "kind": "business", "address": f"{k % 90 + 1} rue de la République",
                         "postcode": "69002", "city": "Lyon"}) for k in range(customers)]
        plan = plan_records(db.session, "customers", rows, today)
        check(plan)
        apply_plan(db.session, plan)
        if bulk:
            db.session.commit()
            bulk_invoices(db.session, n, today, customers)
        else:
            rows, payments = [], []
            for i in range(n):
                row, payment = invoice_values(i, today, customers)
                rows.append((i + 2, row))
                if payment:
                    payments.append((len(payments) + 2, payment))
            plan = plan_records(db.session, "invoices", rows, today)
            check(plan)
            apply_plan(db.session, plan)
            plan = plan_records(db.session, "payments", payments, today)
            check(plan)
            apply_plan(db.session, plan)
        rows = "".join(f"<tr><td>Prestation {k}</td><td>100,00 €</td></tr>" for k in range(12))
        (files / "invoices").mkdir(parents=True, exist_ok=True)
        (files / "invoices" / "bench.pdf").write_bytes(HTML(string=INVOICE_HTML.format(rows=rows)).write_pdf())
        db.session.execute(update(Invoice).values(pdf_path="invoices/bench.pdf"))
        db.session.add(User(email="agent@bench.example", role="agent", name="Agent", signature="Claire Agent"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def cpu_seconds() -> float:
    """CPU time of this process, of its finished children and of the living ones with what they reaped: the
    letters' pool workers are children of the multiprocessing fork server, which lives until this process ends."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + living_children_cpu()


def living_children_cpu(pid: str = "self") -> float:
    """The CPU seconds of a process's living children and of their descendants, ended ones included (utime, stime,
    cutime, cstime of /proc/<pid>/stat; a zombie still has its own). Linux; else 0."""
    total = 0.0
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            try:
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile: counted in RUSAGE_CHILDREN once reaped
                continue
            total += sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
            total += living_children_cpu(child)
    return total


def fresh_copy(snapshot: Path, work: Path, phase: str) -> tuple[Path, Path]:
    """A copy of the starting database (and its files) for one phase."""
    folder = work / phase
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(snapshot, folder / "bench.db")
    shutil.copytree(snapshot.parent / "files", folder / "files")
    return folder / "bench.db", folder / "files"


def phase_select(app, today: date, out: dict) -> None:
    from relance.services.engine.schedule import schedule
    from relance.services.sending import autorun

    settings = settings_service.load(db.session)
    now = autorun.run_moment(today, settings)
    start, cpu = time.perf_counter(), cpu_seconds()
    result = schedule(db.session, today, now, automatic=True)
    out["select_s"], out["select_cpu_s"] = time.perf_counter() - start, cpu_seconds() - cpu
    out["due"] = len(result.due)


def phase_create(app, today: date, out: dict) -> None:
    from relance.services.sending import autorun

    start, cpu = time.perf_counter(), cpu_seconds()
    run = autorun.run_auto(db.session, today, send=False)
    out["create_s"], out["create_cpu_s"] = time.perf_counter() - start, cpu_seconds() - cpu
    out["created"] = len(db.session.scalars(select(Reminder.id).where(Reminder.run_id == run.id)).all())


def create_limit(made: Path, fresh: Path) -> float:
    """Seconds to write the reminder rows of the database `made` into the database `fresh` with plain sqlite3 (the
    values as stored, one executemany, one commit): the floor under `create_s` on this machine."""
    import sqlite3

    source = sqlite3.connect(made)
    columns = [row[1] for row in source.execute("PRAGMA table_info(reminders)") if row[1] not in ("id", "run_id")]
    rows = source.execute(f"SELECT {', '.join(columns)} FROM reminders").fetchall()
    source.close()
    target = sqlite3.connect(fresh, isolation_level=None)
    target.execute("PRAGMA journal_mode=WAL")
    target.execute("PRAGMA synchronous=NORMAL")
    start = time.perf_counter()
    target.execute("BEGIN")
    target.executemany(f"INSERT INTO reminders ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                       rows)
    target.execute("COMMIT")
    seconds = time.perf_counter() - start
    target.close()
    return seconds


def phase_emails(app, today: date, out: dict, server: Server | None) -> None:
    from emails import limit, prebuilt  # bench/emails.py: the same messages as bytes, sent with plain smtplib

    from relance.services.sending import autorun

    start, cpu = time.perf_counter(), cpu_seconds()
    run = autorun.run_auto(db.session, today)
    out["emails_s"], out["emails_cpu_s"] = time.perf_counter() - start, cpu_seconds() - cpu
    out["sent"], out["run_status"] = run.sent, run.status
    assert server is not None
    out["received"] = server.counters()[0]
    # the physical limit of this machine in the same run: the run's messages, built beforehand, sent as bytes over
    # one connection to the same server (SMTP alone: the run also made the reminders and recorded each outcome)
    messages = prebuilt(list(db.session.scalars(select(Reminder.id).where(Reminder.run_id == run.id,
                                                                          Reminder.channel == "email"))))
    out["emails_limit_s"] = len(messages) / limit(server, messages)["msgs_s"]


def phase_letters(app, today: date, out: dict, count: int) -> None:
    from pypdf import PdfReader

    from relance.services.engine.schedule import schedule
    from relance.services.letters import printing
    from relance.services.sending import autorun, dunning
    from relance.services.sending.config import SendingConfig

    settings = settings_service.load(db.session)
    due = schedule(db.session, today, autorun.run_moment(today, settings), automatic=True).due[:count]
    user = db.session.scalar(select(User))
    levels = {level.rank: level for level in db.session.scalars(select(ReminderLevel))}
    run = Run(kind="mass", run_date=today, user=user)
    db.session.add(run)
    db.session.flush()
    for item in due:
        invoice = db.session.get_one(Invoice, item.invoice_id)
        reminder = dunning.create_reminder(db.session, invoice, levels[item.level], "letter", today, user=user,
                                           settings=settings,
                                           key=dunning.manual_key(invoice.id, item.level, "letter", "bench"))
        reminder.run_id = run.id
    db.session.commit()
    config = SendingConfig.from_config(app.config)
    out["letter_processes"] = printing.pool_size(config.letter_processes)
    start, cpu = time.perf_counter(), cpu_seconds()
    dunning.send_run(run.id, config)
    out["letters_s"], out["letters_cpu_s"] = time.perf_counter() - start, cpu_seconds() - cpu
    run = db.session.get_one(Run, run.id)
    out["pages"] = len(PdfReader(Path(app.config["FILES_PATH"]) / run.letters_pdf_path).pages) \
        if run.letters_pdf_path else 0
    out["letters_pages_s"] = out["pages"] / out["letters_s"]
    out["letters_cpu_pages_s"] = out["pages"] / out["letters_cpu_s"]  # the figure a busy machine leaves alone
    out["letters_made"] = run.sent


def run_phases(snapshot: Path, work: Path, phases: list[str], today: date, letters: int,
               letter_processes: int | None = None) -> dict:
    out: dict = {}
    for phase in phases:
        database, files = fresh_copy(snapshot, work, phase)
        server = None
        extra: dict = {} if letter_processes is None else {"LETTER_PROCESSES": letter_processes}
        if phase == "emails":
            server = Server()
            extra |= {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.port, "SMTP_SECURITY": "none"}
        try:
            app = app_for(database, files, **extra)
            with app.app_context():
                if phase == "letters":
                    phase_letters(app, today, out, letters)
                elif phase == "emails":
                    phase_emails(app, today, out, server)
                else:
                    {"select": phase_select, "create": phase_create}[phase](app, today, out)
                db.session.remove()
                db.engine.dispose()
            if phase == "create":
                fresh, _ = fresh_copy(snapshot, work, "create-limit")
                out["create_limit_s"] = create_limit(database, fresh)
                shutil.rmtree(fresh.parent, ignore_errors=True)
        finally:
            if server is not None:
                server.stop()
        shutil.rmtree(database.parent, ignore_errors=True)
    return out


def fmt(out: dict) -> str:
    keys = ["due", "select_s", "create_s", "create_limit_s", "created", "emails_s", "emails_limit_s", "sent",
            "received", "letters_s", "pages", "letters_pages_s", "letters_cpu_pages_s", "letters_made",
            "letter_processes"]
    parts = []
    for key in [*keys, *sorted(k for k in out if k.endswith("_cpu_s"))]:
        if key in out:
            value = out[key]
            parts.append(f"{key}={value:.2f}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10000)
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated, from " + ",".join(PHASES))
    parser.add_argument("--letters", type=int, default=564, help="letters made by the letters phase")
    parser.add_argument("--letter-processes", type=int,
                        help="LETTER_PROCESSES for the letters phase (default: the app's; 1: in this process)")
    parser.add_argument("--build", choices=("auto", "import", "bulk"), default="auto",
                        help=f"how the invoices and payments are written: the import path, or bulk INSERTs (auto: "
                             f"bulk above {BULK_ABOVE:,} invoices); printed as build=...")
    parser.add_argument("--keep", help="also copy the starting database to this folder (to profile it)")
    parser.add_argument("--baseline", help="also run the phases with the code of this checkout (e.g. /work/main)")
    parser.add_argument("--snapshot", help=argparse.SUPPRESS)  # the --baseline child: the database to start from
    parser.add_argument("--today", help=argparse.SUPPRESS)
    args = parser.parse_args()
    phases = [p for p in args.phases.split(",") if p]
    if unknown := set(phases) - set(PHASES):
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    today = date.fromisoformat(args.today) if args.today else date.today()
    if args.snapshot:  # the baseline child: phases only, the figures on stdout
        with tempfile.TemporaryDirectory() as tmp:
            out = run_phases(Path(args.snapshot), Path(tmp), phases, today, args.letters, args.letter_processes)
        print(fmt(out))
        return
    started = datetime.now()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        snapshot = work / "start" / "bench.db"
        (snapshot.parent / "files").mkdir(parents=True)
        build_start = time.perf_counter()
        bulk = args.build == "bulk" or (args.build == "auto" and args.invoices > BULK_ABOVE)
        build(args.invoices, today, snapshot, snapshot.parent / "files", bulk=bulk)
        build_s = time.perf_counter() - build_start
        if args.keep:
            shutil.copytree(snapshot.parent, args.keep, dirs_exist_ok=True)
        cpu = cpu_seconds()
        out = run_phases(snapshot, work, phases, today, args.letters, args.letter_processes)
        cpu = cpu_seconds() - cpu
        base = ""
        if args.baseline:
            child = subprocess.run(
                [sys.executable, __file__, "--snapshot", str(snapshot), "--phases", args.phases, "--today",
                 today.isoformat(), "--letters", str(args.letters),
                 *(["--letter-processes", str(args.letter_processes)] if args.letter_processes else [])],
                env={**os.environ, "RELANCE_BENCH_CODE": args.baseline, "PYTHONPATH": args.baseline},
                # in the baseline's folder: Python 3.11's multiprocessing fork server imports its preloaded modules
                # with its own sys.path, whose first entry is the working directory (not the parent's sys.path):
                # run from this checkout, the baseline's letter workers ran this checkout's printing code
                cwd=args.baseline, capture_output=True, text=True, check=True)
            base = " " + " ".join(f"base_{pair}" for pair in child.stdout.split())
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(f"firstrun invoices={args.invoices} {fmt(out)} peak_rss_mb={rss:.0f} cpu_s={cpu:.2f} "
          f"build={'bulk' if bulk else 'import'} build_s={build_s:.1f} "
          f"load={os.getloadavg()[0]:.1f}{base} load_end={os.getloadavg()[0]:.1f} "
          f"wall_s={(datetime.now() - started).total_seconds():.0f}")


if __name__ == "__main__":
    main()
