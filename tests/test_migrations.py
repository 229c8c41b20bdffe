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
