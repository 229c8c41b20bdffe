# ruff: noqa: E501  (the default texts keep one paragraph per line)
"""default texts in German, Spanish, Italian and Dutch (issue 17: customers in other languages)

Adds, for the default levels present, the German, Spanish, Italian and Dutch text of every channel (email, letter)
where that level x channel x language has no text yet, and the level's names in those languages where it has none.
A default level is found as 38a89e63422d made it: by its rank (0 before the due date, 1 first reminder, 2 second,
3 formal notice, the one marked formal notice), still called by its default French or English name. A level the
company made or renamed is its own: it gets nothing (its texts in these languages are one click away in the texts
editor, which opens a missing text with its default).

Never overwrites: a text that exists (in any language) stays as it is, and running it again adds nothing. The
downgrade deletes nothing: the rows may have been edited since and belong to the company.

The data is frozen here, as it was on the day of this revision (copied from relance/services/texts/wording.py and
relance/services/defaults.py): later changes to the code's defaults do not change what this revision writes.
Nothing is imported from the application.

Revision ID: 5e1d7a2c9b40
Revises: 8c0a00f0fbf5
Create Date: 2026-12-07 09:00:00.000000

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e1d7a2c9b40'
down_revision = '8c0a00f0fbf5'
branch_labels = None
depends_on = None


CHANNELS = ('email', 'letter')
LANGUAGES = ('de', 'es', 'it', 'nl')

# the default levels' names as 38a89e63422d wrote them: a level called so (in French or English) is a default level
FIRST_NAMES = {
    0: {'fr': 'Rappel avant échéance', 'en': 'Reminder before due date'},
    1: {'fr': 'Première relance', 'en': 'First reminder'},
    2: {'fr': 'Deuxième relance', 'en': 'Second reminder'},
    3: {'fr': 'Mise en demeure', 'en': 'Formal notice'},
}
NAMES = {
    0: {'de': 'Erinnerung vor Fälligkeit', 'es': 'Recordatorio de vencimiento', 'it': 'Promemoria di scadenza', 'nl': 'Herinnering vóór vervaldatum'},
    1: {'de': 'Zahlungserinnerung', 'es': 'Primer recordatorio', 'it': 'Primo sollecito', 'nl': 'Eerste herinnering'},
    2: {'de': 'Mahnung', 'es': 'Segundo aviso', 'it': 'Secondo sollecito', 'nl': 'Tweede herinnering'},
    3: {'de': 'Letzte Mahnung', 'es': 'Requerimiento formal de pago', 'it': 'Diffida e messa in mora', 'nl': 'Ingebrekestelling'},
}

ATTACHED = {
    ('email', 'de'): 'Die Rechnung finden Sie im Anhang.',
    ('letter', 'de'): 'Eine Kopie der Rechnung liegt diesem Schreiben bei.',
    ('email', 'es'): 'Les adjuntamos la factura.',
    ('letter', 'es'): 'Adjuntamos una copia de la factura.',
    ('email', 'it'): 'In allegato trovate la fattura.',
    ('letter', 'it'): 'Alleghiamo copia della fattura.',
    ('email', 'nl'): 'De factuur vindt u in de bijlage.',
    ('letter', 'nl'): 'Een kopie van de factuur is bijgevoegd.',
}

# key -> language -> (subject, body); `{attached}` is filled per channel
TEXTS = {
    'before': {
        'de': (
            'Erinnerung: Rechnung __REF_FACTURE__ wird am __DATE_ECHEANCE__ fällig',
            """Sehr geehrte Damen und Herren,

wir möchten Sie freundlich daran erinnern, dass unsere Rechnung __REF_FACTURE__ vom __DATE_FACTURE__ über einen offenen Betrag von __AMOUNT_DUE__ am __DATE_ECHEANCE__ fällig wird.

Wir bitten Sie, die Zahlung zu diesem Termin vorzusehen. {attached}

Sollten Sie die Zahlung bereits veranlasst haben, betrachten Sie diese Nachricht bitte als gegenstandslos. Für Rückfragen stehen wir Ihnen gerne zur Verfügung.

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        ),
        'es': (
            'Recordatorio: la factura __REF_FACTURE__ vence el __DATE_ECHEANCE__',
            """Estimados señores:

Nos permitimos recordarles que la factura __REF_FACTURE__ de fecha __DATE_FACTURE__, con un importe pendiente de __AMOUNT_DUE__, vence el __DATE_ECHEANCE__.

Les agradecemos de antemano que prevean su pago en dicha fecha. {attached}

Si el pago ya está en curso, les rogamos que no tengan en cuenta este mensaje. Quedamos a su disposición para cualquier consulta.

Atentamente,

__USER_SIGNATURE__""",
        ),
        'it': (
            'Promemoria: la fattura __REF_FACTURE__ scade il __DATE_ECHEANCE__',
            """Gentili Signori,

ci permettiamo di ricordarvi che la fattura n. __REF_FACTURE__ del __DATE_FACTURE__, con un importo residuo di __AMOUNT_DUE__, scade il __DATE_ECHEANCE__.

Vi saremo grati se vorrete provvedere al pagamento entro tale data. {attached}

Qualora il pagamento fosse già stato disposto, vi preghiamo di non tenere conto del presente messaggio. Restiamo a vostra disposizione per qualsiasi chiarimento.

Cordiali saluti,

__USER_SIGNATURE__""",
        ),
        'nl': (
            'Herinnering: factuur __REF_FACTURE__ vervalt op __DATE_ECHEANCE__',
            """Geachte heer, mevrouw,

Graag herinneren wij u eraan dat factuur __REF_FACTURE__ van __DATE_FACTURE__, met een openstaand bedrag van __AMOUNT_DUE__, vervalt op __DATE_ECHEANCE__.

Wij verzoeken u vriendelijk de betaling uiterlijk op die datum te voldoen. {attached}

Is uw betaling al onderweg, dan kunt u dit bericht als niet verzonden beschouwen. Voor vragen staan wij graag voor u klaar.

Met vriendelijke groet,

__USER_SIGNATURE__""",
        ),
    },
    'first': {
        'de': (
            'Zahlungserinnerung: Rechnung __REF_FACTURE__, fällig am __DATE_ECHEANCE__',
            """Sehr geehrte Damen und Herren,

sicherlich ist es Ihrer Aufmerksamkeit entgangen: Für unsere Rechnung __REF_FACTURE__ vom __DATE_FACTURE__, fällig am __DATE_ECHEANCE__ (Zahlungsverzug: __DAYS_LATE__), konnten wir bis heute keinen Zahlungseingang feststellen. Der offene Betrag beläuft sich auf __AMOUNT_DUE__.

Wir bitten Sie, den Betrag baldmöglichst zu überweisen. {attached}

Sollte sich Ihre Zahlung mit dieser Nachricht überschnitten haben, betrachten Sie sie bitte als gegenstandslos. Gibt es Unklarheiten oder Einwände zu dieser Rechnung, sprechen Sie uns bitte an, damit wir gemeinsam eine Lösung finden.

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        ),
        'es': (
            'Recordatorio de pago: factura __REF_FACTURE__ vencida el __DATE_ECHEANCE__',
            """Estimados señores:

Salvo error u omisión por nuestra parte, todavía no hemos recibido el pago de la factura __REF_FACTURE__ de fecha __DATE_FACTURE__, vencida el __DATE_ECHEANCE__ (__DAYS_LATE__ de retraso). El importe pendiente asciende a __AMOUNT_DUE__.

Probablemente se trate de un simple olvido: les rogamos que procedan a su pago a la mayor brevedad posible. {attached}

Si ya han efectuado el pago, les rogamos que no tengan en cuenta este mensaje. Si existe algún problema o desacuerdo con esta factura, no duden en ponerse en contacto con nosotros para buscar juntos una solución.

Atentamente,

__USER_SIGNATURE__""",
        ),
        'it': (
            'Sollecito di pagamento: fattura __REF_FACTURE__ scaduta il __DATE_ECHEANCE__',
            """Gentili Signori,

salvo errori od omissioni da parte nostra, non risulta ancora pervenuto il pagamento della fattura n. __REF_FACTURE__ del __DATE_FACTURE__, scaduta il __DATE_ECHEANCE__ (__DAYS_LATE__ di ritardo). L'importo residuo ammonta a __AMOUNT_DUE__.

Si tratta probabilmente di una semplice dimenticanza: vi preghiamo di provvedere al pagamento al più presto. {attached}

Qualora aveste già effettuato il pagamento, vi preghiamo di non tenere conto del presente sollecito. In caso di difficoltà o di contestazioni relative a questa fattura, vi invitiamo a contattarci per trovare insieme una soluzione.

Cordiali saluti,

__USER_SIGNATURE__""",
        ),
        'nl': (
            'Betalingsherinnering: factuur __REF_FACTURE__, vervallen op __DATE_ECHEANCE__',
            """Geachte heer, mevrouw,

Volgens onze administratie hebben wij de betaling van factuur __REF_FACTURE__ van __DATE_FACTURE__, vervallen op __DATE_ECHEANCE__ (__DAYS_LATE__ te laat), nog niet ontvangen. Het openstaande bedrag is __AMOUNT_DUE__.

Waarschijnlijk is dit aan uw aandacht ontsnapt: wij verzoeken u het bedrag zo spoedig mogelijk te betalen. {attached}

Heeft u inmiddels betaald, dan kunt u deze herinnering als niet verzonden beschouwen. Heeft u vragen over deze factuur of bent u het er niet mee eens, neem dan contact met ons op, zodat wij samen een oplossing kunnen vinden.

Met vriendelijke groet,

__USER_SIGNATURE__""",
        ),
    },
    'second': {
        'de': (
            'Mahnung: Rechnung __REF_FACTURE__ ist weiterhin offen',
            """Sehr geehrte Damen und Herren,

trotz unserer Zahlungserinnerung ist unsere Rechnung __REF_FACTURE__ vom __DATE_FACTURE__, fällig am __DATE_ECHEANCE__, bis heute nicht beglichen (Zahlungsverzug: __DAYS_LATE__). {attached}

Übersicht Ihrer fälligen Rechnungen:

__INVOICES_TABLE__

Wir fordern Sie auf, den offenen Betrag von __AMOUNT_DUE__ spätestens bis zum __DEADLINE__ zu begleichen, vorzugsweise per Überweisung (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) unter Angabe der Rechnungsnummer __REF_FACTURE__.

Wir weisen darauf hin, dass ein Zahlungsverzug Verzugszinsen nach sich zieht (§ 288 BGB; im Geschäftsverkehr neun Prozentpunkte über dem Basiszinssatz) und dass wir im Geschäftsverkehr zusätzlich eine Verzugspauschale von 40 Euro verlangen können (§ 288 Abs. 5 BGB). Geht Ihre Zahlung nicht bis zu diesem Datum ein, erhalten Sie von uns eine letzte Mahnung mit Fristsetzung.

Sollten Sie die Rechnung inzwischen beglichen haben, teilen Sie uns bitte die Referenz Ihrer Zahlung mit.

Mit freundlichen Grüßen

__USER_SIGNATURE__""",
        ),
        'es': (
            'Segundo aviso: factura __REF_FACTURE__ pendiente de pago',
            """Estimados señores:

A pesar de nuestro recordatorio anterior, la factura __REF_FACTURE__ de fecha __DATE_FACTURE__, vencida el __DATE_ECHEANCE__, sigue pendiente de pago a día de hoy, con __DAYS_LATE__ de retraso. {attached}

Relación de sus facturas vencidas:

__INVOICES_TABLE__

Les rogamos que abonen el importe pendiente de __AMOUNT_DUE__ a más tardar el __DEADLINE__, preferentemente mediante transferencia bancaria (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) indicando la referencia __REF_FACTURE__.

Les recordamos que, en las operaciones comerciales entre empresas, la Ley 3/2004, de 29 de diciembre, de lucha contra la morosidad, establece que el retraso en el pago devenga automáticamente intereses de demora (artículo 7) y da derecho a una indemnización de 40 euros por costes de cobro (artículo 8). De no recibir el pago en esa fecha, nos veremos obligados a enviarles un requerimiento formal de pago.

Si ya han abonado esta factura, les agradeceríamos que nos comunicaran la referencia de su pago.

Atentamente,

__USER_SIGNATURE__""",
        ),
        'it': (
            'Secondo sollecito: fattura __REF_FACTURE__ ancora insoluta',
            """Gentili Signori,

nonostante il nostro precedente sollecito, la fattura n. __REF_FACTURE__ del __DATE_FACTURE__, scaduta il __DATE_ECHEANCE__, risulta ad oggi ancora insoluta, con __DAYS_LATE__ di ritardo. {attached}

Riepilogo delle vostre fatture scadute:

__INVOICES_TABLE__

Vi chiediamo di saldare l'importo residuo di __AMOUNT_DUE__ entro e non oltre il __DEADLINE__, preferibilmente mediante bonifico bancario (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) indicando il riferimento __REF_FACTURE__.

Vi ricordiamo che, nelle transazioni commerciali, il ritardo nel pagamento fa decorrere automaticamente gli interessi moratori al tasso previsto dal D.Lgs. 9 ottobre 2002, n. 231 (art. 5) e dà diritto all'importo forfettario di 40 euro a titolo di risarcimento dei costi di recupero (art. 6). In mancanza di pagamento entro tale data, saremo costretti a inviarvi una diffida con formale messa in mora.

Qualora aveste nel frattempo saldato la fattura, vi preghiamo di comunicarci gli estremi del pagamento.

Cordiali saluti,

__USER_SIGNATURE__""",
        ),
        'nl': (
            'Tweede herinnering: factuur __REF_FACTURE__ is nog steeds niet betaald',
            """Geachte heer, mevrouw,

Ondanks onze eerdere herinnering is factuur __REF_FACTURE__ van __DATE_FACTURE__, vervallen op __DATE_ECHEANCE__, tot op heden niet betaald (__DAYS_LATE__ te laat). {attached}

Overzicht van uw vervallen facturen:

__INVOICES_TABLE__

Wij verzoeken u het openstaande bedrag van __AMOUNT_DUE__ uiterlijk op __DEADLINE__ te betalen, bij voorkeur per bankoverschrijving (IBAN __COMPANY_IBAN__, BIC __COMPANY_BIC__) onder vermelding van referentie __REF_FACTURE__.

Wij wijzen u erop dat wij bij handelstransacties bij te late betaling recht hebben op de wettelijke handelsrente (artikel 6:119a BW) en op een vergoeding van ten minste 40 euro voor de invorderingskosten (artikel 6:96 lid 4 BW). Hebben wij uw betaling niet uiterlijk op die datum ontvangen, dan zijn wij genoodzaakt u in gebreke te stellen.

Heeft u deze factuur inmiddels betaald, laat ons dan de referentie van uw betaling weten.

Met vriendelijke groet,

__USER_SIGNATURE__""",
        ),
    },
    'notice': {
        'de': (
            'LETZTE MAHNUNG MIT FRISTSETZUNG: Rechnung __REF_FACTURE__',
            """Sehr geehrte Damen und Herren,

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
        ),
        'es': (
            'REQUERIMIENTO FORMAL DE PAGO: factura __REF_FACTURE__',
            """Estimados señores:

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
        ),
        'it': (
            'DIFFIDA E MESSA IN MORA: fattura __REF_FACTURE__',
            """Gentili Signori,

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
        ),
        'nl': (
            'INGEBREKESTELLING: factuur __REF_FACTURE__',
            """Geachte heer, mevrouw,

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
        ),
    },
}

reminder_levels = sa.table(
    'reminder_levels',
    sa.column('id', sa.Integer), sa.column('rank', sa.Integer), sa.column('names', sa.JSON),
    sa.column('formal_notice', sa.Boolean),
)
templates = sa.table(
    'templates',
    sa.column('level_id', sa.Integer), sa.column('channel', sa.String), sa.column('language', sa.String),
    sa.column('subject', sa.String), sa.column('body', sa.Text), sa.column('version', sa.Integer),
    sa.column('updated_at', sa.DateTime), sa.column('updated_by_id', sa.Integer),
)


def _key(rank, formal_notice):
    """The default text of a default level (ranks 0 to 3), as the application's `wording.text_key` chose it that
    day; None for any other level."""
    if rank is None or not 0 <= rank <= 3:
        return None
    if formal_notice:
        return 'notice'
    return {0: 'before', 1: 'first', 2: 'second'}.get(rank)


DEFAULT_KEYS = {0: 'before', 1: 'first', 2: 'second', 3: 'notice'}


def upgrade():
    conn = op.get_bind()
    existing = {tuple(row) for row in conn.execute(
        sa.select(templates.c.level_id, templates.c.channel, templates.c.language))}
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = []
    for level_id, rank, names, formal_notice in conn.execute(sa.select(
            reminder_levels.c.id, reminder_levels.c.rank, reminder_levels.c.names, reminder_levels.c.formal_notice)
            .order_by(reminder_levels.c.rank)).all():
        key = _key(rank, formal_notice)
        names = dict(names or {})
        if key is None or key != DEFAULT_KEYS[rank] or not any(
                names.get(language) == name for language, name in FIRST_NAMES[rank].items()):
            continue  # not a default level: the company's own
        for channel in CHANNELS:
            for language in LANGUAGES:
                if (level_id, channel, language) in existing:
                    continue
                subject, body = TEXTS[key][language]
                rows.append({'level_id': level_id, 'channel': channel, 'language': language, 'subject': subject,
                             'body': body.replace('{attached}', ATTACHED[(channel, language)]), 'version': 1,
                             'updated_at': now, 'updated_by_id': None})
        missing = {language: name for language, name in NAMES[rank].items() if not names.get(language)}
        if missing:
            conn.execute(reminder_levels.update().where(reminder_levels.c.id == level_id)
                         .values(names={**names, **missing}))
    if rows:
        conn.execute(templates.insert(), rows)


def downgrade():
    # Nothing is deleted: the texts may have been changed since, and they are the company's.
    pass
