"""The invoice PDF: an uploaded file (checked, stored under FILES_PATH by a generated name) or, when none was
uploaded, one generated from the invoice data with WeasyPrint. Reminder letters attach whichever exists:
`invoice_pdf_path(invoice)` (the uploaded file or None) and `invoice_pdf_bytes(invoice)` (always a PDF).
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import IO

from flask import current_app, render_template
from flask_babel import force_locale, format_decimal
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import object_session

from relance.extensions import db
from relance.models import Invoice
from relance.services import files
from relance.services import settings as settings_service
from relance.services.errors import RelanceError
from relance.services.texts import languages
from relance.services.texts.formatting import format_locale

PDF_MAGIC = b"%PDF-"
SUBDIR = "invoices"


class PdfUploadError(RelanceError):
    """An uploaded invoice PDF refused (empty, too big, not a PDF); the form field is "pdf"."""

    def __init__(self, message):
        super().__init__(message, field="pdf")


def max_pdf_bytes() -> int:
    return int(current_app.config["INVOICE_PDF_MAX_BYTES"])


def read_upload(stream: IO[bytes], limit: int | None = None) -> bytes:
    """Read an uploaded file, refusing what is empty, too big or not a PDF (checked by its header)."""
    limit = max_pdf_bytes() if limit is None else limit
    data = stream.read(limit + 1)
    if not data:
        raise PdfUploadError(_l("The file is empty."))
    if len(data) > limit:
        raise PdfUploadError(_l("The file is too large: %(max)s MB at most.",
                                max=format_decimal(limit / 1024 / 1024, "#,##0.#")))
    if not data.startswith(PDF_MAGIC):
        raise PdfUploadError(_l("The file is not a PDF."))
    return data


def store_pdf(data: bytes) -> str:
    """Write the bytes under FILES_PATH/invoices/ by a random name; returns the path relative to FILES_PATH."""
    return files.write_atomic(f"{SUBDIR}/{secrets.token_hex(16)}.pdf", data)


def attach_upload(invoice: Invoice, stream: IO[bytes]) -> str:
    """Check and store an uploaded PDF as the invoice's file (the previous upload is removed)."""
    data = read_upload(stream)
    old = invoice_pdf_path(invoice)
    invoice.pdf_path = store_pdf(data)
    if old is not None:
        old.unlink(missing_ok=True)
    return invoice.pdf_path


def invoice_pdf_path(invoice: Invoice) -> Path | None:
    """The uploaded PDF of the invoice, or None when there is none."""
    return files.resolve(invoice.pdf_path)


def invoice_html(invoice: Invoice, settings=None) -> str:
    """The generated invoice's HTML (reads the database: settings unless given, customer); `pdf_from_html` makes the
    PDF."""
    if settings is None:
        settings = settings_service.load(object_session(invoice) or db.session)
    customer = invoice.customer
    # the customer's language when Relance has its words, else the company's; the formats of the customer's country
    language = customer.language if languages.base(customer.language or "") in languages.SHIPPED \
        else settings.default_language
    logo = files.resolve(settings.company_logo) if settings.company_logo else None
    with force_locale(format_locale(language, customer.country)):
        return render_template(
            "pdf/invoice.html", invoice=invoice, customer=invoice.customer, settings=settings,
            logo_url=files.logo_data_url(logo), language=language,
        )


INVOICE_CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "invoice-print.css"


@lru_cache(maxsize=32)
def pdf_from_html(html: str) -> bytes:
    """WeasyPrint, without the database (a letter's worker process may run it). The same HTML makes the same PDF:
    the last ones made are kept (an invoice sent by email and by letter, shown then sent, is drawn once)."""
    from relance.services.letters.printing import pdf_of

    return pdf_of(html, INVOICE_CSS)  # the stylesheet parsed once per process; only data: URLs (the logo) fetched


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """A clean one-page invoice from the invoice data, with the company letterhead, in the customer's language."""
    return pdf_from_html(invoice_html(invoice))


def invoice_pdf_bytes(invoice: Invoice) -> bytes:
    """The uploaded PDF when there is one, else a PDF generated from the invoice data."""
    source = invoice_pdf_source(invoice)
    return source if isinstance(source, bytes) else pdf_from_html(source)


def invoice_pdf_source(invoice: Invoice, settings=None) -> bytes | str:
    """The uploaded PDF's bytes, or the HTML of the generated one: what the database holds is read now, the
    slow WeasyPrint part (`pdf_from_html`) can run later, once the caller's transaction is over. `settings`: the
    company's, read by a caller making many (else read here)."""
    path = invoice_pdf_path(invoice)
    if path is not None:
        return path.read_bytes()
    return invoice_html(invoice, settings)
