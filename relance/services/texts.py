# ruff: noqa: E501  (the default texts keep one paragraph per line)
"""Default reminder texts (French and English, every level x channel) and rendering a text for an invoice.

The defaults are written as a careful credit controller would: courteous before the due date, a friendly first
reminder, a firmer second one, and a formal notice (MISE EN DEMEURE / FORMAL NOTICE) that states the invoices,
the principal, the penalty, the interest with rate and period, the indemnity, a deadline, the means of payment
and the consequence. `{attached}` below is filled per channel when the rows are created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from relance.models import CHANNELS, Invoice, ReminderLevel, Template, TemplateVersion, User
from relance.models.base import utcnow
from relance.services import placeholders
from relance.services.formatting import format_locale
from relance.services.penalties import Claim, claim_for_invoice

LANGUAGES = ("fr", "en")

ATTACHED = {
    ("email", "fr"): "Vous trouverez la facture en pièce jointe.",
    ("letter", "fr"): "Vous trouverez ci-joint une copie de la facture.",
    ("email", "en"): "Please find the invoice attached.",
    ("letter", "en"): "A copy of the invoice is enclosed.",
}

# key -> language -> (subject, body); key is "before", "first", "second" or "notice"
DEFAULTS: dict[str, dict[str, tuple[str, str]]] = {
    "before": {
        "fr": (
            "Rappel : la facture __REF_FACTURE__ arrive à échéance le __DATE_ECHEANCE__",
            """Madame, Monsieur,

Nous nous permettons de vous rappeler que la facture __REF_FACTURE__ du __DATE_FACTURE__, d'un montant restant dû de __AMOUNT_DUE__, arrive à échéance le __DATE_ECHEANCE__.

Nous vous remercions par avance de bien vouloir prévoir son règlement à cette date. {attached}

Si votre règlement est déjà en cours, nous vous prions de ne pas tenir compte de ce message. Nous restons à votre disposition pour toute question.

Cordialement,

__USER_SIGNATURE__""",
        ),
        "en": (
            "Reminder: invoice __REF_FACTURE__ falls due on __DATE_ECHEANCE__",
            """Dear Sir or Madam,

This is a courtesy reminder that invoice __REF_FACTURE__ of __DATE_FACTURE__, with __AMOUNT_DUE__ outstanding, falls due on __DATE_ECHEANCE__.

We would be grateful if you could arrange payment by that date. {attached}

If your payment is already on its way, please disregard this message. Do not hesitate to contact us with any question.

Kind regards,

__USER_SIGNATURE__""",
        ),
    },
    "first": {
        "fr": (
            "Relance : facture __REF_FACTURE__ échue le __DATE_ECHEANCE__",
            """Madame, Monsieur,

Sauf erreur ou omission de notre part, nous n'avons pas encore reçu le règlement de la facture __REF_FACTURE__ du __DATE_FACTURE__, échue depuis le __DATE_ECHEANCE__ (__DAYS_LATE__ de retard). Le montant restant dû s'élève à __AMOUNT_DUE__.

Il s'agit sans doute d'un simple oubli : nous vous remercions de bien vouloir procéder à ce règlement dans les meilleurs délais. {attached}

Si votre paiement a été effectué entre-temps, nous vous prions de ne pas tenir compte de ce message. En cas de difficulté ou de désaccord sur cette facture, contactez-nous : nous chercherons ensemble une solution.

Cordialement,

__USER_SIGNATURE__""",
        ),
        "en": (
            "Payment reminder: invoice __REF_FACTURE__ was due on __DATE_ECHEANCE__",
            """Dear Sir or Madam,

According to our records, we have not yet received payment of invoice __REF_FACTURE__ of __DATE_FACTURE__, which fell due on __DATE_ECHEANCE__ (__DAYS_LATE__ ago). The amount outstanding is __AMOUNT_DUE__.

This may simply be an oversight: we would be grateful if you could settle it at your earliest convenience. {attached}

If you have paid in the meantime, please disregard this message. Should there be any difficulty or query about this invoice, please contact us so that we can find a solution together.

Kind regards,

__USER_SIGNATURE__""",
        ),
    },
    "second": {
        "fr": (
            "Deuxième relance : facture __REF_FACTURE__ impayée",
            """Madame, Monsieur,

Malgré notre précédente relance, la facture __REF_FACTURE__ du __DATE_FACTURE__, échue le __DATE_ECHEANCE__, reste impayée à ce jour, soit __DAYS_LATE__ de retard. {attached}

Relevé de vos factures échues :

__INVOICES_TABLE__

Nous vous demandons de régler le montant restant dû de __AMOUNT_DUE__ au plus tard le __DEADLINE__, de préférence par virement (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) en rappelant la référence __REF_FACTURE__.

Nous vous rappelons que tout retard de paiement peut entraîner l'application des pénalités de retard prévues par nos conditions générales de vente et, entre professionnels, de l'indemnité forfaitaire pour frais de recouvrement (article L441-10 du Code de commerce). Sans règlement à cette date, nous serons contraints de vous adresser une mise en demeure.

Si vous avez réglé cette facture entre-temps, merci de nous communiquer la référence de votre paiement.

Cordialement,

__USER_SIGNATURE__""",
        ),
        "en": (
            "Second reminder: invoice __REF_FACTURE__ is still unpaid",
            """Dear Sir or Madam,

Despite our previous reminder, invoice __REF_FACTURE__ of __DATE_FACTURE__, which fell due on __DATE_ECHEANCE__, remains unpaid today, __DAYS_LATE__ late. {attached}

Statement of your overdue invoices:

__INVOICES_TABLE__

We ask you to pay the outstanding amount of __AMOUNT_DUE__ no later than __DEADLINE__, preferably by bank transfer (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) quoting reference __REF_FACTURE__.

Please note that late payment may give rise to the late-payment interest set out in our terms and conditions and, between businesses, to the fixed compensation for recovery costs provided by law. Without payment by that date, we will have no choice but to send you a formal notice.

If you have paid this invoice in the meantime, please let us know the reference of your payment.

Kind regards,

__USER_SIGNATURE__""",
        ),
    },
    "notice": {
        "fr": (
            "MISE EN DEMEURE DE PAYER : facture __REF_FACTURE__",
            """Madame, Monsieur,

Malgré nos relances restées sans effet, la facture __REF_FACTURE__ du __DATE_FACTURE__, échue le __DATE_ECHEANCE__, demeure impayée à ce jour (__DAYS_LATE__ de retard). {attached}

Par la présente, nous vous METTONS EN DEMEURE de nous régler, au plus tard le __DEADLINE__, la somme de __TOTAL_CLAIMED__, qui se décompose ainsi :
__CLAIM_DETAIL__

Relevé de vos factures échues :

__INVOICES_TABLE__

Le règlement peut être effectué par virement sur notre compte IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) en rappelant la référence __REF_FACTURE__, ou par chèque (bénéficiaire : __COMPANY_NAME__).

À défaut de paiement intégral dans ce délai, nous saisirons sans autre avis la juridiction compétente, notamment par voie d'injonction de payer, afin d'obtenir le recouvrement de ces sommes ; les frais de procédure seront alors à votre charge.

Nous vous prions d'agréer, Madame, Monsieur, l'expression de nos salutations distinguées.

__USER_SIGNATURE__""",
        ),
        "en": (
            "FORMAL NOTICE TO PAY: invoice __REF_FACTURE__",
            """Dear Sir or Madam,

Despite our reminders, which have remained unanswered, invoice __REF_FACTURE__ of __DATE_FACTURE__, which fell due on __DATE_ECHEANCE__, remains unpaid today (__DAYS_LATE__ late). {attached}

This letter is a FORMAL NOTICE requiring you to pay, no later than __DEADLINE__, the sum of __TOTAL_CLAIMED__, made up as follows:
__CLAIM_DETAIL__

Statement of your overdue invoices:

__INVOICES_TABLE__

Payment can be made by bank transfer to IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) quoting reference __REF_FACTURE__, or by cheque (payee: __COMPANY_NAME__).

Failing full payment by that date, we will refer the matter to the competent court without further notice, in particular through an order for payment procedure, to recover these sums; the costs of the proceedings will then be borne by you.

Yours faithfully,

__USER_SIGNATURE__""",
        ),
    },
}


def text_key(level: ReminderLevel) -> str:
    """Which default text suits a level: before due date, first, second (and any further) or formal notice."""
    if level.formal_notice:
        return "notice"
    if level.rank <= 0:
        return "before"
    return "first" if level.rank == 1 else "second"


def default_text(level: ReminderLevel, channel: str, language: str) -> tuple[str, str]:
    subject, body = DEFAULTS[text_key(level)][language]
    return subject, body.replace("{attached}", ATTACHED[(channel, language)])


def install_default_texts(session: Session) -> int:
    """Create the missing Template rows (every level x channel x language) from the defaults; returns how many."""
    existing = {tuple(row) for row in session.execute(select(Template.level_id, Template.channel, Template.language))}
    created = 0
    for level in session.scalars(select(ReminderLevel).order_by(ReminderLevel.rank)):
        for channel in CHANNELS:
            for language in LANGUAGES:
                if (level.id, channel, language) in existing:
                    continue
                subject, body = default_text(level, channel, language)
                session.add(Template(level_id=level.id, channel=channel, language=language, subject=subject,
                                     body=body, version=1))
                created += 1
    session.flush()
    return created


def save_template(session: Session, level: ReminderLevel, channel: str, language: str, subject: str, body: str,
                  user: User | None = None) -> Template:
    """Validate (TemplateError: empty text, unknown variable) then store a new version; nothing saved on error."""
    placeholders.validate_template(subject, body)
    if channel not in CHANNELS:
        raise placeholders.TemplateError({"channel": str(_l("Unknown channel %(channel)s.", channel=channel))})
    template = session.scalar(select(Template).where(Template.level_id == level.id, Template.channel == channel,
                                                     Template.language == language))
    if template is None:
        template = Template(level_id=level.id, channel=channel, language=language, version=0)
        session.add(template)
    elif template.subject == subject and template.body == body:
        return template
    template.subject, template.body = subject, body
    template.version = (template.version or 0) + 1
    template.updated_at, template.updated_by_id = utcnow(), user.id if user else None
    template.versions.append(TemplateVersion(version=template.version, subject=subject, body=body,
                                             user_id=user.id if user else None))
    session.flush()
    return template


def choose_language(available: set[str], wanted: str | None, default: str) -> tuple[str | None, str | None]:
    """(language to use, reason when it is not the wanted one); (None, reason) when no text exists at all."""
    if wanted and wanted in available:
        return wanted, None
    if default in available:
        return default, str(_l("No text in %(wanted)s: the company language (%(used)s) is used.",
                               wanted=wanted or "?", used=default))
    if available:
        used = sorted(available)[0]
        return used, str(_l("No text in %(wanted)s nor %(default)s: %(used)s is used.",
                            wanted=wanted or "?", default=default, used=used))
    return None, None


def find_template(session: Session, level: ReminderLevel, channel: str, wanted: str | None,
                  default: str) -> tuple[Template | None, str | None]:
    """The level's usable text for a channel in the wanted language or the fallback, with the reason."""
    rows = {t.language: t for t in session.scalars(
        select(Template).where(Template.level_id == level.id, Template.channel == channel))
        if t.subject.strip() and t.body.strip()}
    language, reason = choose_language(set(rows), wanted, default)
    if language is None:
        return None, str(_l("Level %(rank)s has no %(channel)s text.", rank=level.rank, channel=channel))
    return rows[language], reason


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str  # plain text body
    html: Markup  # escaped HTML body
    language: str
    template_version: int
    claim: Claim
    reasons: tuple[str, ...] = ()


def overdue_lines(session: Session, customer_id: int, on: date) -> tuple[placeholders.OverdueLine, ...]:
    """The customer's open invoices already due on `on`, oldest first (one query)."""
    query = (select(Invoice).where(Invoice.customer_id == customer_id, Invoice.is_open,
                                   Invoice.due_date.is_not(None), Invoice.due_date < on)
             .order_by(Invoice.due_date, Invoice.number))
    return tuple(placeholders.OverdueLine(i.number, i.issue_date, i.due_date, i.remaining_due, i.currency,
                                          i.days_late(on)) for i in session.scalars(query))


def context_for(session: Session, invoice: Invoice, level: ReminderLevel, on: date, settings, language: str,
                claim: Claim, user: User | None = None) -> placeholders.Context:
    customer = invoice.customer
    contact = invoice.billing_contact or customer.contact("billing")
    overdue = overdue_lines(session, customer.id, on)
    if invoice.number not in {line.number for line in overdue}:
        overdue = (placeholders.OverdueLine(invoice.number, invoice.issue_date, invoice.due_date,
                                            invoice.remaining_due, invoice.currency, invoice.days_late(on)),
                   *overdue)
    return placeholders.Context(
        language=language, on=on, invoice_number=invoice.number, invoice_date=invoice.issue_date,
        due_date=invoice.due_date, currency=invoice.currency, total_incl_tax=invoice.total_incl_tax, claim=claim,
        level_name=level.name(language), penalty_kind=level.penalty_kind, penalty_value=level.penalty_value,
        customer_name=customer.name, customer_code=customer.code,
        contact_name=contact.name if contact else "", contact_first_name=contact.first_name if contact else "",
        signature=(user.signature if user else "") or "", payment_url=settings.payment_url_pattern,
        deadline=on + timedelta(days=settings.notice_deadline_days),
        company={key: settings[f"company_{key}"] for key in ("name", "address", "postcode", "city", "iban", "bic")},
        overdue=overdue, locale=format_locale(language, customer.country),
    )


def render_for_invoice(session: Session, invoice: Invoice, level: ReminderLevel, channel: str, on: date,
                       settings, user: User | None = None, language: str | None = None) -> Rendered | None:
    """The level's text for this invoice and channel, in the customer's language (or the company's).

    None when the level has no text for that channel at all. `settings` is `services.settings.load(session)`.
    """
    template, reason = find_template(session, level, channel, language or invoice.customer.language,
                                     settings.default_language)
    if template is None:
        return None
    claim = claim_for_invoice(session, invoice, level, on, settings)
    ctx = context_for(session, invoice, level, on, settings, template.language, claim, user)
    reasons = tuple(r for r in (reason, *claim.reasons) if r)
    return Rendered(
        subject=placeholders.render_text(template.subject, ctx).replace("\n", " ").strip(),
        text=placeholders.render_text(template.body, ctx),
        html=placeholders.render_html(template.body, ctx),
        language=template.language, template_version=template.version, claim=claim, reasons=reasons,
    )
