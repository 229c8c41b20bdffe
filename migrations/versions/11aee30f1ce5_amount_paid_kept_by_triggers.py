"""amount paid kept by triggers

invoices.amount_paid (the sum of the invoice's payments) and the paid status that follows it are kept by triggers
on payments, like the reminder state, instead of by the payment service and the CSV import. The upgrade recomputes
every invoice (the old SQLite import could leave an invoice paid in full 'validated': its sum in floating point
fell a hair short of the total). The SQL is this revision's own copy of relance/models/paid_state.py (a migration
never imports today's models). No table is rebuilt: the reminder-state triggers stay as they are.

Revision ID: 11aee30f1ce5
Revises: a3c51e7d2b90
Create Date: 2026-12-04 04:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '11aee30f1ce5'
down_revision = 'a3c51e7d2b90'
branch_labels = None
depends_on = None


def _set(paid):
    """SET amount_paid = the new sum; the status moves with it: up to the total a validated invoice becomes paid,
    down below it a paid one becomes validated (`amount_paid` on the right is the value before the UPDATE)."""
    return (f"amount_paid = {paid}, status = CASE "
            f"WHEN {paid} > amount_paid AND {paid} >= total_incl_tax AND status = 'validated' AND kind = 'invoice' "
            "THEN 'paid' "
            f"WHEN {paid} < amount_paid AND {paid} < total_incl_tax AND status = 'paid' AND kind = 'invoice' "
            "THEN 'validated' ELSE status END")


def _sqlite_sum(ref):
    return f"(SELECT round(coalesce(sum(amount), 0), 2) FROM payments WHERE invoice_id = {ref})"


def _sqlite_refresh(ref):
    return f"UPDATE invoices SET {_set(_sqlite_sum(ref))} WHERE id = {ref};"


SQLITE = (
    f"CREATE TRIGGER payments_paid_insert AFTER INSERT ON payments BEGIN {_sqlite_refresh('NEW.invoice_id')} END",
    "CREATE TRIGGER payments_paid_update AFTER UPDATE OF invoice_id, amount ON payments BEGIN "
    f"{_sqlite_refresh('OLD.invoice_id')} {_sqlite_refresh('NEW.invoice_id')} END",
    f"CREATE TRIGGER payments_paid_delete AFTER DELETE ON payments BEGIN {_sqlite_refresh('OLD.invoice_id')} END",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS payments_paid_insert",
    "DROP TRIGGER IF EXISTS payments_paid_update",
    "DROP TRIGGER IF EXISTS payments_paid_delete",
)


def _postgresql_refresh(ref):
    # Lock the invoice, then read the sum (a later statement: it sees a concurrent payment committed meanwhile),
    # planned at each call (EXECUTE), then write by primary key.
    return (f"PERFORM 1 FROM invoices WHERE id = {ref} FOR NO KEY UPDATE; "
            "EXECUTE 'SELECT coalesce(sum(amount), 0) FROM payments WHERE invoice_id = $1' "
            f"INTO paid_sum USING {ref}; "
            f"UPDATE invoices SET {_set('paid_sum')} WHERE id = {ref};")


POSTGRESQL = (
    "CREATE FUNCTION payments_paid() RETURNS trigger AS $$ DECLARE paid_sum numeric; BEGIN "
    f"IF TG_OP <> 'INSERT' THEN {_postgresql_refresh('OLD.invoice_id')} END IF; "
    f"IF TG_OP <> 'DELETE' THEN {_postgresql_refresh('NEW.invoice_id')} END IF; "
    "RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER payments_paid AFTER INSERT OR DELETE OR UPDATE OF invoice_id, amount ON payments "
    "FOR EACH ROW EXECUTE FUNCTION payments_paid()",
)
POSTGRESQL_DROP = (
    "DROP TRIGGER IF EXISTS payments_paid ON payments",
    "DROP FUNCTION IF EXISTS payments_paid()",
)

BACKFILL = {
    "sqlite": ("UPDATE invoices SET amount_paid = "
               "(SELECT round(coalesce(sum(amount), 0), 2) FROM payments WHERE invoice_id = invoices.id);",),
    "postgresql": ("UPDATE invoices SET amount_paid = "
                   "(SELECT coalesce(sum(amount), 0) FROM payments WHERE invoice_id = invoices.id);",),
}
# What the payment service did when an invoice's last payment was recorded.
SETTLE = ("UPDATE invoices SET status = 'paid' WHERE status = 'validated' AND kind = 'invoice' "
          "AND amount_paid >= total_incl_tax AND amount_paid > 0;")


def upgrade():
    dialect = op.get_bind().dialect.name
    for sql in POSTGRESQL if dialect == "postgresql" else SQLITE:
        op.execute(sql)
    for sql in (*BACKFILL[dialect], SETTLE):
        op.execute(sql)


def downgrade():
    # The columns stay, right as they are; the payment service and the import of the previous revision keep them.
    dialect = op.get_bind().dialect.name
    for sql in POSTGRESQL_DROP if dialect == "postgresql" else SQLITE_DROP:
        op.execute(sql)
