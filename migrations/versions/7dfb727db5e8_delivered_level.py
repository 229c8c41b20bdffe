"""delivered level: invoices.delivered_level kept by the reminder-state triggers (version 3)

The next level waits until the last one is delivered (an email sent, a letter posted), not merely made.

Revision ID: 7dfb727db5e8
Revises: 520a73da5e85
Create Date: 2026-12-03 23:11:48.579111

"""
from alembic import op
import sqlalchemy as sa

from relance.models import reminder_state

# revision identifiers, used by Alembic.
revision = '7dfb727db5e8'
down_revision = '520a73da5e85'
branch_labels = None
depends_on = None

LIST_COLUMNS = ['status', 'kind', 'due_date', 'currency', 'total_incl_tax', 'amount_paid', 'customer_id',
                'issue_date', 'reminder_level', 'last_reminder_date', 'manual_next_date']


def upgrade():
    dialect = op.get_bind().dialect.name
    for sql in reminder_state.statements(dialect, drop=True):  # SQLite may rebuild invoices: no trigger may name it
        op.execute(sql)
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered_level', sa.Integer(), nullable=True))
        batch_op.drop_index('ix_invoices_list')
        batch_op.create_index('ix_invoices_list', [*LIST_COLUMNS, 'delivered_level'], unique=False)
    reminder_state.install(op.execute, dialect, version=3)
    op.execute(reminder_state.backfill(version=3))


def downgrade():
    dialect = op.get_bind().dialect.name
    for sql in reminder_state.statements(dialect, drop=True):
        op.execute(sql)
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_invoices_list')
        batch_op.create_index('ix_invoices_list', LIST_COLUMNS, unique=False)
        batch_op.drop_column('delivered_level')
    reminder_state.install(op.execute, dialect, version=2)
