"""What customers answer from their page, and the links to it (relance/models/answer.py).

A customer gives, per open invoice: "I have paid" (held `paid_claim_days` for the bank; the payment is proposed to an
agent, never recorded by itself), "I will pay on" a date (held through the date and `promise_grace_days`), "I dispute
this invoice" (held until an agent resolves it). The engine reads the holds (`engine.holds`). An agent then accepts
or rejects a paid claim (accepting records the payment), marks a promise kept or broken, resolves or rejects a
dispute. Each step is audited; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from relance.models import (
    DISPUTE_REASONS,
    Answer,
    Customer,
    CustomerLink,
    Invoice,
    Payment,
    Reminder,
    ReminderLevel,
    User,
)
from relance.models.user import hash_token
from relance.services import audit, payments
from relance.services.engine.levels import policy_of
from relance.services.engine.penalties import Claim, claim_for_invoice, load_rates, notice_dates
from relance.services.errors import RelanceError

REASON_LABELS = {
    "not_received": _l("I did not receive the goods or the service"),
    "wrong_amount": _l("The amount is wrong"),
    "already_paid": _l("I already paid it"),
    "goods_or_service": _l("A problem with the goods or the service"),
    "other": _l("Another reason"),
}
STATUS_LABELS = {"open": _l("to handle"), "accepted": _l("payment recorded"), "rejected": _l("rejected"),
                 "kept": _l("kept"), "broken": _l("broken"), "resolved": _l("resolved"), "replaced": _l("replaced")}
MESSAGE_MAX = 2000
PRINTED = ("to_post", "posted")  # a letter the customer may have received (to download again from their page)
PROMISE_MAX_DAYS = 366  # a promise further than a year away is not a promise


class AnswerError(RelanceError):
    def __init__(self, field: str | None, message):
        super().__init__(message, field=field)


# --- links --------------------------------------------------------------------------------------------------------

def issue_link(session: Session, customer_id: int, now: datetime, settings) -> str:
    """A new link to the customer's page (valid `customer_link_days`); returns the clear token, kept nowhere."""
    link, clear = CustomerLink.issue(customer_id, now, settings.customer_link_days)
    session.add(link)
    return clear


class Links:
    """The links of the reminders made together (a run, a form): one new link per customer, made on first use.
    Without a public address (PUBLIC_URL: how customers reach Relance) no link is made and the text shows none."""

    def __init__(self, session: Session, now: datetime, settings, base_url: str) -> None:
        self.session, self.now, self.settings = session, now, settings
        self.base_url = (base_url or "").rstrip("/")
        self._made: dict[int, str] = {}

    def __call__(self, customer_id: int) -> str:
        if not self.base_url:
            return ""
        if customer_id not in self._made:
            self._made[customer_id] = page_url(self.base_url, issue_link(self.session, customer_id, self.now,
                                                                          self.settings))
        return self._made[customer_id]


def page_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/c/{token}"


def preview_url(base_url: str) -> str:
    """What a preview shows for the link (no link is made for a preview)."""
    return page_url(base_url, "…") if base_url else ""


def find_link(session: Session, token: str, now: datetime) -> CustomerLink | None:
    """The valid link of this token (not expired, not revoked), or None; the lookup is by the token's hash, so its
    time does not depend on how much of a guess is right."""
    if not token or len(token) > 100:
        return None
    link = session.scalar(select(CustomerLink).where(CustomerLink.token_hash == hash_token(token)))
    if link is None or link.revoked_at is not None or link.expires_at <= now:
        return None
    link.last_used_at = now
    return link


def revoke_links(session: Session, customer_id: int, now: datetime, user: User | None) -> int:
    """End every link of the customer (their next reminder carries a new one); returns how many were valid."""
    result = session.execute(update(CustomerLink).where(CustomerLink.customer_id == customer_id,
                                                        CustomerLink.revoked_at.is_(None),
                                                        CustomerLink.expires_at > now).values(revoked_at=now))
    count = getattr(result, "rowcount", 0) or 0
    audit.record(session, user, "revoke_links", "customer", customer_id, after={"links": count})
    return count


# --- what the customer answers --------------------------------------------------------------------------------------

def _open_invoice(invoice: Invoice, customer_id: int) -> None:
    if invoice.customer_id != customer_id or not invoice.is_open:
        raise AnswerError(None, _l("This invoice is not open: nothing to answer."))


def _message(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MESSAGE_MAX:
        raise AnswerError("message", _l("The message is too long (%(max)s characters at most).", max=MESSAGE_MAX))
    return text


def _replace_open(session: Session, invoice: Invoice, kind: str) -> None:
    """A new answer of a kind replaces the invoice's open one of that kind (the latest word counts)."""
    session.execute(update(Answer).where(Answer.invoice_id == invoice.id, Answer.kind == kind,
                                         Answer.status == "open").values(status="replaced"))


def _given(session: Session, invoice: Invoice, kind: str, now: datetime, user: User | None = None,
           **values) -> Answer:
    _replace_open(session, invoice, kind)
    answer = Answer(invoice_id=invoice.id, customer_id=invoice.customer_id, kind=kind, status="open",
                    created_at=now, **values)
    session.add(answer)
    session.flush()
    session.expire(invoice, ["answers"])
    audit.record(session, user, f"answer_{kind}", "invoice", invoice.id,
                 after={k: v for k, v in values.items() if k != "message"})
    return answer


def claim_paid(session: Session, invoice: Invoice, customer_id: int, *, paid_on: date | None, amount,
               reference: str, message: str, now: datetime, settings) -> Answer:
    """"I have paid": held `paid_claim_days` from today; the payment waits for an agent."""
    _open_invoice(invoice, customer_id)
    on = now.date()
    if paid_on is None:
        raise AnswerError("paid_on", _l("Give the date of the payment."))
    if paid_on > on or paid_on < invoice.issue_date - timedelta(days=31):
        raise AnswerError("paid_on", _l("The payment date must be between the invoice date and today."))
    try:
        value = payments.parse_amount(amount)
    except payments.PaymentError as exc:
        raise AnswerError("amount", exc.message) from None
    if value <= 0 or value > invoice.total_incl_tax:
        raise AnswerError("amount", _l("The amount must be more than zero and at most the invoice's total."))
    reference = (reference or "").strip()
    if len(reference) > 120:
        raise AnswerError("reference", _l("The reference is too long (120 characters at most)."))
    return _given(session, invoice, "paid", now, paid_on=paid_on, amount=value, reference=reference,
                  message=_message(message), hold_until=on + timedelta(days=settings.paid_claim_days))


def promise(session: Session, invoice: Invoice, customer_id: int, *, promise_date: date | None, message: str,
            now: datetime, settings, user: User | None = None) -> Answer:
    """"I will pay on": held through the date and `promise_grace_days`. `user`: the agent who took it on the phone
    (None: the customer on their page)."""
    _open_invoice(invoice, customer_id)
    on = now.date()
    if promise_date is None:
        raise AnswerError("promise_date", _l("Give the date you will pay."))
    if promise_date < on or promise_date > on + timedelta(days=PROMISE_MAX_DAYS):
        raise AnswerError("promise_date", _l("The date must be between today and a year from now."))
    return _given(session, invoice, "promise", now, user, promise_date=promise_date, message=_message(message),
                  hold_until=promise_date + timedelta(days=settings.promise_grace_days))


def dispute(session: Session, invoice: Invoice, customer_id: int, *, reason: str, message: str, now: datetime,
            file_path: str | None = None, user: User | None = None) -> Answer:
    """"I dispute this invoice": held until an agent resolves it. `user`: the agent who took it on the phone (None:
    the customer on their page)."""
    _open_invoice(invoice, customer_id)
    if reason not in DISPUTE_REASONS:
        raise AnswerError("reason", _l("Choose a reason."))
    text = _message(message)
    if reason == "other" and not text:
        raise AnswerError("message", _l("Tell us what is wrong with this invoice."))
    return _given(session, invoice, "dispute", now, user, reason=reason, message=text, file_path=file_path)


# --- what an agent does with it ---------------------------------------------------------------------------------

def _close(session: Session, answer: Answer, status: str, user: User | None, now: datetime, **values) -> None:
    """`user`: the agent who handled it (None: Relance itself, e.g. the bank statement's payment)."""
    if answer.status != "open":
        raise AnswerError(None, _l("This answer was already handled."))
    before = {"status": answer.status}
    answer.status, answer.handled_by_id, answer.handled_at = status, user.id if user else None, now
    for key, value in values.items():
        setattr(answer, key, value)
    session.flush()
    session.expire(answer.invoice, ["answers"])
    audit.record(session, user, f"answer_{status}", "invoice", answer.invoice_id, before=before,
                 after={"status": status, "answer": answer.id, **values})


def accept_payment(session: Session, answer: Answer, user: User, now: datetime, amount: Decimal | str | None = None,
                   paid_on: date | None = None) -> Payment:
    """The payment the customer told of is in: recorded (the amount and date given, or the agent's)."""
    if answer.kind != "paid":
        raise AnswerError(None, _l("Only a paid claim can be accepted."))
    payment = payments.record_payment(session, answer.invoice, answer.amount if amount is None else amount,
                                      paid_on or answer.paid_on, answer.reference)
    _close(session, answer, "accepted", user, now)
    return payment


def paid_by_bank(session: Session, paid: dict[int, Decimal], user: User | None, now: datetime) -> int:
    """Payments came in from the bank (invoice id -> amount, already recorded): the open "I have paid" claims they
    answer (the invoice now settled, or at least the amount the customer told of) are accepted. Returns how many.
    The caller commits."""
    ids = sorted(paid)
    claims = [a for start in range(0, len(ids), 500) for a in session.scalars(select(Answer).where(
        Answer.invoice_id.in_(ids[start:start + 500]), Answer.kind == "paid", Answer.status == "open"))]
    closed = 0
    for answer in claims:
        told = answer.amount
        if answer.invoice.remaining_due <= 0 or (told is not None and paid[answer.invoice_id] >= told):
            _close(session, answer, "accepted", user, now)
            closed += 1
    return closed


def reject(session: Session, answer: Answer, user: User, now: datetime, reason: str) -> None:
    """A paid claim not found at the bank, or a dispute refused: the chase resumes; the reason is kept (and sent to
    the customer for a dispute)."""
    if answer.kind == "promise":
        raise AnswerError(None, _l("A promise is kept or broken, not rejected."))
    reason = (reason or "").strip()
    if not reason:
        raise AnswerError("resolution", _l("Say why."))
    _close(session, answer, "rejected", user, now, resolution=_message(reason))


def settle_promise(session: Session, answer: Answer, user: User, now: datetime, kept: bool) -> None:
    if answer.kind != "promise":
        raise AnswerError(None, _l("Only a promise is kept or broken."))
    _close(session, answer, "kept" if kept else "broken", user, now)


def resolve_dispute(session: Session, answer: Answer, user: User, now: datetime, credit_note: str, note: str) -> None:
    """The dispute is settled (a credit note names what was corrected): the invoice is chased no more for it."""
    if answer.kind != "dispute":
        raise AnswerError(None, _l("Only a dispute is resolved."))
    credit_note = (credit_note or "").strip()
    if len(credit_note) > 64:
        raise AnswerError("credit_note", _l("The credit note number is too long (64 characters at most)."))
    _close(session, answer, "resolved", user, now, credit_note=credit_note, resolution=_message(note))


def broken(answer: Answer, on: date) -> bool:
    """An open promise whose day and grace have passed (the invoice unpaid): shown as broken."""
    return (answer.kind == "promise" and answer.status == "open" and answer.hold_until is not None
            and answer.hold_until < on and answer.invoice.is_open)


# --- what the customer's page shows ---------------------------------------------------------------------------------

@dataclass
class PageInvoice:
    """One open invoice on the customer's page: what is claimed today (None before its due date) and the answers
    still open on it."""

    invoice: Invoice
    claim: Claim | None
    open_answers: list[Answer]
    letter_id: int | None = None  # the latest letter printed for it (to download again)


def page_invoices(session: Session, customer_id: int, on: date, settings) -> list[PageInvoice]:
    """The customer's open invoices, oldest due first, each with its claim at the level its reminders reached (the
    one claim computation: remaining, interest, indemnity, the level's penalty)."""
    invoices = list(session.scalars(
        select(Invoice).where(Invoice.customer_id == customer_id, Invoice.is_open)
        .order_by(Invoice.due_date, Invoice.number)
        .options(selectinload(Invoice.payments), selectinload(Invoice.answers), joinedload(Invoice.customer))))
    customer = session.get(Customer, customer_id)
    levels = {level.rank: level for level in session.scalars(select(ReminderLevel).where(
        ReminderLevel.policy_id == policy_of(session, customer)))}
    rates = load_rates(session, settings.company_country)
    notices = notice_dates(session, [i.id for i in invoices])
    no_level = ReminderLevel(penalty_kind="none", penalty_value=Decimal("0"), formal_notice=False)  # never saved
    letters = latest_letters(session, [i.id for i in invoices])
    rows = []
    for invoice in invoices:
        claim = None
        if invoice.due_date is not None and invoice.due_date < on:
            level = levels.get(invoice.reminder_level) if invoice.reminder_level is not None else None
            claim = claim_for_invoice(session, invoice, level or no_level, on, settings, rates=rates,
                                      notices=notices)
        rows.append(PageInvoice(invoice, claim, [a for a in invoice.answers if a.status == "open"],
                                letters.get(invoice.id)))
    return rows


def latest_letters(session: Session, invoice_ids: list[int]) -> dict[int, int]:
    """{invoice id: id of its latest letter printed (to post or posted)}."""
    if not invoice_ids:
        return {}
    rows = session.execute(select(Reminder.invoice_id, func.max(Reminder.id))
                           .where(Reminder.invoice_id.in_(invoice_ids), Reminder.channel == "letter",
                                  Reminder.status.in_(PRINTED)).group_by(Reminder.invoice_id))
    return {invoice_id: reminder_id for invoice_id, reminder_id in rows}
