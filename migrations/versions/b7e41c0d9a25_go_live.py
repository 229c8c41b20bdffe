"""go-live: invoices.auto_from_rank; levels not automatic until the go-live step (issue 17)

Automatic sending now waits for the go-live step (relance/services/golive.py: settings `go_live_date` and
`auto_start_date`, key/value rows, so no table changes for them).
- `invoices.auto_from_rank`: an invoice overdue on the go-live date that a person brought into the automatic schedule
  from that level. A plain ADD COLUMN (no table copy on SQLite: the triggers on invoices stay as they are).
- A database that never sent anything automatically (no automatic reminder, no automatic run) has not gone live:
  its levels are made not automatic (the fresh install's levels of 38a89e63422d were automatic for 0-2), and the
  go-live step chooses them.
- A database that already sent automatically is live: it gets the go-live settings at once (go-live date = its
  earliest due date, so no invoice already in the automatic cycle is left out; automatic sending started on its
  first automatic reminder or run), and its levels stay as they are.
The downgrade drops the column and leaves the data alone.

Revision ID: b7e41c0d9a25
Revises: 38a89e63422d
Create Date: 2026-12-06 09:00:00.000000

"""
from datetime import date

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e41c0d9a25'
down_revision = '38a89e63422d'
branch_labels = None
depends_on = None


def _day(value):
    if value is None:
        return None
    if isinstance(value, str):  # SQLite gives dates and timestamps back as text
        return date.fromisoformat(value[:10])
    return value if isinstance(value, date) and not hasattr(value, 'hour') else value.date()


def upgrade():
    op.add_column('invoices', sa.Column('auto_from_rank', sa.Integer(), nullable=True))
    conn = op.get_bind()
    settings = sa.table('settings', sa.column('key', sa.String), sa.column('value', sa.JSON))
    if conn.execute(sa.select(settings.c.key).where(settings.c.key == 'auto_start_date')).first():
        return  # already recorded
    first_auto = _day(conn.execute(sa.text(
        "SELECT MIN(reminder_date) FROM reminders WHERE user_id IS NULL")).scalar())
    first_run = _day(conn.execute(sa.text("SELECT MIN(run_date) FROM runs WHERE kind = 'auto' AND dry_run = :no"),
                                  {"no": False}).scalar())
    started = min([d for d in (first_auto, first_run) if d is not None], default=None)
    if started is None:
        conn.execute(sa.text("UPDATE reminder_levels SET automatic = :off"), {"off": False})
        return
    earliest_due = _day(conn.execute(sa.text("SELECT MIN(due_date) FROM invoices")).scalar())
    go_live = min(d for d in (earliest_due, started) if d is not None)
    op.bulk_insert(settings, [{'key': 'go_live_date', 'value': go_live.isoformat()},
                              {'key': 'auto_start_date', 'value': started.isoformat()}])


def downgrade():
    op.drop_column('invoices', 'auto_from_rank')
