# ruff: noqa: E501  (the texts keep one paragraph per line)
"""The text of one email or letter for several invoices of a customer (`sending/messages.py`).

A level whose text is still its default text gets the default text written for several invoices (below: the table
of the invoices, each with its level and amounts, and the amounts added up); a text a manager wrote is used as
written, its variables naming the invoices together (`wording.Renderer.render(group=...)`), with the table of the
invoices after its first paragraph naming an invoice when it has none."""

from __future__ import annotations

from relance.services.texts import placeholders

ATTACHED = {
    ("email", "fr"): "Vous trouverez les factures en pièces jointes.",
    ("letter", "fr"): "Vous trouverez ci-joint une copie des factures.",
    ("email", "en"): "Please find the invoices attached.",
    ("letter", "en"): "Copies of the invoices are enclosed.",
}

# key (wording.text_key) -> language -> (subject, body) of one email or letter for several invoices; `{attached}`
# is filled per channel, `{page}` with the paragraph about the customer's page of the level's default text (an
# email's; none in a letter, which prints the link in a box of its own)
TOGETHER: dict[str, dict[str, tuple[str, str]]] = {
    "before": {
        "fr": (
            "Rappel : vos factures arrivent à échéance",
            """Madame, Monsieur,

Nous nous permettons de vous rappeler que les factures suivantes arrivent à échéance :

__INVOICES_TABLE__

Le montant restant dû s'élève au total à __AMOUNT_DUE__. Nous vous remercions par avance de bien vouloir prévoir leur règlement à ces dates. {attached}

Si votre règlement est déjà en cours, nous vous prions de ne pas tenir compte de ce message. Nous restons à votre disposition pour toute question.

{page}

Cordialement,

__USER_SIGNATURE__""",
        ),
        "en": (
            "Reminder: your invoices falling due",
            """Dear Sir or Madam,

This is a courtesy reminder that the following invoices fall due soon:

__INVOICES_TABLE__

The total outstanding is __AMOUNT_DUE__. We would be grateful if you could arrange payment by those dates. {attached}

If your payment is already on its way, please disregard this message. Do not hesitate to contact us with any question.

{page}

Kind regards,

__USER_SIGNATURE__""",
        ),
    },
    "first": {
        "fr": (
            "Relance : vos factures échues",
            """Madame, Monsieur,

Sauf erreur ou omission de notre part, nous n'avons pas encore reçu le règlement des factures suivantes, échues à ce jour :

__INVOICES_TABLE__

Le montant restant dû s'élève au total à __AMOUNT_DUE__. Il s'agit sans doute d'un simple oubli : nous vous remercions de bien vouloir procéder à ce règlement dans les meilleurs délais. {attached}

Si votre paiement a été effectué entre-temps, nous vous prions de ne pas tenir compte de ce message. En cas de difficulté ou de désaccord sur l'une de ces factures, contactez-nous : nous chercherons ensemble une solution.

{page}

Cordialement,

__USER_SIGNATURE__""",
        ),
        "en": (
            "Payment reminder: your overdue invoices",
            """Dear Sir or Madam,

According to our records, we have not yet received payment of the following invoices, which are now overdue:

__INVOICES_TABLE__

The total outstanding is __AMOUNT_DUE__. This may simply be an oversight: we would be grateful if you could settle it at your earliest convenience. {attached}

If you have paid in the meantime, please disregard this message. Should there be any difficulty or query about one of these invoices, please contact us so that we can find a solution together.

{page}

Kind regards,

__USER_SIGNATURE__""",
        ),
    },
    "second": {
        "fr": (
            "Deuxième relance : vos factures impayées",
            """Madame, Monsieur,

Malgré nos précédentes relances, les factures suivantes restent impayées à ce jour :

__INVOICES_TABLE__

Nous vous demandons de régler le montant restant dû de __AMOUNT_DUE__ au plus tard le __DEADLINE__, de préférence par virement (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) en rappelant les numéros des factures. {attached}

Nous vous rappelons que tout retard de paiement peut entraîner l'application des pénalités de retard prévues par nos conditions générales de vente et, entre professionnels, de l'indemnité forfaitaire pour frais de recouvrement (article L441-10 du Code de commerce). Sans règlement à cette date, nous serons contraints de vous adresser une mise en demeure.

Si vous avez réglé ces factures entre-temps, merci de nous communiquer la référence de votre paiement.

{page}

Cordialement,

__USER_SIGNATURE__""",
        ),
        "en": (
            "Second reminder: your invoices are still unpaid",
            """Dear Sir or Madam,

Despite our previous reminders, the following invoices remain unpaid today:

__INVOICES_TABLE__

We ask you to pay the outstanding amount of __AMOUNT_DUE__ no later than __DEADLINE__, preferably by bank transfer (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) quoting the invoice numbers. {attached}

Please note that late payment may give rise to the late-payment interest set out in our terms and conditions and, between businesses, to the fixed compensation for recovery costs provided by law. Without payment by that date, we will have no choice but to send you a formal notice.

If you have paid these invoices in the meantime, please let us know the reference of your payment.

{page}

Kind regards,

__USER_SIGNATURE__""",
        ),
    },
    "notice": {
        "fr": (
            "MISE EN DEMEURE DE PAYER : vos factures impayées",
            """Madame, Monsieur,

Malgré nos relances restées sans effet, les factures suivantes demeurent impayées à ce jour :

__INVOICES_TABLE__

Par la présente, nous vous METTONS EN DEMEURE de nous régler, au plus tard le __DEADLINE__, la somme de __TOTAL_CLAIMED__, qui se décompose ainsi :
__CLAIM_DETAIL__

Le règlement peut être effectué par virement sur notre compte IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) en rappelant les numéros des factures, ou par chèque (bénéficiaire : __COMPANY_NAME__). {attached}

{page}

À défaut de paiement intégral dans ce délai, nous saisirons sans autre avis la juridiction compétente, notamment par voie d'injonction de payer, afin d'obtenir le recouvrement de ces sommes ; les frais de procédure seront alors à votre charge.

Nous vous prions d'agréer, Madame, Monsieur, l'expression de nos salutations distinguées.

__USER_SIGNATURE__""",
        ),
        "en": (
            "FORMAL NOTICE TO PAY: your unpaid invoices",
            """Dear Sir or Madam,

Despite our reminders, which have remained unanswered, the following invoices remain unpaid today:

__INVOICES_TABLE__

This letter is a FORMAL NOTICE requiring you to pay, no later than __DEADLINE__, the sum of __TOTAL_CLAIMED__, made up as follows:
__CLAIM_DETAIL__

Payment can be made by bank transfer to IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) quoting the invoice numbers, or by cheque (payee: __COMPANY_NAME__). {attached}

{page}

Failing full payment by that date, we will refer the matter to the competent court without further notice, in particular through an order for payment procedure, to recover these sums; the costs of the proceedings will then be borne by you.

Yours faithfully,

__USER_SIGNATURE__""",
        ),
    },
}


def text_for(key: str, channel: str, language: str, subject: str, body: str,
             default: tuple[str, str] | None) -> tuple[str, str]:
    """The subject and body of one email or letter for several invoices, from the level's text (`subject`, `body`) in
    `language`: the text for several invoices when that text is the level's `default` one and there is one for the
    language, else the text itself with the invoices table after the first paragraph naming an invoice (or the first
    paragraph) when it has none."""
    together = TOGETHER.get(key, {}).get(language)
    if together is not None and default is not None and (subject, body) == default:
        page = next((p for p in default[1].split("\n\n") if "__CUSTOMER_PAGE_URL__" in p), None)
        text = together[1].replace("{attached}", ATTACHED[(channel, language)])
        return together[0], text.replace("\n\n{page}", f"\n\n{page}" if page else "")
    if placeholders.TABLE in body:
        return subject, body
    paragraphs = body.strip().split("\n\n")
    naming = next((n for n, p in enumerate(paragraphs) if "__REF_FACTURE__" in p), 0)
    return subject, "\n\n".join([*paragraphs[:naming + 1], placeholders.TABLE, *paragraphs[naming + 1:]])
