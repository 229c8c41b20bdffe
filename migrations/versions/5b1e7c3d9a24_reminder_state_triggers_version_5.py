"""reminder-state triggers, version 5: the same figures for less work per row

Version 4's triggers recomputed an invoice's reminder state from all its reminders after every insert, update or
delete, twice for an update (the old invoice, then the new one, the same invoice in nearly every case). Version 5
(relance/models/reminder_state.py) gives the same columns: an insert adds its row to the state the invoice has, a
row that is not done changes nothing when inserted or deleted, an update recomputes the old invoice only when the
row moved, the levels and the date are read in one pass. The figures do not change: nothing to recompute.

Revision ID: 5b1e7c3d9a24
Revises: 9e2b4c7a1d05
Create Date: 2026-12-04 23:30:00.000000

"""
from alembic import op

from relance.models import reminder_state

# revision identifiers, used by Alembic.
revision = '5b1e7c3d9a24'
down_revision = '9e2b4c7a1d05'
branch_labels = None
depends_on = None


def _install(version):
    dialect = op.get_bind().dialect.name
    for sql in reminder_state.statements(dialect, drop=True):
        op.execute(sql)
    reminder_state.install(op.execute, dialect, version=version)


def upgrade():
    _install(5)


def downgrade():
    _install(4)
