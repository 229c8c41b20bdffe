"""Office load on the embedded default (SQLite, web server + worker on one machine) during a mass letter run.

    PYTHONPATH=. .venv/bin/python bench/office.py [--letters 300] [--clients 2] [--pause 0.2] [--by-email]

A fresh instance folder (SQLite database and Huey's SQLite queue in it, as `make run` has), migrated with
`flask db upgrade`; default levels and texts, the company's settings, N customers with a postal address and one
invoice each due 20 days ago (level 1 due), and for each office client a customer with large invoices not due
yet (to take payments on). `flask relance serve` starts the web server and the worker together, as the README
says; mail goes to a local aiosmtpd. Then, all through HTTP: an agent ticks "all letters" on the mass page and
starts the run, and follows it on the run page; meanwhile each client loops: open an invoice, record a payment,
open a customer (one of the run's), edit it. Every POST is timed. At the end the run must be done with N
letters to post and the merged PDF, and every payment answered as recorded must be in the database.
`--by-email`: the run sends the N reminders by email instead (to the local SMTP server, which must receive N).
Prints one line:
`office letters=N writes=W errors=E http4xx=0 p50_write_ms=.. p95_write_ms=.. max_write_ms=.. p95_read_ms=..
run_s=.. cpu_s=.. load=..` (errors: answers >= 500 and requests that failed; http4xx: the bench sent a bad
form; cpu_s: this process and the server, worker and letter processes while the bench ran). Exit code 1 when
errors > 0, an answer was 4xx, or the run did not finish; the server's log tail is printed then.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "office bench 42"
PAY_INVOICES = 4  # invoices per client that take payments (not due: never in the run)
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
TOKEN = re.compile(r'name="token" value="([^"]+)"')
STATUS = re.compile(r'class="card run-progress" id="run-\d+" data-status="(\w+)"')
FINISHED = ("done", "failed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def instance_env(instance: Path, smtp_port: int) -> dict:
    """The environment of a company's install: every RELANCE_* from here, nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
    env.update(RELANCE_INSTANCE_PATH=str(instance), RELANCE_SMTP_HOST="127.0.0.1", RELANCE_SMTP_PORT=str(smtp_port),
               FLASK_APP="wsgi", PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
               PYTHONUNBUFFERED="1")
    return env


# --- the company ---------------------------------------------------------------------------------------------


@dataclass
class Seeded:
    run_customers: list[dict]  # the fields of each customer's edit form
    pay_invoices: list[list[int]]  # per client
    today: str  # the company's date (ISO)


def customer_fields(code: str, name: str, n: int) -> dict:
    return {"code": code, "name": name, "email": f"compta{n}@client.example", "phone": "",
            "address": f"{n % 90 + 1} rue de la République\nBâtiment B", "postcode": "69002", "city": "Lyon",
            "country": "FR", "language": "fr", "kind": "business"}


def seed(letters: int, clients: int) -> Seeded:
    """The company in the instance's database (the environment points at it); the app's own code writes it."""
    from relance import clock, create_app
    from relance.extensions import db
    from relance.models import Customer, Invoice, User
    from relance.services import settings as settings_service
    from relance.services.defaults import install_defaults
    from relance.services.texts.wording import install_default_texts

    app = create_app()
    with app.app_context():
        install_defaults(db.session)
        install_default_texts(db.session)
        settings_service.save(db.session, {
            "company_name": "Atelier Durand SAS", "company_address": "18 rue des Lilas", "company_postcode": "75011",
            "company_city": "Paris", "company_iban": "FR76 3000 6000 0112 3456 7890 189", "company_bic": "AGRIFRPP",
            "company_legal": "SAS au capital de 50 000 € — RCS Paris 123 456 789", "company_phone": "01 23 45 67 89",
            "company_email": "compta@atelier-durand.example", "sender_email": "compta@atelier-durand.example",
            "payment_url_pattern": "https://pay.atelier-durand.example/{number}",
        })
        db.session.commit()
        today = clock.today()
        for email in ["agent@office.example", *(f"clerk{k}@office.example" for k in range(clients))]:
            user = User(email=email, role="agent", name=email.split("@")[0].title(),
                        signature="Claire Agent\nComptabilité")
            user.set_password(PASSWORD)
            db.session.add(user)
        run_customers = []
        for n in range(letters):
            values = customer_fields(f"C{n:05d}", f"Client {n} SARL", n)
            customer = Customer(**{k: v for k, v in values.items()})
            db.session.add(customer)
            db.session.add(Invoice(number=f"FA-{n:05d}", customer=customer, issue_date=today - timedelta(days=50),
                                   due_date=today - timedelta(days=20), total_incl_tax=Decimal("1200.00"),
                                   total_excl_tax=Decimal("1000.00")))
            run_customers.append(values)
        pay_invoices = []
        for k in range(clients):
            customer = Customer(**customer_fields(f"PAY{k}", f"Payeur {k} SA", 1000 + k))
            invoices = [Invoice(number=f"FP-{k}-{j}", customer=customer, issue_date=today,
                                due_date=today + timedelta(days=30), total_incl_tax=Decimal("1000000.00"),
                                total_excl_tax=Decimal("833333.33")) for j in range(PAY_INVOICES)]
            db.session.add_all(invoices)
            pay_invoices.append(invoices)
        db.session.commit()
        ids = dict(db.session.query(Customer.code, Customer.id).all())
        for values in run_customers:
            values["id"] = ids[values["code"]]
        seeded = Seeded(run_customers, [[i.id for i in invoices] for invoices in pay_invoices], today.isoformat())
        db.engine.dispose()
    return seeded


# --- HTTP ----------------------------------------------------------------------------------------------------


class Browser:
    """One person's browser session: logged in, the CSRF token of its pages."""

    def __init__(self, base: str, email: str):
        self.base, self.http = base, requests.Session()
        self.http.headers["Accept-Language"] = "en"
        page = self.http.get(f"{base}/login", timeout=60)
        response = self.http.post(f"{base}/login", data={"email": email, "password": PASSWORD,
                                                         "csrf_token": CSRF.search(page.text).group(1)},
                                  allow_redirects=False, timeout=60)
        if response.status_code != 302:
            raise RuntimeError(f"login of {email}: HTTP {response.status_code}")
        self.csrf = ""

    def get(self, path: str, **kw) -> requests.Response:
        response = self.http.get(self.base + path, timeout=120, **kw)
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict) -> requests.Response:
        return self.http.post(self.base + path, data={**data, "csrf_token": self.csrf}, allow_redirects=False,
                              timeout=120)


@dataclass
class Tally:
    writes: list[float] = field(default_factory=list)  # ms
    reads: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # >= 500, or the request failed
    bad: list[str] = field(default_factory=list)  # 4xx: the bench sent something wrong
    payments: list[tuple[int, str]] = field(default_factory=list)  # (invoice id, reference) answered recorded
    slowest: tuple[float, str, float] = (0.0, "", 0.0)  # the slowest write: ms, what, when it began
    origin: float = 0.0  # when the run was started (perf_counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, kind: str, call, what: str) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = call()
        except requests.RequestException as exc:
            with self.lock:
                self.errors.append(f"{what}: {type(exc).__name__}: {exc}")
            return None
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            (self.writes if kind == "write" else self.reads).append(elapsed)
            if kind == "write":
                self.slowest = max(self.slowest, (elapsed, what, started - self.origin))
            if response.status_code >= 500:
                self.errors.append(f"{what}: HTTP {response.status_code}")
            elif response.status_code >= 400:
                self.bad.append(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
        return response


def office_client(browser: Browser, k: int, seeded: Seeded, tally: Tally, stop: threading.Event,
                  pause: float) -> None:
    """Loops until `stop`: open an invoice, record a payment of 1.00, open a customer, change its phone."""
    n = 0
    while not stop.is_set():
        invoice_id = seeded.pay_invoices[k][n % PAY_INVOICES]
        tally.timed("read", lambda i=invoice_id: browser.get(f"/invoices/{i}"), "invoice page")
        reference = f"office-{k}-{n}"
        form = {"amount": "1.00", "date": seeded.today, "reference": reference}
        response = tally.timed("write", lambda i=invoice_id, f=form: browser.post(f"/invoices/{i}/payments", f),
                               "payment")
        if response is not None and response.status_code in (302, 303):
            with tally.lock:
                tally.payments.append((invoice_id, reference))
        stop.wait(pause)
        customer = seeded.run_customers[(k * 7919 + n * 13) % len(seeded.run_customers)]
        path = f"/customers/{customer['id']}"
        tally.timed("read", lambda p=path: browser.get(p), "customer page")
        form = {key: value for key, value in customer.items() if key != "id"}
        form["phone"] = f"04 78 {k:02d} {n % 100:02d} {n // 100 % 100:02d}"
        tally.timed("write", lambda p=path, f=form: browser.post(f"{p}/edit", f), "customer edit")
        stop.wait(pause)
        n += 1


# --- the server ----------------------------------------------------------------------------------------------


def start_server(env: dict, port: int, log: Path) -> subprocess.Popen:
    """`flask relance serve` (web server + worker), in its own process group, its output in `log`."""
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flask", "relance", "serve", "--port", str(port)], env=env,
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.3)
    while b"Huey consumer started" not in log.read_bytes():
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not start")
        time.sleep(0.2)
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    """Ctrl-C to the server, its worker and the worker's letter processes; killed if they linger."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def log_tail(log: Path, lines: int = 60) -> str:
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    first = next((i for i, line in enumerate(text) if line.startswith("Traceback")), None)
    out = []
    if first is not None and first < len(text) - lines:
        out += ["--- first traceback ---", *text[first:first + 40]]
    return "\n".join([*out, f"--- last {lines} lines of {log.name} ---", *text[-lines:]])


# --- the check -----------------------------------------------------------------------------------------------


def check(run_id: int, letters: int, payments: list[tuple[int, str]], by_email: bool = False) -> list[str]:
    """What the run and the office wrote, read back from the database."""
    from pypdf import PdfReader
    from sqlalchemy import func, select

    from relance import create_app
    from relance.extensions import db
    from relance.models import Payment, Reminder, Run
    from relance.services.files import resolve as resolve_file

    problems = []
    app = create_app()
    with app.app_context():
        run = db.session.get(Run, run_id)
        if run is None or run.status != "done":
            problems.append(f"run status {run.status if run else None!r}: {run.error if run else ''}")
        channel, status = ("email", "sent") if by_email else ("letter", "to_post")
        made = db.session.scalar(select(func.count()).select_from(Reminder).where(
            Reminder.run_id == run_id, Reminder.channel == channel, Reminder.status == status))
        if made != letters:
            problems.append(f"{made} {channel}s {status}, {letters} expected")
        path = resolve_file(run.letters_pdf_path) if run and run.letters_pdf_path else None
        if by_email:
            pass  # no letters: no merged PDF
        elif path is None:
            problems.append("no merged letters PDF")
        elif len(PdfReader(path).pages) < letters:
            problems.append(f"the merged PDF has {len(PdfReader(path).pages)} pages for {letters} letters")
        recorded = set(db.session.execute(select(Payment.invoice_id, Payment.reference)
                                          .where(Payment.reference.like("office-%"))).all())
        missing = [p for p in payments if p not in recorded]
        if missing or len(recorded) != len(payments):
            problems.append(f"payments: {len(payments)} answered recorded, {len(recorded)} in the database")
        db.engine.dispose()
    return problems


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=300)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between two actions of a client")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds the run may take")
    parser.add_argument("--by-email", action="store_true", help="a run of emails instead of letters")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder (printed)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    from tests.smtp import SmtpServer

    instance = Path(tempfile.mkdtemp(prefix="relance-office-"))
    log = instance / "server.log"
    smtp = SmtpServer().start()
    env = instance_env(instance, smtp.port)
    os.environ.update({k: v for k, v in env.items() if k.startswith("RELANCE_")})  # before relance is imported
    server, stop, threads, tally = None, threading.Event(), [], Tally()
    failed, run_id, run_s, run_status = True, None, 0.0, "not started"
    try:
        subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], env=env, cwd=ROOT, check=True,
                       capture_output=True, timeout=300)
        seeded = seed(args.letters, args.clients)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cpu_children, cpu_own = children_cpu(), time.process_time()
        server = start_server(env, port, log)

        agent = Browser(base, "agent@office.example")
        agent.get("/reminders/mass")
        response = agent.post("/reminders/mass/bulk", {"action": "emails" if args.by_email else "letters"})
        if response.status_code != 303:
            raise RuntimeError(f"bulk selection: HTTP {response.status_code}")
        page = agent.get("/reminders/mass")
        if f"{args.letters} invoices selected" not in page.text:
            raise RuntimeError(f"the mass page does not say {args.letters} invoices selected")
        clients = [Browser(base, f"clerk{k}@office.example") for k in range(args.clients)]
        for k, browser in enumerate(clients):
            browser.get("/")
            threads.append(threading.Thread(target=office_client, name=f"client-{k}", daemon=True,
                                            args=(browser, k, seeded, tally, stop, args.pause)))
            threads[-1].start()
        time.sleep(1)  # the office is at work when the run starts
        started = tally.origin = time.perf_counter()
        response = tally.timed("write", lambda: agent.post("/reminders/mass/run",
                                                           {"token": TOKEN.search(page.text).group(1)}),
                               "mass run")
        if response is None or response.status_code != 303:
            raise RuntimeError(f"mass run: {response.status_code if response is not None else 'no answer'}")
        run_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
        while time.perf_counter() - started < args.timeout:  # the run page, as its component polls it
            response = tally.timed("read", lambda: agent.get(f"/reminders/runs/{run_id}",
                                                             headers={"HX-Request": "true"}), "run page")
            found = STATUS.search(response.text) if response is not None else None
            run_status = found.group(1) if found else "?"
            if run_status in FINISHED:
                break
            time.sleep(0.25)  # the run page polls every second; finer here, not to wait for nothing at the end
        run_s = time.perf_counter() - started
        stop.set()
        for thread in threads:
            thread.join(timeout=150)
        stop_server(server)
        cpu = children_cpu() - cpu_children + time.process_time() - cpu_own
        problems = check(run_id, args.letters, tally.payments, args.by_email)
        if args.by_email and len(smtp.received) != args.letters:
            problems.append(f"the SMTP server received {len(smtp.received)} messages, {args.letters} expected")
        failed = bool(tally.errors or tally.bad or problems or run_status != "done")
        writes = tally.writes
        print(f"office {'emails' if args.by_email else 'letters'}={args.letters} writes={len(writes)} "
              f"errors={len(tally.errors)} http4xx={len(tally.bad)} "
              f"p50_write_ms={statistics.median(writes) if writes else 0:.0f} "
              f"p95_write_ms={percentile(writes, 0.95):.0f} max_write_ms={max(writes, default=0):.0f} "
              f"slowest={tally.slowest[1].replace(' ', '_') or '-'}@{tally.slowest[2]:.1f}s "
              f"p95_read_ms={percentile(tally.reads, 0.95):.0f} clients={args.clients} run_s={run_s:.1f} "
              f"cpu_s={cpu:.1f} load={os.getloadavg()[0]:.1f}", flush=True)
        for line in [*tally.errors[:10], *tally.bad[:5], *problems]:
            print(f"  {line}", file=sys.stderr)
    except BaseException as exc:
        print(f"office: {type(exc).__name__}: {exc} (run {run_id}, {run_status})", file=sys.stderr)
        if not isinstance(exc, (Exception, KeyboardInterrupt)):
            raise
    finally:
        stop.set()
        if server is not None:
            stop_server(server)
        if failed:
            print(log_tail(log), file=sys.stderr)
        smtp.stop()
        if args.keep:
            print(f"office: instance kept in {instance}", file=sys.stderr)
        else:
            shutil.rmtree(instance, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
