"""The mailer against a real aiosmtpd server: MIME content, TLS/AUTH variants, faults, the .eml outbox."""

from __future__ import annotations

import email
import io
from email.policy import default as default_policy
from pathlib import Path

import pytest
from pypdf import PdfReader
from weasyprint import HTML

from relance.services.sending.mailer import (
    Attachment,
    FileOutbox,
    Outgoing,
    SmtpOutbox,
    build_message,
    outbox_from_config,
    safe_filename,
    text_to_html,
)
from tests.smtp import (  # noqa: F401
    SmtpServer,
    free_port,
    greeting_server,
    smtp_certificate,
    smtp_factory,
    smtp_server,
)

BODY = "Bonjour,\n\nLa facture FA-0042 reste due : 1 200,00 €.\nPayez ici : https://pay.example/FA-0042.\n\nMerci."


@pytest.fixture(scope="module")
def invoice_pdf() -> bytes:
    return HTML(string="<h1>Facture FA-0042</h1><p>Total 1 200,00 €</p>").write_pdf()


def outgoing(ref=1, pdf: bytes | None = None, **kw) -> Outgoing:
    values = dict(ref=ref, sender="compta@vendor.example", sender_name="Atelier Durand SAS",
                  to=["client@customer.example"], cc=["sales@vendor.example"],
                  subject="Relance facture FA-0042 — échéance dépassée", text=BODY, language="fr")
    values.update(kw)
    if pdf is not None:
        values["attachments"] = [Attachment("Facture FA/0042 été.pdf", pdf)]
    return Outgoing(**values)


def smtp_outbox(server: SmtpServer) -> SmtpOutbox:
    return outbox_from_config(server.settings() | {"OUTBOX_PATH": "/nonexistent"})


def test_safe_filename():
    assert safe_filename("Facture FA/0042 été.pdf") == "Facture_FA_0042_ete.pdf"
    assert safe_filename("../../etc/passwd") == "etc_passwd"
    assert safe_filename("<script>.pdf") == "script.pdf"
    assert safe_filename("///") == "document.pdf"


def test_html_alternative_escapes_and_links():
    html = text_to_html("Client <script>alert(1)</script> {{ 7*7 }}\n\nhttps://pay.example/x?a=1&b=2")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "{{ 7*7 }}" in html
    assert '<a href="https://pay.example/x?a=1&amp;b=2">' in html


def test_message_structure(invoice_pdf):
    msg = email.message_from_bytes(build_message(outgoing(pdf=invoice_pdf)).as_bytes(), policy=default_policy)
    assert msg["Subject"] == "Relance facture FA-0042 — échéance dépassée"
    assert msg["Reply-To"] == "compta@vendor.example"
    assert msg["From"].addresses[0].display_name == "Atelier Durand SAS"
    assert msg["Message-ID"].endswith("@vendor.example>")
    assert msg["Date"] and msg["Auto-Submitted"] is None
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "1 200,00 €" in plain and "1 200,00 €" in html
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "Facture_FA_0042_ete.pdf"
    assert "FA-0042" in PdfReader(io.BytesIO(attachment.get_content())).pages[0].extract_text()


@pytest.mark.parametrize("security,auth", [("none", False), ("starttls", False), ("starttls", True),
                                           ("ssl", False)])
def test_send_through_server_variants(smtp_factory, security, auth, invoice_pdf):  # noqa: F811
    server = smtp_factory(security=security, auth=auth)
    outcomes = smtp_outbox(server).send_batch([outgoing(1, invoice_pdf), outgoing(2, invoice_pdf)])
    assert [o.status for o in outcomes] == ["sent", "sent"]
    assert len(server.received) == 2
    first = server.received[0]
    assert first.mail_from == "compta@vendor.example"
    assert sorted(first.rcpt_tos) == ["client@customer.example", "sales@vendor.example"]
    msg = first.message
    assert msg["To"] == "client@customer.example" and msg["Cc"] == "sales@vendor.example"
    assert msg["Message-ID"] == outcomes[0].message_id
    assert "https://pay.example/FA-0042" in msg.get_body(("html",)).get_content()
    pdf = next(msg.iter_attachments()).get_content()
    assert "FA-0042" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_wrong_password_is_retried_not_lost(smtp_factory):  # noqa: F811
    server = smtp_factory(security="starttls", auth=True)
    settings = server.settings() | {"SMTP_PASSWORD": "wrong"}
    outcomes = outbox_from_config(settings).send_batch([outgoing(1), outgoing(2)])
    assert [o.status for o in outcomes] == ["retry", "retry"]
    assert outcomes[0].error.startswith("535")
    assert server.received == []


def test_untrusted_certificate_is_refused(smtp_factory):  # noqa: F811
    server = smtp_factory(security="starttls")
    settings = server.settings() | {"SMTP_CA_FILE": None}
    (outcome,) = outbox_from_config(settings).send_batch([outgoing(1)])
    assert outcome.status == "retry" and "CERTIFICATE_VERIFY_FAILED" in outcome.error
    assert server.received == []


def test_temporary_then_permanent_answers(smtp_server):  # noqa: F811
    smtp_server.handler.answers = ["450 4.2.0 mailbox busy", "550 5.1.1 mailbox unavailable"]
    outcomes = smtp_outbox(smtp_server).send_batch([outgoing(1), outgoing(2), outgoing(3)])
    assert [(o.status, o.error) for o in outcomes] == [
        ("retry", "450 4.2.0 mailbox busy"), ("failed", "550 5.1.1 mailbox unavailable"), ("sent", "")]
    assert len(smtp_server.received) == 1


def test_421_leaves_the_rest_of_the_batch_for_later(smtp_server):  # noqa: F811
    smtp_server.handler.answers = ["421 4.3.2 service shutting down"]
    outcomes = smtp_outbox(smtp_server).send_batch([outgoing(1), outgoing(2)])
    assert [o.status for o in outcomes] == ["retry", "retry"]
    assert smtp_server.received == []


def test_refused_recipients_are_recorded(smtp_server):  # noqa: F811
    smtp_server.handler.refuse_rcpt = {"sales@vendor.example": "550 5.1.1 no such user"}
    (outcome,) = smtp_outbox(smtp_server).send_batch([outgoing(1)])
    assert outcome.status == "sent"
    assert outcome.refused == {"sales@vendor.example": "550 5.1.1 no such user"}
    assert smtp_server.received[0].rcpt_tos == ["client@customer.example"]

    smtp_server.handler.refuse_rcpt = {"client@customer.example": "550 5.1.1 no such user"}
    (outcome,) = smtp_outbox(smtp_server).send_batch([outgoing(2, cc=[])])
    assert outcome.status == "failed" and "client@customer.example: 550 5.1.1 no such user" in outcome.error


def test_dropped_connection_mid_batch(smtp_server):  # noqa: F811
    smtp_server.handler.drop_after = 3
    outcomes = smtp_outbox(smtp_server).send_batch([outgoing(n) for n in range(10)])
    assert [o.status for o in outcomes] == ["sent"] * 3 + ["retry"] * 7
    assert len(smtp_server.received) == 3


def test_server_down():
    """Nothing listens: every message comes back "down" (nothing was tried), the caller's circuit opens."""
    port = free_port()
    settings = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_SECURITY": "none", "SMTP_TIMEOUT": 2}
    outbox = outbox_from_config(settings)
    assert "ConnectionRefusedError" in outbox.ready()
    outcomes = outbox.send_batch([outgoing(n) for n in range(3)])
    assert [o.status for o in outcomes] == ["down"] * 3
    assert all("ConnectionRefusedError" in o.error and not o.message_id for o in outcomes)
    outcomes = outbox_from_config(settings).send_batch([outgoing(n) for n in range(2)])  # without ready()
    assert [o.status for o in outcomes] == ["down"] * 2


def test_a_421_greeting_is_the_server_down():
    with greeting_server("421 4.3.2 Too busy, try later") as port:
        outbox = SmtpOutbox("127.0.0.1", port, timeout=2)
        assert outbox.ready() == "421 4.3.2 Too busy, try later"
        assert [o.status for o in outbox.send_batch([outgoing(1)])] == ["down"]


def test_a_drop_after_data_is_in_doubt_and_the_rest_waits(smtp_server):  # noqa: F811
    """The server took the whole message then the connection dropped before its answer: it may have arrived."""
    smtp_server.handler.drop_in_data = 1  # the second DATA is taken, then the connection drops
    outcomes = smtp_outbox(smtp_server).send_batch([outgoing(n) for n in range(4)])
    assert [o.status for o in outcomes] == ["sent", "in_doubt", "retry", "retry"]
    assert len(smtp_server.received) == 2
    assert smtp_server.received[1].message["Message-ID"] == outcomes[1].message_id
    assert "SMTPServerDisconnected" in outcomes[1].error


def test_file_outbox(tmp_path, invoice_pdf):
    assert isinstance(outbox_from_config({"SMTP_HOST": None, "OUTBOX_PATH": str(tmp_path)}), FileOutbox)
    (outcome,) = FileOutbox(tmp_path / "outbox").send_batch([outgoing("r7", invoice_pdf)])
    assert outcome.status == "sent"
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert [str(f) for f in files] == [outcome.path]
    msg = email.message_from_bytes(files[0].read_bytes(), policy=default_policy)
    assert msg["Subject"] == "Relance facture FA-0042 — échéance dépassée"
    assert msg["Message-ID"] == outcome.message_id
    assert next(msg.iter_attachments()).get_filename() == "Facture_FA_0042_ete.pdf"


def test_lines_starting_with_a_dot_arrive_intact(smtp_server):  # noqa: F811
    """Our DATA does the dot-stuffing itself (fast): the server must get back exactly the bytes we meant."""
    raw = b"Subject: dots\r\n\r\n.one dot\r\n..two dots\r\nmiddle . dot\r\n.\r\nlast line\r\n"
    outbox = smtp_outbox(smtp_server)
    outbox.open()
    try:
        assert outbox.smtp.sendmail("compta@vendor.example", ["client@customer.example"], raw) == {}
        outbox.smtp.sendmail("compta@vendor.example", ["client@customer.example"], b".starts with a dot")
    finally:
        outbox.close()
    assert [r.raw for r in smtp_server.received] == [raw, b".starts with a dot\r\n"]


def test_an_accented_domain_travels_in_its_idna_form(smtp_server):  # noqa: F811
    out = outgoing(1, to=["hugo.garnier@hôtelduparc.example"], cc=[])
    (outcome,) = smtp_outbox(smtp_server).send_batch([out])
    assert outcome.status == "sent", outcome.error
    [received] = smtp_server.received
    assert received.rcpt_tos == ["hugo.garnier@xn--htelduparc-rbb.example"]
    assert received.message["To"] == "hugo.garnier@xn--htelduparc-rbb.example"
    # a non-ASCII name before the @ fails alone, with its reason (this server offers no SMTPUTF8)
    outcomes = smtp_outbox(smtp_server).send_batch([outgoing(2, to=["jérôme@client.example"], cc=[]), outgoing(3)])
    assert [o.status for o in outcomes] == ["failed", "sent"]
    assert "jérôme@client.example: the part before the @ is not ASCII" in outcomes[0].error


def header_line(raw: bytes, name: bytes) -> bytes:
    """One header line of a message as it travelled (bytes, before any parsing)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    return next(line for line in head.split(b"\r\n") if line.startswith(name + b": "))


def test_a_utf8_name_before_the_at_travels_with_smtputf8(smtp_factory):  # noqa: F811
    """RFC 6531: the envelope and the headers carry the UTF-8 address itself (its domain in IDNA form)."""
    server = smtp_factory(smtputf8=True)
    outcomes = smtp_outbox(server).send_batch([
        outgoing(1, to=["jürgen@exämple.de"], cc=["Zoé.Martin@client.example"]),
        outgoing(2),
        outgoing(3, sender="comptabilité@vendor.example", sender_name="Atelier Durand — Compta"),
    ])
    assert [(o.status, o.error) for o in outcomes] == [("sent", "")] * 3
    first, plain, from_utf8 = server.received
    assert first.rcpt_tos == ["jürgen@xn--exmple-cua.de", "Zoé.Martin@client.example"]
    assert "SMTPUTF8" in first.mail_options and "BODY=8BITMIME" in first.mail_options
    assert header_line(first.raw, b"To") == "To: jürgen@xn--exmple-cua.de".encode()  # not an encoded word
    assert header_line(first.raw, b"Cc") == "Cc: Zoé.Martin@client.example".encode()
    assert first.message["To"] == "jürgen@xn--exmple-cua.de" and first.message["Cc"] == "Zoé.Martin@client.example"
    assert first.message["Subject"] == "Relance facture FA-0042 — échéance dépassée"
    assert "1 200,00 €" in first.message.get_body(("plain",)).get_content()
    # an all-ASCII message in the same batch asks for nothing special
    assert "SMTPUTF8" not in plain.mail_options
    assert plain.rcpt_tos == ["client@customer.example", "sales@vendor.example"]
    # a UTF-8 sender: envelope, From (the name stays an encoded word) and Reply-To
    assert from_utf8.mail_from == "comptabilité@vendor.example" and "SMTPUTF8" in from_utf8.mail_options
    assert header_line(from_utf8.raw, b"From") == \
        "From: =?utf-8?q?Atelier_Durand_=E2=80=94_Compta?= <comptabilité@vendor.example>".encode()
    assert from_utf8.message["From"] == "Atelier Durand — Compta <comptabilité@vendor.example>"
    assert from_utf8.message["Reply-To"] == "comptabilité@vendor.example"
    assert from_utf8.message["Message-ID"].endswith("@vendor.example>")


def test_without_smtputf8_only_the_utf8_messages_fail(smtp_server):  # noqa: F811
    outcomes = smtp_outbox(smtp_server).send_batch([
        outgoing(1, to=["jürgen@exämple.de"], cc=[]), outgoing(2),
        outgoing(3, sender="comptabilité@vendor.example"), outgoing(4, to=["hugo.garnier@hôtelduparc.example"]),
    ])
    assert [o.status for o in outcomes] == ["failed", "sent", "failed", "sent"]
    assert outcomes[0].error == (
        "jürgen@exämple.de: the part before the @ is not ASCII, which this mail server cannot carry (it does not "
        "offer SMTPUTF8); ask the customer for another address, or use a mail server that offers SMTPUTF8.")
    assert outcomes[2].error.startswith("comptabilité@vendor.example: the part before the @ is not ASCII")
    assert [r.rcpt_tos[0] for r in smtp_server.received] == [
        "client@customer.example", "hugo.garnier@xn--htelduparc-rbb.example"]
    assert not any("SMTPUTF8" in r.mail_options for r in smtp_server.received)


def test_file_outbox_writes_utf8_addresses_as_they_are(tmp_path):
    (outcome,) = FileOutbox(tmp_path).send_batch([outgoing(1, to=["jürgen@exämple.de"], cc=["hugo@hôtel.example"])])
    assert outcome.status == "sent"
    raw = Path(outcome.path).read_bytes()
    assert header_line(raw, b"To") == "To: jürgen@xn--exmple-cua.de".encode()
    assert header_line(raw, b"Cc") == b"Cc: hugo@xn--htel-vqa.example"
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert msg["To"] == "jürgen@xn--exmple-cua.de" and msg["Message-ID"] == outcome.message_id


def test_a_connection_kept_between_batches_is_checked_then_opened_again(smtp_server):  # noqa: F811
    """A caller sending batch after batch keeps one connection (autorun.send_pending): `kept()` before each batch
    forgets the last batch's broken state and drops a connection the server closed meanwhile, so no message
    pays for it (no retry, no attempt)."""
    outbox = smtp_outbox(smtp_server)
    assert [o.status for o in outbox.send_batch([outgoing(1)], close=False)] == ["sent"]
    first = outbox.smtp
    outbox.kept()
    assert outbox.smtp is first  # alive (NOOP answered): the same connection
    assert [o.status for o in outbox.send_batch([outgoing(2)], close=False)] == ["sent"]
    smtp_server.stop()  # the server closes the idle connection, then comes back
    smtp_server.start()
    outbox.kept()
    assert outbox.smtp is None
    assert [(o.status, o.error) for o in outbox.send_batch([outgoing(3)], close=False)] == [("sent", "")]
    outbox.broken = "SMTPServerDisconnected: the last batch's connection dropped"
    outbox.kept()
    assert outbox.broken == "" and [o.status for o in outbox.send_batch([outgoing(4)])] == ["sent"]
    assert outbox.smtp is None  # close=True
    assert len(smtp_server.received) == 4
