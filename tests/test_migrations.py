"""Migrations build the schema from empty, go down to base and up again, and agree with the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from relance.extensions import db
from tests.conftest import PG_URL, _build_app, need_service
from tests.pgschema import pg_url_with_schema, reset_pg_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mig.db'}"
        return
    url = need_service(PG_URL, "PostgreSQL (RELANCE_TEST_DATABASE_URL)")
    reset_pg_schema(url, "relance_mig")
    yield pg_url_with_schema(url, "relance_mig")
    reset_pg_schema(url, "relance_mig")


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
