# ruff: noqa: E501  (the default texts keep one paragraph per line)
"""fresh install defaults: reminder levels, their texts, statutory rates (issue 17)

A new database gets what `flask relance demo` used to be the only way to get (DESIGN.md invariant 8: a real install
works without the demo): the four default reminder levels (-5 / +15 / +30 / +45 days), the default text of every
level x channel (email, letter) x language (fr, en), and the French statutory interest rates.

Only into empty tables, so nothing a manager made or changed is ever overwritten:
- levels and their texts when `reminder_levels` is empty (an existing installation that has levels, upgraded, keeps
  its levels and texts as they are; texts are only written for the levels this revision creates);
- rates when `statutory_rates` is empty.
Running it again (a downgrade then an upgrade) adds nothing where the rows are there. The downgrade deletes nothing:
the rows may have been edited since and belong to the company.

The data is frozen here, as it was on the day of this revision (copied from relance/services/defaults.py and
relance/services/texts/wording.py): later changes to the code's defaults do not change what this revision writes.
Nothing is imported from the application.

Revision ID: 38a89e63422d
Revises: ce603ad3cc19
Create Date: 2026-12-05 09:00:00.000000

"""
from datetime import date, datetime, timezone
from decimal import Decimal

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '38a89e63422d'
down_revision = 'ce603ad3cc19'
branch_labels = None
depends_on = None


LEVELS = [
    # rank, names, delay, automatic, channels, penalty kind, penalty value, formal notice, text key
    (0, {'fr': 'Rappel avant échéance', 'en': 'Reminder before due date'}, '-5 days', True, 'email', 'none', '0.00', False, 'before'),
    (1, {'fr': 'Première relance', 'en': 'First reminder'}, '+15 days', True, 'email', 'none', '0.00', False, 'first'),
    (2, {'fr': 'Deuxième relance', 'en': 'Second reminder'}, '+30 days', True, 'both', 'none', '0.00', False, 'second'),
    (3, {'fr': 'Mise en demeure', 'en': 'Formal notice'}, '+45 days', False, 'letter', 'none', '0.00', True, 'notice'),
]

# (country, kind, valid from, annual rate in percent, note)
RATES = [
    ('FR', 'b2b', '2024-01-01', '14.50', 'BCE + 10 points'),
    ('FR', 'b2b', '2024-07-01', '14.25', 'BCE + 10 points'),
    ('FR', 'b2b', '2025-01-01', '13.15', 'BCE + 10 points'),
    ('FR', 'b2b', '2025-07-01', '12.15', 'BCE + 10 points'),
    ('FR', 'b2b', '2026-01-01', '12.15', 'BCE + 10 points'),
    ('FR', 'consumer', '2026-01-01', '2.62', 'Taux légal (autres cas)'),
]

# The sentence about the invoice copy, per (channel, language): it replaces {attached} in the bodies.
ATTACHED = {
    ('email', 'fr'): 'Vous trouverez la facture en pièce jointe.',
    ('letter', 'fr'): 'Vous trouverez ci-joint une copie de la facture.',
    ('email', 'en'): 'Please find the invoice attached.',
    ('letter', 'en'): 'A copy of the invoice is enclosed.',
}

# text key -> language -> (subject, body)
TEXTS = {
    'before': {
        'fr': (
            'Rappel : la facture __REF_FACTURE__ arrive à échéance le __DATE_ECHEANCE__',
            """Madame, Monsieur,

Nous nous permettons de vous rappeler que la facture __REF_FACTURE__ du __DATE_FACTURE__, d'un montant restant dû de __AMOUNT_DUE__, arrive à échéance le __DATE_ECHEANCE__.

Nous vous remercions par avance de bien vouloir prévoir son règlement à cette date. {attached}

Si votre règlement est déjà en cours, nous vous prions de ne pas tenir compte de ce message. Nous restons à votre disposition pour toute question.

Cordialement,

__USER_SIGNATURE__""",
        ),
        'en': (
            'Reminder: invoice __REF_FACTURE__ falls due on __DATE_ECHEANCE__',
            """Dear Sir or Madam,

This is a courtesy reminder that invoice __REF_FACTURE__ of __DATE_FACTURE__, with __AMOUNT_DUE__ outstanding, falls due on __DATE_ECHEANCE__.

We would be grateful if you could arrange payment by that date. {attached}

If your payment is already on its way, please disregard this message. Do not hesitate to contact us with any question.

Kind regards,

__USER_SIGNATURE__""",
        ),
    },
    'first': {
        'fr': (
            'Relance : facture __REF_FACTURE__ échue le __DATE_ECHEANCE__',
            """Madame, Monsieur,

Sauf erreur ou omission de notre part, nous n'avons pas encore reçu le règlement de la facture __REF_FACTURE__ du __DATE_FACTURE__, échue depuis le __DATE_ECHEANCE__ (__DAYS_LATE__ de retard). Le montant restant dû s'élève à __AMOUNT_DUE__.

Il s'agit sans doute d'un simple oubli : nous vous remercions de bien vouloir procéder à ce règlement dans les meilleurs délais. {attached}

Si votre paiement a été effectué entre-temps, nous vous prions de ne pas tenir compte de ce message. En cas de difficulté ou de désaccord sur cette facture, contactez-nous : nous chercherons ensemble une solution.

Cordialement,

__USER_SIGNATURE__""",
        ),
        'en': (
            'Payment reminder: invoice __REF_FACTURE__ was due on __DATE_ECHEANCE__',
            """Dear Sir or Madam,

According to our records, we have not yet received payment of invoice __REF_FACTURE__ of __DATE_FACTURE__, which fell due on __DATE_ECHEANCE__ (__DAYS_LATE__ ago). The amount outstanding is __AMOUNT_DUE__.

This may simply be an oversight: we would be grateful if you could settle it at your earliest convenience. {attached}

If you have paid in the meantime, please disregard this message. Should there be any difficulty or query about this invoice, please contact us so that we can find a solution together.

Kind regards,

__USER_SIGNATURE__""",
        ),
    },
    'second': {
        'fr': (
            'Deuxième relance : facture __REF_FACTURE__ impayée',
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
        'en': (
            'Second reminder: invoice __REF_FACTURE__ is still unpaid',
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
    'notice': {
        'fr': (
            'MISE EN DEMEURE DE PAYER : facture __REF_FACTURE__',
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
        'en': (
            'FORMAL NOTICE TO PAY: invoice __REF_FACTURE__',
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

CHANNELS = ('email', 'letter')
LANGUAGES = ('fr', 'en')

reminder_levels = sa.table(
    'reminder_levels',
    sa.column('id', sa.Integer), sa.column('rank', sa.Integer), sa.column('names', sa.JSON),
    sa.column('delay', sa.String), sa.column('basis', sa.String), sa.column('automatic', sa.Boolean),
    sa.column('channels', sa.String), sa.column('penalty_kind', sa.String),
    sa.column('penalty_value', sa.Numeric(14, 2)), sa.column('formal_notice', sa.Boolean),
    sa.column('active', sa.Boolean),
)
templates = sa.table(
    'templates',
    sa.column('level_id', sa.Integer), sa.column('channel', sa.String), sa.column('language', sa.String),
    sa.column('subject', sa.String), sa.column('body', sa.Text), sa.column('version', sa.Integer),
    sa.column('updated_at', sa.DateTime), sa.column('updated_by_id', sa.Integer),
)
statutory_rates = sa.table(
    'statutory_rates',
    sa.column('country', sa.String), sa.column('kind', sa.String), sa.column('valid_from', sa.Date),
    sa.column('rate', sa.Numeric(7, 3)), sa.column('note', sa.String),
)


def _empty(conn, table) -> bool:
    return conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is None


def upgrade():
    conn = op.get_bind()
    if _empty(conn, reminder_levels):
        for rank, names, delay, automatic, channels, kind, value, notice, _key in LEVELS:
            conn.execute(reminder_levels.insert().values(
                rank=rank, names=names, delay=delay, basis='due_date', automatic=automatic, channels=channels,
                penalty_kind=kind, penalty_value=Decimal(value), formal_notice=notice, active=True))
        ids = dict(conn.execute(sa.select(reminder_levels.c.rank, reminder_levels.c.id)).all())
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        rows = []
        for rank, *_level, key in LEVELS:
            for channel in CHANNELS:
                for language in LANGUAGES:
                    subject, body = TEXTS[key][language]
                    rows.append({'level_id': ids[rank], 'channel': channel, 'language': language,
                                 'subject': subject, 'body': body.replace('{attached}', ATTACHED[(channel, language)]),
                                 'version': 1, 'updated_at': now, 'updated_by_id': None})
        conn.execute(templates.insert(), rows)
    if _empty(conn, statutory_rates):
        conn.execute(statutory_rates.insert(), [
            {'country': country, 'kind': kind, 'valid_from': date.fromisoformat(valid_from), 'rate': Decimal(rate),
             'note': note}
            for country, kind, valid_from, rate, note in RATES
        ])


def downgrade():
    # Nothing is deleted: the levels, texts and rates may have been changed since, and they are the company's.
    pass
