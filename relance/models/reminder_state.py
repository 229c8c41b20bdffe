"""Each invoice's reminder state, kept by the database itself.

`invoices.reminder_level` (highest level of its pending, sent, to post or posted reminders),
`invoices.delivered_level` (highest level of its sent or posted ones: the next level waits until the last one is
delivered; version 3; version 4 counts the phone calls: to call or called done, called delivered),
`invoices.last_reminder_date` (their latest date) and `invoices.manual_next_date` (the next reminder date a person
set on the latest of them; NULL when the latest was automatic) let the reminder engine pick due invoices without
joining every open invoice to its reminders. Triggers on `reminders` recompute them for the invoice concerned after
every insert, delete or change of invoice, level, status, date, next date or author, whatever writes the row (the
app, an import, a person with SQL).
`db.create_all()` installs them with the table; the migrations after d9683300ddc4 (which carries its own SQL, as it
was then) install them with `install()` (`version` 1: the first two columns, as the migrations before
manual_next_date made them).

Version 5 keeps version 4's figures and costs less per row (a first run inserts thousands of reminders, then updates
each one as it is sent): an insert adds its row to the state it finds (the new row can only raise the levels and the
date; the last reminder's next date is the new row's unless an earlier-dated row is the latest: that one case reads
the rows again), an insert or delete of a row that is not done changes nothing, an update recomputes its old invoice
only when the row moved to another invoice, and a recomputation reads the invoice's own rows once through the index
on the invoice (the statuses tested on each row, not looked up in the index on the status: SQLite then went through
every pending reminder of the run; 190 -> 40 us a row).
"""

from __future__ import annotations

from sqlalchemy import DDL, event

from relance.models.reminder import Reminder

# relance.services.engine.levels.DONE_STATUSES and DELIVERED_STATUSES; version 4 adds the phone calls
_DONE = "('pending', 'sent', 'to_post', 'posted')"
_DELIVERED = "('sent', 'posted')"
_DONE_4 = "('pending', 'sent', 'to_post', 'posted', 'to_call', 'called')"
_DELIVERED_4 = "('sent', 'posted', 'called')"


VERSION = 5


def _latest_next(ref: str, done: str) -> str:
    """The next date a person set on the invoice's latest done reminder (NULL when the run made it)."""
    return (f"(SELECT CASE WHEN user_id IS NOT NULL THEN next_date END FROM reminders WHERE invoice_id = {ref} "
            f"AND status IN {done} ORDER BY reminder_date DESC, id DESC LIMIT 1)")


def _latest_next_5(ref: str) -> str:
    """`_latest_next` read through the invoice's rows alone (the done ones first): with `status IN` in the WHERE
    clause, SQLite chose the index on the status and went through every pending row of the run, ten times the work."""
    return (f"(SELECT CASE WHEN status IN {_DONE_4} AND user_id IS NOT NULL THEN next_date END FROM reminders "
            f"WHERE invoice_id = {ref} ORDER BY status IN {_DONE_4} DESC, reminder_date DESC, id DESC LIMIT 1)")


def _refresh(ref: str, version: int = VERSION, only_if: str = "") -> str:
    """The UPDATE that recomputes the state of the invoice `ref` (NEW.invoice_id or OLD.invoice_id); `only_if`: a
    condition more on the row (version 5's update trigger on SQLite, which has no IF)."""
    done, delivered_statuses = (_DONE_4, _DELIVERED_4) if version >= 4 else (_DONE, _DELIVERED)
    of = f"FROM reminders WHERE invoice_id = {ref} AND status IN {done}"
    if version >= 5:
        where = f"id = {ref} AND {only_if}" if only_if else f"id = {ref}"
        return (f"UPDATE invoices SET (reminder_level, last_reminder_date, delivered_level) = "
                f"(SELECT max(CASE WHEN status IN {done} THEN level END), "
                f"max(CASE WHEN status IN {done} THEN reminder_date END), "
                f"max(CASE WHEN status IN {delivered_statuses} THEN level END) "
                f"FROM reminders WHERE invoice_id = {ref}), "
                f"manual_next_date = {_latest_next_5(ref)} WHERE {where};")
    manual_next = f", manual_next_date = {_latest_next(ref, done)}" if version >= 2 else ""
    delivered = (f", delivered_level = (SELECT max(level) FROM reminders WHERE invoice_id = {ref} "
                 f"AND status IN {delivered_statuses})") if version >= 3 else ""
    return (f"UPDATE invoices SET reminder_level = (SELECT max(level) {of}), "
            f"last_reminder_date = (SELECT max(reminder_date) {of}){manual_next}{delivered} WHERE id = {ref};")


def _added() -> str:
    """Version 5's insert of a done row: the row added to the state the invoice has (the columns on the right are
    the values before the UPDATE). The next date a person set is the new row's when it is the latest (a later date;
    the same date: the latest by id, read again)."""
    later = "last_reminder_date IS NULL OR NEW.reminder_date > last_reminder_date"
    return ("UPDATE invoices SET "
            "reminder_level = CASE WHEN reminder_level IS NULL OR NEW.level > reminder_level THEN NEW.level "
            "ELSE reminder_level END, "
            f"last_reminder_date = CASE WHEN {later} THEN NEW.reminder_date ELSE last_reminder_date END, "
            f"manual_next_date = CASE WHEN {later} THEN CASE WHEN NEW.user_id IS NOT NULL THEN NEW.next_date END "
            "WHEN NEW.reminder_date < last_reminder_date THEN manual_next_date "
            f"ELSE {_latest_next_5('NEW.invoice_id')} END, "
            f"delivered_level = CASE WHEN NEW.status IN {_DELIVERED_4} AND "
            "(delivered_level IS NULL OR NEW.level > delivered_level) THEN NEW.level ELSE delivered_level END "
            "WHERE id = NEW.invoice_id;")


# version 5: an update recomputes its invoice when a done row is concerned or the row moves
_CONCERNED = f"(OLD.invoice_id <> NEW.invoice_id OR OLD.status IN {_DONE_4} OR NEW.status IN {_DONE_4})"


def _watched(version: int) -> str:
    return "invoice_id, level, status, reminder_date" + (", next_date, user_id" if version >= 2 else "")


def _sqlite(version: int) -> tuple[str, ...]:
    if version >= 5:
        return (
            f"CREATE TRIGGER reminders_state_insert AFTER INSERT ON reminders WHEN NEW.status IN {_DONE_4} BEGIN "
            f"{_added()} END",
            f"CREATE TRIGGER reminders_state_update AFTER UPDATE OF {_watched(version)} ON reminders "
            f"WHEN {_CONCERNED} BEGIN "
            f"{_refresh('OLD.invoice_id', version, only_if='OLD.invoice_id <> NEW.invoice_id')} "
            f"{_refresh('NEW.invoice_id', version)} END",
            f"CREATE TRIGGER reminders_state_delete AFTER DELETE ON reminders WHEN OLD.status IN {_DONE_4} BEGIN "
            f"{_refresh('OLD.invoice_id', version)} END",
        )
    return (
        f"CREATE TRIGGER reminders_state_insert AFTER INSERT ON reminders BEGIN "
        f"{_refresh('NEW.invoice_id', version)} END",
        f"CREATE TRIGGER reminders_state_update AFTER UPDATE OF {_watched(version)} ON reminders BEGIN "
        f"{_refresh('OLD.invoice_id', version)} {_refresh('NEW.invoice_id', version)} END",
        f"CREATE TRIGGER reminders_state_delete AFTER DELETE ON reminders BEGIN "
        f"{_refresh('OLD.invoice_id', version)} END",
    )


SQLITE_DROP = tuple(f"DROP TRIGGER IF EXISTS reminders_state_{op}" for op in ("insert", "update", "delete"))


def _postgresql(version: int) -> tuple[str, ...]:
    body = (f"IF TG_OP <> 'INSERT' THEN {_refresh('OLD.invoice_id', version)} END IF; "
            f"IF TG_OP <> 'DELETE' THEN {_refresh('NEW.invoice_id', version)} END IF; ")
    if version >= 5:
        body = (f"IF TG_OP = 'INSERT' THEN IF NEW.status IN {_DONE_4} THEN {_added()} END IF; "
                f"ELSIF TG_OP = 'DELETE' THEN IF OLD.status IN {_DONE_4} THEN {_refresh('OLD.invoice_id', version)} "
                f"END IF; ELSIF {_CONCERNED} THEN "
                f"IF OLD.invoice_id <> NEW.invoice_id THEN {_refresh('OLD.invoice_id', version)} END IF; "
                f"{_refresh('NEW.invoice_id', version)} END IF; ")
    return (
        f"CREATE FUNCTION reminders_state() RETURNS trigger AS $$ BEGIN {body}"
        "RETURN NULL; END $$ LANGUAGE plpgsql",
        f"CREATE TRIGGER reminders_state AFTER INSERT OR DELETE OR UPDATE OF {_watched(version)} ON reminders "
        "FOR EACH ROW EXECUTE FUNCTION reminders_state()",
    )


POSTGRESQL_DROP = ("DROP TRIGGER IF EXISTS reminders_state ON reminders", "DROP FUNCTION IF EXISTS reminders_state()")


def backfill(version: int = VERSION) -> str:
    """The UPDATE that recomputes the state of every invoice."""
    return _refresh("invoices.id", version).replace(" WHERE id = invoices.id", "")


def statements(dialect: str, drop: bool = False, version: int = VERSION) -> tuple[str, ...]:
    if dialect == "postgresql":
        return POSTGRESQL_DROP if drop else _postgresql(version)
    return SQLITE_DROP if drop else _sqlite(version)


def install(execute, dialect: str, version: int = VERSION) -> None:
    """Create the triggers with `execute(sql)` (a connection's or Alembic's `op.execute`)."""
    for sql in statements(dialect, version=version):
        execute(sql)


for _dialect in ("sqlite", "postgresql"):
    for _sql in statements(_dialect):
        event.listen(Reminder.__table__, "after_create", DDL(_sql).execute_if(dialect=_dialect))
