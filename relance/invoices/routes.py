"""Invoices: the list (search, filters, sort, pages), the invoice page with its tabs, payments and the PDF."""

from __future__ import annotations

from datetime import date
from typing import cast

from flask import abort, flash, g, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from relance import clock, downloads
from relance.auth import role_required
from relance.extensions import db
from relance.invoices import bp
from relance.invoices.forms import InvoiceForm, PaymentForm, choices
from relance.invoices.queries import (
    COUNTED_REMINDER_STATUSES,
    currencies_in_use,
    list_conditions,
    list_filters,
    list_order,
)
from relance.models import Contact, Customer, Invoice, Payment, Reminder, User
from relance.pagination import Page, kept_args, requested_page
from relance.redirects import local_target
from relance.services import audit, credit_notes
from relance.services import files as stored_files
from relance.services.credit_notes import CreditNoteError
from relance.services.letters import invoice_pdf
from relance.services.letters.invoice_pdf import PdfUploadError
from relance.services.payments import PaymentError, delete_payment, record_payment
from relance.templating import money, render

PER_PAGE = 50
AUDITED = ("number", "customer_id", "issue_date", "due_date", "currency", "total_excl_tax", "total_incl_tax",
           "status", "kind", "billing_contact_id", "followup_contact_id", "followup_user_id", "no_auto_reminders",
           "pdf_path", "credits_invoice_id")
PAYMENT_AUDITED = ("invoice_id", "date", "amount", "reference")


# --- list ----------------------------------------------------------------------------------------------------------

def invoice_page(f: dict, today: date, page: int) -> Page:
    """One page of the list: the count and the page's ids from the covering index, then the invoices by id."""
    conditions = list_conditions(f, today)
    ordered = select(Invoice.id).where(*conditions).order_by(*list_order(f["sort"], today, f["overdue"]))
    total = db.session.scalars(select(func.count()).select_from(Invoice).where(*conditions)).one()
    result = Page(page=page, per_page=PER_PAGE, total=total, args=kept_args(request.args))
    ids = db.session.scalars(ordered.limit(PER_PAGE).offset(result.offset)).all() if total else []
    loaded = {i.id: i for i in db.session.scalars(
        select(Invoice).where(Invoice.id.in_(ids))
        .options(selectinload(Invoice.customer), selectinload(Invoice.payments)))} if ids else {}
    result.items = [loaded[i] for i in ids]
    return result


def levels_of(invoice_ids: list[int]) -> dict[int, int]:
    if not invoice_ids:
        return {}
    rows = db.session.execute(
        select(Reminder.invoice_id, func.max(Reminder.level))
        .where(Reminder.invoice_id.in_(invoice_ids), Reminder.status.in_(COUNTED_REMINDER_STATUSES))
        .group_by(Reminder.invoice_id)
    ).all()
    return dict(rows)


@bp.route("/")
@role_required("viewer")
def index():
    today = clock.today()
    filters = list_filters(request.args)
    pagination = invoice_page(filters, today, requested_page())
    return render(
        "invoices/index.html", "invoices/_rows.html",
        pagination=pagination, f=filters, today=today, currencies=currencies_in_use(),
        levels=levels_of([i.id for i in pagination.items]),
    )


# --- invoice page --------------------------------------------------------------------------------------------------

def _invoice_or_404(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        abort(404)
    return invoice


def _can_take_payment(invoice: Invoice) -> bool:
    return invoice.is_open


def _show(invoice: Invoice, tab: str, status: int = 200, fragment: str | None = None, **extra):
    context = {"invoice": invoice, "tab": tab, "today": clock.today(), "level": levels_of([invoice.id]).get(invoice.id)}
    if current_user.has_role("agent") and _can_take_payment(invoice):
        context["payment_form"] = extra.pop("payment_form", None) or PaymentForm(formdata=None)
    if tab == "reminders":
        context["reminders"] = db.session.scalars(
            select(Reminder).where(Reminder.invoice_id == invoice.id)
            .options(selectinload(Reminder.invoice).selectinload(Invoice.customer), selectinload(Reminder.user))
            .order_by(Reminder.reminder_date.desc(), Reminder.id.desc())
        ).all()
    elif tab == "files":
        context["letters"] = db.session.scalars(
            select(Reminder).where(Reminder.invoice_id == invoice.id, Reminder.pdf_path.is_not(None))
            .order_by(Reminder.reminder_date.desc(), Reminder.id.desc())
        ).all()
        context["uploaded"] = invoice_pdf.invoice_pdf_path(invoice)
        context["max_mb"] = round(invoice_pdf.max_pdf_bytes() / 1024 / 1024, 1)
    context.update(extra)
    return render("invoices/show.html", fragment or "invoices/_tabs.html", status=status, **context)


@bp.route("/<int:invoice_id>")
@role_required("viewer")
def show(invoice_id: int):
    return _show(_invoice_or_404(invoice_id), "details")


@bp.route("/<int:invoice_id>/reminders")
@role_required("viewer")
def reminders(invoice_id: int):
    return _show(_invoice_or_404(invoice_id), "reminders")


@bp.route("/<int:invoice_id>/files")
@role_required("viewer")
def files(invoice_id: int):
    return _show(_invoice_or_404(invoice_id), "files")


# --- create / edit -------------------------------------------------------------------------------------------------

def _customer_by_code(code: str | None) -> Customer | None:
    code = (code or "").strip()
    return db.session.scalar(select(Customer).where(Customer.code == code)) if code else None


def _invoice_form(invoice: Invoice | None, customer: Customer | None) -> InvoiceForm:
    form = InvoiceForm(obj=invoice) if invoice is not None else InvoiceForm()
    if invoice is not None and not form.is_submitted():
        form.customer_code.data = invoice.customer.code
        form.credits_invoice.data = invoice.credits_invoice.number if invoice.credits_invoice else ""
        for name in ("billing_contact_id", "followup_contact_id", "followup_user_id"):
            getattr(form, name).data = getattr(invoice, name) or 0
    if invoice is None and customer is not None and not form.is_submitted():
        form.customer_code.data = customer.code
    contacts: list[Contact] = list(customer.contacts) if customer else []
    none = [(0, "—")]
    for name, role in (("billing_contact_id", "billing"), ("followup_contact_id", "followup")):
        getattr(form, name).choices = choices(none + [(c.id, c.full_name or c.email)
                                                      for c in contacts if c.role == role])
    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name, User.email))
    form.followup_user_id.choices = choices(none + [(u.id, u.name or u.email) for u in users])
    return form


def _save_invoice(form: InvoiceForm, invoice: Invoice | None, customer: Customer | None):
    """Validate everything (fields, customer, number, PDF) before saving anything; returns the invoice or None."""
    if not form.validate_on_submit():
        return None
    if customer is None:
        form.customer_code.errors = [*form.customer_code.errors, _("No customer has this code.")]
    number = (form.number.data or "").strip()
    other = db.session.scalar(select(Invoice.id).where(Invoice.number == number))
    if other is not None and (invoice is None or other != invoice.id):
        form.number.errors = [*form.number.errors, _("An invoice with this number already exists.")]
    paid = invoice.amount_paid if invoice is not None else 0
    total = form.total_incl_tax.data
    if invoice is not None and total is not None and total < paid:
        form.total_incl_tax.errors = [*form.total_incl_tax.errors,
                                      _("The total incl. tax cannot be lower than the payments already recorded.")]
    pdf_data = None
    upload = form.pdf.data
    if upload and getattr(upload, "filename", ""):
        try:
            pdf_data = invoice_pdf.read_upload(upload.stream)
        except PdfUploadError as exc:
            form.pdf.errors = [*form.pdf.errors, exc.message]
    total_excl, total_incl = form.total_excl_tax.data, form.total_incl_tax.data
    credited = None
    if customer is not None and total_incl is not None:
        note = credit_notes.Facts(number, customer.code, form.kind.data, form.status.data,
                                  cast(str, form.currency.data), total_incl)
        try:
            credited = credit_notes.credited_invoice(db.session, note, invoice.id if invoice is not None else None,
                                                     form.credits_invoice.data or "")
        except CreditNoteError as exc:
            form.credits_invoice.errors = [*form.credits_invoice.errors, exc.message]
    # no customer: its error was added above; a total of blanks passes InputRequired yet has no value
    if any(f.errors for f in form) or customer is None or total_excl is None or total_incl is None:
        return None
    before = None if invoice is None else audit.snapshot(invoice, AUDITED)
    if invoice is None:
        invoice = Invoice(creator_id=current_user.id)
        db.session.add(invoice)
    invoice.number = number
    invoice.customer = customer
    invoice.issue_date = cast(date, form.issue_date.data)  # InputRequired: a date once validated
    invoice.due_date = form.due_date.data
    invoice.currency = cast(str, form.currency.data)  # validate_currency: a known code
    invoice.total_excl_tax = total_excl
    invoice.total_incl_tax = total_incl
    invoice.status = form.status.data
    invoice.kind = form.kind.data
    invoice.billing_contact_id = form.billing_contact_id.data or None
    invoice.followup_contact_id = form.followup_contact_id.data or None
    invoice.followup_user_id = form.followup_user_id.data or None
    invoice.no_auto_reminders = form.no_auto_reminders.data
    invoice.credits_invoice_id = credited.id if credited is not None else None
    old = None
    if pdf_data is not None:
        old = invoice_pdf.invoice_pdf_path(invoice)
        invoice.pdf_path = invoice_pdf.store_pdf(pdf_data)
    db.session.flush()
    credit_notes.sync(db.session, [invoice.id])
    if before is None:  # created
        audit.record(db.session, current_user, "create", "invoice", invoice.id, None,
                     audit.changes({}, audit.snapshot(invoice, AUDITED))[1])
    else:
        audit.record_changes(db.session, current_user, "update", "invoice", invoice.id, before,
                             audit.snapshot(invoice, AUDITED))
    db.session.commit()
    if old is not None:
        old.unlink(missing_ok=True)
    return invoice


@bp.route("/new", methods=["GET", "POST"])
@role_required("agent")
def new():
    customer = _customer_by_code(request.form.get("customer_code") or request.args.get("customer"))
    form = _invoice_form(None, customer)
    invoice = _save_invoice(form, None, customer)
    if invoice is not None:
        flash(_("Invoice %(number)s created.", number=invoice.number), "success")
        return redirect(url_for("invoices.show", invoice_id=invoice.id))
    return render("invoices/form.html", form=form, invoice=None, status=422 if form.is_submitted() else 200)


@bp.route("/<int:invoice_id>/edit", methods=["GET", "POST"])
@role_required("agent")
def edit(invoice_id: int):
    invoice = _invoice_or_404(invoice_id)
    code = request.form.get("customer_code") if request.method == "POST" else None
    customer = _customer_by_code(code) if code is not None else invoice.customer
    form = _invoice_form(invoice, customer)
    saved = _save_invoice(form, invoice, customer)
    if saved is not None:
        flash(_("Invoice %(number)s saved.", number=saved.number), "success")
        return redirect(url_for("invoices.show", invoice_id=saved.id))
    db.session.rollback()
    return render("invoices/form.html", form=form, invoice=invoice, status=422 if form.is_submitted() else 200)


# --- payments and the inline "no automatic reminders" switch -------------------------------------------------------

def _payments_changed(invoice: Invoice, message: str):
    """After a payment was added or removed: the amounts card with the message (htmx), else the page."""
    if g.htmx:
        return _show(invoice, "details", fragment="invoices/_payments.html", saved_message=message)
    flash(message, "success")
    return redirect(url_for("invoices.show", invoice_id=invoice.id))


@bp.route("/<int:invoice_id>/payments", methods=["POST"])
@role_required("agent")
def add_payment(invoice_id: int):
    invoice = _invoice_or_404(invoice_id)
    form = PaymentForm()
    if form.validate_on_submit():
        try:
            payment = record_payment(db.session, invoice, form.amount.data, form.date.data, form.reference.data or "")
        except PaymentError as exc:
            db.session.rollback()
            getattr(form, exc.field or "amount").errors.append(exc.message)
        else:
            audit.record(db.session, current_user, "create", "payment", payment.id, None,
                         audit.snapshot(payment, PAYMENT_AUDITED))
            db.session.commit()
            return _payments_changed(invoice, _("Payment of %(amount)s recorded.",
                                                 amount=money(payment.amount, invoice.currency)))
    return _show(invoice, "details", status=422, fragment="invoices/_payments.html", payment_form=form,
                 payment_refused=not _can_take_payment(invoice))


@bp.route("/<int:invoice_id>/payments/<int:payment_id>/delete", methods=["POST"])
@role_required("agent")
def remove_payment(invoice_id: int, payment_id: int):
    invoice = _invoice_or_404(invoice_id)
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.invoice_id != invoice.id or payment.credit_note_id is not None:
        abort(404)  # a credit note's row goes by undoing its allocation (`credit`)
    before = audit.snapshot(payment, PAYMENT_AUDITED)
    delete_payment(db.session, payment)
    audit.record(db.session, current_user, "delete", "payment", payment_id, before, None)
    db.session.commit()
    return _payments_changed(invoice, _("Payment of %(amount)s removed.",
                                        amount=money(payment.amount, invoice.currency)))


@bp.route("/<int:invoice_id>/credits", methods=["POST"])
@role_required("agent")
def credit(invoice_id: int):
    """Allocate the credit note `invoice_id` to the invoice numbered `credits_invoice` (empty: undo its allocation),
    from the customer's unallocated credit notes or the credited invoice's amounts; back to the page in `next`."""
    note = _invoice_or_404(invoice_id)
    back = local_target(request.form.get("next"), url_for("invoices.show", invoice_id=note.id))
    before = audit.snapshot(note, ("credits_invoice_id",))
    number = (request.form.get("credits_invoice") or "").strip()
    try:
        credit_notes.allocate(db.session, note, number)
    except CreditNoteError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(back, 303)
    audit.record_changes(db.session, current_user, "update", "invoice", invoice_id, before,
                         audit.snapshot(note, ("credits_invoice_id",)))
    db.session.commit()
    flash(_("Credit note %(note)s now credits invoice %(number)s.", note=note.number, number=number) if number
          else _("Credit note %(note)s credits no invoice any more.", note=note.number), "success")
    return redirect(back, 303)


@bp.route("/<int:invoice_id>/no-auto-reminders", methods=["POST"])
@role_required("agent")
def set_no_auto(invoice_id: int):
    invoice = _invoice_or_404(invoice_id)
    before = invoice.no_auto_reminders
    invoice.no_auto_reminders = "1" in request.form.getlist("no_auto_reminders")
    if before != invoice.no_auto_reminders:
        audit.record(db.session, current_user, "update", "invoice", invoice.id, {"no_auto_reminders": before},
                     {"no_auto_reminders": invoice.no_auto_reminders})
    db.session.commit()
    if not g.htmx:
        flash(_("Automatic reminders are off for this invoice.") if invoice.no_auto_reminders
              else _("Automatic reminders are on for this invoice."), "success")
        return redirect(url_for("invoices.show", invoice_id=invoice.id))
    return render("invoices/_no_auto.html", "invoices/_no_auto.html", invoice=invoice, saved=True)


# --- files ---------------------------------------------------------------------------------------------------------

@bp.route("/<int:invoice_id>/pdf")
@role_required("viewer")
def pdf(invoice_id: int):
    """The uploaded PDF, or one generated now from the invoice data."""
    return downloads.invoice_file(_invoice_or_404(invoice_id))


@bp.route("/<int:invoice_id>/pdf", methods=["POST"])
@role_required("agent")
def upload_pdf(invoice_id: int):
    invoice = _invoice_or_404(invoice_id)
    upload = request.files.get("pdf")
    try:
        if upload is None or not upload.filename:
            raise PdfUploadError(_("Choose a PDF file to upload."))
        invoice_pdf.attach_upload(invoice, upload.stream)
    except PdfUploadError as exc:
        return _show(invoice, "files", status=422, upload_error=exc.message)
    db.session.commit()
    flash(_("The invoice PDF was uploaded."), "success")
    return redirect(url_for("invoices.files", invoice_id=invoice.id))


@bp.route("/<int:invoice_id>/reminders/<int:reminder_id>/file")
@role_required("viewer")
def reminder_file(invoice_id: int, reminder_id: int):
    """The copy of a letter kept with a reminder."""
    reminder = db.session.get(Reminder, reminder_id)
    if reminder is None or reminder.invoice_id != invoice_id:
        abort(404)
    path = stored_files.resolve(reminder.pdf_path)
    if path is None:
        abort(404)
    return send_file(path, mimetype="application/pdf",
                     download_name=f"reminder-{reminder.id}-"
                     + downloads.pdf_name(reminder.invoice.number, f"invoice-{reminder.invoice.id}"))
