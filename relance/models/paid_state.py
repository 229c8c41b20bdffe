"""Each invoice's amount paid (and its paid status), kept by the database itself, like its reminder state
(`reminder_state.py`): one mechanism for the derived invoice columns.

`invoices.amount_paid` is the sum of the invoice's payments (the reminder engine selects on it in SQL). The status
follows it in the direction of the change: a payment that settles a validated invoice marks it paid; a change that
lowers what was paid (a payment deleted, made smaller or moved to another invoice) makes a paid invoice that is no
longer settled validated again. An invoice a person marked paid stays paid when a partial payment is added.
Row triggers on `payments` do it after every insert, delete or change of invoice or amount, whatever writes the row
(the payment service, the CSV import and the API, a person with SQL); they recompute the sum (never add to it), so an
invoice left wrong by hand is right again at its next payment change. Code never writes `amount_paid`; after
writing payments through the ORM it expires the invoice's `DERIVED` attributes to read them again.
On PostgreSQL the trigger locks the invoice row before it reads the sum, so two transactions paying the same invoice
at once add up. `invoices.updated_at` is not touched (no more than by the reminder-state triggers).
Cost and the reasons for this mechanism: DEVELOPERS.md, "Derived invoice columns" (`bench/derived.py`).

`db.create_all()` installs the triggers with the table. The migration that introduced them carries its own copy of
this SQL (a migration never imports today's models). SQLite: a migration that rebuilds `invoices` (batch mode)
drops these triggers first and installs them again after (they name the table); one that rebuilds `payments`
installs them again (dropping the table drops them).
"""

from __future__ import annotations

from sqlalchemy import DDL, event

from relance.models.invoice import Payment

DERIVED = ("amount_paid", "status")  # the invoice attributes the triggers write


def _sum(ref: str, dialect: str) -> str:
    of = f"FROM payments WHERE invoice_id = {ref}"
    # SQLite keeps NUMERIC money as binary floating point: round the sum so that it compares equal to a total.
    return f"(SELECT round(coalesce(sum(amount), 0), 2) {of})" if dialect == "sqlite" else \
        f"(SELECT coalesce(sum(amount), 0) {of})"


def _set(paid: str) -> str:
    """SET amount_paid = `paid` (the new sum) and move the status in the direction of the change: up to the total,
    a validated invoice becomes paid; down below it, a paid invoice becomes validated (in an UPDATE, `amount_paid`
    on the right is the value before)."""
    return (f"amount_paid = {paid}, status = CASE "
            f"WHEN {paid} > amount_paid AND {paid} >= total_incl_tax AND status = 'validated' AND kind = 'invoice' "
            "THEN 'paid' "
            f"WHEN {paid} < amount_paid AND {paid} < total_incl_tax AND status = 'paid' AND kind = 'invoice' "
            "THEN 'validated' ELSE status END")


def _sqlite() -> tuple[str, ...]:
    def refresh(ref: str) -> str:  # only `id` in the WHERE: the row is found by its primary key
        return f"UPDATE invoices SET {_set(_sum(ref, 'sqlite'))} WHERE id = {ref};"

    return (
        f"CREATE TRIGGER payments_paid_insert AFTER INSERT ON payments BEGIN {refresh('NEW.invoice_id')} END",
        "CREATE TRIGGER payments_paid_update AFTER UPDATE OF invoice_id, amount ON payments BEGIN "
        f"{refresh('OLD.invoice_id')} {refresh('NEW.invoice_id')} END",
        f"CREATE TRIGGER payments_paid_delete AFTER DELETE ON payments BEGIN {refresh('OLD.invoice_id')} END",
    )


SQLITE_DROP = tuple(f"DROP TRIGGER IF EXISTS payments_paid_{op}" for op in ("insert", "update", "delete"))


def _postgresql() -> tuple[str, ...]:
    # The invoice is locked first: the sum, read by a later statement, then counts the payments a concurrent
    # transaction committed meanwhile (two people paying one invoice at once add up). The sum is planned at each
    # call (EXECUTE): a plan PL/pgSQL kept from the first rows of an import into an empty table would scan the
    # whole table for every payment while the same statement fills it.
    def refresh(ref: str) -> str:
        return (f"PERFORM 1 FROM invoices WHERE id = {ref} FOR NO KEY UPDATE; "
                "EXECUTE 'SELECT coalesce(sum(amount), 0) FROM payments WHERE invoice_id = $1' "
                f"INTO paid_sum USING {ref}; "
                f"UPDATE invoices SET {_set('paid_sum')} WHERE id = {ref};")

    return (
        "CREATE FUNCTION payments_paid() RETURNS trigger AS $$ DECLARE paid_sum numeric; BEGIN "
        f"IF TG_OP <> 'INSERT' THEN {refresh('OLD.invoice_id')} END IF; "
        f"IF TG_OP <> 'DELETE' THEN {refresh('NEW.invoice_id')} END IF; "
        "RETURN NULL; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER payments_paid AFTER INSERT OR DELETE OR UPDATE OF invoice_id, amount ON payments "
        "FOR EACH ROW EXECUTE FUNCTION payments_paid()",
    )


POSTGRESQL_DROP = ("DROP TRIGGER IF EXISTS payments_paid ON payments", "DROP FUNCTION IF EXISTS payments_paid()")


def backfill(dialect: str) -> tuple[str, ...]:
    """The UPDATEs that recompute every invoice's amount paid and mark paid the validated ones their payments
    settle (what the payment service did when the last one was recorded)."""
    return (f"UPDATE invoices SET amount_paid = {_sum('invoices.id', dialect)};",
            "UPDATE invoices SET status = 'paid' WHERE status = 'validated' AND kind = 'invoice' "
            "AND amount_paid >= total_incl_tax AND amount_paid > 0;")


def statements(dialect: str, drop: bool = False) -> tuple[str, ...]:
    if dialect == "postgresql":
        return POSTGRESQL_DROP if drop else _postgresql()
    return SQLITE_DROP if drop else _sqlite()


def install(execute, dialect: str) -> None:
    """Create the triggers with `execute(sql)` (a connection's `exec_driver_sql`, a bench)."""
    for sql in statements(dialect):
        execute(sql)


for _dialect in ("sqlite", "postgresql"):
    for _sql in statements(_dialect):
        event.listen(Payment.__table__, "after_create", DDL(_sql).execute_if(dialect=_dialect))
