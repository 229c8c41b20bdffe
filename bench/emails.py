"""Bench: reminder emails with a 60 KB invoice PDF sent to a local aiosmtpd server (in its own process).

    .venv/bin/python bench/emails.py --emails 1000
    .venv/bin/python bench/emails.py --emails 1000 --customers 100   (grouped: one email per customer)

Makes the reminders (texts rendered, recipients chosen) first, then times `dunning.send(ids)`: claiming the
rows, building each MIME message (plain + HTML + the PDF), sending over one SMTP connection and recording each
outcome. Prints one line: `emails emails=... msgs_s=... failed=... received=...` (plus this process's
CPU time per message and the machine's load average, since a busy machine slows the wall clock).

In the same run, the physical limit (`limit_msgs_s`): the same messages, built beforehand as bytes by the same
builder (`dunning.outgoing_email` + `mailer.message_bytes`), sent with plain smtplib `sendmail` over one connection
to the same server process, nothing else done; measured before and after the timed send (the load drifts), the
mean of the two kept. `ratio` = msgs_s / limit_msgs_s. The server (aiosmtpd, one process) may be the bottleneck
of the limit itself: its CPU per message is printed for each pass (`server_cpu_ms_per_msg`, `limit_server_cpu_...`).

Grouped mode (`--customers N`, `group_by_customer` on): the invoices are spread over N customers and made the way the
automatic run makes them (`dunning.create_reminders`: a customer's invoices share one email, every invoice
attached); the line then starts `emails mode=grouped invoices=... customers=... messages=...` and adds
`invoices_s` (reminders sent per second) beside `msgs_s` (emails per second); the limit sends the same grouped
messages.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _smtp import Server  # noqa: E402  (bench/_smtp.py: this folder is on sys.path)
from pypdf import PdfWriter  # noqa: E402
from sqlalchemy import select  # noqa: E402

from relance import create_app  # noqa: E402
from relance.extensions import db  # noqa: E402
from relance.models import Customer, Invoice, Reminder, ReminderLevel  # noqa: E402
from relance.services import settings as settings_service  # noqa: E402
from relance.services.defaults import install_defaults  # noqa: E402
from relance.services.engine import eligibility  # noqa: E402
from relance.services.sending import dunning, mailer  # noqa: E402
from relance.services.texts import wording  # noqa: E402

ON = date(2026, 3, 3)


def sixty_kb_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_attachment("scan.bin", os.urandom(60 * 1024 - 1500))
    from io import BytesIO

    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def setup(count: int, files: Path, customers: int = 0) -> list[int]:
    """`count` invoices with a level 1 reminder each: one customer each, or spread over `customers` customers whose
    reminders share one email per customer."""
    install_defaults(db.session)
    settings_service.save(db.session, {"company_name": "Atelier Durand SAS", "group_by_customer": bool(customers),
                                       "sender_email": "compta@atelier-durand.example"})
    (files / "invoices").mkdir(parents=True, exist_ok=True)
    (files / "invoices" / "bench.pdf").write_bytes(sixty_kb_pdf())
    level = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    ids = []
    people = [Customer(code=f"E{n:05d}", name=f"Client {n}", email=f"client{n}@customer.example")
              for n in range(customers or count)]
    invoices = []
    for n in range(count):
        invoice = Invoice(number=f"FA-{n:05d}", customer=people[n % len(people)], issue_date=date(2025, 12, 16),
                          due_date=date(2026, 1, 15), total_incl_tax=Decimal("1200.00"),
                          total_excl_tax=Decimal("1000.00"), pdf_path="invoices/bench.pdf")
        db.session.add(invoice)
        db.session.flush()
        if not customers:
            ids.append(dunning.create_reminder(db.session, invoice, level, "email", ON).id)
        invoices.append(invoice)
    if customers:  # as the automatic run makes them: together, a customer's invoices in one email
        settings = settings_service.load(db.session)
        dunning.create_reminders(db.session, [(i.id, level, ("email",)) for i in invoices], ON, run=None,
                                 settings=settings, rules=eligibility.day_rules(db.session, ON),
                                 renderer=wording.Renderer(db.session, ON, settings))
        ids = list(db.session.scalars(select(Reminder.id).order_by(Reminder.id)))
    db.session.commit()
    return ids


def prebuilt(ids: list[int]) -> list[tuple[str, list[str], bytes]]:
    """(envelope sender, recipients, bytes) of each email, built as `dunning.send` builds it (a shared message once,
    every invoice of it attached)."""
    settings = settings_service.load(db.session)
    out = []
    rows = list(db.session.scalars(select(Reminder).where(Reminder.id.in_(ids)).order_by(Reminder.id)))
    members: dict[str, list[Reminder]] = {}
    for reminder in rows:
        if reminder.message_key and reminder.message_key != reminder.key:
            members.setdefault(reminder.message_key, []).append(reminder)
    for reminder in rows:
        if reminder.message_key and reminder.message_key != reminder.key:
            continue
        more = [(m, invoice_pdf_bytes(m.invoice)) for m in members.get(reminder.key, [])]
        email = dunning.outgoing_email(reminder, settings, invoice_pdf_bytes(reminder.invoice), more)
        raw, _ = mailer.message_bytes(email)
        out.append((mailer.ascii_address(email.sender), [mailer.ascii_address(a) for a in [*email.to, *email.cc]],
                    raw))
    db.session.rollback()
    return out


def invoice_pdf_bytes(invoice: Invoice) -> bytes:
    from relance.services.letters.invoice_pdf import invoice_pdf_source

    source = invoice_pdf_source(invoice)
    assert isinstance(source, bytes)
    return source


def limit(server: Server, messages: list[tuple[str, list[str], bytes]]) -> dict:
    """The same bytes over one plain smtplib connection: messages per second, client and server CPU per message."""
    before = server.counters()
    start, cpu = time.perf_counter(), time.process_time()
    with smtplib.SMTP("127.0.0.1", server.port) as smtp:
        for sender, to, raw in messages:
            smtp.sendmail(sender, to, raw)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    after = server.counters()
    assert after[0] - before[0] == len(messages)
    return {"msgs_s": len(messages) / elapsed, "cpu_ms": cpu * 1000 / len(messages),
            "server_cpu_ms": (after[1] - before[1]) * 1000 / len(messages)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=1000, help="invoices reminded (one email each unless grouped)")
    parser.add_argument("--customers", type=int, default=0,
                        help="spread the invoices over this many customers, one email per customer (grouped mode)")
    args = parser.parse_args()
    server = Server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.db'}", "INSTANCE_PATH": str(tmp),
                              "SECRET_KEY": "bench", "FILES_PATH": str(tmp / "files"), "SMTP_HOST": "127.0.0.1",
                              "SMTP_PORT": server.port, "SMTP_SECURITY": "none"})
            with app.app_context():
                db.create_all()
                ids = setup(args.emails, tmp / "files", args.customers)
                messages = prebuilt(ids)
                first = limit(server, messages)
                received_before, server_cpu = server.counters()
                start, cpu = time.perf_counter(), time.process_time()
                report = dunning.send(ids)
                elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
                received, server_cpu_after = server.counters()
                received, server_cpu = received - received_before, server_cpu_after - server_cpu
                last = limit(server, messages)
    finally:
        server.stop()
    msgs_s = received / elapsed
    limit_msgs_s = (first["msgs_s"] + last["msgs_s"]) / 2
    mode = (f"mode=grouped invoices={args.emails} customers={args.customers} messages={len(messages)} "
            f"invoices_s={len(report.sent) / elapsed:.0f} ") if args.customers else f"emails={args.emails} "
    print(f"emails {mode}msgs_s={msgs_s:.0f} failed={len(report.failed)} "
          f"retry={len(report.retry)} received={received} seconds={elapsed:.2f} "
          f"cpu_ms_per_msg={cpu * 1000 / max(1, received):.1f} "
          f"server_cpu_ms_per_msg={server_cpu * 1000 / max(1, received):.1f} "
          f"limit_msgs_s={limit_msgs_s:.0f} ratio={msgs_s / limit_msgs_s:.2f} "
          f"limit_first_last={first['msgs_s']:.0f}/{last['msgs_s']:.0f} "
          f"limit_cpu_ms_per_msg={(first['cpu_ms'] + last['cpu_ms']) / 2:.1f} "
          f"limit_server_cpu_ms_per_msg={(first['server_cpu_ms'] + last['server_cpu_ms']) / 2:.1f} "
          f"load={os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
