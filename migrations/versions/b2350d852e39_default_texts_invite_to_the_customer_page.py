# ruff: noqa: E501  (the default texts keep one paragraph per line)
"""default texts invite the customer to their page (issue 20: customers can answer)

Every default email text gets one paragraph, in the tone of its level, that invites the customer to their page
(__CUSTOMER_PAGE_URL__: their open invoices to view and download, "I have paid", "I will pay on", "I dispute"); the
application leaves that paragraph out when a reminder has no link (no public address). The letters' texts stay as
they are: a letter prints the link in a box of its own, with its QR code.

Only a text whose body is still exactly a default body as 38a89e63422d (French, English) and 5e1d7a2c9b40 (German,
Spanish, Italian, Dutch) wrote it is changed: a text a manager edited is the company's and stays as it is. A changed
text gets a new version (its `version` + 1 and a `template_versions` row with the new text, no user), as a save in
the texts editor makes one. The downgrade takes the paragraph out again of the texts still exactly as this revision
wrote them (a new version too): the code before it would print the paragraph with an empty link.

The data is frozen here, as it was on the day of this revision (the bodies as those revisions wrote them, the
paragraphs as relance/services/texts/wording.py has them): later changes to the code's defaults do not change what
this revision writes. Nothing is imported from the application.

Revision ID: b2350d852e39
Revises: 7c2e9a4b1f60
Create Date: 2026-12-09 09:00:00.000000

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b2350d852e39'
down_revision = '7c2e9a4b1f60'
branch_labels = None
depends_on = None


# The email's sentence about the invoice, per (channel, language): it replaces {attached} in the bodies.
ATTACHED = {
    ('email', 'fr'): 'Vous trouverez la facture en pièce jointe.',
    ('email', 'en'): 'Please find the invoice attached.',
    ('email', 'de'): 'Die Rechnung finden Sie im Anhang.',
    ('email', 'es'): 'Les adjuntamos la factura.',
    ('email', 'it'): 'In allegato trovate la fattura.',
    ('email', 'nl'): 'De factuur vindt u in de bijlage.',
}

# text key -> language -> the default body as 38a89e63422d (fr, en) and 5e1d7a2c9b40 (de, es, it, nl) wrote it
BODIES = {
    'before': {
        'fr': """Madame, Monsieur,

Nous nous permettons de vous rappeler que la facture __REF_FACTURE__ du __DATE_FACTURE__, d'un montant restant dû de __AMOUNT_DUE__, arrive à échéance le __DATE_ECHEANCE__.

Nous vous remercions par avance de bien vouloir prévoir son règlement à cette date. {attached}

Si votre règlement est déjà en cours, nous vous prions de ne pas tenir compte de ce message. Nous restons à votre disposition pour toute question.

Cordialement,

__USER_SIGNATURE__""",
        'en': """Dear Sir or Madam,

This is a courtesy reminder that invoice __REF_FACTURE__ of __DATE_FACTURE__, with __AMOUNT_DUE__ outstanding, falls due on __DATE_ECHEANCE__.

We would be grateful if you could arrange payment by that date. {attached}

If your payment is already on its way, please disregard this message. Do not hesitate to contact us with any question.

Kind regards,

__USER_SIGNATURE__""",
        'de': """Sehr geehrte Damen und Herren,

wir möchten Sie freundlich daran erinnern, dass unsere Rechnung __REF_FACTURE__ vom __DATE_FACTURE__ über einen offenen Betrag von __AMOUNT_DUE__ am __DATE_ECHEANCE__ fällig wird.

Wir bitten Sie, die Zahlung zu diesem Termin vorzusehen. {attached}

Sollten Sie die Zahlung bereits veranlasst haben, betrachten Sie diese Nachricht bitte als gegenstandslos. Für Rückfragen stehen wir Ihnen gerne zur Verfügung.

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        'es': """Estimados señores:

Nos permitimos recordarles que la factura __REF_FACTURE__ de fecha __DATE_FACTURE__, con un importe pendiente de __AMOUNT_DUE__, vence el __DATE_ECHEANCE__.

Les agradecemos de antemano que prevean su pago en dicha fecha. {attached}

Si el pago ya está en curso, les rogamos que no tengan en cuenta este mensaje. Quedamos a su disposición para cualquier consulta.

Atentamente,

__USER_SIGNATURE__""",
        'it': """Gentili Signori,

ci permettiamo di ricordarvi che la fattura n. __REF_FACTURE__ del __DATE_FACTURE__, con un importo residuo di __AMOUNT_DUE__, scade il __DATE_ECHEANCE__.

Vi saremo grati se vorrete provvedere al pagamento entro tale data. {attached}

Qualora il pagamento fosse già stato disposto, vi preghiamo di non tenere conto del presente messaggio. Restiamo a vostra disposizione per qualsiasi chiarimento.

Cordiali saluti,

__USER_SIGNATURE__""",
        'nl': """Geachte heer, mevrouw,

Graag herinneren wij u eraan dat factuur __REF_FACTURE__ van __DATE_FACTURE__, met een openstaand bedrag van __AMOUNT_DUE__, vervalt op __DATE_ECHEANCE__.

Wij verzoeken u vriendelijk de betaling uiterlijk op die datum te voldoen. {attached}

Is uw betaling al onderweg, dan kunt u dit bericht als niet verzonden beschouwen. Voor vragen staan wij graag voor u klaar.

Met vriendelijke groet,

__USER_SIGNATURE__""",
    },
    'first': {
        'fr': """Madame, Monsieur,

Sauf erreur ou omission de notre part, nous n'avons pas encore reçu le règlement de la facture __REF_FACTURE__ du __DATE_FACTURE__, échue depuis le __DATE_ECHEANCE__ (__DAYS_LATE__ de retard). Le montant restant dû s'élève à __AMOUNT_DUE__.

Il s'agit sans doute d'un simple oubli : nous vous remercions de bien vouloir procéder à ce règlement dans les meilleurs délais. {attached}

Si votre paiement a été effectué entre-temps, nous vous prions de ne pas tenir compte de ce message. En cas de difficulté ou de désaccord sur cette facture, contactez-nous : nous chercherons ensemble une solution.

Cordialement,

__USER_SIGNATURE__""",
        'en': """Dear Sir or Madam,

According to our records, we have not yet received payment of invoice __REF_FACTURE__ of __DATE_FACTURE__, which fell due on __DATE_ECHEANCE__ (__DAYS_LATE__ ago). The amount outstanding is __AMOUNT_DUE__.

This may simply be an oversight: we would be grateful if you could settle it at your earliest convenience. {attached}

If you have paid in the meantime, please disregard this message. Should there be any difficulty or query about this invoice, please contact us so that we can find a solution together.

Kind regards,

__USER_SIGNATURE__""",
        'de': """Sehr geehrte Damen und Herren,

sicherlich ist es Ihrer Aufmerksamkeit entgangen: Für unsere Rechnung __REF_FACTURE__ vom __DATE_FACTURE__, fällig am __DATE_ECHEANCE__ (Zahlungsverzug: __DAYS_LATE__), konnten wir bis heute keinen Zahlungseingang feststellen. Der offene Betrag beläuft sich auf __AMOUNT_DUE__.

Wir bitten Sie, den Betrag baldmöglichst zu überweisen. {attached}

Sollte sich Ihre Zahlung mit dieser Nachricht überschnitten haben, betrachten Sie sie bitte als gegenstandslos. Gibt es Unklarheiten oder Einwände zu dieser Rechnung, sprechen Sie uns bitte an, damit wir gemeinsam eine Lösung finden.

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        'es': """Estimados señores:

Salvo error u omisión por nuestra parte, todavía no hemos recibido el pago de la factura __REF_FACTURE__ de fecha __DATE_FACTURE__, vencida el __DATE_ECHEANCE__ (__DAYS_LATE__ de retraso). El importe pendiente asciende a __AMOUNT_DUE__.

Probablemente se trate de un simple olvido: les rogamos que procedan a su pago a la mayor brevedad posible. {attached}

Si ya han efectuado el pago, les rogamos que no tengan en cuenta este mensaje. Si existe algún problema o desacuerdo con esta factura, no duden en ponerse en contacto con nosotros para buscar juntos una solución.

Atentamente,

__USER_SIGNATURE__""",
        'it': """Gentili Signori,

salvo errori od omissioni da parte nostra, non risulta ancora pervenuto il pagamento della fattura n. __REF_FACTURE__ del __DATE_FACTURE__, scaduta il __DATE_ECHEANCE__ (__DAYS_LATE__ di ritardo). L'importo residuo ammonta a __AMOUNT_DUE__.

Si tratta probabilmente di una semplice dimenticanza: vi preghiamo di provvedere al pagamento al più presto. {attached}

Qualora aveste già effettuato il pagamento, vi preghiamo di non tenere conto del presente sollecito. In caso di difficoltà o di contestazioni relative a questa fattura, vi invitiamo a contattarci per trovare insieme una soluzione.

Cordiali saluti,

__USER_SIGNATURE__""",
        'nl': """Geachte heer, mevrouw,

Volgens onze administratie hebben wij de betaling van factuur __REF_FACTURE__ van __DATE_FACTURE__, vervallen op __DATE_ECHEANCE__ (__DAYS_LATE__ te laat), nog niet ontvangen. Het openstaande bedrag is __AMOUNT_DUE__.

Waarschijnlijk is dit aan uw aandacht ontsnapt: wij verzoeken u het bedrag zo spoedig mogelijk te betalen. {attached}

Heeft u inmiddels betaald, dan kunt u deze herinnering als niet verzonden beschouwen. Heeft u vragen over deze factuur of bent u het er niet mee eens, neem dan contact met ons op, zodat wij samen een oplossing kunnen vinden.

Met vriendelijke groet,

__USER_SIGNATURE__""",
    },
    'second': {
        'fr': """Madame, Monsieur,

Malgré notre précédente relance, la facture __REF_FACTURE__ du __DATE_FACTURE__, échue le __DATE_ECHEANCE__, reste impayée à ce jour, soit __DAYS_LATE__ de retard. {attached}

Relevé de vos factures échues :

__INVOICES_TABLE__

Nous vous demandons de régler le montant restant dû de __AMOUNT_DUE__ au plus tard le __DEADLINE__, de préférence par virement (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) en rappelant la référence __REF_FACTURE__.

Nous vous rappelons que tout retard de paiement peut entraîner l'application des pénalités de retard prévues par nos conditions générales de vente et, entre professionnels, de l'indemnité forfaitaire pour frais de recouvrement (article L441-10 du Code de commerce). Sans règlement à cette date, nous serons contraints de vous adresser une mise en demeure.

Si vous avez réglé cette facture entre-temps, merci de nous communiquer la référence de votre paiement.

Cordialement,

__USER_SIGNATURE__""",
        'en': """Dear Sir or Madam,

Despite our previous reminder, invoice __REF_FACTURE__ of __DATE_FACTURE__, which fell due on __DATE_ECHEANCE__, remains unpaid today, __DAYS_LATE__ late. {attached}

Statement of your overdue invoices:

__INVOICES_TABLE__

We ask you to pay the outstanding amount of __AMOUNT_DUE__ no later than __DEADLINE__, preferably by bank transfer (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) quoting reference __REF_FACTURE__.

Please note that late payment may give rise to the late-payment interest set out in our terms and conditions and, between businesses, to the fixed compensation for recovery costs provided by law. Without payment by that date, we will have no choice but to send you a formal notice.

If you have paid this invoice in the meantime, please let us know the reference of your payment.

Kind regards,

__USER_SIGNATURE__""",
        'de': """Sehr geehrte Damen und Herren,

trotz unserer Zahlungserinnerung ist unsere Rechnung __REF_FACTURE__ vom __DATE_FACTURE__, fällig am __DATE_ECHEANCE__, bis heute nicht beglichen (Zahlungsverzug: __DAYS_LATE__). {attached}

Übersicht Ihrer fälligen Rechnungen:

__INVOICES_TABLE__

Wir fordern Sie auf, den offenen Betrag von __AMOUNT_DUE__ spätestens bis zum __DEADLINE__ zu begleichen, vorzugsweise per Überweisung (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) unter Angabe der Rechnungsnummer __REF_FACTURE__.

Wir weisen darauf hin, dass ein Zahlungsverzug Verzugszinsen nach sich zieht (§ 288 BGB; im Geschäftsverkehr neun Prozentpunkte über dem Basiszinssatz) und dass wir im Geschäftsverkehr zusätzlich eine Verzugspauschale von 40 Euro verlangen können (§ 288 Abs. 5 BGB). Geht Ihre Zahlung nicht bis zu diesem Datum ein, erhalten Sie von uns eine letzte Mahnung mit Fristsetzung.

Sollten Sie die Rechnung inzwischen beglichen haben, teilen Sie uns bitte die Referenz Ihrer Zahlung mit.

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        'es': """Estimados señores:

A pesar de nuestro recordatorio anterior, la factura __REF_FACTURE__ de fecha __DATE_FACTURE__, vencida el __DATE_ECHEANCE__, sigue pendiente de pago a día de hoy, con __DAYS_LATE__ de retraso. {attached}

Relación de sus facturas vencidas:

__INVOICES_TABLE__

Les rogamos que abonen el importe pendiente de __AMOUNT_DUE__ a más tardar el __DEADLINE__, preferentemente mediante transferencia bancaria (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) indicando la referencia __REF_FACTURE__.

Les recordamos que, en las operaciones comerciales entre empresas, la Ley 3/2004, de 29 de diciembre, de lucha contra la morosidad, establece que el retraso en el pago devenga automáticamente intereses de demora (artículo 7) y da derecho a una indemnización de 40 euros por costes de cobro (artículo 8). De no recibir el pago en esa fecha, nos veremos obligados a enviarles un requerimiento formal de pago.

Si ya han abonado esta factura, les agradeceríamos que nos comunicaran la referencia de su pago.

Atentamente,

__USER_SIGNATURE__""",
        'it': """Gentili Signori,

nonostante il nostro precedente sollecito, la fattura n. __REF_FACTURE__ del __DATE_FACTURE__, scaduta il __DATE_ECHEANCE__, risulta ad oggi ancora insoluta, con __DAYS_LATE__ di ritardo. {attached}

Riepilogo delle vostre fatture scadute:

__INVOICES_TABLE__

Vi chiediamo di saldare l'importo residuo di __AMOUNT_DUE__ entro e non oltre il __DEADLINE__, preferibilmente mediante bonifico bancario (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) indicando il riferimento __REF_FACTURE__.

Vi ricordiamo che, nelle transazioni commerciali, il ritardo nel pagamento fa decorrere automaticamente gli interessi moratori al tasso previsto dal D.Lgs. 9 ottobre 2002, n. 231 (art. 5) e dà diritto all'importo forfettario di 40 euro a titolo di risarcimento dei costi di recupero (art. 6). In mancanza di pagamento entro tale data, saremo costretti a inviarvi una diffida con formale messa in mora.

Qualora aveste nel frattempo saldato la fattura, vi preghiamo di comunicarci gli estremi del pagamento.

Cordiali saluti,

__USER_SIGNATURE__""",
        'nl': """Geachte heer, mevrouw,

Ondanks onze eerdere herinnering is factuur __REF_FACTURE__ van __DATE_FACTURE__, vervallen op __DATE_ECHEANCE__, tot op heden niet betaald (__DAYS_LATE__ te laat). {attached}

Overzicht van uw vervallen facturen:

__INVOICES_TABLE__

Wij verzoeken u het openstaande bedrag van __AMOUNT_DUE__ uiterlijk op __DEADLINE__ te betalen, bij voorkeur per bankoverschrijving (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) onder vermelding van referentie __REF_FACTURE__.

Wij wijzen u erop dat wij bij handelstransacties bij te late betaling recht hebben op de wettelijke handelsrente (artikel 6:119a BW) en op een vergoeding van ten minste 40 euro voor de invorderingskosten (artikel 6:96 lid 4 BW). Hebben wij uw betaling niet uiterlijk op die datum ontvangen, dan zijn wij genoodzaakt u in gebreke te stellen.

Heeft u deze factuur inmiddels betaald, laat ons dan de referentie van uw betaling weten.

Met vriendelijke groet,

__USER_SIGNATURE__""",
    },
    'notice': {
        'fr': """Madame, Monsieur,

Malgré nos relances restées sans effet, la facture __REF_FACTURE__ du __DATE_FACTURE__, échue le __DATE_ECHEANCE__, demeure impayée à ce jour (__DAYS_LATE__ de retard). {attached}

Par la présente, nous vous METTONS EN DEMEURE de nous régler, au plus tard le __DEADLINE__, la somme de __TOTAL_CLAIMED__, qui se décompose ainsi :
__CLAIM_DETAIL__

Relevé de vos factures échues :

__INVOICES_TABLE__

Le règlement peut être effectué par virement sur notre compte IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) en rappelant la référence __REF_FACTURE__, ou par chèque (bénéficiaire : __COMPANY_NAME__).

À défaut de paiement intégral dans ce délai, nous saisirons sans autre avis la juridiction compétente, notamment par voie d'injonction de payer, afin d'obtenir le recouvrement de ces sommes ; les frais de procédure seront alors à votre charge.

Nous vous prions d'agréer, Madame, Monsieur, l'expression de nos salutations distinguées.

__USER_SIGNATURE__""",
        'en': """Dear Sir or Madam,

Despite our reminders, which have remained unanswered, invoice __REF_FACTURE__ of __DATE_FACTURE__, which fell due on __DATE_ECHEANCE__, remains unpaid today (__DAYS_LATE__ late). {attached}

This letter is a FORMAL NOTICE requiring you to pay, no later than __DEADLINE__, the sum of __TOTAL_CLAIMED__, made up as follows:
__CLAIM_DETAIL__

Statement of your overdue invoices:

__INVOICES_TABLE__

Payment can be made by bank transfer to IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) quoting reference __REF_FACTURE__, or by cheque (payee: __COMPANY_NAME__).

Failing full payment by that date, we will refer the matter to the competent court without further notice, in particular through an order for payment procedure, to recover these sums; the costs of the proceedings will then be borne by you.

Yours faithfully,

__USER_SIGNATURE__""",
        'de': """Sehr geehrte Damen und Herren,

trotz unserer Zahlungserinnerung und Mahnung, die ohne Reaktion geblieben sind, ist unsere Rechnung __REF_FACTURE__ vom __DATE_FACTURE__, fällig am __DATE_ECHEANCE__, bis heute nicht bezahlt (Zahlungsverzug: __DAYS_LATE__). {attached}

Wir fordern Sie hiermit letztmalig auf, den Betrag von __TOTAL_CLAIMED__ spätestens bis zum __DEADLINE__ zu zahlen. Er setzt sich wie folgt zusammen:
__CLAIM_DETAIL__

Übersicht Ihrer fälligen Rechnungen:

__INVOICES_TABLE__

Die Verzugszinsen stehen uns nach § 288 BGB zu (im Geschäftsverkehr neun Prozentpunkte über dem Basiszinssatz, § 288 Abs. 2 BGB), die Verzugspauschale von 40 Euro nach § 288 Abs. 5 BGB, wenn der Schuldner kein Verbraucher ist.

Bitte überweisen Sie den Betrag auf unser Konto IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) unter Angabe der Rechnungsnummer __REF_FACTURE__.

Geht der Betrag nicht bis zu diesem Datum vollständig bei uns ein, werden wir ohne weitere Ankündigung gerichtliche Schritte einleiten, insbesondere einen Mahnbescheid beantragen. Die dadurch entstehenden Kosten gehen zu Ihren Lasten.

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        'es': """Estimados señores:

A pesar de nuestros recordatorios, que han quedado sin respuesta, la factura __REF_FACTURE__ de fecha __DATE_FACTURE__, vencida el __DATE_ECHEANCE__, sigue impagada a día de hoy (__DAYS_LATE__ de retraso). {attached}

Por medio de la presente les REQUERIMOS FORMALMENTE para que nos abonen, a más tardar el __DEADLINE__, la cantidad de __TOTAL_CLAIMED__, que se desglosa como sigue:
__CLAIM_DETAIL__

Relación de sus facturas vencidas:

__INVOICES_TABLE__

Los intereses de demora y la indemnización por costes de cobro se reclaman conforme a los artículos 7 y 8 de la Ley 3/2004, de 29 de diciembre, por la que se establecen medidas de lucha contra la morosidad en las operaciones comerciales.

El pago puede realizarse mediante transferencia a nuestra cuenta IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) indicando la referencia __REF_FACTURE__.

De no recibir el pago íntegro en dicho plazo, iniciaremos sin más aviso las acciones judiciales oportunas para el cobro de estas cantidades, en particular mediante un procedimiento monitorio, siendo de su cuenta los gastos que ello ocasione.

Atentamente,

__USER_SIGNATURE__""",
        'it': """Gentili Signori,

nonostante i nostri solleciti, rimasti senza riscontro, la fattura n. __REF_FACTURE__ del __DATE_FACTURE__, scaduta il __DATE_ECHEANCE__, risulta ad oggi insoluta (__DAYS_LATE__ di ritardo). {attached}

Con la presente vi DIFFIDIAMO E COSTITUIAMO IN MORA, ai sensi dell'art. 1219 del Codice Civile, a pagarci entro e non oltre il __DEADLINE__ la somma di __TOTAL_CLAIMED__, così composta:
__CLAIM_DETAIL__

Riepilogo delle vostre fatture scadute:

__INVOICES_TABLE__

Gli interessi moratori e l'importo forfettario per i costi di recupero sono dovuti ai sensi degli artt. 5 e 6 del D.Lgs. 9 ottobre 2002, n. 231.

Il pagamento può essere effettuato mediante bonifico sul nostro conto IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) indicando il riferimento __REF_FACTURE__.

In mancanza del pagamento integrale entro il termine indicato, agiremo in sede giudiziaria senza ulteriore avviso, in particolare mediante ricorso per decreto ingiuntivo, con ogni spesa a vostro carico.

Distinti saluti,

__USER_SIGNATURE__""",
        'nl': """Geachte heer, mevrouw,

Ondanks onze herinneringen, waarop wij geen reactie hebben ontvangen, is factuur __REF_FACTURE__ van __DATE_FACTURE__, vervallen op __DATE_ECHEANCE__, tot op heden niet betaald (__DAYS_LATE__ te laat). {attached}

Hierbij STELLEN WIJ U IN GEBREKE en sommeren wij u uiterlijk op __DEADLINE__ het bedrag van __TOTAL_CLAIMED__ te betalen, dat als volgt is opgebouwd:
__CLAIM_DETAIL__

Overzicht van uw vervallen facturen:

__INVOICES_TABLE__

De rente is de wettelijke handelsrente (artikel 6:119a BW); de vergoeding voor invorderingskosten is verschuldigd op grond van artikel 6:96 lid 4 BW.

U kunt betalen per overschrijving op onze rekening IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) onder vermelding van referentie __REF_FACTURE__.

Hebben wij het volledige bedrag niet uiterlijk op die datum ontvangen, dan zullen wij zonder nadere aankondiging gerechtelijke maatregelen nemen om deze bedragen te innen; de kosten daarvan komen voor uw rekening.

Hoogachtend,

__USER_SIGNATURE__""",
    },
}

# text key -> language -> the paragraph about the customer's page
PAGE = {
    'before': {
        'fr': 'Sur votre espace client, vous pouvez à tout moment consulter et télécharger vos factures en cours, nous signaler un règlement déjà effectué, nous indiquer la date à laquelle vous prévoyez de payer ou contester une facture : __CUSTOMER_PAGE_URL__',
        'en': 'You can view and download your open invoices at any time on your personal page, where you can also tell us about a payment already made, let us know when you plan to pay or dispute an invoice: __CUSTOMER_PAGE_URL__',
        'de': 'Auf Ihrer persönlichen Seite können Sie Ihre offenen Rechnungen jederzeit einsehen und herunterladen, uns eine bereits geleistete Zahlung mitteilen, uns sagen, wann Sie zahlen werden, oder eine Rechnung beanstanden: __CUSTOMER_PAGE_URL__',
        'es': 'En su página personal pueden consultar y descargar en todo momento sus facturas pendientes, así como comunicarnos un pago ya realizado, indicarnos cuándo tienen previsto pagar o impugnar una factura: __CUSTOMER_PAGE_URL__',
        'it': 'Nella vostra pagina personale potete consultare e scaricare in qualsiasi momento le vostre fatture aperte, segnalarci un pagamento già effettuato, indicarci quando prevedete di pagare o contestare una fattura: __CUSTOMER_PAGE_URL__',
        'nl': 'Op uw persoonlijke pagina kunt u uw openstaande facturen op elk moment bekijken en downloaden, ons laten weten dat u al heeft betaald, aangeven wanneer u van plan bent te betalen of een factuur betwisten: __CUSTOMER_PAGE_URL__',
    },
    'first': {
        'fr': "Pour vous simplifier la tâche, votre espace client vous permet de consulter et de télécharger vos factures en cours, de nous indiquer que vous avez réglé, de nous proposer une date de paiement ou de nous faire part d'un désaccord sur une facture : __CUSTOMER_PAGE_URL__",
        'en': 'To make things easier, your personal page lets you view and download your open invoices, tell us that you have paid, suggest a payment date or let us know if you disagree with an invoice: __CUSTOMER_PAGE_URL__',
        'de': 'Auf Ihrer persönlichen Seite können Sie ganz einfach Ihre offenen Rechnungen einsehen und herunterladen, uns Ihre Zahlung melden, einen Zahlungstermin vorschlagen oder uns mitteilen, wenn Sie mit einer Rechnung nicht einverstanden sind: __CUSTOMER_PAGE_URL__',
        'es': 'Para su comodidad, en su página personal pueden consultar y descargar sus facturas pendientes, avisarnos de que ya han pagado, proponernos una fecha de pago o comunicarnos cualquier desacuerdo con una factura: __CUSTOMER_PAGE_URL__',
        'it': 'Per vostra comodità, nella vostra pagina personale potete consultare e scaricare le fatture aperte, comunicarci che avete già pagato, proporci una data di pagamento o segnalarci un disaccordo su una fattura: __CUSTOMER_PAGE_URL__',
        'nl': 'Op uw persoonlijke pagina kunt u eenvoudig uw openstaande facturen bekijken en downloaden, ons laten weten dat u heeft betaald, een betaaldatum voorstellen of aangeven dat u het niet eens bent met een factuur: __CUSTOMER_PAGE_URL__',
    },
    'second': {
        'fr': 'Depuis votre espace client, vous pouvez également télécharger vos factures en cours, nous confirmer un règlement effectué, vous engager sur une date de paiement ou contester une facture : __CUSTOMER_PAGE_URL__',
        'en': 'On your personal page you can also download your open invoices, confirm a payment you have made, commit to a payment date or dispute an invoice: __CUSTOMER_PAGE_URL__',
        'de': 'Auf Ihrer persönlichen Seite können Sie außerdem Ihre offenen Rechnungen herunterladen, uns eine geleistete Zahlung bestätigen, einen verbindlichen Zahlungstermin nennen oder eine Rechnung beanstanden: __CUSTOMER_PAGE_URL__',
        'es': 'Asimismo, desde su página personal pueden descargar sus facturas pendientes, confirmarnos un pago realizado, comprometerse a una fecha de pago o impugnar una factura: __CUSTOMER_PAGE_URL__',
        'it': 'Dalla vostra pagina personale potete inoltre scaricare le fatture aperte, confermarci un pagamento effettuato, impegnarvi su una data di pagamento o contestare una fattura: __CUSTOMER_PAGE_URL__',
        'nl': 'Via uw persoonlijke pagina kunt u ook uw openstaande facturen downloaden, een gedane betaling aan ons bevestigen, een betaaldatum toezeggen of een factuur betwisten: __CUSTOMER_PAGE_URL__',
    },
    'notice': {
        'fr': "Vos factures en cours peuvent être consultées et téléchargées sur votre espace client, où vous pouvez également nous informer d'un règlement effectué, vous engager sur une date de paiement ou contester une facture : __CUSTOMER_PAGE_URL__",
        'en': 'Your open invoices can be viewed and downloaded on your personal page, where you may also inform us of a payment made, commit to a payment date or dispute an invoice: __CUSTOMER_PAGE_URL__',
        'de': 'Ihre offenen Rechnungen stehen auf Ihrer persönlichen Seite zur Einsicht und zum Herunterladen bereit; dort können Sie uns auch eine geleistete Zahlung mitteilen, einen verbindlichen Zahlungstermin nennen oder eine Rechnung beanstanden: __CUSTOMER_PAGE_URL__',
        'es': 'Sus facturas pendientes pueden consultarse y descargarse en su página personal, desde la que también pueden informarnos de un pago efectuado, comprometerse a una fecha de pago o impugnar una factura: __CUSTOMER_PAGE_URL__',
        'it': 'Le vostre fatture aperte sono consultabili e scaricabili nella vostra pagina personale, dalla quale potete anche comunicarci un pagamento effettuato, impegnarvi su una data di pagamento o contestare una fattura: __CUSTOMER_PAGE_URL__',
        'nl': 'Uw openstaande facturen kunt u bekijken en downloaden op uw persoonlijke pagina, waar u ons ook kunt laten weten dat u heeft betaald, een betaaldatum kunt toezeggen of een factuur kunt betwisten: __CUSTOMER_PAGE_URL__',
    },
}

# the paragraph goes before this many paragraphs from the end: the closing and the signature; in a formal notice also
# the consequence before them
FROM_END = {'before': 2, 'first': 2, 'second': 2, 'notice': 3}

templates = sa.table(
    'templates',
    sa.column('id', sa.Integer), sa.column('subject', sa.String), sa.column('body', sa.Text),
    sa.column('version', sa.Integer), sa.column('updated_at', sa.DateTime), sa.column('updated_by_id', sa.Integer),
)
template_versions = sa.table(
    'template_versions',
    sa.column('template_id', sa.Integer), sa.column('version', sa.Integer), sa.column('subject', sa.String),
    sa.column('body', sa.Text), sa.column('created_at', sa.DateTime), sa.column('user_id', sa.Integer),
)


def with_page(key, language, body):
    """The body with the page's paragraph in its place."""
    paragraphs = body.split('\n\n')
    at = len(paragraphs) - FROM_END[key]
    return '\n\n'.join(paragraphs[:at] + [PAGE[key][language]] + paragraphs[at:])


def bodies():
    """{the body as written before: the body with the paragraph} of every default email text (level x language)."""
    pairs = {}
    for key, by_language in BODIES.items():
        for language, body in by_language.items():
            before = body.replace('{attached}', ATTACHED[('email', language)])
            pairs[before] = with_page(key, language, before)
    return pairs


def _rewrite(changes):
    """Every text whose body is a key of `changes` gets the value as its next version; returns how many."""
    conn = op.get_bind()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    changed = 0
    for template_id, subject, body, version in conn.execute(sa.select(
            templates.c.id, templates.c.subject, templates.c.body, templates.c.version)
            .order_by(templates.c.id)).all():
        new = changes.get(body)
        if new is None:
            continue  # not a default text as written: the company's own
        version = (version or 0) + 1
        conn.execute(templates.update().where(templates.c.id == template_id).values(
            body=new, version=version, updated_at=now, updated_by_id=None))
        conn.execute(template_versions.insert().values(
            template_id=template_id, version=version, subject=subject, body=new, created_at=now, user_id=None))
        changed += 1
    return changed


def upgrade():
    _rewrite(bodies())


def downgrade():
    _rewrite({new: old for old, new in bodies().items()})
