"""What a reminder letter says: its data (text as sent, amounts, the customer's overdue invoices, the company's
letterhead, postal address), the job the printer renders, the saved copy and a letter's PDF again from its row.
How it is printed (HTML -> PDF, merged stream) is `letters/printing.py`."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date
from typing import cast

from babel import Locale
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from relance.models import Customer, Invoice, Reminder
from relance.models.base import ZERO
from relance.models.reminder import message_rows
from relance.services import files
from relance.services import settings as settings_service
from relance.services.letters import printing
from relance.services.letters.invoice_pdf import invoice_pdf_source
from relance.services.texts import placeholders, wording
from relance.services.texts.formatting import format_locale

LETTERS_DIR = "letters"


def letter_data(session: Session, reminder: Reminder, settings=None,
                renderers: dict[date, wording.Renderer] | None = None,
                members: Sequence[Reminder] = ()) -> printing.LetterData:
    """What the letter of a reminder shows, from the row (its text as sent) and the invoice. `renderers`: the
    `wording.Renderer` of each reminder date, kept by a caller printing many letters. `members`: the other reminders
    of a letter for several invoices (`Reminder.message_key`) that this one carries: the amounts are theirs added
    up, the payment reference names every invoice."""
    settings = settings or settings_service.load(session)
    invoice: Invoice = reminder.invoice
    customer: Customer = invoice.customer
    language = reminder.language or customer.language or "fr"
    body_html = _letter_body(session, reminder, settings, renderers, members)
    renderer = (renderers or {}).get(reminder.reminder_date)
    overdue = renderer.overdue(customer.id) if renderer is not None \
        else wording.overdue_lines(session, customer.id, reminder.reminder_date)
    if invoice.number not in {line.number for line in overdue}:
        # the invoice of a reminder has a due date (eligibility refuses the others)
        overdue = (placeholders.OverdueLine(invoice.number, invoice.issue_date, cast(date, invoice.due_date),
                                            invoice.remaining_due, invoice.currency,
                                            invoice.days_late(reminder.reminder_date)), *overdue)
    logo = files.resolve(settings.company_logo) if settings.company_logo else None
    signature = (reminder.user.signature if reminder.user else "") or settings.company_name
    rows = (reminder, *members)
    apart = reminder.indemnity_apart  # an indemnity in another currency is not part of the total
    penalty, interest = sum((r.penalty for r in rows), ZERO), sum((r.interest for r in rows), ZERO)
    indemnity, total = sum((r.indemnity for r in rows), ZERO), sum((r.total_claimed for r in rows), ZERO)
    principal = total - penalty - interest - (ZERO if apart else indemnity)
    numbers = ", ".join(r.invoice.number for r in rows)
    return printing.LetterData(
        language=language, on=reminder.reminder_date, subject=reminder.subject, body_html=body_html,
        recipient=postal_lines(customer, invoice, settings, language),
        company={
            "name": settings.company_name, "address": settings.company_address,
            "postcode": settings.company_postcode, "city": settings.company_city,
            "phone": settings.company_phone, "email": settings.company_email, "legal": settings.company_legal,
            "iban": settings.company_iban, "bic": settings.company_bic, "logo_url": files.logo_data_url(logo),
            "siren": settings.company_siren, "vat": settings.company_vat,
        },
        invoices=[printing.InvoiceLine(line.number, line.issue_date, line.due_date, line.days_late,
                                       line.remaining_due, line.currency) for line in overdue],
        currency=invoice.currency, principal=principal, penalty=penalty, interest=interest,
        indemnity=indemnity, total=total,
        indemnity_currency=reminder.indemnity_currency if apart else invoice.currency,
        payment_url=placeholders.payment_url(settings.payment_url_pattern, invoice.number, customer.code,
                                             invoice.remaining_due) if not members else "",
        payment_reference=numbers,
        signature="" if signature.strip() and signature.strip() in reminder.body else signature,
        formal_notice=bool(reminder.formal_notice), reference=f"{customer.code} / {numbers}",
        page_url=reminder.page_url or "",
        locale=format_locale(language, customer.country),
    )


def _letter_body(session: Session, reminder: Reminder, settings, renderers: dict[date, wording.Renderer] | None,
                 members: Sequence[Reminder] = ()):
    """The body as HTML: rendered again from the template when that gives the same text as was kept (so the
    invoices table is a real table), else the kept text as paragraphs."""
    level = reminder.level_ref
    if level is not None:
        renderers = {} if renderers is None else renderers
        on = reminder.reminder_date
        renderer = renderers.get(on) or renderers.setdefault(on, wording.Renderer(session, on, settings))
        group = [(m.invoice, m.level_ref) for m in members if m.level_ref is not None]
        again = renderer.render(reminder.invoice, level, "letter", user=reminder.user, language=reminder.language,
                                page_url=reminder.page_url or "", group=group)
        if again is not None and again.text == reminder.body:
            return again.html
    return printing.body_from_text(reminder.body)


def postal_lines(customer: Customer, invoice: Invoice, settings, language: str) -> list[str]:
    lines = [customer.name]
    contact = invoice.billing_contact or customer.contact("billing")
    if contact and contact.full_name and customer.kind == "business":
        lines.append(str(_l("Attn: %(name)s", name=contact.full_name)))
    lines += [line.strip() for line in (customer.address or "").splitlines() if line.strip()]
    lines.append(" ".join(p for p in (customer.postcode, customer.city) if p))
    if customer.country and customer.country != settings.company_country:
        lines.append(Locale.parse(language).territories.get(customer.country, customer.country).upper())
    return [line for line in lines if line]


def letter_job(session: Session, reminder: Reminder, settings,
               renderers: dict[date, wording.Renderer] | None = None,
               members: Sequence[Reminder] = ()) -> printing.LetterJob:
    """The job printing a reminder's letter and its invoice; `members`: see `letter_data` (their invoices follow)."""
    with force_locale(reminder.language or "fr"):
        data = letter_data(session, reminder, settings, renderers, members)
    return printing.make_job(reminder.id, data, invoice_pdf_source(reminder.invoice, settings),
                             tuple(invoice_pdf_source(m.invoice, settings) for m in members))


def save_letter(reminder: Reminder, pdf: bytes) -> str:
    """Store the letter under FILES_PATH/letters/<invoice id>/; returns the path relative to FILES_PATH."""
    relative = f"{LETTERS_DIR}/{reminder.invoice_id}/reminder-{reminder.id}-{secrets.token_hex(4)}.pdf"
    return files.write_atomic(relative, pdf)


def letter_pdf(session: Session, reminder: Reminder) -> bytes:
    """The PDF of a letter reminder: the saved copy, else built again from the row."""
    saved = files.resolve(reminder.pdf_path)
    if saved is not None:
        return saved.read_bytes()
    settings = settings_service.load(session)
    lead, *members = message_rows(session, reminder)  # a letter for several invoices: the one they share
    return printing.build_job(letter_job(session, lead, settings, members=members))[1].data
