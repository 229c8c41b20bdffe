"""Reminder letters: the letter's words (`sheet.letter_sheet`, in the customer's language) -> A4 PDF
(`typeset.letter_pdf`, ReportLab), the letter followed by the invoice, and the mass-letter PDF built as a stream so
memory stays flat. The generated invoices are HTML -> PDF with WeasyPrint (`pdf_of`).

The sheet needs the Flask app (translations in the customer's language); turning it into a PDF does not, so it can
run in a process pool (`render_many`). Each PDF is read once (pypdf) into a `PdfPart`, its objects serialized once:
the letter's copy and the run's merged PDF are both written from the parts (`LetterPdf`), and an invoice enclosed
in many letters is read once per process (`cached_part`).
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import re
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property, lru_cache
from pathlib import Path
from typing import IO, Any, cast

from markupsafe import Markup
from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    StreamObject,
)

from relance.services import gc_pause
from relance.services.letters.sheet import LetterSheet, letter_sheet, plain_sheet
from relance.services.texts.formatting import linkify

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
    page_url: str = ""  # the link to the customer's page ("": none), printed with its QR code

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


# --- PDF (no app needed: runs in pool workers) ----------------------------------------------------

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
    """Render with WeasyPrint and the stylesheet (the generated invoices: invoice-print.css)."""
    from weasyprint import HTML

    css, fonts, fetcher = _shared_objects(stylesheet)
    return HTML(string=html, url_fetcher=fetcher).write_pdf(stylesheets=[css], font_config=fonts, **options)


def sheet_pdf(sheet: LetterSheet) -> bytes:
    """A letter's PDF (ReportLab: `letters/typeset.py`)."""
    from relance.services.letters.typeset import letter_pdf

    return letter_pdf(sheet)


def merge(parts: Iterable[bytes | PdfPart | None]) -> bytes:
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
    """What a pool worker needs to produce one reminder's PDF: the letter's sheet and the invoice (its uploaded PDF,
    or the HTML of the generated one): no database."""

    key: Any  # the caller's own id, handed back with the PDF
    sheet: LetterSheet
    invoice_pdf: bytes | None = None
    invoice_html: str | None = None
    more: tuple[bytes | str, ...] = ()  # a letter for several invoices: the others' PDFs (or HTML), in order


def build_job(job: LetterJob) -> tuple[object, LetterPdf]:
    """The letter followed by its invoice(s), as the parts of one document (run in a worker process or inline): the
    letter's PDF read once, an invoice read once per process however many letters enclose it."""
    from relance.services.letters.invoice_pdf import pdf_from_html

    with gc_pause.paused():  # WeasyPrint's layout (a generated invoice) made the collector run over and over
        letter = read_part(sheet_pdf(job.sheet))
        invoice = job.invoice_pdf or (pdf_from_html(job.invoice_html) if job.invoice_html else None)
        enclosed = [invoice] if invoice else []
        enclosed += [part if isinstance(part, bytes) else pdf_from_html(part) for part in job.more]
        return job.key, LetterPdf((letter, *(cached_part(pdf) for pdf in enclosed)))


def safe_build(job: LetterJob) -> tuple[object, LetterPdf | None, str]:
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
    sheet = letter_sheet(data)
    if isinstance(invoice, str):
        return LetterJob(key, sheet, invoice_html=invoice, more=more)
    return LetterJob(key, sheet, invoice, more=more)


def render_letter(data: LetterData, invoice_pdf: bytes | None = None) -> bytes:
    """One reminder's PDF: the letter (A4), followed by the invoice when given (alone: WeasyPrint's file as it is,
    its title and all)."""
    if invoice_pdf is None:
        with gc_pause.paused():
            return sheet_pdf(letter_sheet(data))
    return build_job(make_job(None, data, invoice_pdf))[1].data


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
    # imported once, not by every worker of every pool
    context.set_forkserver_preload([__name__, "relance.services.letters.typeset", "weasyprint"])
    return context


def _warm_up() -> None:
    """A worker's start: a first letter (fonts read, lazy imports) and WeasyPrint's first document (the generated
    invoices), then what the process holds so far frozen out of the cyclic collector's sight (kept for the worker's
    life: the collections after each letter no longer walk it)."""
    sheet_pdf(plain_sheet("."))
    from relance.services.letters.invoice_pdf import INVOICE_CSS

    pdf_of("<p>.</p>", INVOICE_CSS)
    gc.freeze()


def _started() -> None:
    """A job that only makes the pool start one more worker."""


_pool: tuple[int, ProcessPoolExecutor] | None = None
_pool_lock = threading.Lock()


def letter_pool(processes: int) -> ProcessPoolExecutor:
    """This process's letter workers, started at first use and kept for the calls that follow (the automatic run
    prints its letters in chunks; a worker process makes run after run): the fork server's imports and each worker's
    warm-up are paid once per process, not once per call. A pool of another size is replaced, a broken one (a worker
    killed) too (`render_many` drops it)."""
    global _pool
    with _pool_lock:
        if _pool is not None and _pool[0] == processes:
            return _pool[1]
        if _pool is not None:
            _pool[1].shutdown(wait=False, cancel_futures=True)
        pool = ProcessPoolExecutor(processes, mp_context=_pool_context(), initializer=_warm_up)
        for _ in range(processes):  # every worker started now (the executor starts one per job submitted)
            pool.submit(_started)
        _pool = (processes, pool)
        return pool


def _drop_pool(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is not None and _pool[1] is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def start_pool(processes: int) -> None:
    """Start the letter workers in the background, for a caller about to print many letters: the fork server's
    imports and the workers' warm-up go on while it reads what the letters need."""
    if processes > 1:
        threading.Thread(target=letter_pool, args=(processes,), name="letter-pool", daemon=True).start()


def render_many(jobs: Iterable[LetterJob], processes: int = 1,
                window: int = 8) -> Iterator[tuple[Any, LetterPdf | None, str]]:
    """Build the jobs in order -> (key, pdf or None, error), in `processes` worker processes (1: in this
    process; `letter_pool`). At most `window` jobs per process are in flight, so memory stays flat."""
    if processes <= 1:
        for job in jobs:
            yield safe_build(job)
        return
    pool = letter_pool(processes)
    pending: list[Future] = []
    try:
        for job in jobs:
            pending.append(pool.submit(safe_build, job))
            if len(pending) >= window * processes:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()
    except BrokenProcessPool:
        _drop_pool(pool)
        raise
    finally:
        for future in pending:  # the caller stopped early: what it will not read is not made
            future.cancel()


# --- PDF parts: a document read once, written into any file -----------------------------------------------

ROOT = -1  # in a part's object: a reference to the page tree, object 1 of every file StreamingPdf writes
INHERITABLE = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")


@dataclass(frozen=True)
class PdfPart:
    """One PDF's pages and every object they reach, read once (pypdf) and serialized once: the objects are numbered
    0..n-1 within the part and each body keeps its references apart (ints: a local number, or ROOT), so writing the
    part into a file (a letter's copy, the run's merged PDF) only numbers its objects from that file's next free
    number. Outlines, forms and names of the input are dropped; pages keep their content, resources and
    annotations, inherited attributes made their own."""

    objects: tuple[tuple[bytes | int, ...], ...]
    pages: tuple[int, ...]  # the local numbers of the page objects, in order
    media_box: bytes = b""  # the last page's, serialized (the blank page after an odd count has its size)


class _Pieces:
    """An object's serialization: bytes, and the local numbers of the objects it refers to, kept apart."""

    def __init__(self) -> None:
        self.pieces: list[bytes | int] = []
        self.buffer = bytearray()

    def write(self, data: bytes) -> None:
        self.buffer += data

    def ref(self, number: int) -> None:
        self.pieces.append(bytes(self.buffer))
        self.buffer.clear()
        self.pieces.append(number)

    def done(self) -> tuple[bytes | int, ...]:
        self.pieces.append(bytes(self.buffer))
        return tuple(self.pieces)


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


def read_part(pdf: bytes | str | Path) -> PdfPart:
    """The part of a PDF file (its bytes, or its path)."""
    reader = PdfReader(io.BytesIO(pdf) if isinstance(pdf, bytes) else str(pdf))
    pages = list(reader.pages)
    local: dict[int, int] = {}
    for page in pages:  # pages first, so references to a page (links) point at the copy
        local[cast(IndirectObject, page.indirect_reference).idnum] = len(local)  # a page read from a file has one
    queue: list[IndirectObject] = []

    def number(ref: IndirectObject) -> int:
        if ref.idnum not in local:
            local[ref.idnum] = len(local)
            queue.append(ref)
        return local[ref.idnum]

    def put(obj, out: _Pieces) -> None:
        if isinstance(obj, IndirectObject):
            out.ref(number(obj))
        elif isinstance(obj, StreamObject):
            # the stream's bytes as stored, still encoded (pypdf's private `_data`: get_data() would decode them,
            # and an image's DCT data cannot be encoded again); /Length is written from them. pypdf is pinned and
            # tests/test_internals.py checks both.
            data = obj._data
            out.write(b"<<\n")
            for key, value in obj.items():
                if key != "/Length":
                    put_entry(key, value, out)
            out.write(b"/Length %d\n>>\nstream\n" % len(data))
            out.write(data)
            out.write(b"\nendstream")
        elif isinstance(obj, DictionaryObject):
            out.write(b"<<\n")
            for key, value in obj.items():
                put_entry(key, value, out)
            out.write(b">>")
        elif isinstance(obj, ArrayObject):
            out.write(b"[")
            for value in obj:
                out.write(b" ")
                put(value, out)
            out.write(b" ]")
        else:  # numbers, names, strings, booleans, null
            obj.write_to_stream(out)

    def put_entry(key: str, value, out: _Pieces) -> None:
        NameObject(key).write_to_stream(cast(IO[bytes], out))  # all pypdf's writers call is write(bytes)
        out.write(b" ")
        if key == "/Parent":
            out.ref(ROOT)
        else:
            put(value, out)
        out.write(b"\n")

    bodies: dict[int, tuple[bytes | int, ...]] = {}
    for page in pages:
        out = _Pieces()
        out.write(b"<<\n")
        for key in INHERITABLE:  # inherited attributes become the page's own
            value = _inherited(page, key)
            if value is not None:
                put_entry(key, value, out)
        for key, value in page.items():
            if key not in INHERITABLE:
                put_entry(key, value, out)
        out.write(b">>")
        bodies[local[cast(IndirectObject, page.indirect_reference).idnum]] = out.done()
        while queue:
            ref = queue.pop()
            out = _Pieces()
            put(ref.get_object(), out)
            bodies[local[ref.idnum]] = out.done()
    media_box = _Pieces()
    if pages:
        put(ArrayObject(pages[-1].mediabox), media_box)
    return PdfPart(tuple(bodies[n] for n in range(len(bodies))), tuple(range(len(pages))),
                   b"".join(cast(tuple[bytes, ...], media_box.done())))


@lru_cache(maxsize=16)
def cached_part(pdf: bytes) -> PdfPart:
    """`read_part` of an invoice's PDF, kept: the same file enclosed in many letters is read once per process."""
    return read_part(pdf)


@dataclass
class LetterPdf:
    """A letter and what it encloses, as the parts of one document. `data`: that document as a PDF file of its own
    (the saved copy, a download); `StreamingPdf.add` copies the parts into the run's merged PDF without reading
    that file again."""

    parts: tuple[PdfPart, ...]

    @cached_property
    def data(self) -> bytes:
        return merge(self.parts)

    @property
    def page_count(self) -> int:
        return sum(len(part.pages) for part in self.parts)


# --- the mass-letter PDF, streamed ------------------------------------------------------------------------


class StreamingPdf:
    """Concatenates PDFs into one file, writing each document's objects as it comes (memory stays flat).

    Every document starts on an odd page: a blank page is added after a document with an odd page count, so
    duplex printing never puts two customers on one sheet. Outlines, forms and names of the inputs are
    dropped; pages keep their content, resources and annotations.
    """

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

    def _write(self, idnum: int, body: bytes) -> None:
        self.offsets[idnum] = self.file.tell()
        self.file.write(b"%d 0 obj\n%s\nendobj\n" % (idnum, body))

    def add(self, pdf: bytes | str | Path | LetterPdf | PdfPart) -> int:
        """Append one document (a PDF file's bytes or path, a `LetterPdf`, a `PdfPart`); returns its page count
        (without the padding page)."""
        parts = pdf.parts if isinstance(pdf, LetterPdf) else (pdf,) if isinstance(pdf, PdfPart) \
            else (read_part(pdf),)
        count = 0
        for part in parts:
            self._add_part(part)
            count += len(part.pages)
        self.documents += 1
        if self.duplex and count % 2:
            self._blank(next((part.media_box for part in reversed(parts) if part.media_box), b""))
        return count

    def _add_part(self, part: PdfPart) -> None:
        base = self.next_id
        self.next_id += len(part.objects)
        refs = [b"%d 0 R" % (base + n) for n in range(len(part.objects))]
        root = b"1 0 R"
        for n, body in enumerate(part.objects):
            self._write(base + n, b"".join([piece if isinstance(piece, bytes) else refs[piece] if piece >= 0
                                            else root for piece in body]))
        self.pages.extend(base + n for n in part.pages)

    def _blank(self, media_box: bytes = b"") -> None:
        box = media_box or b"[ 0 0 %s %s ]" % tuple(repr(v).encode() for v in A4_POINTS)
        self._write(self._new_id(), b"<<\n/Type /Page\n/Parent 1 0 R\n/MediaBox %s\n/Resources <<\n>>\n>>" % box)
        self.pages.append(self.next_id - 1)

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
        kids = b" ".join(b"%d 0 R" % i for i in self.pages)
        self._write(1, b"<<\n/Type /Pages\n/Kids [ %s ]\n/Count %d\n>>" % (kids, len(self.pages)))
        self._write(2, b"<<\n/Type /Catalog\n/Pages 1 0 R\n>>")
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
