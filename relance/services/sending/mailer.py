"""Reminder emails: build the MIME message and send a batch over one SMTP connection (or to .eml files).

The outcome of every message is one of:
- ``sent``: the server accepted it (addresses the server refused while accepting others are listed);
- ``retry``: a temporary answer (4xx) or the connection dropped before the message was handed over: send it
  again later;
- ``failed``: a permanent answer (5xx): the server's text is kept;
- ``in_doubt``: the connection dropped (or timed out) after the whole message was handed over, before the server's
  answer: it may have been delivered, so it is never sent again automatically;
- ``down``: the server could not be reached (connection refused, unreachable, timed out, or a 4xx greeting such as
  421): nothing was tried, the caller opens its circuit and waits (no attempt is counted).
"""

from __future__ import annotations

import binascii
import contextlib
import random
import re
import smtplib
import ssl
import sys
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import Header
from email.message import EmailMessage
from email.policy import compat32
from email.policy import default as default_policy
from email.utils import formataddr, formatdate, make_msgid
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import idna
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from relance.services.texts.formatting import linkify
from relance.services.texts.safe_text import CONTROL, single_line

OUTCOMES = ("sent", "retry", "failed", "in_doubt", "down")
CRLF = compat32.clone(linesep="\r\n")


class ContentError(Exception):
    """An attachment made when its message is built could not be made; the message is the reason, as shown."""


@dataclass
class Attachment:
    """`content`: the bytes, or a function making them when the message is built (in the builder thread, only for
    a message about to go: nothing is made for a server that cannot be reached). It raises `ContentError`."""

    filename: str
    content: bytes | Callable[[], bytes]
    mimetype: str = "application/pdf"

    def data(self) -> bytes:
        return self.content() if callable(self.content) else self.content


@dataclass
class Outgoing:
    """One email to send. `ref` is the caller's id (the reminder id), handed back with the outcome."""

    ref: Any  # the caller's own id, handed back as it was given
    sender: str
    to: list[str]
    subject: str
    text: str
    cc: list[str] = field(default_factory=list)
    sender_name: str = ""
    language: str = "fr"
    attachments: list[Attachment] = field(default_factory=list)
    message_id: str | None = None


@dataclass
class Outcome:
    ref: Any  # Outgoing.ref
    status: str
    message_id: str = ""
    error: str = ""
    refused: dict[str, str] = field(default_factory=dict)
    path: str = ""  # .eml file written by the file backend


def safe_filename(name: str, default: str = "document.pdf") -> str:
    """An ASCII file name without path parts or odd characters: `Facture FA/2026 é.pdf` -> `Facture_FA_2026_e.pdf`."""
    name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    match = re.fullmatch(r"(.*)\.([A-Za-z0-9]{1,8})", name, re.DOTALL)
    stem, ext = (match.group(1), match.group(2)) if match else (name, "")
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_.-")[:80]
    if not stem:
        return default
    return f"{stem}.{ext}" if ext else stem


_COLUMNS = re.compile(r"\S  +\S")  # two cells of a plain-text table (`placeholders._table_text`)
_CELL = re.compile(r"[^ ]+(?: [^ ]+)*")  # a cell: words apart by single spaces (amounts keep their no-break spaces)
_DIGIT = re.compile(r"\d")
_CELL_TAGS = {("th", False): Markup("<th>{}</th>"), ("th", True): Markup('<th class="num">{}</th>'),
              ("td", False): Markup("<td>{}</td>"), ("td", True): Markup('<td class="num">{}</td>')}


def table_html(lines: list[str]) -> Markup | None:
    """A plain-text table (cells apart by two spaces or more, the first line the head) as an HTML table: a column
    whose cells end at the same place is aligned right (unless they also start at the same place and are not all
    numbers). None when the lines do not make one."""
    rows = [list(_CELL.finditer(line)) for line in lines]
    if len({len(row) for row in rows}) != 1 or len(rows[0]) < 2:
        return None
    right = [len({row[i].end() for row in rows}) == 1  # lined up on the right: ragged on the left, or all numbers
             and (len({row[i].start() for row in rows}) > 1 or all(_DIGIT.search(row[i].group(0)) for row in rows[1:]))
             for i in range(len(rows[0]))]

    def cells(row, tag: str) -> Markup:  # each cell's words escaped by format()
        return Markup("").join(_CELL_TAGS[(tag, right[i])].format(match.group(0)) for i, match in enumerate(row))

    body = Markup("").join(Markup("<tr>{}</tr>").format(cells(row, "td")) for row in rows[1:])
    return Markup('<table class="invoices"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>').format(
        cells(rows[0], "th"), body)


def text_to_html(text: str, language: str = "fr") -> str:
    """The HTML alternative of a plain-text body: escaped paragraphs, line breaks kept, links clickable."""
    paragraphs = [p for p in re.split(r"\n\s*\n", (text or "").replace("\r\n", "\n").strip()) if p.strip()]
    rendered = []
    for paragraph in paragraphs:
        lines = paragraph.split("\n")
        table = table_html(lines) if len(lines) > 1 and all(_COLUMNS.search(line) for line in lines) else None
        if table is not None:  # a table (columns lined up by spaces)
            rendered.append(table)
            continue
        rendered.append(Markup("<p>") + Markup("<br>\n").join(linkify(line) for line in lines) + Markup("</p>"))
    return _email_template().render(language=language, paragraphs=rendered)


_template = None


def _email_template():
    global _template
    if _template is None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        folder = Path(str(files("relance"))) / "templates" / "email"
        env = Environment(loader=FileSystemLoader(str(folder)), autoescape=select_autoescape(default=True))
        _template = env.get_template("reminder.html")
    return _template


def _domain(address: str) -> str:
    return address.rpartition("@")[2] or "localhost"


def ascii_address(address: str) -> str:
    """An address as SMTP and the headers carry it: an internationalised domain in its IDNA (xn--) form."""
    address = single_line(address).strip()
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        encoded = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return address.strip()
    return f"{local}@{encoded}"


def _addresses(addresses: Iterable[str]) -> list[str]:
    return [ascii_address(a) for a in addresses]


def needs_smtputf8(out: Outgoing) -> str:
    """The first address of the message whose part before the @ is not ASCII (`jürgen@example.de`), or "": such a
    message needs a server that offers SMTPUTF8 (RFC 6531), and carries that address in UTF-8 in its headers."""
    for address in (out.sender, *out.to, *out.cc):
        if not ascii_address(address).isascii():
            return address.strip()
    return ""


def no_smtputf8(address: str) -> str:
    """Why a message for `address` (a non-ASCII name before the @) fails on a server without SMTPUTF8."""
    return str(_l("%(address)s: the part before the @ is not ASCII, which this mail server cannot carry (it does not "
                  "offer SMTPUTF8); ask the customer for another address, or use a mail server that offers "
                  "SMTPUTF8.", address=address))


def new_message_id(sender: str) -> str:
    """A Message-ID on the sender's domain, in its IDNA form (a header holds no accented domain)."""
    return make_msgid(domain=_domain(ascii_address(sender)))


def _header(value: str) -> str | Header:
    value = single_line(value)  # a line break would start a new header
    return value if value.isascii() else Header(value, "utf-8")


def _address_header(addresses: Iterable[str]) -> str:
    """A To/Cc/Reply-To value: ASCII, or (SMTPUTF8 message) UTF-8 written as it is, not as an encoded word (which
    holds no usable address). The legacy generator writes a header holding escaped bytes unchanged, as it does
    for a message parsed from bytes."""
    return _raw_utf8(", ".join(_addresses(addresses)))


def _raw_utf8(value: str) -> str:
    return value if value.isascii() else value.encode("utf-8").decode("ascii", "surrogateescape")


def _mailbox(name: str, address: str) -> str:
    """`From:`: the name (an encoded word when it is not ASCII) and the address (UTF-8 in an SMTPUTF8 message;
    `formataddr` refuses a non-ASCII address, so the name part is taken from it with a stand-in address)."""
    address = ascii_address(address)
    name = single_line(name)
    if not name:
        return _raw_utf8(address)
    if address.isascii():
        return formataddr((name, address), charset="utf-8")
    shown = formataddr((name, "x@x"), charset="utf-8").removesuffix("<x@x>")
    return _raw_utf8(f"{shown}<{address}>")


# --- the message's bytes ----------------------------------------------------------------------------------
#
# Written part by part as the email package's legacy generator writes a message made of MIMEMultipart, MIMEText
# and MIMEBase parts (compat32 policy, CRLF lines): every header goes through that policy's own `fold_binary`
# (the generator's call, so the same folding, encoded words and raw UTF-8), the text parts are base64 in 76-column
# lines, a multipart's boundary is drawn as the generator draws it. Several times faster than building and
# flattening the objects; tests/test_mail_bytes.py compares the bytes with that builder's, boundaries and Date
# aside.

_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))  # the generator's `_width`


@lru_cache(maxsize=256)
def _folded(name: str, value: str) -> bytes:
    """A header whose value repeats (a part's Content-Type, MIME-Version ...), folded once."""
    return CRLF.fold_binary(name, value)


def _header_bytes(headers: Iterable[tuple[str, str | Header]]) -> bytes:
    return b"".join(CRLF.fold_binary(name, value) for name, value in headers)  # type: ignore[arg-type]  # a Header too


def _base64_lines(data: bytes) -> bytes:
    """Base64 in 76-column lines, each ending with CRLF (`email.base64mime.body_encode` as the generator writes it):
    one call for the whole payload, then cut."""
    encoded = binascii.b2a_base64(data, newline=False)
    return b"".join(encoded[i:i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


def _attachment_base64(content: bytes) -> bytes:
    """An attachment's base64 (its lines joined by CRLF, no final line break); a small file's is kept for the next
    messages that attach the same file (one invoice PDF sent with several reminders of a batch)."""
    if len(content) > _CACHED_ATTACHMENT_BYTES:
        return _base64_lines(content)[:-2]
    return _cached_base64(content)


_CACHED_ATTACHMENT_BYTES = 2 * 1024 * 1024


@lru_cache(maxsize=4)
def _cached_base64(content: bytes) -> bytes:
    return _base64_lines(content)[:-2]


def _text_part(text: str, subtype: str) -> bytes:
    """MIMEText(text, subtype, "utf-8"): its three headers, then the UTF-8 text in base64."""
    return (_folded("Content-Type", f'text/{subtype}; charset="utf-8"') + _folded("MIME-Version", "1.0")
            + _folded("Content-Transfer-Encoding", "base64") + b"\r\n" + _base64_lines(text.encode("utf-8")))


def _attachment_part(attachment: Attachment) -> bytes:
    name = safe_filename(attachment.filename)  # [A-Za-z0-9_.-]: nothing to escape in the quoted parameter
    return (_folded("Content-Type", attachment.mimetype) + _folded("MIME-Version", "1.0")
            + _folded("Content-Transfer-Encoding", "base64")
            + CRLF.fold_binary("Content-Disposition", f'attachment; filename="{name}"') + b"\r\n"
            + _attachment_base64(attachment.data()))


def _boundary(parts: list[bytes]) -> str:
    """A boundary found in none of the parts, drawn as the generator's `_make_boundary` draws it (which looks for
    a whole line; any occurrence is avoided here)."""
    boundary = f"{'=' * 15}{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}=="
    candidate, counter = boundary, 0
    while any(b"--" + candidate.encode("ascii") in part for part in parts):
        candidate, counter = f"{boundary}.{counter}", counter + 1
    return candidate


def _multipart(subtype: str, parts: list[bytes], headers: Iterable[tuple[str, str | Header]] = ()) -> bytes:
    """MIMEMultipart(subtype) holding `parts`, with `headers` after its Content-Type and MIME-Version."""
    boundary = _boundary(parts)
    dash = b"--" + boundary.encode("ascii")
    return (CRLF.fold_binary("Content-Type", f'multipart/{subtype}; boundary="{boundary}"')
            + _folded("MIME-Version", "1.0") + _header_bytes(headers) + b"\r\n"
            + dash + b"\r\n" + (b"\r\n" + dash + b"\r\n").join(parts) + b"\r\n" + dash + b"--\r\n")


def _headers(out: Outgoing, message_id: str) -> list[tuple[str, str | Header]]:
    if CONTROL.search(out.subject or ""):  # e.g. an invoice number holding a line break: never a header injection
        raise ValueError(f"the subject holds a control character (line break): {out.subject!r}")
    headers: list[tuple[str, str | Header]] = [("From", _mailbox(out.sender_name, out.sender)),
                                               ("To", _address_header(out.to))]
    if out.cc:
        headers.append(("Cc", _address_header(out.cc)))
    headers += [("Reply-To", _address_header([out.sender])), ("Subject", _header(out.subject)),
                ("Date", formatdate(localtime=False, usegmt=True)), ("Message-ID", message_id),
                ("Content-Language", out.language)]
    return headers


def message_bytes(out: Outgoing) -> tuple[bytes, str]:
    """The message as sent (CRLF lines) and its Message-ID: multipart/mixed: [multipart/alternative: text/plain,
    text/html (same text)], then one base64 part per attachment."""
    message_id = out.message_id or new_message_id(out.sender)
    headers = _headers(out, message_id)
    body = _multipart("alternative", [_text_part(out.text, "plain"),
                                      _text_part(text_to_html(out.text, out.language), "html")])
    raw = _multipart("mixed", [body, *(_attachment_part(a) for a in out.attachments)], headers)
    return raw, message_id


def build_message(out: Outgoing) -> EmailMessage:
    """The message as the recipient's mail program reads it (parsed back from `message_bytes`)."""
    return message_from_bytes(message_bytes(out)[0], policy=default_policy)


# --- transports ----------------------------------------------------------------------------------------


class FileOutbox:
    """No SMTP server configured: each message is written as an .eml file under OUTBOX_PATH."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    broken = ""
    down = ""

    def ready(self) -> str:
        return ""

    def send_batch(self, messages: Iterable[Outgoing], on_outcome: Callable[[Outcome], None] | None = None,
                   before_send: Callable[[Outgoing, str], None] | None = None, close: bool = True,
                   built_by: Callable[[Outgoing], Built] | None = None):
        self.folder.mkdir(parents=True, exist_ok=True)
        outcomes = []
        for out in messages:
            raw, message_id, error = (built_by or built)(out)
            if error:
                outcome = Outcome(out.ref, "failed", error=error)
                outcomes.append(outcome)
                if on_outcome:
                    on_outcome(outcome)
                continue
            if before_send:
                before_send(out, message_id)
            token = re.sub(r"[^A-Za-z0-9]+", "", message_id)[:40]
            path = self.folder / f"{safe_filename(str(out.ref), 'message')}-{token}.eml"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(raw)
            tmp.replace(path)
            outcome = Outcome(out.ref, "sent", message_id=message_id, path=str(path))
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
        return outcomes

    def close(self) -> None:
        pass


Built = tuple[bytes, str, str]  # what `built` gives: bytes, Message-ID, why the message could not be built


def built(out: Outgoing) -> Built:
    """(bytes, Message-ID, "") of a message, or (b"", "", why it cannot be built): one bad message fails alone."""
    try:
        raw, message_id = message_bytes(out)
    except ContentError as exc:
        return b"", "", str(exc)
    except Exception as exc:  # noqa: BLE001 (whatever breaks one message must not stop the batch)
        return b"", "", f"The email could not be built: {type(exc).__name__}: {exc}"
    return raw, message_id, ""


class BuiltAhead:
    """The bytes of a sequence of messages built in order by one thread, up to `ahead` messages before the one
    being sent, across the groups of a batch sent in groups (`send_batch(group, ..., built=ahead.get)`): the
    server and the database are waited for while the next messages are built. A message passed over (a group
    that shrank) is dropped. Nothing is built before the first `get` (a server found down asks for none)."""

    def __init__(self, messages: Iterable[Outgoing], ahead: int = 8):
        self._source = iter(messages)
        self._pending: deque[tuple[Outgoing, Future[Built]]] = deque()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mime")
        self._ahead = max(1, ahead)

    def _fill(self) -> None:
        while len(self._pending) < self._ahead:
            out = next(self._source, None)
            if out is None:
                return
            self._pending.append((out, self._pool.submit(built, out)))

    def get(self, out: Outgoing) -> Built:
        """The message's bytes, Message-ID and build error (see `built`)."""
        self._fill()
        while self._pending:
            queued, future = self._pending.popleft()
            self._fill()
            if queued is out:
                return future.result()
            future.cancel()
        return built(out)  # not among the messages given (or passed over): built now

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()

    def __enter__(self) -> BuiltAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _server_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {text}".strip()


# A mixin at run time (placed before smtplib.SMTP, or a test's fake connection, in the bases); typed as SMTP.
if TYPE_CHECKING:
    _Connection = smtplib.SMTP
else:
    _Connection = object


class _FastData(_Connection):
    """smtplib's DATA with the dot-stuffing done by `bytes.replace` instead of a multi-line regex (a third of a
    millisecond per 80 KB message, on the thread that talks to the server). Same bytes on the wire. It also marks
    `data_sent` once the whole message went (an answer lost after that is "in doubt"), which no public hook tells.
    It relies on smtplib's `sendmail` calling `self.data(msg)` and on `putcmd` / `getreply` / `send`:
    tests/test_internals.py checks them and that the bytes sent are smtplib's own."""

    def data(self, msg: bytes):  # type: ignore[override]  # sendmail(), its only caller, passes bytes
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        quoted = (b"." + msg if msg.startswith(b".") else msg).replace(b"\n.", b"\n..")
        if not quoted.endswith(b"\r\n"):
            quoted += b"\r\n"
        self.send(quoted + b".\r\n")
        self.data_sent = True  # from now on the server may have taken it, whatever happens to its answer
        return self.getreply()


class ServerDown(Exception):
    """The server could not be reached: nothing was handed over."""


class _SMTP(_FastData, smtplib.SMTP):
    pass


class _SMTP_SSL(_FastData, smtplib.SMTP_SSL):
    pass


class SmtpOutbox:
    """One SMTP connection for a whole batch (none / STARTTLS / SSL, optional AUTH, timeouts)."""

    def __init__(self, host: str, port: int, security: str = "none", user: str | None = None,
                 password: str | None = None, timeout: float = 30, ca_file: str | None = None,
                 envelope_from: str | None = None):
        self.host, self.port, self.security = host, port, security
        self.user, self.password, self.timeout = user, password, timeout
        self.ca_file, self.envelope_from = ca_file, envelope_from
        self.smtp: _FastData | None = None
        self.broken = ""  # why the connection was given up (the rest is left for a retry)
        self.down = ""  # why the server could not be reached at all (nothing was tried: the caller's circuit)

    @classmethod
    def from_config(cls, config) -> SmtpOutbox:
        """From the SMTP_* settings (SMTP_HOST set)."""
        return cls(
            host=config["SMTP_HOST"], port=int(config["SMTP_PORT"]), security=config["SMTP_SECURITY"],
            user=config.get("SMTP_USER"), password=config.get("SMTP_PASSWORD"),
            timeout=float(config["SMTP_TIMEOUT"]), ca_file=config.get("SMTP_CA_FILE"),
            envelope_from=config.get("SMTP_ENVELOPE_FROM"),
        )

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def _connect(self) -> _FastData:
        """The connection and the server's greeting; `ServerDown` when the server cannot be reached (refused,
        unreachable, no such host, timed out, closed at once, or a temporary greeting such as 421)."""
        try:
            if self.security == "ssl":
                return _SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context())
            return _SMTP(self.host, self.port, timeout=self.timeout)
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise ServerDown(_server_text(exc.smtp_code, exc.smtp_error)) from exc
            raise
        except ssl.SSLError:  # a certificate or TLS setting problem, not an outage
            raise
        except OSError as exc:  # refused, unreachable, DNS, timeout; SMTPServerDisconnected (closed at once)
            raise ServerDown(_why(exc)) from exc

    def ready(self) -> str:
        """Open the connection now if none is open: "" when messages may be handed over, else why the server
        cannot be reached (`down`). Another failure (TLS, authentication) leaves the batch for a retry."""
        if self.smtp is None and not self.broken and not self.down:
            try:
                self.open()
            except ServerDown as exc:
                self.down = str(exc)
            except smtplib.SMTPResponseException as exc:
                self.broken = _server_text(exc.smtp_code, exc.smtp_error)
            except (smtplib.SMTPException, OSError) as exc:
                self.broken = _why(exc)
        return self.down

    def kept(self) -> None:
        """Before a new batch on a connection kept from the last one (a caller sending batch after batch): a broken
        or unreachable state is forgotten (the batch tries again, as on a new outbox), and a connection the
        server closed meanwhile is dropped (NOOP), to be opened again by `ready()`: no message of the batch pays
        for an idle connection."""
        self.broken = self.down = ""
        if self.smtp is None:
            return
        try:
            code, _ = self.smtp.noop()
        except (smtplib.SMTPException, OSError):
            code = 0
        if code != 250:
            self._drop()

    def open(self) -> None:
        smtp = self._connect()
        try:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password or "")
        except BaseException:
            smtp.close()
            raise
        self.smtp = smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None

    def send_batch(self, messages: Iterable[Outgoing], on_outcome: Callable[[Outcome], None] | None = None,
                   before_send: Callable[[Outgoing, str], None] | None = None, close: bool = True,
                   built_by: Callable[[Outgoing], Built] | None = None):
        """Send in order; after a dropped connection or a 421, the rest of the batch is left for a retry.

        `before_send(out, message_id)` is called just before a message is handed to the server (the caller
        records that the message may now have left: see dunning's "in doubt" rows). With `close=False` the
        connection stays open for the next call (a batch sent in groups); a broken one is remembered in
        `self.broken` and the next calls leave everything for a retry. `built_by`: where the messages' bytes come
        from (a `BuiltAhead` kept over the groups), else they are built here, each while the one before is sent."""
        outcomes: list[Outcome] = []

        def record(outcome: Outcome) -> None:
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)

        broken = self.broken
        messages = list(messages)
        own = None if built_by else BuiltAhead(messages, ahead=2)  # the next one built while this one is sent
        build = built_by or cast(BuiltAhead, own).get
        try:
            for out in messages:
                if self.down:  # nothing is built for a server that cannot be reached, nor for a broken connection
                    record(Outcome(out.ref, "down", error=self.down))
                    continue
                if broken:
                    record(Outcome(out.ref, "retry", error=broken))
                    continue
                raw, message_id, build_error = build(out)
                if build_error:
                    record(Outcome(out.ref, "failed", error=build_error))
                    continue
                try:
                    if self.smtp is None:
                        try:
                            self.open()
                        except ServerDown as exc:
                            self.down = str(exc)
                            record(Outcome(out.ref, "down", error=self.down))
                            continue
                    smtp = cast(_FastData, self.smtp)  # open() above set it
                    smtp.data_sent = False
                    options = self._options(out)
                    if options is None:  # a UTF-8 address and a server without SMTPUTF8: this message alone fails
                        record(Outcome(out.ref, "failed", error=no_smtputf8(needs_smtputf8(out))))
                        continue
                    if before_send:
                        before_send(out, message_id)
                    answers = smtp.sendmail(ascii_address(self.envelope_from or out.sender),
                                            _addresses([*out.to, *out.cc]), raw, mail_options=options)
                    record(Outcome(out.ref, "sent", message_id=message_id,
                                   refused={a: _server_text(*r) for a, r in answers.items()}))
                except smtplib.SMTPRecipientsRefused as exc:
                    refused = {a: _server_text(*r) for a, r in exc.recipients.items()}
                    temporary = any(400 <= code < 500 for code, _ in exc.recipients.values())
                    error = "; ".join(f"{a}: {t}" for a, t in refused.items())
                    record(Outcome(out.ref, "retry" if temporary else "failed", message_id, error, refused))
                except smtplib.SMTPAuthenticationError as exc:
                    broken = _server_text(exc.smtp_code, exc.smtp_error)
                    self._drop()
                    record(Outcome(out.ref, "retry", message_id, broken))
                except smtplib.SMTPResponseException as exc:
                    error = _server_text(exc.smtp_code, exc.smtp_error)
                    if exc.smtp_code == 421:  # the server is closing the connection
                        broken = error
                        self._drop()
                    record(Outcome(out.ref, "retry" if 400 <= exc.smtp_code < 500 else "failed", message_id, error))
                except (smtplib.SMTPException, OSError) as exc:  # dropped, timeout, TLS failure
                    broken = _why(exc)
                    # dropped after the whole message was handed over, before the server's answer: it may have
                    # been delivered, it must never be sent again by itself
                    doubt = bool(getattr(self.smtp, "data_sent", False))
                    self._drop()
                    record(Outcome(out.ref, "in_doubt" if doubt else "retry", message_id, broken))
        finally:
            self.broken = broken
            if own is not None:
                own.close()
            if close:
                self.close()
        return outcomes

    def _options(self, out: Outgoing) -> list[str] | None:
        """MAIL FROM options: SMTPUTF8 (and 8BITMIME: the headers hold UTF-8) for a message with a non-ASCII name
        before an @; None when it needs them and the server does not offer SMTPUTF8."""
        if not needs_smtputf8(out):
            return []
        smtp = cast(_FastData, self.smtp)  # asked by send_batch with the connection open
        if not smtp.has_extn("smtputf8"):
            return None
        return ["SMTPUTF8", *(["BODY=8BITMIME"] if smtp.has_extn("8bitmime") else [])]

    def _drop(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError):
                self.smtp.close()
            self.smtp = None


def outbox_from_config(config) -> SmtpOutbox | FileOutbox:
    """The SMTP transport from the SMTP_* settings (relance/config.py; those unset by default may be left out),
    or the .eml file outbox when SMTP_HOST is empty."""
    if not config.get("SMTP_HOST"):
        return FileOutbox(config["OUTBOX_PATH"])
    return SmtpOutbox.from_config(config)


def send_batch(config, messages: Iterable[Outgoing], on_outcome: Callable[[Outcome], None] | None = None,
               before_send: Callable[[Outgoing, str], None] | None = None):
    return outbox_from_config(config).send_batch(messages, on_outcome, before_send)
