"""Emails about the customers' answers (services/answers.py): to the person who follows the invoice up when a
customer answers, and to the customer when an agent rejects their dispute (with the agent's reason). Sent by the
worker (`tasks.notify_answer`) through the reminders' mailer; the outcome is kept on the answer (`notified_at`, or
`notify_error`, shown in the answers list): never a silent loss. Commits.
"""

from __future__ import annotations

from decimal import Decimal

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from relance.models import Answer, Invoice
from relance.models.base import utcnow
from relance.services import answers
from relance.services import settings as settings_service
from relance.services.engine import recipients
from relance.services.sending import mailer
from relance.services.sending.config import SendingConfig
from relance.services.texts.formatting import format_day, money_for_reader

EVENTS = ("new", "rejected")


def agent_address(invoice: Invoice, settings) -> tuple[str, str]:
    """(address, language) of whom to tell: the invoice's follow-up user, its creator, else the company's address."""
    for user in (invoice.followup_user, invoice.creator):
        if user is not None and user.active and user.email:
            return user.email, user.language or settings.default_language
    return settings.company_email or settings.sender_email, settings.default_language


def _what(answer: Answer, language: str) -> str:
    currency = answer.invoice.currency
    if answer.kind == "paid":
        return _("Says it paid %(amount)s on %(day)s (reference: %(reference)s).",
                 amount=money_for_reader(answer.amount or Decimal(0), currency),
                 day=format_day(answer.paid_on, language) if answer.paid_on else "-", reference=answer.reference or "-")
    if answer.kind == "promise":
        return _("Promises to pay on %(day)s.", day=format_day(answer.promise_date, language)
                 if answer.promise_date else "-")
    return _("Disputes the invoice: %(reason)s.", reason=answers.REASON_LABELS.get(answer.reason, answer.reason))


def _to_agent(answer: Answer, settings, config: SendingConfig) -> mailer.Outgoing | None:
    invoice = answer.invoice
    to, language = agent_address(invoice, settings)
    if not to:
        return None
    with force_locale(language):
        link = f"{config.public_url}/invoices/{invoice.id}" if config.public_url else ""
        lines = [_("%(customer)s answered about invoice %(number)s (%(remaining)s left to pay):",
                   customer=invoice.customer.name, number=invoice.number,
                   remaining=money_for_reader(invoice.remaining_due, invoice.currency)),
                 "", _what(answer, language)]
        if answer.message:
            lines += ["", _("Their message:"), answer.message]
        if link:
            lines += ["", _("Handle it: %(link)s", link=link)]
        subject = _("%(customer)s answered about invoice %(number)s", customer=invoice.customer.name,
                    number=invoice.number)
    return mailer.Outgoing(ref=answer.id, sender=settings.sender_email or config.mail_from, to=[to],
                           subject=subject, text="\n".join(lines), language=language)


def _to_customer(answer: Answer, settings, config: SendingConfig) -> mailer.Outgoing | None:
    invoice = answer.invoice
    customer = invoice.customer
    who = recipients.for_invoice(invoice, settings)  # where its reminders go
    if not who.to:
        return None
    language = customer.language or settings.default_language
    with force_locale(language):
        subject = _("Your dispute of invoice %(number)s", number=invoice.number)
        text = "\n".join([
            _("Dear Sir or Madam,"), "",
            _("We have looked into your dispute of invoice %(number)s and cannot accept it:", number=invoice.number),
            "", answer.resolution, "",
            _("%(remaining)s remains to be paid.", remaining=money_for_reader(invoice.remaining_due, invoice.currency)),
            "", settings.company_name])
    return mailer.Outgoing(ref=answer.id, sender=who.sender or config.mail_from, to=list(who.to),
                           subject=subject, text=text, language=language)


def notify(session: Session, answer_id: int, event: str, config: SendingConfig) -> str:
    """Send the email of `event` ("new": to the agent, "rejected": a rejected dispute to the customer); returns
    its outcome's status ("" when there is nobody to write to, which is kept as the error). Commits."""
    answer = session.get(Answer, answer_id)
    if answer is None or event not in EVENTS or (event == "rejected" and answer.kind != "dispute"):
        return ""
    settings = settings_service.load(session)
    out = _to_agent(answer, settings, config) if event == "new" else _to_customer(answer, settings, config)
    outcomes: list[mailer.Outcome] = []
    if out is None:
        answer.notify_error = _("No address to write to: nobody was told.")
    else:
        mailer.send_batch(config.smtp, [out], outcomes.append)
        outcome = outcomes[0] if outcomes else None
        if outcome is not None and outcome.status == "sent":
            answer.notified_at, answer.notify_error = utcnow(), ""
        else:
            answer.notify_error = outcome.error if outcome is not None else _("The email was not sent.")
    session.commit()
    return outcomes[0].status if outcomes else ""
