"""A PostgreSQL schema of our own inside the test database: made, pointed at, dropped (tests and benches)."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def pg_url_with_schema(url: str, schema: str, fast_commits: bool = False) -> str:
    """The same database, with search_path set to our own schema. `fast_commits`: synchronous_commit=off for
    these connections, so a COMMIT does not wait for the disk (test data need not survive a server crash;
    what other sessions see is the same)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    query = dict(parsed.query)
    query["options"] = f"-csearch_path={schema}" + (" -csynchronous_commit=off" if fast_commits else "")
    return parsed.set(query=query).render_as_string(hide_password=False)


def drop_pg_schema(url: str, schema: str, create: bool = False) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        if create:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


def reset_pg_schema(url: str, schema: str, fast_commits: bool = False) -> str:
    """An empty schema; returns the URL that uses it."""
    drop_pg_schema(url, schema, create=True)
    return pg_url_with_schema(url, schema, fast_commits)
