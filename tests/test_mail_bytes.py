"""`mailer.message_bytes` writes a message's bytes itself (issue 18: five times faster); they must be the bytes the
email package's legacy builder wrote before (kept here as the reference: MIMEMultipart / MIMEText / MIMEBase,
flattened with compat32 and CRLF lines, the attachment's base64 spliced in). Compared byte for byte once the
random boundaries and the Date are set aside, and parsed back with the email package (headers, parts, payloads)."""

from __future__ import annotations

import base64
import email
import os
import re
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import default as default_policy
from email.utils import formatdate

import pytest

from relance.services.sending import mailer
from relance.services.sending.mailer import CRLF, Attachment, Outgoing

BODY = "Bonjour,\n\nLa facture FA-0042 reste due : 1 200,00 €.\nPayez ici : https://pay.example/FA-0042.\n\nMerci."


def legacy_compose(out: Outgoing, message_id: str) -> MIMEMultipart:
    """mailer._compose as it was before issue 18."""
    if mailer.CONTROL.search(out.subject or ""):
        raise ValueError(f"the subject holds a control character (line break): {out.subject!r}")
    msg = MIMEMultipart("mixed")
    msg["From"] = mailer._mailbox(out.sender_name, out.sender)
    msg["To"] = mailer._address_header(out.to)
    if out.cc:
        msg["Cc"] = mailer._address_header(out.cc)
    msg["Reply-To"] = mailer._address_header([out.sender])
    msg["Subject"] = mailer._header(out.subject)  # type: ignore[assignment]
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id
    msg["Content-Language"] = out.language
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(out.text, "plain", "utf-8"))
    body.attach(MIMEText(mailer.text_to_html(out.text, out.language), "html", "utf-8"))
    msg.attach(body)
    for index, attachment in enumerate(out.attachments):
        maintype, _, subtype = attachment.mimetype.partition("/")
        part = MIMEBase(maintype, subtype)
        part.set_payload(f"relance-attachment-{index}-placeholder")
        part["Content-Transfer-Encoding"] = "base64"
        part.add_header("Content-Disposition", "attachment", filename=mailer.safe_filename(attachment.filename))
        msg.attach(part)
    return msg


def legacy_message_bytes(out: Outgoing) -> bytes:
    """mailer.message_bytes as it was before issue 18."""
    raw = legacy_compose(out, out.message_id or "").as_bytes(policy=CRLF)
    for index, attachment in enumerate(out.attachments):
        token = f"relance-attachment-{index}-placeholder".encode()
        encoded = base64.encodebytes(attachment.content).replace(b"\n", b"\r\n").rstrip(b"\r\n")
        assert raw.count(token) == 1
        raw = raw.replace(token, encoded)
    return raw


BOUNDARY = re.compile(rb"={15}\d{19}==(?:\.\d+)?")
DATE = re.compile(rb"\r\nDate: [^\r]*\r\n")


def normalised(raw: bytes) -> bytes:
    """The boundaries numbered in order of appearance, the Date line blanked."""
    seen: dict[bytes, bytes] = {}
    raw = BOUNDARY.sub(lambda m: seen.setdefault(m.group(0), b"BOUNDARY-%d" % len(seen)), raw)
    return DATE.sub(b"\r\nDate: -\r\n", raw, count=1)


def parsed(raw: bytes) -> list[tuple]:
    """Every part's headers (boundary and Date aside) and decoded payload, as the email package reads them."""
    out = []
    for part in email.message_from_bytes(raw, policy=default_policy).walk():
        headers = [(k, str(v)) for k, v in part.items() if k != "Date"]
        headers = [(k, BOUNDARY.sub(b"B", v.encode("utf-8", "surrogateescape")).decode("utf-8", "replace"))
                   for k, v in headers]
        payload = None if part.is_multipart() else part.get_payload(decode=True)
        out.append((part.get_content_type(), headers, payload))
    return out


PDF = b"%PDF-1.4\n" + os.urandom(5000) + b"\n%%EOF\n"

SAMPLES = {
    "plain ascii": dict(subject="Reminder: invoice FA-0042", cc=[]),
    "accented subject and cc": dict(),
    "no attachment": dict(attachments=[]),
    "two attachments and an empty one": dict(attachments=[Attachment("Facture FA/0042 été.pdf", PDF),
                                                          Attachment("notes.txt", b"", "text/plain"),
                                                          Attachment("x" * 120 + ".pdf", PDF[:57 * 3])]),
    "long subject folded": dict(subject="Relance n° 3 — mise en demeure — facture FA-2026-000123 du 15 janvier "
                                        "2026, échéance dépassée de 45 jours, montant dû 12 345,67 €"),
    "long ascii subject folded": dict(subject="Reminder " + "invoice FA-2026-000123 overdue " * 6),
    "many recipients folded": dict(to=[f"client.number.{n}@customer-company.example" for n in range(6)],
                                   cc=[f"sales{n}@vendor.example" for n in range(4)]),
    "sender name accented": dict(sender_name="Atelier Durand — Compta & Fils"),
    "sender name with quotes": dict(sender_name='Durand "le Grand", SAS'),
    "no sender name": dict(sender_name=""),
    "idna domain": dict(to=["hugo.garnier@hôtelduparc.example"], cc=[]),
    "utf-8 local parts (SMTPUTF8)": dict(to=["jürgen@exämple.de"], cc=["Zoé.Martin@client.example"],
                                         sender="comptabilité@vendor.example", sender_name="Atelier — Compta"),
    "english": dict(language="en", subject="Overdue invoice", text="Dear customer,\n\nPlease pay.\n"),
    "dots, CRLF, long lines, html": dict(text=".starts with a dot\r\n..two\r\n.\r\n<b>bold</b> & {{ x }}\n\n"
                                              + "très long " * 80 + "\n\nhttps://pay.example/a?b=1&c=2"),
    "emoji and other scripts": dict(subject="Facture 📄 — 請求書 — счёт", text="Привет 👋\n\n請求書"),
    "empty body": dict(text=""),
}


def sample(**kw) -> Outgoing:
    values = dict(ref=1, sender="compta@vendor.example", sender_name="Atelier Durand SAS",
                  to=["client@customer.example"], cc=["sales@vendor.example"],
                  subject="Relance facture FA-0042 — échéance dépassée", text=BODY, language="fr",
                  attachments=[Attachment("Facture FA/0042 été.pdf", PDF)], message_id="<42.1@vendor.example>")
    values.update(kw)
    return Outgoing(**values)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_the_bytes_are_the_legacy_builders(name):
    out = sample(**SAMPLES[name])
    new, message_id = mailer.message_bytes(out)
    old = legacy_message_bytes(out)
    assert message_id == "<42.1@vendor.example>"
    assert normalised(new) == normalised(old)
    assert parsed(new) == parsed(old)
    assert len(set(BOUNDARY.findall(new))) == 2  # mixed and alternative, each its own


def test_the_header_values_are_the_legacy_builders():
    out = sample(**SAMPLES["utf-8 local parts (SMTPUTF8)"])
    new = email.message_from_bytes(mailer.message_bytes(out)[0], policy=default_policy)
    assert new["To"] == "jürgen@xn--exmple-cua.de" and new["Cc"] == "Zoé.Martin@client.example"
    assert new["From"] == "Atelier — Compta <comptabilité@vendor.example>"
    assert new["Subject"] == "Relance facture FA-0042 — échéance dépassée"


def test_a_subject_with_a_line_break_is_refused_as_before():
    out = sample(subject="Relance\r\nBcc: everyone@example.com")
    with pytest.raises(ValueError, match="control character"):
        mailer.message_bytes(out)
    with pytest.raises(ValueError, match="control character"):
        legacy_message_bytes(out)
    assert mailer.built(out)[2].startswith("The email could not be built: ValueError")


def test_a_boundary_found_in_a_part_is_drawn_again(monkeypatch):
    draws = iter([7, 7, 8, 9])
    monkeypatch.setattr(mailer.random, "randrange", lambda _n: next(draws))
    part = b"--===============0000000000000000007==\r\n"
    assert mailer._boundary([part]) == "===============0000000000000000007==.0"
    assert mailer._boundary([b"nothing"]) == "===============0000000000000000007=="


def test_the_attachment_base64_is_the_email_packages():
    for size in (0, 1, 56, 57, 58, 114, 1000, 60 * 1024):
        data = os.urandom(size)
        expected = base64.encodebytes(data).replace(b"\n", b"\r\n").rstrip(b"\r\n")
        assert mailer._attachment_base64(data) == mailer._cached_base64(data) == expected
        text = MIMEText(data.hex(), "plain", "utf-8").get_payload()
        assert mailer._base64_lines(data.hex().encode()) == text.replace("\n", "\r\n").encode()


def test_header_objects_fold_as_the_generator_folds_them():
    value = Header("Relance — " + "é" * 90, "utf-8")
    message = Message()
    message["Subject"] = value  # type: ignore[assignment]
    assert message.as_bytes(policy=CRLF).split(b"\r\n\r\n")[0] + b"\r\n" == mailer._header_bytes([("Subject", value)])
