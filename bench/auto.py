"""Time the automatic run end to end: N invoices due, K real Huey consumers on Redis, PostgreSQL, a local SMTP
server (aiosmtpd) that counts what arrives.

    .venv/bin/python bench/auto.py --invoices 5000 --consumers 2 \
        [--db postgresql+psycopg://postgres@127.0.0.1:5432/test] [--redis redis://127.0.0.1:6379/15]

Each consumer runs one worker; the run is started by one task per consumer at once (the same day's run).
Prints `auto invoices=N consumers=K sent=... duplicates=... per_s=...` (duplicates: messages beyond one per
invoice or per Message-ID; must be 0). The functions here are also the harness of tests/test_autorun_workers.py.
"""

from __future__ import annotations

import argparse
import email
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pgschema import drop_pg_schema, reset_pg_schema  # noqa: E402

RUN_DAY = date(2026, 2, 2)
SCHEMA = "relance_bench_auto"

ENQUEUE = """
import json, sys, time
from relance import create_app, tasks
create_app()  # the queue of the app's configuration (tasks.init_app)
day, count, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
pending = [tasks.run_auto_task(day) for _ in range(count)]
print("enqueued", flush=True)
deadline = time.monotonic() + timeout
while pending and time.monotonic() < deadline:
    for result in list(pending):
        try:
            value = result.get()
        except Exception as exc:
            value = {"error": f"{type(exc).__name__}: {exc}"}
        if value is not None:
            pending.remove(result)
            print(json.dumps(value), flush=True)
    time.sleep(0.1)
for _ in pending:  # a task of a killed consumer never answers
    print(json.dumps({"error": "no answer"}), flush=True)
"""


reset_schema = reset_pg_schema


def make_app(db_url: str, instance: Path, smtp_port: int):
    from relance import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": db_url, "INSTANCE_PATH": str(instance), "SECRET_KEY": "bench",
                       "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_port, "SMTP_SECURITY": "none",
                       "SMTP_TIMEOUT": 10, "SERVER_NAME": "localhost"})


def sample_pdf(files_path: Path) -> str:
    """One small uploaded invoice PDF shared by every invoice (an uploaded PDF is read, not generated)."""
    from pypdf import PdfWriter

    relative = "invoices/sample.pdf"
    path = files_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    with open(path, "wb") as out:
        writer.write(out)
    return relative


def seed(session, invoices: int, files_path: Path) -> list[str]:
    """Default levels and texts, `invoices` customers with one invoice each, all at level 1 on RUN_DAY."""
    from sqlalchemy import select

    from relance.extensions import db
    from relance.models import Customer, Invoice, ReminderLevel
    from relance.services import settings as settings_service
    from relance.services.defaults import install_defaults

    db.create_all()
    install_defaults(session)
    settings_service.save(session, {"sender_email": "compta@vendor.example", "company_name": "Vendor SAS"})
    # a company that went live long ago with levels 0-2 automatic (services/golive.py: before its go-live step a
    # company sends nothing automatically)
    settings_service.save(session, {"go_live_date": "2000-01-01", "auto_start_date": "2000-01-01"})
    for level in session.scalars(select(ReminderLevel)):
        level.automatic = level.rank in (0, 1, 2)
    pdf = sample_pdf(files_path)
    due = RUN_DAY - timedelta(days=20)
    customers = [Customer(code=f"C{n:06d}", name=f"Client {n}", email=f"client{n}@customer.example",
                          address=f"{n} rue de la Paix", postcode="75002", city="Paris") for n in range(invoices)]
    session.add_all(customers)
    session.flush()
    numbers = [f"FA-{n:07d}" for n in range(invoices)]
    session.add_all([Invoice(number=number, customer_id=customer.id, issue_date=due - timedelta(days=30),
                             due_date=due, total_incl_tax=Decimal("1200.00"), total_excl_tax=Decimal("1000.00"),
                             pdf_path=pdf) for number, customer in zip(numbers, customers, strict=True)])
    session.commit()
    return numbers


def consumer_env(db_url: str, redis_url: str, instance: Path, smtp_port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
    env.update(RELANCE_DATABASE_URL=db_url, RELANCE_REDIS_URL=redis_url, RELANCE_INSTANCE_PATH=str(instance),
               RELANCE_SECRET_KEY="bench", RELANCE_SMTP_HOST="127.0.0.1", RELANCE_SMTP_PORT=str(smtp_port),
               RELANCE_SMTP_SECURITY="none", RELANCE_SMTP_TIMEOUT="10", PYTHONPATH=str(ROOT))
    return env


def start_consumers(count: int, env: dict, log_dir: Path) -> list[subprocess.Popen]:
    """`count` real consumers (one worker each, no periodic task: the test starts the run), polling fast."""
    procs = []
    for n in range(count):
        log = open(log_dir / f"consumer-{n}.log", "w")  # noqa: SIM115 (closed with the process)
        procs.append(subprocess.Popen(
            [sys.executable, "relance/worker.py", "-w", "1", "-n", "-d", "0.05", "-m", "0.2", "-b", "1.05"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs


def enqueue(env: dict, day: date, count: int, timeout: float) -> subprocess.Popen:
    """A client process that enqueues `count` run tasks for `day`, prints "enqueued", then one JSON per result."""
    client = subprocess.Popen([sys.executable, "-c", ENQUEUE, day.isoformat(), str(count), str(timeout)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = client.stdout.readline().strip()
    if line != "enqueued":
        raise RuntimeError(f"enqueue failed: {line} {client.stderr.read()[-2000:]}")
    return client


def results(client: subprocess.Popen, timeout: float, expected: int | None = None) -> list[dict]:
    """The tasks' answers; with `expected`, return as soon as that many arrived (the client is stopped)."""
    if expected is None:
        out, _ = client.communicate(timeout=timeout)
        return [json.loads(line) for line in out.splitlines() if line.strip()]
    answers = []
    while len(answers) < expected:
        line = client.stdout.readline()
        if not line:
            break
        answers.append(json.loads(line))
    client.kill()
    client.wait()
    return answers


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def tally(received) -> tuple[Counter, Counter]:
    """(count by Message-ID, count by invoice number from the attachment name Facture-<number>.pdf) of the messages
    as the server received them (`tests.smtp.Received`), each parsed once with the compat32 policy: headers and
    parts' names only, a quarter of the default policy's time (2,000 messages: 1.6 s instead of 6.4)."""
    by_id, by_invoice = Counter(), Counter()
    for arrived in received:
        msg = email.message_from_bytes(arrived.raw, policy=compat32)
        by_id["".join(str(msg["Message-ID"]).split())] += 1  # unfolded
        for part in msg.walk():
            name = part.get_filename()
            if name and part.get_content_disposition() == "attachment":
                by_invoice[name.removeprefix("Facture-").removeprefix("Invoice-").removesuffix(".pdf")] += 1
    return by_id, by_invoice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=5000)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--db", default=os.environ.get("RELANCE_TEST_DATABASE_URL",
                                                       "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis", default=os.environ.get("RELANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    args = parser.parse_args()

    import redis

    from relance.extensions import db
    from tests.smtp import SmtpServer

    redis.Redis.from_url(args.redis).flushdb()
    url = reset_schema(args.db, SCHEMA)
    smtp = SmtpServer().start()
    tmp = Path(tempfile.mkdtemp(prefix="relance-bench-auto-"))
    app = make_app(url, tmp / "instance", smtp.port)
    with app.app_context():
        seed(db.session, args.invoices, Path(app.config["FILES_PATH"]))
    env = consumer_env(url, args.redis, tmp / "instance", smtp.port)
    consumers = start_consumers(args.consumers, env, tmp)
    try:
        time.sleep(3)  # consumers up
        started = time.perf_counter()
        client = enqueue(env, RUN_DAY, args.consumers, timeout=3600)
        answers = results(client, timeout=3700)
        elapsed = time.perf_counter() - started
    finally:
        stop(consumers)
        smtp.stop()
    by_id, by_invoice = tally(smtp.received)
    duplicates = sum(n - 1 for n in by_id.values() if n > 1) + sum(n - 1 for n in by_invoice.values() if n > 1)
    missing = args.invoices - len(by_invoice)
    errors = [a for a in answers if "error" in a]
    print(f"auto invoices={args.invoices} consumers={args.consumers} sent={len(smtp.received)} "
          f"duplicates={duplicates} missing={missing} task_errors={len(errors)} seconds={elapsed:.1f} "
          f"per_s={len(smtp.received) / elapsed:.1f}")
    drop_pg_schema(args.db, SCHEMA)


if __name__ == "__main__":
    main()
