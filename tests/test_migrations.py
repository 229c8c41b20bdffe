"""Migrations build the schema from empty, go down to base and up again, and agree with the models."""

from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from relance.extensions import db
from tests.conftest import PG_URL, _build_app, need_service
from tests.pgschema import drop_pg_schema, pg_url_with_schema, reset_pg_schema

MIG_SCHEMA = f"relance_mig_{os.getpid()}"  # one per test process (xdist workers, two suites at once)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mig.db'}"
        return
    url = need_service(PG_URL, "PostgreSQL (RELANCE_TEST_DATABASE_URL)")
    reset_pg_schema(url, MIG_SCHEMA)
    yield pg_url_with_schema(url, MIG_SCHEMA)
    drop_pg_schema(url, MIG_SCHEMA)


def _differences():
    with db.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)


def test_upgrade_downgrade_upgrade_and_models_agree(empty_db_url, tmp_path):
    app = _build_app(empty_db_url, tmp_path)
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {t.name for t in db.metadata.sorted_tables} <= tables
        assert _differences() == []
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert _differences() == []
        db.engine.dispose()


def _old_customer_and_invoices(conn, invoice_ids) -> None:
    """A customer and its invoices written with plain SQL, as an older revision's database holds them."""
    from sqlalchemy import text

    conn.execute(text(
        "INSERT INTO customers (id, code, name, email, phone, address, postcode, city, country, language, "
        "kind, no_auto_reminders, pause_reason, direct_debit, created_at) VALUES (1, 'C1', 'Acme', '', '', "
        "'', '', '', 'FR', 'fr', 'business', false, '', false, '2026-01-01 00:00:00')"))
    for invoice_id in invoice_ids:
        conn.execute(text(
            "INSERT INTO invoices (id, number, customer_id, issue_date, currency, total_excl_tax, "
            "total_incl_tax, amount_paid, status, kind, no_auto_reminders, created_at, updated_at) VALUES "
            f"({invoice_id}, 'FA{invoice_id}', 1, '2026-01-01', 'EUR', 100, 120, 0, 'validated', 'invoice', "
            "false, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))


def test_upgrade_fills_the_reminder_state_of_existing_invoices(empty_db_url, tmp_path):
    """An installed database (first revision, with reminders) gets its invoices' reminder state on upgrade, and
    the triggers keep it from then on."""
    from sqlalchemy import text

    app = _build_app(empty_db_url, tmp_path)
    with app.app_context():
        upgrade(revision="214fe86ae347")
        with db.engine.begin() as conn:
            _old_customer_and_invoices(conn, (1, 2))
            for key, level, day, status in (("a", 1, "2026-02-01", "sent"), ("b", 2, "2026-02-20", "sent"),
                                            ("c", 3, "2026-03-10", "failed")):
                conn.execute(text(
                    "INSERT INTO reminders (key, invoice_id, level, channel, note, reminder_date, status, language, "
                    "sender, recipients, cc, subject, body, penalty, interest, indemnity, total_claimed, error, "
                    f"attempts, created_at) VALUES ('{key}', 1, {level}, 'email', '', '{day}', '{status}', 'fr', '', "
                    "'[]', '[]', '', '', 0, 0, 0, 0, '', 0, '2026-01-01 00:00:00')"))
        upgrade()
        with db.engine.begin() as conn:
            state = "SELECT id, reminder_level, CAST(last_reminder_date AS VARCHAR(10)) FROM invoices ORDER BY id"
            assert [tuple(r) for r in conn.execute(text(state))] == [(1, 2, "2026-02-20"), (2, None, None)]
            conn.execute(text("UPDATE reminders SET status = 'cancelled' WHERE key = 'b'"))
            assert [tuple(r) for r in conn.execute(text(state))] == [(1, 1, "2026-02-01"), (2, None, None)]
        downgrade(revision="214fe86ae347")  # the triggers go with the columns
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE reminders SET status = 'sent' WHERE key = 'c'"))
        db.engine.dispose()


def test_upgrade_gives_old_reminders_their_level_snapshot_and_downgrade_keeps_letters_sent(empty_db_url, tmp_path):
    """Reminders made before levels were snapshotted point at the level of their rank, with its names and
    formal-notice flag; the new letter statuses count for the reminder state; a downgrade turns them back to sent."""
    import json

    from sqlalchemy import text

    app = _build_app(empty_db_url, tmp_path)
    with app.app_context():
        upgrade(revision="d9683300ddc4")
        with db.engine.begin() as conn:
            _old_customer_and_invoices(conn, (1,))
            for rank, name, notice in ((1, "Première relance", "false"), (3, "Mise en demeure", "true")):
                names = json.dumps({"fr": name, "en": name})
                conn.execute(text(
                    "INSERT INTO reminder_levels (id, rank, names, delay, basis, automatic, channels, penalty_kind, "
                    f"penalty_value, formal_notice, active) VALUES ({rank}, {rank}, '{names}', '+15 days', "
                    f"'due_date', true, 'email', 'none', 0, {notice}, true)"))
            for key, level, day in (("a", 1, "2026-02-01"), ("b", 3, "2026-03-10"), ("c", 2, "2026-03-20")):
                conn.execute(text(
                    "INSERT INTO reminders (key, invoice_id, level, channel, note, reminder_date, status, language, "
                    "sender, recipients, cc, subject, body, penalty, interest, indemnity, total_claimed, error, "
                    f"attempts, created_at) VALUES ('{key}', 1, {level}, 'letter', '', '{day}', 'sent', 'fr', '', "
                    "'[]', '[]', '', '', 0, 0, 0, 0, '', 0, '2026-01-01 00:00:00')"))
        upgrade()
        with db.engine.begin() as conn:
            rows = conn.execute(text("SELECT key, level_id, level_names, formal_notice, override_reason "
                                     "FROM reminders ORDER BY key")).all()
            snapshot = [(k, i, json.loads(n) if isinstance(n, str) else n, bool(f), o) for k, i, n, f, o in rows]
            assert snapshot == [("a", 1, {"fr": "Première relance", "en": "Première relance"}, False, ""),
                                ("b", 3, {"fr": "Mise en demeure", "en": "Mise en demeure"}, True, ""),
                                ("c", None, {}, False, "")]  # no level of rank 2: no snapshot to take
            conn.execute(text("UPDATE reminders SET status = 'to_post' WHERE key = 'b'"))
            conn.execute(text("UPDATE reminders SET status = 'cancelled' WHERE key = 'c'"))
            state = "SELECT reminder_level, CAST(last_reminder_date AS VARCHAR(10)) FROM invoices"
            assert tuple(conn.execute(text(state)).one()) == (3, "2026-03-10")  # a letter to post counts
        downgrade(revision="d9683300ddc4")
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT status FROM reminders WHERE key = 'b'")).scalar() == "sent"
        db.engine.dispose()


def test_the_reminder_state_revision_carries_its_own_sql(empty_db_url, tmp_path):
    """d9683300ddc4 installs the triggers of its day (pending or sent reminders count) from its own text, not from
    today's model module, and takes them away on downgrade."""
    from pathlib import Path

    from sqlalchemy import text

    source = next((Path(__file__).resolve().parent.parent / "migrations" / "versions").glob("d9683300ddc4_*.py"))
    assert "relance" not in [line.split()[1].split(".")[0] for line in source.read_text().splitlines()
                             if line.startswith(("import ", "from "))]
    app = _build_app(empty_db_url, tmp_path)
    with app.app_context():
        upgrade(revision="d9683300ddc4")
        with db.engine.begin() as conn:
            _old_customer_and_invoices(conn, (1,))
            for key, level, day, status in (("a", 1, "2026-02-01", "sent"), ("b", 2, "2026-02-20", "pending"),
                                            ("c", 3, "2026-03-10", "failed")):
                conn.execute(text(
                    "INSERT INTO reminders (key, invoice_id, level, channel, note, reminder_date, status, language, "
                    "sender, recipients, cc, subject, body, penalty, interest, indemnity, total_claimed, error, "
                    f"attempts, created_at) VALUES ('{key}', 1, {level}, 'email', '', '{day}', '{status}', 'fr', '', "
                    "'[]', '[]', '', '', 0, 0, 0, 0, '', 0, '2026-01-01 00:00:00')"))
            state = "SELECT reminder_level, CAST(last_reminder_date AS VARCHAR(10)) FROM invoices"
            assert tuple(conn.execute(text(state)).one()) == (2, "2026-02-20")
            conn.execute(text("UPDATE reminders SET status = 'cancelled' WHERE key = 'b'"))
            assert tuple(conn.execute(text(state)).one()) == (1, "2026-02-01")
            conn.execute(text("DELETE FROM reminders WHERE key = 'a'"))
            assert tuple(conn.execute(text(state)).one()) == (None, None)
        downgrade(revision="214fe86ae347")
        with db.engine.begin() as conn:  # no trigger is left to name the columns gone
            conn.execute(text("UPDATE reminders SET status = 'sent' WHERE key = 'c'"))
        upgrade()
        assert _differences() == []
        db.engine.dispose()


def _triggers() -> set[str]:
    """The triggers of the database (on PostgreSQL with their functions' code), whitespace aside."""
    from sqlalchemy import text

    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            rows = conn.execute(text(
                "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace UNION ALL "
                "SELECT proname || ' ' || prosrc FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"
            )).scalars().all()
        else:
            rows = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'trigger'")).scalars().all()
    return {" ".join(row.split()) for row in rows}


def test_migrations_install_the_triggers_the_models_create(empty_db_url, tmp_path):
    """The derived invoice columns (reminder state, amount paid) are kept by the same triggers whether the schema
    came from the migrations or from `db.create_all()` (which the tests use)."""
    app = _build_app(empty_db_url, tmp_path)
    with app.app_context():
        upgrade()
        migrated = _triggers()
        for name in ("payments_paid", "reminders_state"):
            assert any(f"CREATE TRIGGER {name}" in t for t in migrated), name
        downgrade(revision="base")
        assert _triggers() == set()
        db.create_all()
        assert _triggers() == migrated
        db.drop_all()
        db.engine.dispose()


def test_upgrade_recomputes_amount_paid_and_the_triggers_keep_it(empty_db_url, tmp_path):
    """An installed database gets every invoice's amount paid recomputed (and the validated ones its payments settle
    marked paid) on upgrade; from then on the triggers keep them, and a downgrade removes them."""
    from decimal import Decimal

    from sqlalchemy import text

    def invoices(conn):
        rows = conn.execute(text("SELECT id, amount_paid, status FROM invoices ORDER BY id"))
        return [(i, Decimal(str(paid)).quantize(Decimal("0.01")), status) for i, paid, status in rows]

    def pay(conn, payment_id, invoice_id, amount):
        conn.execute(text(
            "INSERT INTO payments (id, invoice_id, date, amount, reference, created_at) VALUES "
            f"({payment_id}, {invoice_id}, '2026-02-10', {amount}, '', '2026-02-10 00:00:00')"))

    app = _build_app(empty_db_url, tmp_path)
    with app.app_context():
        upgrade(revision="a3c51e7d2b90")
        with db.engine.begin() as conn:
            _old_customer_and_invoices(conn, (1, 2, 3))  # 120.00 each
            for payment_id, invoice_id, amount in ((1, 1, "50.00"), (2, 2, "0.10"), (3, 2, "0.20"), (4, 2, "119.70")):
                pay(conn, payment_id, invoice_id, amount)
            conn.execute(text("UPDATE invoices SET amount_paid = 30 WHERE id = 3"))  # wrong: it has no payment
        upgrade()
        with db.engine.begin() as conn:
            assert invoices(conn) == [(1, Decimal("50.00"), "validated"), (2, Decimal("120.00"), "paid"),
                                      (3, Decimal("0.00"), "validated")]
            pay(conn, 5, 1, "70.00")
            assert invoices(conn)[0] == (1, Decimal("120.00"), "paid")
        downgrade(revision="a3c51e7d2b90")
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM payments WHERE id = 5"))
            assert invoices(conn)[0] == (1, Decimal("120.00"), "paid")  # no trigger any more
        db.engine.dispose()
