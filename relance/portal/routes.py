"""The customer's page: open invoices, their PDFs, and the three answers (paid, promise, dispute) as plain forms."""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from datetime import date

from flask import Response, abort, current_app, redirect, render_template, request, send_file, url_for
from flask_babel import force_locale

from relance import clock, downloads, tasks
from relance.extensions import db
from relance.models import DISPUTE_REASONS, Customer, CustomerLink, Invoice, Reminder
from relance.portal import bp
from relance.services import answers, files, throttle
from relance.services import settings as settings_service
from relance.services.letters import content, invoice_pdf
from relance.services.texts.placeholders import payment_url

KINDS = ("paid", "promise", "dispute")


def form_token(link: CustomerLink) -> str:
    """The page's form token: only someone holding the link can make it (a form posted from another site cannot)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"customer-page:{link.token_hash}".encode(), hashlib.sha256).hexdigest()


def _missing() -> Response:
    """The same plain 404 for every link that opens nothing (unknown, altered, expired, revoked)."""
    return Response(render_template("portal/missing.html"), 404)


def _link(token: str) -> CustomerLink | None:
    """The link's page, or None (then a 404, or a 429 when this address tried too many wrong links)."""
    now = clock.utcnow()
    address = request.remote_addr or ""
    if throttle.link_wait_seconds(db.session, address, now):
        abort(429)
    link = answers.find_link(db.session, token, now)
    if link is None:
        throttle.record_link_miss(db.session, address, now)
    db.session.commit()
    return link


def _own_invoice(link: CustomerLink | None, invoice_id: int) -> Invoice | None:
    """The link's customer's invoice of that id, or None (no link, no such invoice, someone else's)."""
    invoice = db.session.get(Invoice, invoice_id) if link is not None else None
    return invoice if invoice is not None and link is not None and invoice.customer_id == link.customer_id else None


def _page(link: CustomerLink, token: str, status: int = 200, errors: dict | None = None, done: str = ""):
    customer = db.session.get_one(Customer, link.customer_id)
    today = clock.today()
    settings = settings_service.load(db.session)
    with force_locale(customer.language or settings.default_language):
        html = render_template(
            "portal/page.html", customer=customer, link=link, token=token,
            rows=answers.page_invoices(db.session, customer.id, today, settings), settings=settings, today=today,
            form_token=form_token(link), reasons=DISPUTE_REASONS, errors=errors or {}, done=done,
            pay_url=lambda invoice: payment_url(settings.payment_url_pattern, invoice.number, customer.code,
                                                invoice.remaining_due))
    response = Response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<link_token>")
def page(link_token: str):
    link = _link(link_token)
    if link is None:
        return _missing()
    return _page(link, link_token, done=request.args.get("done", "") if request.args.get("done") in KINDS else "")


@bp.route("/<link_token>/invoices/<int:invoice_id>/pdf")
def invoice_file(link_token: str, invoice_id: int):
    link = _link(link_token)
    invoice = _own_invoice(link, invoice_id)
    if invoice is None or not invoice.is_open:
        return _missing()
    return downloads.invoice_file(invoice, attachment=True)


@bp.route("/<link_token>/letters/<int:reminder_id>/pdf")
def letter_file(link_token: str, reminder_id: int):
    link = _link(link_token)
    reminder = db.session.get(Reminder, reminder_id) if link is not None else None
    if (link is None or reminder is None or reminder.invoice.customer_id != link.customer_id
            or reminder.channel != "letter" or reminder.status not in answers.PRINTED):
        return _missing()
    name = downloads.pdf_name(f"{reminder.invoice.number}-{reminder.reminder_date.isoformat()}",
                              f"letter-{reminder.id}")
    return send_file(io.BytesIO(content.letter_pdf(db.session, reminder)), mimetype="application/pdf",
                     download_name=name, as_attachment=True)


def _date(name: str) -> date | None:
    try:
        return date.fromisoformat(request.form.get(name, "").strip())
    except ValueError:
        return None


@bp.route("/<link_token>/invoices/<int:invoice_id>/<kind>", methods=["POST"])
def answer(link_token: str, invoice_id: int, kind: str):
    link = _link(link_token)
    invoice = _own_invoice(link, invoice_id)
    if link is None or invoice is None or kind not in KINDS:
        return _missing()
    if not hmac.compare_digest(request.form.get("form_token", ""), form_token(link)):
        abort(400)
    now = clock.utcnow()
    settings = settings_service.load(db.session)
    form = request.form
    try:
        if kind == "paid":
            given = answers.claim_paid(db.session, invoice, link.customer_id, paid_on=_date("paid_on"),
                               amount=form.get("amount", ""), reference=form.get("reference", ""),
                               message=form.get("message", ""), now=now, settings=settings)
        elif kind == "promise":
            given = answers.promise(db.session, invoice, link.customer_id, promise_date=_date("promise_date"),
                            message=form.get("message", ""), now=now, settings=settings)
        else:
            path = _upload()
            try:
                given = answers.dispute(db.session, invoice, link.customer_id, reason=form.get("reason", ""),
                                message=form.get("message", ""), now=now, file_path=path)
            except answers.AnswerError:
                files.remove(path)
                raise
    except (answers.AnswerError, invoice_pdf.PdfUploadError) as exc:
        db.session.rollback()
        with force_locale(link.customer.language or settings.default_language):
            message = str(exc.message)
        return _page(link, link_token, 422, errors={(invoice.id, kind): message})
    db.session.commit()
    tasks.notify_answer(given.id, "new")  # the worker tells whoever follows the invoice up
    return redirect(url_for("portal.page", link_token=link_token, done=kind, _anchor=f"invoice-{invoice.id}"), 303)


def _upload() -> str | None:
    """The dispute's file: a PDF checked as an invoice PDF is (size, signature), stored apart; None without one."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return None
    return files.write_atomic(f"answers/{secrets.token_hex(16)}.pdf", invoice_pdf.read_upload(upload.stream))
