"""Extension objects, created once and attached to the app in create_app()."""

import contextvars
import sqlite3
from typing import TYPE_CHECKING

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


if TYPE_CHECKING:
    class _SQLAlchemy(SQLAlchemy):
        # db.session is a scoped_session: it hands every Session method and attribute on to the current app
        # context's Session, and the services are written against that Session interface (they never use the
        # registry's own remove()/configure()). Typed as the Session it stands for, so `db.session` can be
        # passed to a service taking `session: Session`.
        session: Session  # type: ignore[assignment]  # see above
else:
    _SQLAlchemy = SQLAlchemy

db = _SQLAlchemy(model_class=Base)
if TYPE_CHECKING:
    # mypy cannot take an instance attribute (db.Model) as a base class. db.Model is Base's body (same metadata
    # and registry) with Flask-SQLAlchemy's mixins added (query, bind key, table naming: none of which the models
    # use), so the models are checked as subclasses of Base.
    Model = Base
else:
    Model = db.Model
migrate = Migrate(render_as_batch=True, compare_type=True)
login = LoginManager()
babel = Babel()
csrf = CSRFProtect()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite: write-ahead log (readers never wait for the worker's writes) and commits without an fsync each."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")  # a writer waits up to 30 s for the other's short write
        cursor.close()


# set while a background task runs (relance.tasks.task), even inside a request in Huey's immediate mode
background = contextvars.ContextVar("relance_background", default=False)


def _writing_request() -> bool:
    """A web request that writes (POST, PUT, DELETE...), outside a background task."""
    from flask import has_request_context, request

    return has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS") and not background.get()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn) -> None:
    """SQLite: a web request that writes takes the write lock when its transaction begins (BEGIN IMMEDIATE,
    waiting up to the busy timeout), so what it read and what it writes are one consistent step and it never
    fails half-way with "database is locked". Elsewhere the driver's own way holds: reads outside transactions,
    a transaction begun by the first write; the worker keeps its write transactions short (no letter built, no
    mail server spoken to, while one is open), so the office's writes wait milliseconds, not seconds."""
    if conn.dialect.name == "sqlite" and _writing_request():
        conn.exec_driver_sql("BEGIN IMMEDIATE")
