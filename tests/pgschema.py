"""A PostgreSQL schema of our own inside the test database: made, pointed at, dropped (tests and benches)."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def pg_url_with_schema(url: str, schema: str) -> str:
    """The same database, with search_path set to our own schema."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    query = dict(parsed.query)
    query["options"] = f"-csearch_path={schema}"
    return parsed.set(query=query).render_as_string(hide_password=False)


def drop_pg_schema(url: str, schema: str, create: bool = False) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        if create:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


def reset_pg_schema(url: str, schema: str) -> str:
    """An empty schema; returns the URL that uses it."""
    drop_pg_schema(url, schema, create=True)
    return pg_url_with_schema(url, schema)
