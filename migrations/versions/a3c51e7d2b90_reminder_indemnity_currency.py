"""reminder indemnity currency

The fixed recovery indemnity is claimed in its rule's currency (40 EUR for a French creditor) whatever the
invoice's: a reminder keeps that currency when it is not the invoice's (the indemnity is then its own line and not
part of total_claimed). Existing reminders keep '' = the invoice's currency, which is what they claimed.
A plain ADD COLUMN (no table copy on SQLite: the reminder state triggers stay as they are).

Revision ID: a3c51e7d2b90
Revises: 7dfb727db5e8
Create Date: 2026-12-03 23:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3c51e7d2b90'
down_revision = '7dfb727db5e8'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('reminders', sa.Column('indemnity_currency', sa.String(length=3), nullable=False,
                                         server_default=''))


def downgrade():
    op.drop_column('reminders', 'indemnity_currency')
