"""Bench: reminder emails with a 60 KB invoice PDF sent to a local aiosmtpd server (in its own process).

    .venv/bin/python bench/emails.py --emails 1000

Makes the reminders (texts rendered, recipients chosen) first, then times `dunning.send(ids)`: claiming the
rows, building each MIME message (plain + HTML + the PDF), sending over one SMTP connection and recording each
outcome. Prints one line: `emails emails=... msgs_s=... failed=... received=...` (plus this process's
CPU time per message and the machine's load average, since a busy machine slows the wall clock).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pypdf import PdfWriter  # noqa: E402
from sqlalchemy import select  # noqa: E402

from relance import create_app  # noqa: E402
from relance.extensions import db  # noqa: E402
from relance.models import Customer, Invoice, ReminderLevel  # noqa: E402
from relance.services import dunning  # noqa: E402
from relance.services import settings as settings_service  # noqa: E402
from relance.services.defaults import install_defaults  # noqa: E402

ON = date(2026, 3, 3)

SERVER = """
import asyncio, sys, time
from aiosmtpd.controller import Controller
class Counter:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Counter.count += 1
        return "250 OK"
controller = Controller(Counter(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.readline()
print(Counter.count, time.process_time(), flush=True)
controller.stop()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sixty_kb_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_attachment("scan.bin", os.urandom(60 * 1024 - 1500))
    from io import BytesIO

    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def setup(count: int, files: Path) -> list[int]:
    install_defaults(db.session)
    settings_service.save(db.session, {"company_name": "Atelier Durand SAS",
                                       "sender_email": "compta@atelier-durand.example"})
    (files / "invoices").mkdir(parents=True, exist_ok=True)
    (files / "invoices" / "bench.pdf").write_bytes(sixty_kb_pdf())
    level = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    ids = []
    for n in range(count):
        customer = Customer(code=f"E{n:05d}", name=f"Client {n}", email=f"client{n}@customer.example")
        invoice = Invoice(number=f"FA-{n:05d}", customer=customer, issue_date=date(2025, 12, 16),
                          due_date=date(2026, 1, 15), total_incl_tax=Decimal("1200.00"),
                          total_excl_tax=Decimal("1000.00"), pdf_path="invoices/bench.pdf")
        db.session.add(invoice)
        db.session.flush()
        ids.append(dunning.create_reminder(db.session, invoice, level, "email", ON).id)
    db.session.commit()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=1000)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.db'}", "INSTANCE_PATH": str(tmp),
                              "SECRET_KEY": "bench", "FILES_PATH": str(tmp / "files"), "SMTP_HOST": "127.0.0.1",
                              "SMTP_PORT": port, "SMTP_SECURITY": "none"})
            with app.app_context():
                db.create_all()
                ids = setup(args.emails, tmp / "files")
                start, cpu = time.perf_counter(), time.process_time()
                report = dunning.send(ids)
                elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        server.stdin.write("\n")
        server.stdin.flush()
        received, server_cpu = server.stdout.readline().split()
        received, server_cpu = int(received), float(server_cpu)
    finally:
        server.kill()
    print(f"emails emails={args.emails} msgs_s={len(report.sent) / elapsed:.0f} failed={len(report.failed)} "
          f"retry={len(report.retry)} received={received} seconds={elapsed:.2f} "
          f"cpu_ms_per_msg={cpu * 1000 / max(1, len(ids)):.1f} "
          f"server_cpu_ms_per_msg={server_cpu * 1000 / max(1, received):.1f} "
          f"load={os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
