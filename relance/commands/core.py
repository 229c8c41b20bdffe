"""`flask relance ...` commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import cast

import click
from flask import Flask, current_app
from flask_babel import force_locale
from sqlalchemy import func, select
from werkzeug.local import LocalProxy
from werkzeug.serving import run_simple

from relance import clock
from relance.commands import relance_cli
from relance.extensions import db
from relance.models import ROLES, User
from relance.services import accounts
from relance.services.engine.recipients import InvalidAddress, entered_addresses


@relance_cli.command("create-user")
@click.argument("email")
@click.option("--role", required=True, help=f"One of: {', '.join(ROLES)}")
@click.option("--name", default="", help="Display name.")
@click.option("--password", help="Prompted for when not given.")
@click.option("--language", type=click.Choice(["fr", "en"]), default=None)
def create_user(email: str, role: str, name: str, password: str | None, language: str | None) -> None:
    """Create a user (or fail without creating anything)."""
    try:
        email = entered_addresses(email, several=False).lower()  # the rule of the user form; logins ignore case
    except InvalidAddress:
        raise click.ClickException(f"invalid email {email!r}") from None
    if not email:
        raise click.ClickException("invalid email: empty")
    if role not in ROLES:
        raise click.ClickException(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    if db.session.scalar(select(User).where(func.lower(User.email) == email)):
        raise click.ClickException(f"a user with email {email} already exists")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with force_locale("en"):  # the CLI speaks English
        problem = accounts.password_problem(password, email)
    if problem:
        raise click.ClickException(f"password refused: {problem}")
    user = User(email=email, role=role, name=name or email.split("@")[0], language=language)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"created {role} {email}")


@relance_cli.command("demo")
@click.option("--reset", is_flag=True, help="Delete every row first (all data is lost).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds data.")
def demo(reset: bool, if_empty: bool) -> None:
    """Fill the database with a demo company, users, customers and invoices."""
    from relance.services.demo import DemoRefused, create_demo, database_is_empty

    if reset:
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
    elif not database_is_empty(db.session):
        if if_empty:
            click.echo("demo: the database already holds data; nothing changed.")
            return
        raise click.ClickException(
            "the database already holds data; run `flask relance demo --reset` to replace it with the demo "
            "(everything in it is deleted)"
        )
    try:
        passwords = create_demo(db.session, clock.today())
    except DemoRefused as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo("Demo data created. Logins (shown only now):")
    for email, password in passwords.items():
        click.echo(f"  {email:28} {password}")


@relance_cli.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--workers", default=2, type=int, help="Worker threads of the background consumer.")
def serve(host: str, port: int, workers: int) -> None:
    """Run the web server and a background worker together; Ctrl-C stops both."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    worker = subprocess.Popen([sys.executable, "-m", "relance.worker", "-w", str(workers)],
                              env=os.environ.copy())
    click.echo(f"Relance on http://{host}:{port}/ (worker pid {worker.pid}); Ctrl-C to stop.")
    try:
        # the app itself, not the proxy (Flask types current_app as the app)
        run_simple(host, port, cast("LocalProxy[Flask]", current_app)._get_current_object(), threaded=True)
    except KeyboardInterrupt:
        pass
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
        click.echo("Relance stopped.")
