"""An invoice's PDF as the pages send it (staff invoice page, customer's page): the uploaded file, or one generated
now from the invoice data, under a name safe in a header."""

from __future__ import annotations

from flask import Response, send_file
from werkzeug.utils import secure_filename

from relance.models import Invoice
from relance.services.letters import invoice_pdf


def pdf_name(text: str, fallback: str) -> str:
    return (secure_filename(text) or fallback) + ".pdf"


def invoice_file(invoice: Invoice, attachment: bool = False) -> Response:
    """Shown in the browser (`attachment`: downloaded)."""
    name = pdf_name(invoice.number, f"invoice-{invoice.id}")
    path = invoice_pdf.invoice_pdf_path(invoice)
    if path is not None:
        return send_file(path, mimetype="application/pdf", download_name=name, as_attachment=attachment)
    response = Response(invoice_pdf.render_invoice_pdf(invoice), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'{"attachment" if attachment else "inline"}; filename="{name}"'
    return response
