"""The libraries' internals Relance relies on still exist and behave as the code assumes. A failure here names the
code that depends on the internal: check it against the new version before moving the pin in pyproject.toml."""

from __future__ import annotations

import inspect
import io
import smtplib
import tomllib
import zlib
from importlib.metadata import version
from pathlib import Path

import pytest
from markupsafe import Markup, escape
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, Requirement]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        requirements = [Requirement(r) for r in tomllib.load(fh)["project"]["dependencies"]]
    return {r.name.lower(): r for r in requirements}


@pytest.mark.parametrize(("package", "used_by"), [
    ("pypdf", "relance/services/letters/printing.py (StreamingPdf.add reads StreamObject._data)"),
    ("flask-babel", "relance/templating.py (LazyString.__html__ patched to escape)"),
])
def test_the_installed_version_is_the_pinned_one(package, used_by):
    pin = _pins()[package]
    installed = version(package)
    assert pin.specifier.contains(installed), (
        f"{package} {installed} is outside the pin {pin.specifier} in pyproject.toml: {used_by} relies on its "
        f"internals; run tests/test_internals.py against it and move the pin")
    assert any(s.operator == "<" for s in pin.specifier), f"{package} needs an upper bound ({used_by})"


# --- pypdf: StreamingPdf copies a stream's stored (encoded) bytes -----------------------------------------------

def test_pypdf_streams_hold_their_encoded_bytes_in__data():
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject, StreamObject

    where = "relance/services/letters/printing.py StreamingPdf.add (copy.set_data(obj._data))"
    text = b"BT /F1 12 Tf 10 10 Td (Relance) Tj ET"
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    content = DecodedStreamObject()
    content.set_data(text)
    page.replace_contents(content)
    page.compress_content_streams()
    buffer = io.BytesIO()
    writer.write(buffer)
    stream = PdfReader(io.BytesIO(buffer.getvalue())).pages[0]["/Contents"].get_object()
    assert isinstance(stream, StreamObject), f"{where}: a page's content is no longer a StreamObject"
    raw = getattr(stream, "_data", None)
    assert isinstance(raw, bytes), f"{where}: pypdf's StreamObject has no `_data` bytes any more"
    assert stream.get("/Filter") == "/FlateDecode" and zlib.decompress(raw) == text == stream.get_data(), (
        f"{where}: `_data` no longer holds the stream's bytes as stored (still encoded, /Filter kept)")

    copy = StreamObject()  # what StreamingPdf.add makes of it
    copy.set_data(raw)
    for key, value in stream.items():
        if key != "/Length":
            copy[NameObject(key)] = value
    out = io.BytesIO()
    copy.write_to_stream(out)
    written = out.getvalue()
    assert f"/Length {len(raw)}".encode() in written and raw in written, (
        f"{where}: a StreamObject no longer writes its `_data` as is with /Length computed from it")


# --- smtplib: mailer._FastData overrides SMTP.data ---------------------------------------------------------------

class _Wire:
    """What smtplib's DATA uses of a connection, recording the bytes sent."""

    debuglevel = 0

    def __init__(self):
        self.sent = b""
        self.commands: list[str] = []
        self.replies = [(354, b"go ahead"), (250, b"2.0.0 queued")]

    def putcmd(self, cmd, args=""):
        self.commands.append(cmd)

    def getreply(self):
        return self.replies.pop(0)

    def send(self, data):
        self.sent += data


@pytest.mark.parametrize("message", [
    b"Subject: x\r\n\r\nHello\r\n", b".starts with a dot\r\n..two\r\n.\r\nend", b"no final line break",
    b"lone\n.dot after LF\r\n", b"", b"\r\n.", b"x" * 1000 + b"\r\n.\r\n.",
])
def test_the_fast_data_sends_the_bytes_smtplib_sends(message):
    from relance.services.sending.mailer import _FastData

    where = "relance/services/sending/mailer.py _FastData.data"
    stdlib, ours = _Wire(), type("FastWire", (_FastData, _Wire), {})()
    assert smtplib.SMTP.data(stdlib, message) == ours.data(message) == (250, b"2.0.0 queued")
    assert ours.sent == stdlib.sent and ours.commands == stdlib.commands == ["data"], (
        f"{where}: smtplib's DATA now sends other bytes (dot-stuffing, final CRLF) than the override")
    assert ours.data_sent is True


def test_smtplib_sendmail_goes_through_data_and_the_override_is_in_place():
    from relance.services.sending.mailer import _SMTP, _SMTP_SSL, _FastData

    where = "relance/services/sending/mailer.py _FastData (speed, and `data_sent` for emails in doubt)"
    assert list(inspect.signature(smtplib.SMTP.data).parameters) == ["self", "msg"], (
        f"{where}: smtplib.SMTP.data(msg) changed its signature")
    assert "self.data(msg)" in inspect.getsource(smtplib.SMTP.sendmail), (
        f"{where}: smtplib.SMTP.sendmail no longer hands the message to self.data(msg)")
    for name, parameters in (("putcmd", ["self", "cmd", "args"]), ("getreply", ["self"]), ("send", ["self", "s"])):
        assert list(inspect.signature(getattr(smtplib.SMTP, name)).parameters) == parameters, (
            f"{where}: smtplib.SMTP.{name} changed")
    for cls in (_SMTP, _SMTP_SSL):
        assert cls.data is _FastData.data, f"{where}: {cls.__name__} no longer uses the override"


def test_a_dropped_answer_after_the_whole_message_is_in_doubt():
    from relance.services.sending.mailer import _FastData

    class Dropped(_FastData, _Wire):
        def getreply(self):
            if self.commands and self.sent:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            return (354, b"go ahead")

    wire = Dropped()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        wire.data(b"Subject: x\r\n\r\nbody\r\n")
    assert wire.data_sent is True  # SmtpOutbox.send reports it "in_doubt", never sent again


# --- Flask-Babel: lazy strings escaped in HTML -------------------------------------------------------------------

def test_lazy_strings_are_escaped_like_any_text(sqlite_app):
    from flask import render_template_string
    from flask_babel import lazy_gettext
    from flask_babel.speaklater import LazyString

    from relance import templating

    where = "relance/templating.py (LazyString.__html__ = _escaped_html)"
    lazy = lazy_gettext("Line %(n)s: %(code)s", n=3, code="<script>x</script>")
    assert type(lazy) is LazyString, f"{where}: lazy_gettext no longer returns flask_babel.speaklater.LazyString"
    assert LazyString.__html__ is templating._escaped_html, f"{where}: the patch is not in place"
    expected = "Line 3: &lt;script&gt;x&lt;/script&gt;"
    assert str(escape(lazy)) == expected, f"{where}: markupsafe.escape no longer asks __html__"
    assert str(Markup("<p>{}</p>").format(lazy)) == f"<p>{expected}</p>", f"{where}: Markup.format"
    with sqlite_app.test_request_context():
        assert render_template_string("{{ m }}", m=lazy) == expected, f"{where}: Jinja autoescape"
