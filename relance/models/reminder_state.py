"""Each invoice's reminder state, kept by the database itself.

`invoices.reminder_level` (highest level of its pending, sent, to post or posted reminders) and
`invoices.last_reminder_date` (their latest date) let the reminder engine pick due invoices without joining
every open invoice to its reminders. Triggers on `reminders` recompute both for the invoice concerned after every
insert, delete or change of invoice, level, status or date, whatever writes the row (the app, an import, a person
with SQL).
`db.create_all()` installs them with the table; the migrations install them with `install()`.
"""

from __future__ import annotations

from sqlalchemy import DDL, event

from relance.models.reminder import Reminder

_DONE = "('pending', 'sent', 'to_post', 'posted')"  # relance.services.levels.DONE_STATUSES


def _refresh(ref: str) -> str:
    """The UPDATE that recomputes the state of the invoice `ref` (NEW.invoice_id or OLD.invoice_id)."""
    of = f"FROM reminders WHERE invoice_id = {ref} AND status IN {_DONE}"
    return (f"UPDATE invoices SET reminder_level = (SELECT max(level) {of}), "
            f"last_reminder_date = (SELECT max(reminder_date) {of}) WHERE id = {ref};")


_WATCHED = "invoice_id, level, status, reminder_date"

SQLITE = (
    f"CREATE TRIGGER reminders_state_insert AFTER INSERT ON reminders BEGIN {_refresh('NEW.invoice_id')} END",
    f"CREATE TRIGGER reminders_state_update AFTER UPDATE OF {_WATCHED} ON reminders BEGIN "
    f"{_refresh('OLD.invoice_id')} {_refresh('NEW.invoice_id')} END",
    f"CREATE TRIGGER reminders_state_delete AFTER DELETE ON reminders BEGIN {_refresh('OLD.invoice_id')} END",
)
SQLITE_DROP = tuple(f"DROP TRIGGER IF EXISTS reminders_state_{op}" for op in ("insert", "update", "delete"))

POSTGRESQL = (
    "CREATE FUNCTION reminders_state() RETURNS trigger AS $$ BEGIN "
    f"IF TG_OP <> 'INSERT' THEN {_refresh('OLD.invoice_id')} END IF; "
    f"IF TG_OP <> 'DELETE' THEN {_refresh('NEW.invoice_id')} END IF; "
    "RETURN NULL; END $$ LANGUAGE plpgsql",
    f"CREATE TRIGGER reminders_state AFTER INSERT OR DELETE OR UPDATE OF {_WATCHED} ON reminders "
    "FOR EACH ROW EXECUTE FUNCTION reminders_state()",
)
POSTGRESQL_DROP = ("DROP TRIGGER IF EXISTS reminders_state ON reminders", "DROP FUNCTION IF EXISTS reminders_state()")

BACKFILL = _refresh("invoices.id").replace(" WHERE id = invoices.id", "")


def statements(dialect: str, drop: bool = False) -> tuple[str, ...]:
    if dialect == "postgresql":
        return POSTGRESQL_DROP if drop else POSTGRESQL
    return SQLITE_DROP if drop else SQLITE


def install(execute, dialect: str) -> None:
    """Create the triggers with `execute(sql)` (a connection's or Alembic's `op.execute`)."""
    for sql in statements(dialect):
        execute(sql)


for _dialect in ("sqlite", "postgresql"):
    for _sql in statements(_dialect):
        event.listen(Reminder.__table__, "after_create", DDL(_sql).execute_if(dialect=_dialect))
