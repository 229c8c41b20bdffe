"""Upload a CSV (or Factur-X / e-invoice files) -> its check (what will be created / updated, every error) ->
preview -> confirm.

The upload waits under `<instance>/imports/` by a generated token (services/data_in/staging.py) and is read and
checked once: at once when it is small, by the worker when it is larger than IMPORT_BACKGROUND_BYTES, while its
page (`pending`) shows the progress (htmx polls `status`). The confirmation applies the plan kept by the check;
only when the rows it relies on changed since is the file checked again, for a new preview.

Factur-X / e-invoices (`einvoices`): one or many PDFs or XMLs, read and planned at once (services/data_in/einvoice.py),
kept as they came under the same folder (`staging.stage_files`) for the confirmation, which plans them again and
writes only when the plan is the one previewed (else the new preview is shown).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import Response, abort, current_app, flash, g, redirect, request, url_for
from flask_babel import format_date, format_decimal, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from relance import clock, tasks
from relance.auth import role_required
from relance.extensions import db
from relance.imports import bp
from relance.imports.forms import ConfirmForm, EInvoiceForm, PdfsForm, UploadForm
from relance.services.data_in import einvoice, staging
from relance.services.data_in.plan import COLUMNS, KINDS
from relance.services.data_in.reading import MAX_BYTES, REQUIRED
from relance.services.letters import invoice_pdfs
from relance.services.letters.invoice_pdf import store_pdf
from relance.templating import render

PREVIEW_ROWS = 200

HELP = {
    "customers": {
        "code": _l("Customer code (key: an existing code is updated)."),
        "name": _l("Company or person name."),
        "email": _l("One or more addresses separated by , or ;."),
        "language": _l("The customer's language: a code (fr, en, de, es, it, nl, pt, de_CH...) or its name (français, "
                       "Deutsch, allemand, español, Nederlands...). Default fr."),
        "country": _l("ISO code (FR, BE, CH…) or name. Default FR."),
        "kind": _l("business or consumer (entreprise, particulier). Default business."),
        "address": _l("Street address; may span several lines inside quotes."),
        "postcode": _l("Postcode."),
        "city": _l("City."),
        "phone": _l("Phone number."),
        "siren": _l("SIREN (9 digits): how Factur-X invoices find the customer."),
        "vat_number": _l("Intra-EU VAT number (FR44987654321): also used to find the customer of a Factur-X."),
    },
    "invoices": {
        "number": _l("Invoice number (key: an existing number is updated)."),
        "customer_code": _l("Code of an existing customer."),
        "issue_date": _l("dd/mm/yyyy or yyyy-mm-dd."),
        "due_date": _l("dd/mm/yyyy or yyyy-mm-dd; empty: never reminded."),
        "currency": _l("ISO 4217 code (EUR, USD, CHF…). Default EUR."),
        "total_excl_tax": _l("Amount: 1 234,56 or 1234.56."),
        "total_incl_tax": _l("Amount, not less than the total excluding tax."),
        "status": _l("draft, validated, paid, cancelled (brouillon, validée, payée, abandonnée). Default validated."),
        "kind": _l("invoice or credit_note (facture, avoir). Default invoice."),
    },
    "payments": {
        "invoice_number": _l("Number of an existing invoice."),
        "date": _l("Payment date: dd/mm/yyyy or yyyy-mm-dd."),
        "amount": _l("Amount paid, more than zero, not more than the remaining due."),
        "reference": _l("Optional bank reference; the same payment is never recorded twice."),
    },
    "contacts": {
        "customer_code": _l("Code of an existing customer (key with the email: an existing contact is updated)."),
        "email": _l("The contact's email address."),
        "name": _l("Last name."),
        "first_name": _l("First name."),
        "phone": _l("Phone number."),
        "role": _l("billing or followup (facture, relance). Default billing. Reminder emails go to the invoice's "
                   "follow-up contact, else its billing contact, else the customer's email; an invoice without "
                   "contacts gets its customer's first ones."),
    },
    "history": {
        "invoice_number": _l("Number of an existing invoice."),
        "level": _l("The level's rank (0 before the due date, 1, 2, 3 formal notice)."),
        "date": _l("The day it was sent: dd/mm/yyyy or yyyy-mm-dd, not in the future."),
        "channel": _l("email or letter (courriel, courrier)."),
        "note": _l("Optional note. Recorded as sent (an email) or posted (a letter), marked imported: the next "
                   "level follows it."),
    },
}
HELP["invoices"]["no_auto_reminders"] = _l(
    "This invoice gets no automatic reminders: yes or no (oui, non, 1, 0). Default no.")
HELP["invoices"]["credits_invoice"] = _l(
    "A credit note: the number of the invoice it credits (the same customer's, existing or in this file). Its amount "
    "is taken off that invoice from the credit note's date; empty: it credits no invoice.")
HELP["customers"].update({
    "direct_debit": _l("Pays by direct debit: yes or no (oui, non, 1, 0). Default no."),
    "no_auto_reminders": _l("No automatic reminders: yes or no (oui, non, 1, 0). Default no."),
    "sales_reps": _l("Emails of existing users, separated by , or ; (replaces the sales representatives)."),
    "group_reminders": _l("One email for all the invoices reminded the same day: yes or no (oui, non, 1, 0). "
                          "Empty: the company's setting."),
    "policy": _l("The name of a reminder policy (Administration > Reminder levels; any case). Empty: the default "
                 "policy."),
})

EXAMPLES = {
    "customers": "C0001;Dupont SA;compta@dupont.example;fr;FR;entreprise;12 rue de la Paix;75002;Paris;01 23 45 67 89"
                 ";;",
    "invoices": "FA-2026-0001;C0001;15/01/2026;14/02/2026;EUR;1 000,00;1 200,00;validée;facture",
    "payments": "FA-2026-0001;20/02/2026;1 200,00;VIR 123",
    "contacts": "C0001;marie.dupont@dupont.example;Dupont;Marie;01 23 45 67 80;relance",
    "history": "FA-2026-0001;1;01/03/2026;email;Relance automatique",
}
EXAMPLES["customers"] += ";non;non;;;"  # ... sales_reps, group_reminders, policy (empty: the defaults)
EXAMPLES["invoices"] += ";non;"  # ... no_auto_reminders, credits_invoice


def _folder():
    return staging.folder(current_app.instance_path)


def _find(token: str, kind: str | None = None) -> staging.Pending | None:
    """The current user's upload of this token (None: unknown, someone else's, expired)."""
    return staging.find(_folder(), token, current_user.id, kind)


def show(value) -> str:
    """A planned value as text for the preview table."""
    if value is None or value == "":
        return "—"
    if isinstance(value, Decimal):
        return format_decimal(value, format="#,##0.00")
    if isinstance(value, date | datetime):
        return format_date(value, "short")
    return str(value)


def _page(form: UploadForm, status: int = 200, einvoice_form: EInvoiceForm | None = None,
          pdfs: PdfsForm | None = None):
    return render("imports/index.html", form=form, einvoice_form=einvoice_form or EInvoiceForm(), help=HELP,
                  columns=COLUMNS, required=REQUIRED, pdfs=pdfs or PdfsForm(), status=status)


@bp.get("/")
@role_required("agent")
def index():
    form = UploadForm(kind=request.args.get("kind", "invoices"))
    return _page(form)


@bp.post("/")
@role_required("agent")
def preview():
    form = UploadForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    upload = form.file.data
    upload.stream.seek(0, 2)
    size = upload.stream.tell()
    upload.stream.seek(0)
    data = upload.stream.read(MAX_BYTES + 1) if size <= MAX_BYTES else b""  # too large: refused unread
    filename = (upload.filename or "").rsplit("/", 1)[-1][:200]
    pending = staging.stage(_folder(), data, kind=form.kind.data or "", filename=filename, size=size,
                            user_id=current_user.id)
    return _check(pending)


def _check(pending: staging.Pending):
    """Have an upload checked (staging.check): a small file here and now, its preview answered; a larger one by the
    worker, its page (progress, then preview) answered by a redirect."""
    config = current_app.config
    try:
        pending = staging.check(db.session, pending, clock.today(), max_rows=config["IMPORT_MAX_ROWS"],
                                background_bytes=config["IMPORT_BACKGROUND_BYTES"], enqueue=tasks.check_import)
    except staging.QueueDown:
        current_app.logger.exception("import check not queued")
        flash(_("The background worker's queue cannot be reached: the file was not checked and nothing was saved. "
                "Try again in a moment."), "error")
        return redirect(url_for("imports.index"), 303)
    if staging.in_background(pending, config["IMPORT_BACKGROUND_BYTES"]):
        return redirect(url_for("imports.pending", token=pending.token), 303)
    response = _result(pending)
    if not pending.ok:  # errors shown once: nothing to confirm, nothing kept
        staging.drop(_folder(), pending.token)
    return response


def _result(pending: staging.Pending):
    """The page of a checked upload: its preview (changes or errors), or its failure."""
    plan = pending.plan() if pending.state == staging.DONE else None
    if plan is None and pending.state == staging.DONE:  # its plan is gone: imported or being imported meanwhile
        flash(_("This preview has expired or was already imported. Upload the file again."), "error")
        return redirect(url_for("imports.index"), 303)
    if plan is None:
        return render("imports/pending.html", pending=pending, status=422 if pending.finished else 200)
    confirm = ConfirmForm(kind=plan.kind, token=pending.token) if plan.ok else None
    return _preview(plan, confirm, 200 if plan.ok else 422, changed_since=pending.changed_since)


def _preview(plan, confirm, status, changed_since=False):
    return render("imports/preview.html", plan=plan, confirm=confirm, show=show, help=HELP,
                  changes=plan.changes[:PREVIEW_ROWS], preview_rows=PREVIEW_ROWS, upload=UploadForm(kind=plan.kind),
                  changed_since=changed_since, status=status)


@bp.get("/pending/<token>")
@role_required("agent")
def pending(token: str):
    """An upload being checked by the worker: its progress (the page follows it, with htmx or without), then its
    preview. Only its uploader sees it."""
    found = _find(token)
    if found is None:
        flash(_("This preview has expired or was already imported. Upload the file again."), "error")
        return redirect(url_for("imports.index"), 303)
    if found.finished:
        return _result(found)
    response = render("imports/pending.html", pending=found)
    if not g.get("htmx"):
        response.headers["Refresh"] = "2"  # without JavaScript the page follows the check too
    return response


@bp.get("/pending/<token>/status")
@role_required("agent")
def status(token: str):
    """The progress fragment the page polls; once the check has ended, htmx goes to the page (its preview)."""
    found = _find(token)
    response = render("imports/_status.html", pending=found, status=200 if found else 404)
    if found is not None and found.finished and g.get("htmx"):
        response.headers["HX-Redirect"] = url_for("imports.pending", token=token)
    return response


@bp.post("/confirm")
@role_required("agent")
def confirm():
    form = ConfirmForm()
    token, kind = form.token.data or "", form.kind.data or ""  # used once validate_on_submit() accepted them
    pending = _find(token, kind) if form.validate_on_submit() else None
    try:
        if pending is None:
            raise staging.Gone(token)
        if kind == "facturx":
            return _confirm_einvoices(pending)
        plan = staging.confirm(db.session, pending, current_user)
        if plan is not None:
            db.session.commit()
    except staging.Gone:
        db.session.rollback()
        flash(_("This preview has expired or was already imported. Upload the file again."), "error")
        return redirect(url_for("imports.index"), 303)
    except Exception:
        db.session.rollback()
        if pending is not None:
            staging.release(pending)
        raise
    if plan is None:  # the data changed since the preview: the file is checked again, for a new preview
        return _check(pending)
    staging.drop(_folder(), token)
    flash(_("Import done: %(created)s created, %(updated)s updated, %(unchanged)s unchanged.",
            created=plan.created, updated=plan.updated, unchanged=plan.unchanged), "success")
    return redirect(url_for("imports.index", kind=plan.kind), 303)


@bp.post("/einvoices")
@role_required("agent")
def einvoices():
    """Factur-X / e-invoice files dropped: read and checked at once, their preview (every refused file named with
    its reason) answered; the files wait for the confirmation under the instance's imports folder."""
    form = EInvoiceForm()
    if not form.validate_on_submit():
        return _page(UploadForm(), 422, einvoice_form=form)
    limit = current_app.config["INVOICE_PDF_MAX_BYTES"]
    uploads = [(einvoice.file_name(upload.filename), upload.stream.read(limit + 1))  # larger: refused unread
               for upload in form.files.data if upload]
    if len(uploads) > einvoice.MAX_FILES:
        form.files.errors = [_("At most %(count)s files at once.", count=einvoice.MAX_FILES)]
        return _page(UploadForm(), 422, einvoice_form=form)
    plan = einvoice.plan_files(db.session, uploads, clock.today(), max_bytes=limit)
    db.session.rollback()  # read only: the checks' transaction ends here
    if not plan.has_changes:
        return _einvoice_preview(plan, None, 422 if plan.refused else 200)
    pending = staging.stage_files(_folder(), uploads, kind="facturx", user_id=current_user.id,
                                  summary={"ok": True, "signature": plan.signature()})
    return _einvoice_preview(plan, ConfirmForm(kind="facturx", token=pending.token), 200)


def _einvoice_preview(plan: einvoice.EInvoicePlan, confirm: ConfirmForm | None, status: int,
                      changed_since: bool = False):
    return render("imports/einvoices_preview.html", plan=plan, confirm=confirm, show=show, status=status,
                  einvoice_form=EInvoiceForm(), changed_since=changed_since)


def _confirm_einvoices(pending: staging.Pending):
    """Plan the staged files again: the same plan as previewed is written (customers, invoices, their PDFs), a
    different one is shown for a new confirmation."""
    limit = current_app.config["INVOICE_PDF_MAX_BYTES"]
    uploads = staging.claim_files(pending)
    try:
        plan = einvoice.plan_files(db.session, uploads, clock.today(), max_bytes=limit)
        if plan.signature() != pending.summary.get("signature"):
            db.session.rollback()
            staging.release_files(pending, {"ok": True, "signature": plan.signature()})
            confirm = ConfirmForm(kind="facturx", token=pending.token) if plan.has_changes else None
            return _einvoice_preview(plan, confirm, 200, changed_since=True)
        with einvoice.saving(db.session, plan, current_user, store_pdf):
            db.session.commit()
    except Exception:
        db.session.rollback()
        staging.release_files(pending)
        raise
    staging.drop(_folder(), pending.token)
    flash(_("Import done: %(created)s invoices created, %(updated)s updated, %(unchanged)s unchanged, "
            "%(customers)s new customers.", created=plan.created, updated=plan.updated,
            unchanged=plan.unchanged, customers=plan.new_customers), "success")
    if plan.refused:
        flash(ngettext("%(num)s file refused: %(files)s.", "%(num)s files refused: %(files)s.", len(plan.refused),
                       files="; ".join(str(r) for r in plan.refused)), "error")
    return redirect(url_for("imports.index", kind="facturx"), 303)


@bp.post("/cancel")
@role_required("agent")
def cancel():
    form = ConfirmForm()
    if form.validate_on_submit() and _find(form.token.data or "", form.kind.data or ""):
        staging.drop(_folder(), form.token.data or "")
    flash(_("Import cancelled: nothing was saved."), "info")
    return redirect(url_for("imports.index"), 303)


@bp.get("/example/<kind>.csv")
@role_required("agent")
def example(kind: str):
    """A file to start from: the documented header and one example row (UTF-8 with BOM, for Excel)."""
    if kind not in KINDS:
        abort(404)
    text = ";".join(COLUMNS[kind]) + "\r\n" + EXAMPLES[kind] + "\r\n"
    return Response("\ufeff" + text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{kind}-example.csv"'})


@bp.post("/pdfs")
@role_required("agent")
def pdfs():
    """A ZIP of invoice PDFs named by invoice number: every file stored, or none (the refusals listed)."""
    form = PdfsForm()
    if not form.validate_on_submit():
        return _page(UploadForm(kind=request.args.get("kind", "invoices")), 422, pdfs=form)
    upload = form.archive.data
    filename = (upload.filename or "").rsplit("/", 1)[-1][:200]
    plan = invoice_pdfs.plan_pdfs(db.session, data=upload.stream.read(), source=filename)
    if not plan.ok:
        db.session.rollback()
        return render("imports/pdfs.html", plan=plan, pdfs=PdfsForm(), status=422)
    with invoice_pdfs.saving(db.session, plan, current_user):
        db.session.commit()
    return render("imports/pdfs.html", plan=plan, pdfs=PdfsForm())
