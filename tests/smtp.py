"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, plain / STARTTLS / SSL, optional AUTH, with faults.

Use the fixtures by importing them into a test module: `from tests.smtp import smtp_server, smtp_factory`.
`smtp_server.configure(app)` points the app's SMTP_* settings at it; `smtp_server.messages` holds what
arrived, parsed with the `email` package. `smtp_factory(smtputf8=True)` offers SMTPUTF8 (internationalised
addresses); `received[n].mail_options` are the MAIL FROM options the client gave. Faults:
`server.handler.answers` (a list of SMTP answers given to the next DATA commands, e.g. ["421 4.3.0 Try again
later"]), `server.handler.drop_after = 3` (the connection is closed when a 4th MAIL FROM arrives, once),
`server.handler.drop_in_data = 3` (the 4th message is taken whole, then the connection is closed before the
server's answer, once: the client cannot know it arrived). `server.stop()` / `server.start()` take the server down
(connections refused) and back on the same port. `greeting_server("421 ...")` greets with that answer and hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "relance", "s3cret-pass"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    mail_options: list[str] = field(default_factory=list)

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=default_policy)


class FaultyHandler:
    """Stores every accepted message; can answer DATA with scripted codes or drop the connection."""

    def __init__(self):
        self.received: list[Received] = []
        self.answers: list[str] = []  # answers to the next DATA commands, in order
        self.refuse_rcpt: dict[str, str] = {}  # address -> answer to RCPT TO
        self.drop_after: int | None = None  # close the connection on MAIL FROM once this many arrived
        self.delay = 0.0  # seconds before answering each DATA (a slow server: a window to kill a worker in)
        self.drop_in_data: int | None = None  # take the next message, then close without answering, once
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            if self.drop_after is not None and len(self.received) >= self.drop_after:
                self.drop_after = None
                server.transport.close()
                return "421 4.4.2 connection dropped by test"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.answers:
                return self.answers.pop(0)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content),
                                          list(envelope.mail_options)))
            if self.drop_in_data is not None and len(self.received) > self.drop_in_data:
                self.drop_in_data = None
                server.transport.close()  # the answer below never reaches the client
        return "250 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER \
        and auth_data.password.decode() == PASSWORD
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost (openssl CLI)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    return cert, key


class SmtpServer:
    def __init__(self, security: str = "none", auth: bool = False, cert: tuple[Path, Path] | None = None,
                 smtputf8: bool = False):
        self.security, self.auth, self.cert = security, auth, cert
        self.handler = FaultyHandler()
        self.port = free_port()
        kwargs = {"enable_SMTPUTF8": smtputf8}
        if security != "none":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            if security == "ssl":
                kwargs["ssl_context"] = context
            else:
                kwargs["tls_context"] = context
                kwargs["require_starttls"] = True
        if auth:  # AUTH over STARTTLS (aiosmtpd only offers AUTH after STARTTLS, not on implicit TLS)
            if security != "starttls":
                raise ValueError("the test server offers AUTH with STARTTLS only")
            kwargs["authenticator"] = _authenticator
            kwargs["auth_required"] = True
            # smtplib's AUTH LOGIN with an initial response stalls aiosmtpd after a failure: offer PLAIN
            kwargs["auth_exclude_mechanism"] = ["LOGIN"]
        self.kwargs = kwargs
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> SmtpServer:
        if getattr(self, "running", None) is False:  # stopped: its event loop is closed, a new one listens
            self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **self.kwargs)
        self.controller.start()
        self.running = True
        return self

    def stop(self) -> None:
        if getattr(self, "running", False):
            self.controller.stop()
        self.running = False

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.handler.received]

    def settings(self) -> dict:
        values = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": self.port, "SMTP_SECURITY": self.security,
                  "SMTP_TIMEOUT": 5, "SMTP_USER": None, "SMTP_PASSWORD": None, "SMTP_CA_FILE": None}
        if self.auth:
            values.update(SMTP_USER=USER, SMTP_PASSWORD=PASSWORD)
        if self.cert:
            values["SMTP_CA_FILE"] = str(self.cert[0])
        return values

    def configure(self, app) -> SmtpServer:
        app.config.update(self.settings())
        return self


@contextlib.contextmanager
def greeting_server(answer: str):
    """A server that greets every connection with `answer` (e.g. "421 4.3.2 Too busy") and hangs up; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(answer.encode() + b"\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.fixture(scope="session")
def smtp_certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("smtp-cert"))


@pytest.fixture
def smtp_factory(request):
    """smtp_factory(security="starttls", auth=True, smtputf8=False) starts a server, stopped at the end of the test."""
    servers = []

    def start(security: str = "none", auth: bool = False, smtputf8: bool = False) -> SmtpServer:
        cert = request.getfixturevalue("smtp_certificate") if security != "none" else None
        server = SmtpServer(security, auth, cert, smtputf8).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def smtp_server(smtp_factory):
    """A plain SMTP server on 127.0.0.1 (no TLS, no AUTH)."""
    return smtp_factory()
