# ruff: noqa: E501  (the texts keep one paragraph per line)
"""The text of one email or letter for several invoices of a customer (`sending/messages.py`).

A level whose text is still its default text gets the default text written for several invoices (below, in the six
shipped languages: the table of the invoices, each with its level and amounts, and the amounts added up); a text a
manager wrote is used as written, its variables naming the invoices together (`wording.Renderer.render(group=...)`),
with the table of the invoices after its first paragraph naming an invoice when it has none."""

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


# German, Spanish, Italian and Dutch, as the level texts of those languages (wording.MORE_DEFAULTS) say it
MORE_TOGETHER: dict[str, dict[str, tuple[str, str]]] = {
    "before": {
        "de": (
            "Erinnerung: Ihre Rechnungen werden demnächst fällig",
            """Sehr geehrte Damen und Herren,

wir möchten Sie freundlich daran erinnern, dass die folgenden Rechnungen demnächst fällig werden:

__INVOICES_TABLE__

Der offene Betrag beläuft sich insgesamt auf __AMOUNT_DUE__. Wir bitten Sie, die Zahlungen zu diesen Terminen vorzusehen. {attached}

Sollten Sie die Zahlung bereits veranlasst haben, betrachten Sie diese Nachricht bitte als gegenstandslos. Für Rückfragen stehen wir Ihnen gerne zur Verfügung.

{page}

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        ),
        "es": (
            "Recordatorio: próximos vencimientos de sus facturas",
            """Estimados señores:

Nos permitimos recordarles que las siguientes facturas vencen próximamente:

__INVOICES_TABLE__

El importe pendiente asciende en total a __AMOUNT_DUE__. Les agradecemos de antemano que prevean su pago en dichas fechas. {attached}

Si el pago ya está en curso, les rogamos que no tengan en cuenta este mensaje. Quedamos a su disposición para cualquier consulta.

{page}

Atentamente,

__USER_SIGNATURE__""",
        ),
        "it": (
            "Promemoria: le vostre fatture in scadenza",
            """Gentili Signori,

ci permettiamo di ricordarvi che le seguenti fatture sono in scadenza:

__INVOICES_TABLE__

L'importo residuo ammonta complessivamente a __AMOUNT_DUE__. Vi saremo grati se vorrete provvedere al pagamento entro tali date. {attached}

Qualora il pagamento fosse già stato disposto, vi preghiamo di non tenere conto del presente messaggio. Restiamo a vostra disposizione per qualsiasi chiarimento.

{page}

Cordiali saluti,

__USER_SIGNATURE__""",
        ),
        "nl": (
            "Herinnering: uw facturen vervallen binnenkort",
            """Geachte heer, mevrouw,

Graag herinneren wij u eraan dat de volgende facturen binnenkort vervallen:

__INVOICES_TABLE__

Het openstaande bedrag bedraagt in totaal __AMOUNT_DUE__. Wij verzoeken u vriendelijk de betalingen uiterlijk op die data te voldoen. {attached}

Is uw betaling al onderweg, dan kunt u dit bericht als niet verzonden beschouwen. Voor vragen staan wij graag voor u klaar.

{page}

Met vriendelijke groet,

__USER_SIGNATURE__""",
        ),
    },
    "first": {
        "de": (
            "Zahlungserinnerung: Ihre fälligen Rechnungen",
            """Sehr geehrte Damen und Herren,

sicherlich ist es Ihrer Aufmerksamkeit entgangen: Für die folgenden fälligen Rechnungen konnten wir bis heute keinen Zahlungseingang feststellen:

__INVOICES_TABLE__

Der offene Betrag beläuft sich insgesamt auf __AMOUNT_DUE__. Wir bitten Sie, ihn baldmöglichst zu überweisen. {attached}

Sollte sich Ihre Zahlung mit dieser Nachricht überschnitten haben, betrachten Sie sie bitte als gegenstandslos. Gibt es Unklarheiten oder Einwände zu einer dieser Rechnungen, sprechen Sie uns bitte an, damit wir gemeinsam eine Lösung finden.

{page}

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        ),
        "es": (
            "Recordatorio de pago: sus facturas vencidas",
            """Estimados señores:

Salvo error u omisión por nuestra parte, no hemos recibido todavía el pago de las siguientes facturas, ya vencidas:

__INVOICES_TABLE__

El importe pendiente asciende en total a __AMOUNT_DUE__. Seguramente se trata de un simple descuido: les agradeceríamos que procedieran a su pago a la mayor brevedad. {attached}

Si han realizado el pago entretanto, les rogamos que no tengan en cuenta este mensaje. Si tienen alguna duda o desacuerdo sobre alguna de estas facturas, pónganse en contacto con nosotros para buscar juntos una solución.

{page}

Atentamente,

__USER_SIGNATURE__""",
        ),
        "it": (
            "Sollecito di pagamento: le vostre fatture scadute",
            """Gentili Signori,

salvo errori od omissioni da parte nostra, non abbiamo ancora ricevuto il pagamento delle seguenti fatture, ormai scadute:

__INVOICES_TABLE__

L'importo residuo ammonta complessivamente a __AMOUNT_DUE__. Si tratta probabilmente di una semplice dimenticanza: vi saremo grati se vorrete provvedere al pagamento al più presto. {attached}

Qualora aveste già provveduto nel frattempo, vi preghiamo di non tenere conto del presente messaggio. In caso di difficoltà o di contestazioni su una di queste fatture, contattateci: cercheremo insieme una soluzione.

{page}

Cordiali saluti,

__USER_SIGNATURE__""",
        ),
        "nl": (
            "Betalingsherinnering: uw vervallen facturen",
            """Geachte heer, mevrouw,

Volgens onze administratie hebben wij de betaling van de volgende vervallen facturen nog niet ontvangen:

__INVOICES_TABLE__

Het openstaande bedrag bedraagt in totaal __AMOUNT_DUE__. Waarschijnlijk is dit aan uw aandacht ontsnapt: wij verzoeken u vriendelijk het bedrag zo spoedig mogelijk over te maken. {attached}

Heeft u inmiddels betaald, dan kunt u dit bericht als niet verzonden beschouwen. Heeft u vragen of bezwaren over een van deze facturen, neem dan contact met ons op, zodat wij samen een oplossing kunnen vinden.

{page}

Met vriendelijke groet,

__USER_SIGNATURE__""",
        ),
    },
    "second": {
        "de": (
            "Mahnung: Ihre Rechnungen sind weiterhin unbezahlt",
            """Sehr geehrte Damen und Herren,

trotz unserer Zahlungserinnerung sind die folgenden Rechnungen bis heute nicht beglichen:

__INVOICES_TABLE__

Wir fordern Sie auf, den offenen Betrag von __AMOUNT_DUE__ spätestens bis zum __DEADLINE__ zu begleichen, vorzugsweise per Überweisung (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) unter Angabe der Rechnungsnummern. {attached}

Wir weisen darauf hin, dass ein Zahlungsverzug Verzugszinsen nach sich zieht (§ 288 BGB; im Geschäftsverkehr neun Prozentpunkte über dem Basiszinssatz) und dass wir im Geschäftsverkehr zusätzlich eine Verzugspauschale von 40 Euro je Rechnung verlangen können (§ 288 Abs. 5 BGB). Geht Ihre Zahlung nicht bis zu diesem Datum ein, erhalten Sie von uns eine letzte Mahnung mit Fristsetzung.

Sollten Sie die Rechnungen inzwischen beglichen haben, teilen Sie uns bitte die Referenz Ihrer Zahlung mit.

{page}

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        ),
        "es": (
            "Segundo aviso: sus facturas siguen pendientes de pago",
            """Estimados señores:

A pesar de nuestro recordatorio anterior, las siguientes facturas siguen pendientes de pago a día de hoy:

__INVOICES_TABLE__

Les rogamos que abonen el importe pendiente de __AMOUNT_DUE__ a más tardar el __DEADLINE__, preferentemente mediante transferencia bancaria (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) indicando los números de factura. {attached}

Les recordamos que, en las operaciones comerciales entre empresas, la Ley 3/2004, de 29 de diciembre, de lucha contra la morosidad, establece que el retraso en el pago devenga automáticamente intereses de demora (artículo 7) y da derecho a una indemnización de 40 euros por factura por costes de cobro (artículo 8). De no recibir el pago en esa fecha, nos veremos obligados a enviarles un requerimiento formal de pago.

Si ya han abonado estas facturas, les agradeceríamos que nos comunicaran la referencia de su pago.

{page}

Atentamente,

__USER_SIGNATURE__""",
        ),
        "it": (
            "Secondo sollecito: le vostre fatture ancora insolute",
            """Gentili Signori,

nonostante il nostro precedente sollecito, le seguenti fatture risultano ad oggi ancora insolute:

__INVOICES_TABLE__

Vi chiediamo di saldare l'importo residuo di __AMOUNT_DUE__ entro e non oltre il __DEADLINE__, preferibilmente mediante bonifico bancario (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) indicando i numeri delle fatture. {attached}

Vi ricordiamo che, nelle transazioni commerciali, il ritardo nel pagamento fa decorrere automaticamente gli interessi moratori al tasso previsto dal D.Lgs. 9 ottobre 2002, n. 231 (art. 5) e dà diritto all'importo forfettario di 40 euro per fattura a titolo di risarcimento dei costi di recupero (art. 6). In mancanza di pagamento entro tale data, saremo costretti a inviarvi una diffida con formale messa in mora.

Qualora aveste nel frattempo saldato le fatture, vi preghiamo di comunicarci gli estremi del pagamento.

{page}

Cordiali saluti,

__USER_SIGNATURE__""",
        ),
        "nl": (
            "Tweede herinnering: uw facturen zijn nog steeds niet betaald",
            """Geachte heer, mevrouw,

Ondanks onze eerdere herinnering zijn de volgende facturen tot op heden niet betaald:

__INVOICES_TABLE__

Wij verzoeken u het openstaande bedrag van __AMOUNT_DUE__ uiterlijk op __DEADLINE__ te betalen, bij voorkeur per bankoverschrijving (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) onder vermelding van de factuurnummers. {attached}

Wij wijzen u erop dat wij bij handelstransacties bij te late betaling recht hebben op de wettelijke handelsrente (artikel 6:119a BW) en op een vergoeding van ten minste 40 euro per factuur voor de invorderingskosten (artikel 6:96 lid 4 BW). Hebben wij uw betaling niet uiterlijk op die datum ontvangen, dan zijn wij genoodzaakt u in gebreke te stellen.

Heeft u deze facturen inmiddels betaald, laat ons dan de referentie van uw betaling weten.

{page}

Met vriendelijke groet,

__USER_SIGNATURE__""",
        ),
    },
    "notice": {
        "de": (
            "LETZTE MAHNUNG MIT FRISTSETZUNG: Ihre unbezahlten Rechnungen",
            """Sehr geehrte Damen und Herren,

trotz unserer Zahlungserinnerung und Mahnung, die ohne Reaktion geblieben sind, sind die folgenden Rechnungen bis heute nicht bezahlt:

__INVOICES_TABLE__

Wir fordern Sie hiermit letztmalig auf, den Betrag von __TOTAL_CLAIMED__ spätestens bis zum __DEADLINE__ zu zahlen. Er setzt sich wie folgt zusammen:
__CLAIM_DETAIL__

Die Verzugszinsen stehen uns nach § 288 BGB zu (im Geschäftsverkehr neun Prozentpunkte über dem Basiszinssatz, § 288 Abs. 2 BGB), die Verzugspauschale von 40 Euro je Rechnung nach § 288 Abs. 5 BGB, wenn der Schuldner kein Verbraucher ist.

Bitte überweisen Sie den Betrag auf unser Konto IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) unter Angabe der Rechnungsnummern. {attached}

{page}

Geht der Betrag nicht bis zu diesem Datum vollständig bei uns ein, werden wir ohne weitere Ankündigung gerichtliche Schritte einleiten, insbesondere einen Mahnbescheid beantragen. Die dadurch entstehenden Kosten gehen zu Ihren Lasten.

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        ),
        "es": (
            "REQUERIMIENTO FORMAL DE PAGO: sus facturas impagadas",
            """Estimados señores:

A pesar de nuestros recordatorios, que han quedado sin respuesta, las siguientes facturas siguen impagadas a día de hoy:

__INVOICES_TABLE__

Por medio de la presente les REQUERIMOS FORMALMENTE para que nos abonen, a más tardar el __DEADLINE__, la cantidad de __TOTAL_CLAIMED__, que se desglosa como sigue:
__CLAIM_DETAIL__

Los intereses de demora y la indemnización por costes de cobro se reclaman conforme a los artículos 7 y 8 de la Ley 3/2004, de 29 de diciembre, por la que se establecen medidas de lucha contra la morosidad en las operaciones comerciales.

El pago puede realizarse mediante transferencia a nuestra cuenta IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) indicando los números de factura. {attached}

{page}

De no recibir el pago íntegro en dicho plazo, iniciaremos sin más aviso las acciones judiciales oportunas para el cobro de estas cantidades, en particular mediante un procedimiento monitorio, siendo de su cuenta los gastos que ello ocasione.

Atentamente,

__USER_SIGNATURE__""",
        ),
        "it": (
            "DIFFIDA E MESSA IN MORA: le vostre fatture insolute",
            """Gentili Signori,

nonostante i nostri solleciti, rimasti senza riscontro, le seguenti fatture risultano ad oggi insolute:

__INVOICES_TABLE__

Con la presente vi DIFFIDIAMO E COSTITUIAMO IN MORA, ai sensi dell'art. 1219 del Codice Civile, a pagarci entro e non oltre il __DEADLINE__ la somma di __TOTAL_CLAIMED__, così composta:
__CLAIM_DETAIL__

Gli interessi moratori e l'importo forfettario per i costi di recupero sono dovuti ai sensi degli artt. 5 e 6 del D.Lgs. 9 ottobre 2002, n. 231.

Il pagamento può essere effettuato mediante bonifico sul nostro conto IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) indicando i numeri delle fatture. {attached}

{page}

In mancanza del pagamento integrale entro il termine indicato, agiremo in sede giudiziaria senza ulteriore avviso, in particolare mediante ricorso per decreto ingiuntivo, con ogni spesa a vostro carico.

Distinti saluti,

__USER_SIGNATURE__""",
        ),
        "nl": (
            "INGEBREKESTELLING: uw onbetaalde facturen",
            """Geachte heer, mevrouw,

Ondanks onze herinneringen, waarop wij geen reactie hebben ontvangen, zijn de volgende facturen tot op heden niet betaald:

__INVOICES_TABLE__

Hierbij STELLEN WIJ U IN GEBREKE en sommeren wij u uiterlijk op __DEADLINE__ het bedrag van __TOTAL_CLAIMED__ te betalen, dat als volgt is opgebouwd:
__CLAIM_DETAIL__

De rente is de wettelijke handelsrente (artikel 6:119a BW); de vergoeding voor invorderingskosten is verschuldigd op grond van artikel 6:96 lid 4 BW.

U kunt betalen per overschrijving op onze rekening IBAN __COMPANY_IBAN__ (BIC __COMPANY_BIC__) onder vermelding van de factuurnummers. {attached}

{page}

Hebben wij het volledige bedrag niet uiterlijk op die datum ontvangen, dan zullen wij zonder nadere aankondiging gerechtelijke maatregelen nemen om deze bedragen te innen; de kosten daarvan komen voor uw rekening.

Hoogachtend,

__USER_SIGNATURE__""",
        ),
    },
}
MORE_ATTACHED = {
    ("email", "de"): "Die Rechnungen finden Sie im Anhang.",
    ("letter", "de"): "Kopien der Rechnungen liegen diesem Schreiben bei.",
    ("email", "es"): "Les adjuntamos las facturas.",
    ("letter", "es"): "Adjuntamos una copia de las facturas.",
    ("email", "it"): "In allegato trovate le fatture.",
    ("letter", "it"): "Alleghiamo copia delle fatture.",
    ("email", "nl"): "De facturen vindt u in de bijlage.",
    ("letter", "nl"): "Een kopie van de facturen is bijgevoegd.",
}

for _key, _texts in MORE_TOGETHER.items():
    TOGETHER[_key].update(_texts)
ATTACHED.update(MORE_ATTACHED)

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
