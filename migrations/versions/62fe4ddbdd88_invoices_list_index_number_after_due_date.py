"""the invoices list index has the invoice number right after the due date

The engine's selection reads the open invoices in (due date, number) order from the covering index
`ix_invoices_list`; with the number at the end of the index, the invoices of one due date came in currency and amount
order and SQLite sorted every due date's invoices again (a million invoices on SQLite: 0.2 s of the 1.3 s query).
The same columns, `number` moved after `due_date`: the index gives that order itself. Nothing that reads the index
filters on a column between them with an equality after a due date range, so no other query loses a seek.

Revision ID: 62fe4ddbdd88
Revises: b2350d852e39
Create Date: 2026-12-04 15:05:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '62fe4ddbdd88'
down_revision = 'b2350d852e39'
branch_labels = None
depends_on = None

COLUMNS = ['status', 'kind', 'due_date', 'number', 'currency', 'total_incl_tax', 'amount_paid', 'customer_id',
           'issue_date', 'reminder_level', 'last_reminder_date', 'manual_next_date', 'delivered_level',
           'auto_from_rank', 'no_auto_reminders', 'followup_contact_id', 'billing_contact_id', 'followup_user_id',
           'creator_id']

PREVIOUS = ['status', 'kind', 'due_date', 'currency', 'total_incl_tax', 'amount_paid', 'customer_id', 'issue_date',
            'reminder_level', 'last_reminder_date', 'manual_next_date', 'delivered_level', 'auto_from_rank',
            'number', 'no_auto_reminders', 'followup_contact_id', 'billing_contact_id', 'followup_user_id',
            'creator_id']


def upgrade():
    op.drop_index('ix_invoices_list', table_name='invoices')
    op.create_index('ix_invoices_list', 'invoices', COLUMNS, unique=False)


def downgrade():
    op.drop_index('ix_invoices_list', table_name='invoices')
    op.create_index('ix_invoices_list', 'invoices', PREVIOUS, unique=False)
