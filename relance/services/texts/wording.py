# ruff: noqa: E501  (the default texts keep one paragraph per line)
"""Default reminder texts (French, English, German, Spanish, Italian and Dutch; every level x channel) and
rendering a text for an invoice.

The defaults are written as a careful credit controller would: courteous before the due date, a friendly first
reminder, a firmer second one, and a formal notice (MISE EN DEMEURE / FORMAL NOTICE) that states the invoices,
the principal, the penalty, the interest with rate and period, the indemnity, a deadline, the means of payment
and the consequence; each language with its country's salutation, closing and legal wording. Every level invites
the customer, in its own tone, to their page (__CUSTOMER_PAGE_URL__: their open invoices, "I have paid", "I will pay
on", "I dispute"), in a paragraph of its own that is left out when there is no link (`placeholders.OPTIONAL`); a
letter's text goes without it (`default_text`: the letter prints the link and its QR code in a box of its own).
`{attached}` below is filled per channel when the rows are created.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache
from typing import cast

from babel.lists import format_list
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from relance.models import CHANNELS, Invoice, ReminderLevel, Template, TemplateVersion, User
from relance.models.base import ZERO, utcnow
from relance.services.engine.penalties import Claim, claim_for_invoice, claims_together, load_rates, notice_dates
from relance.services.engine.readiness import fallback_message
from relance.services.engine.schedule import choose_language
from relance.services.texts import languages, placeholders, together
from relance.services.texts.formatting import babel_locale, format_locale

LANGUAGES = languages.SHIPPED  # the default texts: fr, en, de, es, it, nl

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

Sur votre espace client, vous pouvez à tout moment consulter et télécharger vos factures en cours, nous signaler un règlement déjà effectué, nous indiquer la date à laquelle vous prévoyez de payer ou contester une facture : __CUSTOMER_PAGE_URL__

Cordialement,

__USER_SIGNATURE__""",
        ),
        "en": (
            "Reminder: invoice __REF_FACTURE__ falls due on __DATE_ECHEANCE__",
            """Dear Sir or Madam,

This is a courtesy reminder that invoice __REF_FACTURE__ of __DATE_FACTURE__, with __AMOUNT_DUE__ outstanding, falls due on __DATE_ECHEANCE__.

We would be grateful if you could arrange payment by that date. {attached}

If your payment is already on its way, please disregard this message. Do not hesitate to contact us with any question.

You can view and download your open invoices at any time on your personal page, where you can also tell us about a payment already made, let us know when you plan to pay or dispute an invoice: __CUSTOMER_PAGE_URL__

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

Pour vous simplifier la tâche, votre espace client vous permet de consulter et de télécharger vos factures en cours, de nous indiquer que vous avez réglé, de nous proposer une date de paiement ou de nous faire part d'un désaccord sur une facture : __CUSTOMER_PAGE_URL__

Cordialement,

__USER_SIGNATURE__""",
        ),
        "en": (
            "Payment reminder: invoice __REF_FACTURE__ was due on __DATE_ECHEANCE__",
            """Dear Sir or Madam,

According to our records, we have not yet received payment of invoice __REF_FACTURE__ of __DATE_FACTURE__, which fell due on __DATE_ECHEANCE__ (__DAYS_LATE__ ago). The amount outstanding is __AMOUNT_DUE__.

This may simply be an oversight: we would be grateful if you could settle it at your earliest convenience. {attached}

If you have paid in the meantime, please disregard this message. Should there be any difficulty or query about this invoice, please contact us so that we can find a solution together.

To make things easier, your personal page lets you view and download your open invoices, tell us that you have paid, suggest a payment date or let us know if you disagree with an invoice: __CUSTOMER_PAGE_URL__

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

Depuis votre espace client, vous pouvez également télécharger vos factures en cours, nous confirmer un règlement effectué, vous engager sur une date de paiement ou contester une facture : __CUSTOMER_PAGE_URL__

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

On your personal page you can also download your open invoices, confirm a payment you have made, commit to a payment date or dispute an invoice: __CUSTOMER_PAGE_URL__

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

Vos factures en cours peuvent être consultées et téléchargées sur votre espace client, où vous pouvez également nous informer d'un règlement effectué, vous engager sur une date de paiement ou contester une facture : __CUSTOMER_PAGE_URL__

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

Your open invoices can be viewed and downloaded on your personal page, where you may also inform us of a payment made, commit to a payment date or dispute an invoice: __CUSTOMER_PAGE_URL__

Failing full payment by that date, we will refer the matter to the competent court without further notice, in particular through an order for payment procedure, to recover these sums; the costs of the proceedings will then be borne by you.

Yours faithfully,

__USER_SIGNATURE__""",
        ),
    },
}


# key -> language -> (subject, body): German, Spanish, Italian and Dutch, each as a credit controller of that country
# writes them (the salutation and closing of the country, its legal wording about late-payment interest and the 40 EUR
# compensation of directive 2011/7/EU: § 288 BGB, Ley 3/2004, D.Lgs. 231/2002, art. 6:119a and 6:96 BW)
MORE_DEFAULTS: dict[str, dict[str, tuple[str, str]]] = {
    "before": {
        "de": (
            "Erinnerung: Rechnung __REF_FACTURE__ wird am __DATE_ECHEANCE__ fällig",
            """Sehr geehrte Damen und Herren,

wir möchten Sie freundlich daran erinnern, dass unsere Rechnung __REF_FACTURE__ vom __DATE_FACTURE__ über einen offenen Betrag von __AMOUNT_DUE__ am __DATE_ECHEANCE__ fällig wird.

Wir bitten Sie, die Zahlung zu diesem Termin vorzusehen. {attached}

Sollten Sie die Zahlung bereits veranlasst haben, betrachten Sie diese Nachricht bitte als gegenstandslos. Für Rückfragen stehen wir Ihnen gerne zur Verfügung.

Auf Ihrer persönlichen Seite können Sie Ihre offenen Rechnungen jederzeit einsehen und herunterladen, uns eine bereits geleistete Zahlung mitteilen, uns sagen, wann Sie zahlen werden, oder eine Rechnung beanstanden: __CUSTOMER_PAGE_URL__

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        ),
        "es": (
            "Recordatorio: la factura __REF_FACTURE__ vence el __DATE_ECHEANCE__",
            """Estimados señores:

Nos permitimos recordarles que la factura __REF_FACTURE__ de fecha __DATE_FACTURE__, con un importe pendiente de __AMOUNT_DUE__, vence el __DATE_ECHEANCE__.

Les agradecemos de antemano que prevean su pago en dicha fecha. {attached}

Si el pago ya está en curso, les rogamos que no tengan en cuenta este mensaje. Quedamos a su disposición para cualquier consulta.

En su página personal pueden consultar y descargar en todo momento sus facturas pendientes, así como comunicarnos un pago ya realizado, indicarnos cuándo tienen previsto pagar o impugnar una factura: __CUSTOMER_PAGE_URL__

Atentamente,

__USER_SIGNATURE__""",
        ),
        "it": (
            "Promemoria: la fattura __REF_FACTURE__ scade il __DATE_ECHEANCE__",
            """Gentili Signori,

ci permettiamo di ricordarvi che la fattura n. __REF_FACTURE__ del __DATE_FACTURE__, con un importo residuo di __AMOUNT_DUE__, scade il __DATE_ECHEANCE__.

Vi saremo grati se vorrete provvedere al pagamento entro tale data. {attached}

Qualora il pagamento fosse già stato disposto, vi preghiamo di non tenere conto del presente messaggio. Restiamo a vostra disposizione per qualsiasi chiarimento.

Nella vostra pagina personale potete consultare e scaricare in qualsiasi momento le vostre fatture aperte, segnalarci un pagamento già effettuato, indicarci quando prevedete di pagare o contestare una fattura: __CUSTOMER_PAGE_URL__

Cordiali saluti,

__USER_SIGNATURE__""",
        ),
        "nl": (
            "Herinnering: factuur __REF_FACTURE__ vervalt op __DATE_ECHEANCE__",
            """Geachte heer, mevrouw,

Graag herinneren wij u eraan dat factuur __REF_FACTURE__ van __DATE_FACTURE__, met een openstaand bedrag van __AMOUNT_DUE__, vervalt op __DATE_ECHEANCE__.

Wij verzoeken u vriendelijk de betaling uiterlijk op die datum te voldoen. {attached}

Is uw betaling al onderweg, dan kunt u dit bericht als niet verzonden beschouwen. Voor vragen staan wij graag voor u klaar.

Op uw persoonlijke pagina kunt u uw openstaande facturen op elk moment bekijken en downloaden, ons laten weten dat u al heeft betaald, aangeven wanneer u van plan bent te betalen of een factuur betwisten: __CUSTOMER_PAGE_URL__

Met vriendelijke groet,

__USER_SIGNATURE__""",
        ),
    },
    "first": {
        "de": (
            "Zahlungserinnerung: Rechnung __REF_FACTURE__, fällig am __DATE_ECHEANCE__",
            """Sehr geehrte Damen und Herren,

sicherlich ist es Ihrer Aufmerksamkeit entgangen: Für unsere Rechnung __REF_FACTURE__ vom __DATE_FACTURE__, fällig am __DATE_ECHEANCE__ (Zahlungsverzug: __DAYS_LATE__), konnten wir bis heute keinen Zahlungseingang feststellen. Der offene Betrag beläuft sich auf __AMOUNT_DUE__.

Wir bitten Sie, den Betrag baldmöglichst zu überweisen. {attached}

Sollte sich Ihre Zahlung mit dieser Nachricht überschnitten haben, betrachten Sie sie bitte als gegenstandslos. Gibt es Unklarheiten oder Einwände zu dieser Rechnung, sprechen Sie uns bitte an, damit wir gemeinsam eine Lösung finden.

Auf Ihrer persönlichen Seite können Sie ganz einfach Ihre offenen Rechnungen einsehen und herunterladen, uns Ihre Zahlung melden, einen Zahlungstermin vorschlagen oder uns mitteilen, wenn Sie mit einer Rechnung nicht einverstanden sind: __CUSTOMER_PAGE_URL__

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        ),
        "es": (
            "Recordatorio de pago: factura __REF_FACTURE__ vencida el __DATE_ECHEANCE__",
            """Estimados señores:

Salvo error u omisión por nuestra parte, todavía no hemos recibido el pago de la factura __REF_FACTURE__ de fecha __DATE_FACTURE__, vencida el __DATE_ECHEANCE__ (__DAYS_LATE__ de retraso). El importe pendiente asciende a __AMOUNT_DUE__.

Probablemente se trate de un simple olvido: les rogamos que procedan a su pago a la mayor brevedad posible. {attached}

Si ya han efectuado el pago, les rogamos que no tengan en cuenta este mensaje. Si existe algún problema o desacuerdo con esta factura, no duden en ponerse en contacto con nosotros para buscar juntos una solución.

Para su comodidad, en su página personal pueden consultar y descargar sus facturas pendientes, avisarnos de que ya han pagado, proponernos una fecha de pago o comunicarnos cualquier desacuerdo con una factura: __CUSTOMER_PAGE_URL__

Atentamente,

__USER_SIGNATURE__""",
        ),
        "it": (
            "Sollecito di pagamento: fattura __REF_FACTURE__ scaduta il __DATE_ECHEANCE__",
            """Gentili Signori,

salvo errori od omissioni da parte nostra, non risulta ancora pervenuto il pagamento della fattura n. __REF_FACTURE__ del __DATE_FACTURE__, scaduta il __DATE_ECHEANCE__ (__DAYS_LATE__ di ritardo). L'importo residuo ammonta a __AMOUNT_DUE__.

Si tratta probabilmente di una semplice dimenticanza: vi preghiamo di provvedere al pagamento al più presto. {attached}

Qualora aveste già effettuato il pagamento, vi preghiamo di non tenere conto del presente sollecito. In caso di difficoltà o di contestazioni relative a questa fattura, vi invitiamo a contattarci per trovare insieme una soluzione.

Per vostra comodità, nella vostra pagina personale potete consultare e scaricare le fatture aperte, comunicarci che avete già pagato, proporci una data di pagamento o segnalarci un disaccordo su una fattura: __CUSTOMER_PAGE_URL__

Cordiali saluti,

__USER_SIGNATURE__""",
        ),
        "nl": (
            "Betalingsherinnering: factuur __REF_FACTURE__, vervallen op __DATE_ECHEANCE__",
            """Geachte heer, mevrouw,

Volgens onze administratie hebben wij de betaling van factuur __REF_FACTURE__ van __DATE_FACTURE__, vervallen op __DATE_ECHEANCE__ (__DAYS_LATE__ te laat), nog niet ontvangen. Het openstaande bedrag is __AMOUNT_DUE__.

Waarschijnlijk is dit aan uw aandacht ontsnapt: wij verzoeken u het bedrag zo spoedig mogelijk te betalen. {attached}

Heeft u inmiddels betaald, dan kunt u deze herinnering als niet verzonden beschouwen. Heeft u vragen over deze factuur of bent u het er niet mee eens, neem dan contact met ons op, zodat wij samen een oplossing kunnen vinden.

Op uw persoonlijke pagina kunt u eenvoudig uw openstaande facturen bekijken en downloaden, ons laten weten dat u heeft betaald, een betaaldatum voorstellen of aangeven dat u het niet eens bent met een factuur: __CUSTOMER_PAGE_URL__

Met vriendelijke groet,

__USER_SIGNATURE__""",
        ),
    },
    "second": {
        "de": (
            "Mahnung: Rechnung __REF_FACTURE__ ist weiterhin offen",
            """Sehr geehrte Damen und Herren,

trotz unserer Zahlungserinnerung ist unsere Rechnung __REF_FACTURE__ vom __DATE_FACTURE__, fällig am __DATE_ECHEANCE__, bis heute nicht beglichen (Zahlungsverzug: __DAYS_LATE__). {attached}

Übersicht Ihrer fälligen Rechnungen:

__INVOICES_TABLE__

Wir fordern Sie auf, den offenen Betrag von __AMOUNT_DUE__ spätestens bis zum __DEADLINE__ zu begleichen, vorzugsweise per Überweisung (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) unter Angabe der Rechnungsnummer __REF_FACTURE__.

Wir weisen darauf hin, dass ein Zahlungsverzug Verzugszinsen nach sich zieht (§ 288 BGB; im Geschäftsverkehr neun Prozentpunkte über dem Basiszinssatz) und dass wir im Geschäftsverkehr zusätzlich eine Verzugspauschale von 40 Euro verlangen können (§ 288 Abs. 5 BGB). Geht Ihre Zahlung nicht bis zu diesem Datum ein, erhalten Sie von uns eine letzte Mahnung mit Fristsetzung.

Sollten Sie die Rechnung inzwischen beglichen haben, teilen Sie uns bitte die Referenz Ihrer Zahlung mit.

Auf Ihrer persönlichen Seite können Sie außerdem Ihre offenen Rechnungen herunterladen, uns eine geleistete Zahlung bestätigen, einen verbindlichen Zahlungstermin nennen oder eine Rechnung beanstanden: __CUSTOMER_PAGE_URL__

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        ),
        "es": (
            "Segundo aviso: factura __REF_FACTURE__ pendiente de pago",
            """Estimados señores:

A pesar de nuestro recordatorio anterior, la factura __REF_FACTURE__ de fecha __DATE_FACTURE__, vencida el __DATE_ECHEANCE__, sigue pendiente de pago a día de hoy, con __DAYS_LATE__ de retraso. {attached}

Relación de sus facturas vencidas:

__INVOICES_TABLE__

Les rogamos que abonen el importe pendiente de __AMOUNT_DUE__ a más tardar el __DEADLINE__, preferentemente mediante transferencia bancaria (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) indicando la referencia __REF_FACTURE__.

Les recordamos que, en las operaciones comerciales entre empresas, la Ley 3/2004, de 29 de diciembre, de lucha contra la morosidad, establece que el retraso en el pago devenga automáticamente intereses de demora (artículo 7) y da derecho a una indemnización de 40 euros por costes de cobro (artículo 8). De no recibir el pago en esa fecha, nos veremos obligados a enviarles un requerimiento formal de pago.

Si ya han abonado esta factura, les agradeceríamos que nos comunicaran la referencia de su pago.

Asimismo, desde su página personal pueden descargar sus facturas pendientes, confirmarnos un pago realizado, comprometerse a una fecha de pago o impugnar una factura: __CUSTOMER_PAGE_URL__

Atentamente,

__USER_SIGNATURE__""",
        ),
        "it": (
            "Secondo sollecito: fattura __REF_FACTURE__ ancora insoluta",
            """Gentili Signori,

nonostante il nostro precedente sollecito, la fattura n. __REF_FACTURE__ del __DATE_FACTURE__, scaduta il __DATE_ECHEANCE__, risulta ad oggi ancora insoluta, con __DAYS_LATE__ di ritardo. {attached}

Riepilogo delle vostre fatture scadute:

__INVOICES_TABLE__

Vi chiediamo di saldare l'importo residuo di __AMOUNT_DUE__ entro e non oltre il __DEADLINE__, preferibilmente mediante bonifico bancario (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) indicando il riferimento __REF_FACTURE__.

Vi ricordiamo che, nelle transazioni commerciali, il ritardo nel pagamento fa decorrere automaticamente gli interessi moratori al tasso previsto dal D.Lgs. 9 ottobre 2002, n. 231 (art. 5) e dà diritto all'importo forfettario di 40 euro a titolo di risarcimento dei costi di recupero (art. 6). In mancanza di pagamento entro tale data, saremo costretti a inviarvi una diffida con formale messa in mora.

Qualora aveste nel frattempo saldato la fattura, vi preghiamo di comunicarci gli estremi del pagamento.

Dalla vostra pagina personale potete inoltre scaricare le fatture aperte, confermarci un pagamento effettuato, impegnarvi su una data di pagamento o contestare una fattura: __CUSTOMER_PAGE_URL__

Cordiali saluti,

__USER_SIGNATURE__""",
        ),
        "nl": (
            "Tweede herinnering: factuur __REF_FACTURE__ is nog steeds niet betaald",
            """Geachte heer, mevrouw,

Ondanks onze eerdere herinnering is factuur __REF_FACTURE__ van __DATE_FACTURE__, vervallen op __DATE_ECHEANCE__, tot op heden niet betaald (__DAYS_LATE__ te laat). {attached}

Overzicht van uw vervallen facturen:

__INVOICES_TABLE__

Wij verzoeken u het openstaande bedrag van __AMOUNT_DUE__ uiterlijk op __DEADLINE__ te betalen, bij voorkeur per bankoverschrijving (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) onder vermelding van referentie __REF_FACTURE__.

Wij wijzen u erop dat wij bij handelstransacties bij te late betaling recht hebben op de wettelijke handelsrente (artikel 6:119a BW) en op een vergoeding van ten minste 40 euro voor de invorderingskosten (artikel 6:96 lid 4 BW). Hebben wij uw betaling niet uiterlijk op die datum ontvangen, dan zijn wij genoodzaakt u in gebreke te stellen.

Heeft u deze factuur inmiddels betaald, laat ons dan de referentie van uw betaling weten.

Via uw persoonlijke pagina kunt u ook uw openstaande facturen downloaden, een gedane betaling aan ons bevestigen, een betaaldatum toezeggen of een factuur betwisten: __CUSTOMER_PAGE_URL__

Met vriendelijke groet,

__USER_SIGNATURE__""",
        ),
    },
    "notice": {
        "de": (
            "LETZTE MAHNUNG MIT FRISTSETZUNG: Rechnung __REF_FACTURE__",
            """Sehr geehrte Damen und Herren,

trotz unserer Zahlungserinnerung und Mahnung, die ohne Reaktion geblieben sind, ist unsere Rechnung __REF_FACTURE__ vom __DATE_FACTURE__, fällig am __DATE_ECHEANCE__, bis heute nicht bezahlt (Zahlungsverzug: __DAYS_LATE__). {attached}

Wir fordern Sie hiermit letztmalig auf, den Betrag von __TOTAL_CLAIMED__ spätestens bis zum __DEADLINE__ zu zahlen. Er setzt sich wie folgt zusammen:
__CLAIM_DETAIL__

Übersicht Ihrer fälligen Rechnungen:

__INVOICES_TABLE__

Die Verzugszinsen stehen uns nach § 288 BGB zu (im Geschäftsverkehr neun Prozentpunkte über dem Basiszinssatz, § 288 Abs. 2 BGB), die Verzugspauschale von 40 Euro nach § 288 Abs. 5 BGB, wenn der Schuldner kein Verbraucher ist.

Bitte überweisen Sie den Betrag auf unser Konto IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) unter Angabe der Rechnungsnummer __REF_FACTURE__.

Ihre offenen Rechnungen stehen auf Ihrer persönlichen Seite zur Einsicht und zum Herunterladen bereit; dort können Sie uns auch eine geleistete Zahlung mitteilen, einen verbindlichen Zahlungstermin nennen oder eine Rechnung beanstanden: __CUSTOMER_PAGE_URL__

Geht der Betrag nicht bis zu diesem Datum vollständig bei uns ein, werden wir ohne weitere Ankündigung gerichtliche Schritte einleiten, insbesondere einen Mahnbescheid beantragen. Die dadurch entstehenden Kosten gehen zu Ihren Lasten.

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        ),
        "es": (
            "REQUERIMIENTO FORMAL DE PAGO: factura __REF_FACTURE__",
            """Estimados señores:

A pesar de nuestros recordatorios, que han quedado sin respuesta, la factura __REF_FACTURE__ de fecha __DATE_FACTURE__, vencida el __DATE_ECHEANCE__, sigue impagada a día de hoy (__DAYS_LATE__ de retraso). {attached}

Por medio de la presente les REQUERIMOS FORMALMENTE para que nos abonen, a más tardar el __DEADLINE__, la cantidad de __TOTAL_CLAIMED__, que se desglosa como sigue:
__CLAIM_DETAIL__

Relación de sus facturas vencidas:

__INVOICES_TABLE__

Los intereses de demora y la indemnización por costes de cobro se reclaman conforme a los artículos 7 y 8 de la Ley 3/2004, de 29 de diciembre, por la que se establecen medidas de lucha contra la morosidad en las operaciones comerciales.

El pago puede realizarse mediante transferencia a nuestra cuenta IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) indicando la referencia __REF_FACTURE__.

Sus facturas pendientes pueden consultarse y descargarse en su página personal, desde la que también pueden informarnos de un pago efectuado, comprometerse a una fecha de pago o impugnar una factura: __CUSTOMER_PAGE_URL__

De no recibir el pago íntegro en dicho plazo, iniciaremos sin más aviso las acciones judiciales oportunas para el cobro de estas cantidades, en particular mediante un procedimiento monitorio, siendo de su cuenta los gastos que ello ocasione.

Atentamente,

__USER_SIGNATURE__""",
        ),
        "it": (
            "DIFFIDA E MESSA IN MORA: fattura __REF_FACTURE__",
            """Gentili Signori,

nonostante i nostri solleciti, rimasti senza riscontro, la fattura n. __REF_FACTURE__ del __DATE_FACTURE__, scaduta il __DATE_ECHEANCE__, risulta ad oggi insoluta (__DAYS_LATE__ di ritardo). {attached}

Con la presente vi DIFFIDIAMO E COSTITUIAMO IN MORA, ai sensi dell'art. 1219 del Codice Civile, a pagarci entro e non oltre il __DEADLINE__ la somma di __TOTAL_CLAIMED__, così composta:
__CLAIM_DETAIL__

Riepilogo delle vostre fatture scadute:

__INVOICES_TABLE__

Gli interessi moratori e l'importo forfettario per i costi di recupero sono dovuti ai sensi degli artt. 5 e 6 del D.Lgs. 9 ottobre 2002, n. 231.

Il pagamento può essere effettuato mediante bonifico sul nostro conto IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) indicando il riferimento __REF_FACTURE__.

Le vostre fatture aperte sono consultabili e scaricabili nella vostra pagina personale, dalla quale potete anche comunicarci un pagamento effettuato, impegnarvi su una data di pagamento o contestare una fattura: __CUSTOMER_PAGE_URL__

In mancanza del pagamento integrale entro il termine indicato, agiremo in sede giudiziaria senza ulteriore avviso, in particolare mediante ricorso per decreto ingiuntivo, con ogni spesa a vostro carico.

Distinti saluti,

__USER_SIGNATURE__""",
        ),
        "nl": (
            "INGEBREKESTELLING: factuur __REF_FACTURE__",
            """Geachte heer, mevrouw,

Ondanks onze herinneringen, waarop wij geen reactie hebben ontvangen, is factuur __REF_FACTURE__ van __DATE_FACTURE__, vervallen op __DATE_ECHEANCE__, tot op heden niet betaald (__DAYS_LATE__ te laat). {attached}

Hierbij STELLEN WIJ U IN GEBREKE en sommeren wij u uiterlijk op __DEADLINE__ het bedrag van __TOTAL_CLAIMED__ te betalen, dat als volgt is opgebouwd:
__CLAIM_DETAIL__

Overzicht van uw vervallen facturen:

__INVOICES_TABLE__

De rente is de wettelijke handelsrente (artikel 6:119a BW); de vergoeding voor invorderingskosten is verschuldigd op grond van artikel 6:96 lid 4 BW.

U kunt betalen per overschrijving op onze rekening IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) onder vermelding van referentie __REF_FACTURE__.

Uw openstaande facturen kunt u bekijken en downloaden op uw persoonlijke pagina, waar u ons ook kunt laten weten dat u heeft betaald, een betaaldatum kunt toezeggen of een factuur kunt betwisten: __CUSTOMER_PAGE_URL__

Hebben wij het volledige bedrag niet uiterlijk op die datum ontvangen, dan zullen wij zonder nadere aankondiging gerechtelijke maatregelen nemen om deze bedragen te innen; de kosten daarvan komen voor uw rekening.

Hoogachtend,

__USER_SIGNATURE__""",
        ),
    },
}

MORE_ATTACHED = {
    ("email", "de"): "Die Rechnung finden Sie im Anhang.",
    ("letter", "de"): "Eine Kopie der Rechnung liegt diesem Schreiben bei.",
    ("email", "es"): "Les adjuntamos la factura.",
    ("letter", "es"): "Adjuntamos una copia de la factura.",
    ("email", "it"): "In allegato trovate la fattura.",
    ("letter", "it"): "Alleghiamo copia della fattura.",
    ("email", "nl"): "De factuur vindt u in de bijlage.",
    ("letter", "nl"): "Een kopie van de factuur is bijgevoegd.",
}

for _key, _texts in MORE_DEFAULTS.items():
    DEFAULTS[_key].update(_texts)
ATTACHED.update(MORE_ATTACHED)


def text_key(level: ReminderLevel) -> str:
    """Which default text suits a level: before due date, first, second (and any further) or formal notice."""
    if level.formal_notice:
        return "notice"
    if level.rank <= 0:
        return "before"
    return "first" if level.rank == 1 else "second"


def has_default(language: str) -> bool:
    """Relance ships the default texts of this language (fr, en, de, es, it, nl)."""
    return language in LANGUAGES


def default_text(level: ReminderLevel, channel: str, language: str) -> tuple[str, str]:
    """The default subject and body of a level for a channel in a shipped language (KeyError for another one:
    `has_default` first). A letter's goes without the paragraph about the customer's page: the letter prints the
    link in a box of its own, with its QR code (letters/typeset.py), and one page stays one page."""
    subject, body = DEFAULTS[text_key(level)][language]
    body = body.replace("{attached}", ATTACHED[(channel, language)])
    if channel == "letter":
        body = "".join(blank + paragraph for blank, paragraph in placeholders.paragraphs(body)
                       if "__CUSTOMER_PAGE_URL__" not in placeholders.needs(paragraph))
    return subject, body


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


def find_template(session: Session, level: ReminderLevel, channel: str, wanted: str | None,
                  default: str) -> tuple[Template | None, str | None]:
    """The level's usable text for a channel in the wanted language or the fallback, with the reason."""
    rows = {t.language: t for t in session.scalars(
        select(Template).where(Template.level_id == level.id, Template.channel == channel))
        if t.subject.strip() and t.body.strip()}
    language, reason = choose_language(set(rows), wanted, default)
    if language is None:
        return None, str(_l("Level %(rank)s has no %(channel)s text.", rank=level.rank, channel=channel))
    return rows[language], _fallback(level, channel, wanted, default, language, reason)


def _fallback(level: ReminderLevel, channel: str, wanted: str | None, default: str, used: str,
              reason: str | None) -> str | None:
    """The reason a text is not in its reader's language, with the level and the channel ("No German text for level
    2 by letter: the French text is used."), in the current locale; None when it is."""
    if reason is None:
        return None
    return fallback_message(level.rank, channel, wanted or default, used)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str  # plain text body
    html: Markup  # escaped HTML body
    language: str
    template_version: int
    claim: Claim
    reasons: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()  # `__X__` names of the stored text that no variable has (left as written)


def overdue_lines(session: Session, customer_id: int, on: date) -> tuple[placeholders.OverdueLine, ...]:
    """The customer's open invoices already due on `on`, oldest first (one query)."""
    query = (select(Invoice).where(Invoice.customer_id == customer_id, Invoice.is_open,
                                   Invoice.due_date.is_not(None), Invoice.due_date < on)
             .order_by(Invoice.due_date, Invoice.number))
    return tuple(placeholders.OverdueLine(i.number, i.issue_date, cast(date, i.due_date),  # selected not null
                                          i.remaining_due, i.currency, i.days_late(on)) for i in session.scalars(query))


def context_for(session: Session, invoice: Invoice, level: ReminderLevel, on: date, settings, language: str,
                claim: Claim, user: User | None = None,
                overdue: tuple[placeholders.OverdueLine, ...] | None = None,
                page_url: str = "") -> placeholders.Context:
    """`overdue`: the customer's `overdue_lines` when already read (else read now); `page_url`: the link to the
    customer's page this reminder carries (`answers.Links`)."""
    customer = invoice.customer
    contact = invoice.billing_contact or customer.contact("billing")
    if overdue is None:
        overdue = overdue_lines(session, customer.id, on)
    due_date = cast(date, invoice.due_date)  # a reminded invoice has one (eligibility refuses the others)
    if invoice.number not in {line.number for line in overdue}:
        overdue = (placeholders.OverdueLine(invoice.number, invoice.issue_date, due_date,
                                            invoice.remaining_due, invoice.currency, invoice.days_late(on)),
                   *overdue)
    return placeholders.Context(
        language=language, on=on, invoice_number=invoice.number, invoice_date=invoice.issue_date,
        due_date=due_date, currency=invoice.currency, total_incl_tax=invoice.total_incl_tax, claim=claim,
        level_name=level.name(language), penalty_kind=level.penalty_kind, penalty_value=level.penalty_value,
        customer_name=customer.name, customer_code=customer.code,
        contact_name=contact.name if contact else "", contact_first_name=contact.first_name if contact else "",
        signature=(user.signature if user else "") or "", payment_url=settings.payment_url_pattern,
        deadline=on + timedelta(days=settings.notice_deadline_days),
        company={"name": settings.company_name, "address": settings.company_address,
                 "postcode": settings.company_postcode, "city": settings.company_city, "iban": settings.company_iban,
                 "bic": settings.company_bic},
        overdue=overdue, locale=format_locale(language, customer.country), customer_page_url=page_url,
        promise_date=promised_day(invoice),
    )


def promised_day(invoice: Invoice) -> date | None:
    """The day of the invoice's open promise to pay (the latest made), or None."""
    days = [a.promise_date for a in invoice.answers if a.kind == "promise" and a.status == "open"]
    return days[-1] if days else None


def render_for_invoice(session: Session, invoice: Invoice, level: ReminderLevel, channel: str, on: date,
                       settings, user: User | None = None, language: str | None = None,
                       page_url: str = "") -> Rendered | None:
    """The level's text for this invoice and channel, in the customer's language (or the company's).

    None when the level has no text for that channel at all. `settings` is `services.settings.load(session)`.
    This is the plain one-invoice way (every read and format done for this call, the variables resolved for the
    subject, the body and the HTML each): what `Renderer` gives for many, byte for byte (tests/test_batch_texts.py).
    """
    template, reason = find_template(session, level, channel, language or invoice.customer.language,
                                     settings.default_language)
    if template is None:
        return None
    claim = claim_for_invoice(session, invoice, level, on, settings)
    ctx = context_for(session, invoice, level, on, settings, template.language, claim, user, page_url=page_url)
    reasons = tuple(r for r in (reason, *claim.reasons) if r)
    return Rendered(
        subject=placeholders.render_text(template.subject, ctx).replace("\n", " ").strip(),
        text=placeholders.render_text(template.body, ctx),
        html=placeholders.render_html(template.body, ctx),
        language=template.language, template_version=template.version, claim=claim, reasons=reasons,
        unknown=tuple(placeholders.unknown_variables(f"{template.subject}\n{template.body}")),
    )


@dataclass(frozen=True)
class LevelText:
    """A Template's text as read (kept by a `Renderer` for its run)."""

    subject: str
    body: str
    version: int


class Renderer:
    """The texts of many reminders of one day, each rendered once: the level texts read and compiled once, the
    statutory rates read once, the customers' overdue invoices read once per customer (`prefetch`: one query for
    many) and their tables made once, the variables resolved once per reminder for the subject, the plain body and
    the HTML (Babel's formatters are kept in `formatting`). `render` gives what `render_for_invoice` gives.

    Keep one for a run: what it read stays as read (the texts, rates and invoices a run reads do not change while
    it makes its reminders; a text saved meanwhile is used by the next run)."""

    def __init__(self, session: Session, on: date, settings, links: Callable[[int], str] | None = None) -> None:
        """`links`: customer id -> the link to their page the reminders carry (`answers.Links`; none: no link)."""
        self.session, self.on, self.settings, self.links = session, on, settings, links
        self.rates = load_rates(session, settings.company_country)
        self.tables = placeholders.Tables()
        self._texts: dict[tuple[int, str], dict[str, LevelText]] = {}
        self._overdue: dict[int, tuple[placeholders.OverdueLine, ...]] = {}
        self._notices: dict[int, date] = {}
        self._noticed: set[int] = set()
        self._claims: dict[tuple[int, int], Claim] = {}

    def prefetch(self, invoices: Iterable[Invoice]) -> None:
        """Read at once what rendering these invoices needs: their customers' overdue invoices, their notices."""
        invoices = list(invoices)
        wanted = sorted({i.customer_id for i in invoices} - set(self._overdue))
        found: dict[int, list[placeholders.OverdueLine]] = {c: [] for c in wanted}
        for start in range(0, len(wanted), 500):
            query = (select(Invoice.customer_id, Invoice.number, Invoice.issue_date, Invoice.due_date,
                            Invoice.total_incl_tax, Invoice.amount_paid, Invoice.currency)
                     .where(Invoice.customer_id.in_(wanted[start:start + 500]), Invoice.is_open,
                            Invoice.due_date.is_not(None), Invoice.due_date < self.on)
                     .order_by(Invoice.customer_id, Invoice.due_date, Invoice.number))
            for row in self.session.execute(query):
                remaining = (row.total_incl_tax or ZERO) - (row.amount_paid or ZERO)
                found[row.customer_id].append(placeholders.OverdueLine(
                    row.number, row.issue_date, row.due_date, remaining, row.currency,
                    max(0, (self.on - row.due_date).days)))
        self._overdue.update((customer_id, tuple(lines)) for customer_id, lines in found.items())
        ids = [i.id for i in invoices if i.id not in self._noticed]
        self._notices.update(notice_dates(self.session, ids))
        self._noticed.update(ids)

    def overdue(self, customer_id: int) -> tuple[placeholders.OverdueLine, ...]:
        """`overdue_lines(session, customer_id, on)`, read once per customer (for many: `prefetch`)."""
        if customer_id not in self._overdue:
            self._overdue[customer_id] = overdue_lines(self.session, customer_id, self.on)
        return self._overdue[customer_id]

    def texts(self, level: ReminderLevel, channel: str) -> dict[str, LevelText]:
        """The level's usable texts for a channel by language (what `find_template` chooses from)."""
        key = (level.id, channel)
        if key not in self._texts:
            self._texts[key] = {t.language: LevelText(t.subject, t.body, t.version) for t in self.session.scalars(
                select(Template).where(Template.level_id == level.id, Template.channel == channel))
                if t.subject.strip() and t.body.strip()}
        return self._texts[key]

    def claim(self, invoice: Invoice, level: ReminderLevel) -> Claim:
        """What the invoice's reminder at this level claims on the day (computed once per invoice and level)."""
        key = (invoice.id, level.id)
        found = self._claims.get(key)
        if found is None:
            if invoice.id not in self._noticed:
                self.prefetch([invoice])
            found = claim_for_invoice(self.session, invoice, level, self.on, self.settings, rates=self.rates,
                                      notices=self._notices)
            if invoice.id is not None:  # an invoice not saved yet (a preview) is not kept
                self._claims[key] = found
        return found

    def render(self, invoice: Invoice, level: ReminderLevel, channel: str, user: User | None = None,
               language: str | None = None, page_url: str = "",
               group: Sequence[tuple[Invoice, ReminderLevel]] = ()) -> Rendered | None:
        """`render_for_invoice(session, invoice, level, channel, on, settings, user, language)`, for many; the link
        to the customer's page the reminder carries (`page_url`).

        `group`: the other invoices (with their levels) of one message for several invoices of the customer, whose
        text is this level's: its invoice variables name them all (`__REF_FACTURE__` lists their numbers, the
        dates are the oldest ones, the amounts are added up) and `__INVOICES_TABLE__` lists them, each with its
        level and total claimed; `Rendered.claim` is then what they claim together. The text is the one for several
        invoices when the level's is its default text (`together.text_for`)."""
        settings, on = self.settings, self.on
        rows = self.texts(level, channel)
        wanted = language or invoice.customer.language
        chosen, reason = choose_language(set(rows), wanted, settings.default_language)
        if chosen is None:
            return None
        reason = _fallback(level, channel, wanted, settings.default_language, chosen, reason)
        template = rows[chosen]
        claim = self.claim(invoice, level)
        ctx = context_for(self.session, invoice, level, on, settings, chosen, claim, user,
                          overdue=self.overdue(invoice.customer_id), page_url=page_url)
        subject_text, body_text = template.subject, template.body
        if group:
            ctx = self._together(ctx, [(invoice, level), *group])
            claim = ctx.claim
            default = default_text(level, channel, chosen) if has_default(chosen) else None
            subject_text, body_text = together.text_for(text_key(level), channel, chosen, subject_text, body_text,
                                                           default)
        subject = placeholders.compile_text(subject_text, chosen)
        body = placeholders.compile_text(body_text, chosen)
        text, html = placeholders.resolve(ctx, self.tables, subject.names | body.names)
        return Rendered(
            subject=subject.text(text).replace("\n", " ").strip(), text=body.text(text), html=body.html(html),
            language=chosen, template_version=template.version, claim=claim,
            reasons=tuple(r for r in (reason, *claim.reasons) if r),
            unknown=_unknown(template.subject, template.body),
        )

    def _together(self, ctx: placeholders.Context, items: list[tuple[Invoice, ReminderLevel]]) -> placeholders.Context:
        """The context of one message for several invoices (oldest due first): see `render`."""
        items = sorted(items, key=lambda item: (item[0].due_date, item[0].number))
        claims = [self.claim(invoice, level) for invoice, level in items]
        lines = tuple(placeholders.OverdueLine(
            invoice.number, invoice.issue_date, cast(date, invoice.due_date), claim.remaining_due, invoice.currency,
            claim.days_late, level.name(ctx.language), claim.total_claimed)
            for (invoice, level), claim in zip(items, claims, strict=True))
        numbers = [invoice.number for invoice, _ in items]
        return replace(
            ctx, invoice_number=format_list(numbers, locale=babel_locale(ctx.language)),
            invoice_date=min(invoice.issue_date for invoice, _ in items), due_date=lines[0].due_date,
            total_incl_tax=sum((invoice.total_incl_tax for invoice, _ in items), ZERO),
            claim=claims_together(claims), overdue=lines, promise_date=None)


@lru_cache(maxsize=512)
def _unknown(subject: str, body: str) -> tuple[str, ...]:
    return tuple(placeholders.unknown_variables(f"{subject}\n{body}"))
