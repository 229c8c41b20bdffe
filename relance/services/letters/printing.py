"""Reminder letters: HTML (templates/pdf/letter.html + static/css/print.css) -> A4 PDF with WeasyPrint,
the letter followed by the invoice (pypdf), and the mass-letter PDF built as a stream so memory stays flat.

The letter's HTML needs the Flask app (translations in the customer's language); turning HTML into a PDF
does not, so it can run in a process pool (`render_many`).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, cast

from flask import render_template
from flask_babel import force_locale
from markupsafe import Markup
from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
    NumberObject,
    StreamObject,
)

from relance.services import gc_pause
from relance.services.texts.formatting import format_day, linkify

PRINT_CSS = Path(str(files("relance"))) / "static" / "css" / "print.css"
A4_POINTS = (595.28, 841.89)


@dataclass
class InvoiceLine:
    number: str
    issue_date: date
    due_date: date | None
    days_late: int
    remaining_due: Decimal
    currency: str = "EUR"


@dataclass
class LetterData:
    """Everything printed on one letter, as plain values (the body is HTML already escaped)."""

    language: str
    on: date
    subject: str
    body_html: Markup
    recipient: list[str]  # postal address lines: name, attention line, street lines, postcode + city, country
    company: dict  # name, address, postcode, city, phone, email, legal, iban, bic, logo_url (data: URL)
    invoices: list[InvoiceLine] = field(default_factory=list)
    currency: str = "EUR"
    principal: Decimal = Decimal("0.00")
    penalty: Decimal = Decimal("0.00")
    interest: Decimal | None = Decimal("0.00")
    indemnity: Decimal = Decimal("0.00")
    total: Decimal = Decimal("0.00")  # in `currency`: the indemnity is part of it only when in that currency
    payment_url: str = ""
    payment_reference: str = ""  # what to write on the transfer (the invoice number)
    signature: str = ""
    formal_notice: bool = False
    reference: str = ""
    locale: str = ""  # money and date formats of the customer's country (the language's when empty)
    indemnity_currency: str = ""  # "": `currency`; another one (40 EUR on a USD invoice): its own line
    page_url: str = ""  # the link to the customer's page ("": none), printed with its QR code (`page_qr`, data: URL)
    page_qr: str = ""

    @property
    def indemnity_apart(self) -> bool:
        """The indemnity is in another currency than the invoice's: shown after the total, not added to it."""
        return bool(self.indemnity) and self.indemnity_currency not in ("", self.currency)


def body_from_text(text: str) -> Markup:
    """A plain-text body as escaped HTML paragraphs (same rules as the email's HTML part)."""
    blocks = [p for p in re.split(r"\n\s*\n", (text or "").replace("\r\n", "\n").strip()) if p.strip()]
    return Markup("\n").join(
        Markup("<p>") + Markup("<br>\n").join(linkify(line) for line in block.split("\n")) + Markup("</p>")
        for block in blocks
    )


def letter_html(data: LetterData) -> str:
    """The letter's HTML in the customer's language (needs an app context)."""
    formats = data.locale or data.language  # en_GB: English words (the en catalogue), British dates
    with force_locale(formats):
        return render_template("pdf/letter.html", letter=data,
                               has_table='class="invoices"' in str(data.body_html),
                               long_date=lambda day: format_day(day, formats))


# --- HTML -> PDF (no app needed: runs in pool workers) ----------------------------------------------------

@lru_cache(maxsize=4)
def _shared_objects(stylesheet: Path):
    """A stylesheet and its font configuration, made once per process (parsing them is a third of a letter, a
    quarter of an invoice); only data: URLs are fetched: a text in a letter can never make WeasyPrint fetch."""
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration
    from weasyprint.urls import URLFetcher

    fonts = FontConfiguration()
    return CSS(filename=str(stylesheet), font_config=fonts), fonts, URLFetcher(allowed_protocols=["data"])


def pdf_of(html: str, stylesheet: Path, **options) -> bytes:
    """Render with WeasyPrint and the stylesheet (letters: print.css, generated invoices: invoice-print.css)."""
    from weasyprint import HTML

    css, fonts, fetcher = _shared_objects(stylesheet)
    return HTML(string=html, url_fetcher=fetcher).write_pdf(stylesheets=[css], font_config=fonts, **options)


def html_to_pdf(html: str) -> bytes:
    """A letter's PDF. Page numbers "n / N" come from the stylesheet's margin boxes (counter(page),
    counter(pages)): one pass. PDF 1.4: no compressed object streams (the page contents stay compressed), which
    pypdf reads three times faster when the invoice is appended and the run's PDF copies the letter."""
    return pdf_of(html, PRINT_CSS, pdf_version="1.4")


def merge(parts: Iterable[bytes | None]) -> bytes:
    """The PDFs one after the other in one document (the letter, then the invoice), copied by `StreamingPdf`
    without padding pages: pypdf's PdfWriter.append cloned every object through its generic machinery, as long as
    the letter's drawing."""
    out = StreamingPdf(io.BytesIO(), duplex=False)
    for part in parts:
        if part:
            out.add(part)
    out.close()
    return cast(io.BytesIO, out.file).getvalue()


@dataclass
class LetterJob:
    """What a pool worker needs to produce one reminder's PDF: the letter HTML and the invoice (its uploaded PDF, or
    the HTML of the generated one): no database."""

    key: Any  # the caller's own id, handed back with the PDF
    html: str
    invoice_pdf: bytes | None = None
    invoice_html: str | None = None
    more: tuple[bytes | str, ...] = ()  # a letter for several invoices: the others' PDFs (or HTML), in order


def build_job(job: LetterJob) -> tuple[object, bytes]:
    """Letter PDF + invoice PDF(s) as one document (run in a worker process or inline)."""
    from relance.services.letters.invoice_pdf import pdf_from_html

    with gc_pause.paused():  # WeasyPrint's layout made the collector run over and over
        letter = html_to_pdf(job.html)
        invoice = job.invoice_pdf or (pdf_from_html(job.invoice_html) if job.invoice_html else None)
        others = [part if isinstance(part, bytes) else pdf_from_html(part) for part in job.more]
        return job.key, merge([letter, invoice, *others]) if invoice or others else letter


def safe_build(job: LetterJob) -> tuple[object, bytes | None, str]:
    """`build_job` that reports an error instead of raising (one bad letter must not stop a batch)."""
    try:
        key, pdf = build_job(job)
        return key, pdf, ""
    except Exception as exc:  # noqa: BLE001
        return job.key, None, f"{type(exc).__name__}: {exc}"


def make_job(key: object, data: LetterData, invoice: bytes | str | None,
             more: tuple[bytes | str, ...] = ()) -> LetterJob:
    """`invoice`: the invoice's PDF, or the HTML to make it from (`invoice_pdf.invoice_pdf_source`); `more`: the same
    for the other invoices of a letter for several."""
    if isinstance(invoice, str):
        return LetterJob(key, letter_html(data), invoice_html=invoice, more=more)
    return LetterJob(key, letter_html(data), invoice, more=more)


def render_letter(data: LetterData, invoice_pdf: bytes | None = None) -> bytes:
    """One reminder's PDF: the letter (A4), followed by the invoice when given."""
    return build_job(make_job(None, data, invoice_pdf))[1]


def pool_size(requested: int | None = None) -> int:
    if requested:
        return max(1, requested)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _pool_context():
    """Worker processes forked from a fork server: a clean single-threaded process started once, WeasyPrint
    imported in it, never a fork of the caller (a threaded Huey consumer: a child could inherit a lock another
    thread held, in fontconfig or logging, and hang). The workers get strings only (no database, no app)."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():  # not on Windows
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, "weasyprint"])  # imported once, not by every worker of every pool
    return context


def _warm_up() -> None:
    html_to_pdf("<p>.</p>")


def render_many(jobs: Iterable[LetterJob], processes: int = 1,
                window: int = 8) -> Iterator[tuple[Any, bytes | None, str]]:
    """Build the jobs in order -> (key, pdf or None, error), in `processes` worker processes (1: in this
    process). At most `window` jobs per process are in flight, so memory stays flat."""
    if processes <= 1:
        for job in jobs:
            yield safe_build(job)
        return
    with ProcessPoolExecutor(processes, mp_context=_pool_context(), initializer=_warm_up) as pool:
        pending = []
        for job in jobs:
            pending.append(pool.submit(safe_build, job))
            if len(pending) >= window * processes:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


# --- the mass-letter PDF, streamed ------------------------------------------------------------------------


def _inherited(page, key: str):
    """A page attribute, from the page or the nearest page-tree node above it (unresolved)."""
    node = page
    for _ in range(64):
        if key in node:
            return node.raw_get(key)
        parent = node.get("/Parent")
        if parent is None:
            return None
        node = parent.get_object() if isinstance(parent, IndirectObject) else parent
    return None


class StreamingPdf:
    """Concatenates PDFs into one file, writing each document's objects as it comes (memory stays flat).

    Every document starts on an odd page: a blank page is added after a document with an odd page count, so
    duplex printing never puts two customers on one sheet. Outlines, forms and names of the inputs are
    dropped; pages keep their content, resources and annotations.
    """

    INHERITABLE = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")

    def __init__(self, path: str | Path | io.BytesIO, duplex: bool = True):
        """`path`: the file to write, or a buffer (`merge`: read it after `close()`, which leaves it open)."""
        self.path = None if isinstance(path, io.BytesIO) else Path(path)
        self.duplex = duplex
        self.file = open(self.path, "wb") if self.path else cast(io.BytesIO, path)  # noqa: SIM115 (closed by close())
        self.closed = False
        self.file.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        self.offsets: dict[int, int] = {}
        self.next_id = 3  # 1: page tree, 2: catalog
        self.pages: list[int] = []
        self.documents = 0

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def _write(self, idnum: int, obj) -> None:
        self.offsets[idnum] = self.file.tell()
        self.file.write(f"{idnum} 0 obj\n".encode())
        obj.write_to_stream(self.file)
        self.file.write(b"\nendobj\n")

    def add(self, pdf: bytes | str | Path) -> int:
        """Append one document; returns its page count (without the padding page)."""
        reader = PdfReader(io.BytesIO(pdf) if isinstance(pdf, bytes) else str(pdf))
        mapping: dict[int, int] = {}
        queue: list[IndirectObject] = []
        pages = list(reader.pages)
        page_ids = []
        for page in pages:  # pages first, so references to a page (links) point at the copy
            new = self._new_id()
            mapping[cast(IndirectObject, page.indirect_reference).idnum] = new  # a page read from a file has one
            page_ids.append(new)
        root = IndirectObject(1, 0, None)

        def remap(obj):
            if isinstance(obj, IndirectObject):
                if obj.idnum not in mapping:
                    mapping[obj.idnum] = self._new_id()
                    queue.append(obj)
                return IndirectObject(mapping[obj.idnum], 0, None)
            if isinstance(obj, StreamObject):
                # the stream's bytes as stored, still encoded (pypdf's private `_data`: get_data() would decode
                # them, and an image's DCT data cannot be encoded again); /Length is written from them.
                # pypdf is pinned and tests/test_internals.py checks both.
                copy = StreamObject()
                copy.set_data(obj._data)
                for key, value in obj.items():
                    if key != "/Length":
                        copy[NameObject(key)] = remap(value)
                return copy
            if isinstance(obj, DictionaryObject):
                plain = DictionaryObject()
                for key, value in obj.items():
                    plain[NameObject(key)] = root if key == "/Parent" else remap(value)
                return plain
            if isinstance(obj, ArrayObject):
                return ArrayObject(remap(value) for value in obj)
            return obj

        media_box = None
        for page, new in zip(pages, page_ids, strict=True):
            copy = DictionaryObject()
            for key in self.INHERITABLE:  # inherited attributes become the page's own
                value = _inherited(page, key)
                if value is not None:
                    copy[NameObject(key)] = remap(value)
            for key, value in page.items():
                if key not in self.INHERITABLE and key != "/Parent":
                    copy[NameObject(key)] = remap(value)
            copy[NameObject("/Parent")] = root
            media_box = page.mediabox
            self._write(new, copy)
            while queue:
                ref = queue.pop()
                self._write(mapping[ref.idnum], remap(ref.get_object()))
        self.pages.extend(page_ids)
        self.documents += 1
        if self.duplex and len(pages) % 2:
            self._blank(media_box)
        return len(pages)

    def _blank(self, media_box=None) -> None:
        page = DictionaryObject({
            NameObject("/Type"): NameObject("/Page"),
            NameObject("/Parent"): IndirectObject(1, 0, None),
            NameObject("/MediaBox"): ArrayObject(media_box if media_box is not None
                                                 else [FloatObject(v) for v in (0, 0, *A4_POINTS)]),
            NameObject("/Resources"): DictionaryObject(),
        })
        new = self._new_id()
        self._write(new, page)
        self.pages.append(new)

    @property
    def page_count(self) -> int:
        return len(self.pages)

    def close(self) -> None:
        """Finish the file (page tree, catalog, cross-references); the file is closed even if writing fails."""
        if self.closed:
            return
        try:
            self._finish()
        except BaseException:
            self.abort()
            raise
        self.closed = True
        if self.path:
            self.file.close()

    def abort(self) -> None:
        """Close and remove an unfinished file (a failed batch, a full disk): no descriptor, no partial file."""
        self.closed = True
        with contextlib.suppress(OSError):  # a full disk may refuse the last buffered bytes: the file goes anyway
            self.file.close()
        if self.path:
            self.path.unlink(missing_ok=True)

    def _finish(self) -> None:
        if not self.pages:
            self._blank()
        tree = DictionaryObject({
            NameObject("/Type"): NameObject("/Pages"),
            NameObject("/Kids"): ArrayObject(IndirectObject(i, 0, None) for i in self.pages),
            NameObject("/Count"): NumberObject(len(self.pages)),
        })
        self._write(1, tree)
        self._write(2, DictionaryObject({NameObject("/Type"): NameObject("/Catalog"),
                                         NameObject("/Pages"): IndirectObject(1, 0, None)}))
        start = self.file.tell()
        size = self.next_id
        lines = [f"xref\n0 {size}\n", "0000000000 65535 f \n"]
        for idnum in range(1, size):
            offset = self.offsets.get(idnum)
            lines.append(f"{offset:010d} 00000 n \n" if offset is not None else "0000000000 65535 f \n")
        lines.append(f"trailer\n<< /Size {size} /Root 2 0 R >>\nstartxref\n{start}\n%%EOF\n")
        self.file.write("".join(lines).encode())
        self.file.flush()

    def __enter__(self) -> StreamingPdf:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
