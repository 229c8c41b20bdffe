"""Read and write the `ServiceState` rows (one per running part: "worker", "smtp", ...).

`put` writes on its own connection and commits at once, so a caller's open transaction (a run's claimed rows,
a request) is never committed or rolled back by it, and the news survives the caller's rollback (on SQLite, with
a transaction open, it writes inside it: SQLite has one writer).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import cast

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from relance.models.base import utcnow
from relance.models.health import ServiceState


def get(session: Session, name: str) -> ServiceState | None:
    return session.scalar(select(ServiceState).where(ServiceState.name == name))


def put(session: Session, name: str, ok: bool, detail: str = "", until: datetime | None = None,
        data: dict | None = None) -> None:
    """Record the latest news of a part (insert or update), committed at once on its own connection."""
    table = ServiceState.__table__
    values = {"ok": ok, "detail": detail[:2000], "updated_at": utcnow(), "until": until, "data": data or {}}
    bind = cast(Engine, session.get_bind())  # the app's sessions are bound to its engine, not to a connection
    if bind.dialect.name == "sqlite":
        own = session.connection()
        if cast(sqlite3.Connection, own.connection.dbapi_connection).in_transaction:  # the driver's, checked out
            # the caller holds SQLite's one write lock: a second connection would wait for it; the news is
            # written in the caller's transaction (committed with its work)
            _upsert(own, table, name, values)
            return
    with bind.connect() as conn:
        _upsert(conn, table, name, values)
        conn.commit()


def _upsert(conn, table, name: str, values: dict) -> None:
    if not conn.execute(table.update().where(table.c.name == name).values(**values)).rowcount:
        conn.execute(table.insert().values(name=name, **values))
