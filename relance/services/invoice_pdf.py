"""The invoice PDF: an uploaded file (checked, stored under FILES_PATH by a generated name) or, when none was
uploaded, one generated from the invoice data with WeasyPrint. Reminder letters attach whichever exists:
`invoice_pdf_path(invoice)` (the uploaded file or None) and `invoice_pdf_bytes(invoice)` (always a PDF).
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import BinaryIO

from flask import current_app, render_template
from flask_babel import force_locale, format_decimal
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import object_session

from relance.extensions import db
from relance.models import Invoice
from relance.services import settings as settings_service

MAX_PDF_BYTES = 10 * 1024 * 1024
PDF_MAGIC = b"%PDF-"
SUBDIR = "invoices"


class PdfUploadError(ValueError):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def max_pdf_bytes() -> int:
    return int(current_app.config.get("INVOICE_PDF_MAX_BYTES", MAX_PDF_BYTES))


def files_root() -> Path:
    return Path(current_app.config["FILES_PATH"])


def read_upload(stream: BinaryIO, limit: int | None = None) -> bytes:
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
    folder = files_root() / SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{SUBDIR}/{secrets.token_hex(16)}.pdf"
    (files_root() / name).write_bytes(data)
    return name


def attach_upload(invoice: Invoice, stream: BinaryIO) -> str:
    """Check and store an uploaded PDF as the invoice's file (the previous upload is removed)."""
    data = read_upload(stream)
    old = invoice_pdf_path(invoice)
    invoice.pdf_path = store_pdf(data)
    if old is not None:
        old.unlink(missing_ok=True)
    return invoice.pdf_path


def resolve(relative: str | None) -> Path | None:
    """An existing file under FILES_PATH, or None (never a path outside it)."""
    if not relative:
        return None
    root = files_root().resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def invoice_pdf_path(invoice: Invoice) -> Path | None:
    """The uploaded PDF of the invoice, or None when there is none."""
    return resolve(invoice.pdf_path)


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """A clean one-page invoice from the invoice data, with the company letterhead, in the customer's language."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    session = object_session(invoice) or db.session
    settings = settings_service.load(session)
    language = invoice.customer.language if invoice.customer.language in ("fr", "en") else "fr"
    logo = resolve(settings.company_logo) if settings.company_logo else None
    with force_locale(language):
        html = render_template(
            "pdf/invoice.html", invoice=invoice, customer=invoice.customer, settings=settings,
            logo_url=_logo_data_url(logo), language=language,
        )
    # Only data: URLs (the logo is inlined): a text in the invoice can never make WeasyPrint fetch anything.
    return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=["data"])).write_pdf()


def _logo_data_url(logo: Path | None) -> str | None:
    if logo is None:
        return None
    kind = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
    mime = kind.get(logo.suffix.lower())
    if mime is None:
        return None
    return f"data:{mime};base64," + base64.b64encode(logo.read_bytes()).decode()


def invoice_pdf_bytes(invoice: Invoice) -> bytes:
    """The uploaded PDF when there is one, else a PDF generated from the invoice data."""
    path = invoice_pdf_path(invoice)
    if path is not None:
        return path.read_bytes()
    return render_invoice_pdf(invoice)
