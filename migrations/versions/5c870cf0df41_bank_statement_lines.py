"""bank statement lines, payments carry their bank line (issue 21: payments come in by themselves)

A new table `bank_lines` (the credits read from bank statements, kept once by `key`, with what matching proposed)
and a nullable `payments.bank_line_id` (the line a payment came from; SET NULL when the line goes).
SQLite rebuilds `payments` to add the foreign key (batch mode), which drops its triggers: they are installed again
after, up and down. The SQL is this revision's own copy of relance/models/paid_state.py as it is today (the same as
11aee30f1ce5 wrote); a migration never imports the models. PostgreSQL alters the table in place (triggers kept).

Revision ID: 5c870cf0df41
Revises: 62fe4ddbdd88
Create Date: 2026-12-04 15:30:11.594038

"""
from alembic import op
import sqlalchemy as sa


def _set(paid):
    return (f"amount_paid = {paid}, status = CASE "
            f"WHEN {paid} > amount_paid AND {paid} >= total_incl_tax AND status = 'validated' AND kind = 'invoice' "
            "THEN 'paid' "
            f"WHEN {paid} < amount_paid AND {paid} < total_incl_tax AND status = 'paid' AND kind = 'invoice' "
            "THEN 'validated' ELSE status END")


def _sqlite_refresh(ref):
    paid = f"(SELECT round(coalesce(sum(amount), 0), 2) FROM payments WHERE invoice_id = {ref})"
    return f"UPDATE invoices SET {_set(paid)} WHERE id = {ref};"


SQLITE_TRIGGERS = (
    "DROP TRIGGER IF EXISTS payments_paid_insert",
    "DROP TRIGGER IF EXISTS payments_paid_update",
    "DROP TRIGGER IF EXISTS payments_paid_delete",
    f"CREATE TRIGGER payments_paid_insert AFTER INSERT ON payments BEGIN {_sqlite_refresh('NEW.invoice_id')} END",
    "CREATE TRIGGER payments_paid_update AFTER UPDATE OF invoice_id, amount ON payments BEGIN "
    f"{_sqlite_refresh('OLD.invoice_id')} {_sqlite_refresh('NEW.invoice_id')} END",
    f"CREATE TRIGGER payments_paid_delete AFTER DELETE ON payments BEGIN {_sqlite_refresh('OLD.invoice_id')} END",
)


def _payment_triggers_again():
    if op.get_bind().dialect.name == "sqlite":
        for sql in SQLITE_TRIGGERS:
            op.execute(sql)


# revision identifiers, used by Alembic.
revision = '5c870cf0df41'
down_revision = '62fe4ddbdd88'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bank_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('entry_ref', sa.String(length=120), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('booking_date', sa.Date(), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('counterparty_name', sa.String(length=200), nullable=False),
    sa.Column('counterparty_iban', sa.String(length=34), nullable=False),
    sa.Column('source_file', sa.String(length=255), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_lines')),
    sa.UniqueConstraint('key', name=op.f('uq_bank_lines_key'))
    )
    with op.batch_alter_table('bank_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_lines_counterparty_iban'), ['counterparty_iban'], unique=False)
        batch_op.create_index('ix_bank_lines_status_booking_date', ['status', 'booking_date'], unique=False)

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bank_line_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_payments_bank_line_id'), ['bank_line_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_payments_bank_line_id_bank_lines'), 'bank_lines',
                                    ['bank_line_id'], ['id'], ondelete='SET NULL')
    _payment_triggers_again()


def downgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payments_bank_line_id_bank_lines'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_payments_bank_line_id'))
        batch_op.drop_column('bank_line_id')
    _payment_triggers_again()

    with op.batch_alter_table('bank_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_bank_lines_status_booking_date')
        batch_op.drop_index(batch_op.f('ix_bank_lines_counterparty_iban'))

    op.drop_table('bank_lines')
