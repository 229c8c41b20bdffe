"""grouped messages: the reminders that share one message (the key of the reminder carrying it) and a customer's
own choice of grouping (None: the company's setting); columns added in place (no table rebuilt, triggers kept)

Revision ID: 7c2e9a4b1f60
Revises: bd575640156f
Create Date: 2026-12-04 14:47:23.106990

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c2e9a4b1f60'
down_revision = 'bd575640156f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_reminders', sa.Boolean(), nullable=True))

    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_key', sa.String(length=120), nullable=True))
        batch_op.create_index(batch_op.f('ix_reminders_message_key'), ['message_key'], unique=False)


def downgrade():
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminders_message_key'))
        batch_op.drop_column('message_key')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('group_reminders')
