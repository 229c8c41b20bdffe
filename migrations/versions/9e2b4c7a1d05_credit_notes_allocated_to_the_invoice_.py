"""credit notes allocated to the invoice they credit

`invoices.credits_invoice_id`: a credit note names the invoice it credits (SET NULL when that invoice goes).
`payments.credit_note_id` (unique): the payment row that stands for an allocated credit note on the invoice it
credits (services/credit_notes.py keeps it; CASCADE: it goes with the credit note). No row exists yet for either:
nothing to fill.
SQLite rebuilds both tables (batch mode, for the foreign keys): the triggers that name them are dropped first (the
reminder state on `reminders`, version 4, and the amount paid on `payments`) and installed again after, from this
revision's own copy of their SQL (relance/models/reminder_state.py and paid_state.py as they are today). PostgreSQL
alters the tables in place: its triggers stay. The downgrade removes the allocations' payment rows first (the code
before this revision knows no credit note allocated), then the columns.

Revision ID: 9e2b4c7a1d05
Revises: 9a4d2c7e5b13
Create Date: 2026-12-04 17:11:28.482267

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9e2b4c7a1d05'
down_revision = '9a4d2c7e5b13'
branch_labels = None
depends_on = None

_DONE = "('pending', 'sent', 'to_post', 'posted', 'to_call', 'called')"
_DELIVERED = "('sent', 'posted', 'called')"


def _state(ref):
    of = f"FROM reminders WHERE invoice_id = {ref} AND status IN {_DONE}"
    return (f"UPDATE invoices SET reminder_level = (SELECT max(level) {of}), "
            f"last_reminder_date = (SELECT max(reminder_date) {of}), "
            f"manual_next_date = (SELECT CASE WHEN user_id IS NOT NULL THEN next_date END {of} "
            "ORDER BY reminder_date DESC, id DESC LIMIT 1), "
            f"delivered_level = (SELECT max(level) FROM reminders WHERE invoice_id = {ref} AND status IN {_DELIVERED}) "
            f"WHERE id = {ref};")


def _paid(ref):
    paid = f"(SELECT round(coalesce(sum(amount), 0), 2) FROM payments WHERE invoice_id = {ref})"
    return (f"UPDATE invoices SET amount_paid = {paid}, status = CASE "
            f"WHEN {paid} > amount_paid AND {paid} >= total_incl_tax AND status = 'validated' AND kind = 'invoice' "
            "THEN 'paid' "
            f"WHEN {paid} < amount_paid AND {paid} < total_incl_tax AND status = 'paid' AND kind = 'invoice' "
            f"THEN 'validated' ELSE status END WHERE id = {ref};")


SQLITE_DROP = tuple(f"DROP TRIGGER IF EXISTS {name}_{op_}" for name in ("reminders_state", "payments_paid")
                    for op_ in ("insert", "update", "delete"))
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER reminders_state_insert AFTER INSERT ON reminders BEGIN {_state('NEW.invoice_id')} END",
    "CREATE TRIGGER reminders_state_update AFTER UPDATE OF invoice_id, level, status, reminder_date, next_date, "
    f"user_id ON reminders BEGIN {_state('OLD.invoice_id')} {_state('NEW.invoice_id')} END",
    f"CREATE TRIGGER reminders_state_delete AFTER DELETE ON reminders BEGIN {_state('OLD.invoice_id')} END",
    f"CREATE TRIGGER payments_paid_insert AFTER INSERT ON payments BEGIN {_paid('NEW.invoice_id')} END",
    "CREATE TRIGGER payments_paid_update AFTER UPDATE OF invoice_id, amount ON payments BEGIN "
    f"{_paid('OLD.invoice_id')} {_paid('NEW.invoice_id')} END",
    f"CREATE TRIGGER payments_paid_delete AFTER DELETE ON payments BEGIN {_paid('OLD.invoice_id')} END",
)


def _sqlite(statements):
    if op.get_bind().dialect.name == "sqlite":
        for sql in statements:
            op.execute(sql)


def upgrade():
    _sqlite(SQLITE_DROP)
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credits_invoice_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_invoices_credits_invoice_id'), ['credits_invoice_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_invoices_credits_invoice_id_invoices'), 'invoices',
                                    ['credits_invoice_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credit_note_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_payments_credit_note_id'), ['credit_note_id'])
        batch_op.create_foreign_key(batch_op.f('fk_payments_credit_note_id_invoices'), 'invoices',
                                    ['credit_note_id'], ['id'], ondelete='CASCADE')
    _sqlite(SQLITE_TRIGGERS)


def downgrade():
    op.execute("DELETE FROM payments WHERE credit_note_id IS NOT NULL")  # the triggers recompute the amounts paid
    _sqlite(SQLITE_DROP)
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payments_credit_note_id_invoices'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_payments_credit_note_id'), type_='unique')
        batch_op.drop_column('credit_note_id')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_invoices_credits_invoice_id_invoices'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_invoices_credits_invoice_id'))
        batch_op.drop_column('credits_invoice_id')
    _sqlite(SQLITE_TRIGGERS)
