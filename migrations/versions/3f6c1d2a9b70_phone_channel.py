"""phone channel: a level may ask for a phone call (issue 21); the reminder-state triggers count calls (version 4)

`reminder_levels.phone_call` (a call beside the level's email or letter; `channels` may also be "phone", a call only:
the column's 8 characters hold it). A phone reminder is "to_call" (made, waiting for an agent) then "called" (its
outcome, note, agent and moment on the row); both count as done for the level's progression, "called" as delivered,
so the triggers are installed again at version 4 (and the existing invoices recomputed: no row has those statuses
yet, the figures stay as they are).

Revision ID: 3f6c1d2a9b70
Revises: 5c870cf0df41
Create Date: 2026-12-04 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from relance.models import reminder_state

# revision identifiers, used by Alembic.
revision = '3f6c1d2a9b70'
down_revision = '5c870cf0df41'
branch_labels = None
depends_on = None


def upgrade():
    dialect = op.get_bind().dialect.name
    for sql in reminder_state.statements(dialect, drop=True):  # SQLite rebuilds reminders: no trigger may name it
        op.execute(sql)
    with op.batch_alter_table('reminder_levels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_call', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=16), server_default='', nullable=False))
        batch_op.add_column(sa.Column('outcome_note', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('called_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('called_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_reminders_called_by_id_users'), 'users', ['called_by_id'], ['id'],
                                    ondelete='SET NULL')
    reminder_state.install(op.execute, dialect, version=4)
    op.execute(reminder_state.backfill(version=4))


def downgrade():
    dialect = op.get_bind().dialect.name
    for sql in reminder_state.statements(dialect, drop=True):
        op.execute(sql)
    # the calls go with the columns that describe them: the code before this revision knows no phone reminder
    op.execute("DELETE FROM reminders WHERE channel = 'phone'")
    op.execute("UPDATE reminder_levels SET channels = 'email' WHERE channels = 'phone'")
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_reminders_called_by_id_users'), type_='foreignkey')
        batch_op.drop_column('called_at')
        batch_op.drop_column('called_by_id')
        batch_op.drop_column('outcome_note')
        batch_op.drop_column('outcome')
    with op.batch_alter_table('reminder_levels', schema=None) as batch_op:
        batch_op.drop_column('phone_call')
    reminder_state.install(op.execute, dialect, version=3)
    op.execute(reminder_state.backfill(version=3))
