"""`flask relance import customers|invoices|payments FILE [--dry-run]`."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from relance import clock
from relance.commands import relance_cli
from relance.extensions import db
from relance.services import importing


def _cli_language() -> str:
    """French when the shell speaks French, English otherwise."""
    lang = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "fr" if lang.lower().startswith("fr") else "en"


@relance_cli.command("import")
@click.argument("kind", type=click.Choice(importing.KINDS))
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; save nothing.")
def import_command(kind: str, path: str, dry_run: bool) -> None:
    """Import customers, invoices or payments from a CSV file (all rows or none)."""
    with open(path, "rb") as handle:
        data = handle.read(importing.MAX_BYTES + 1)  # a larger file is refused without reading it all
    with current_app.test_request_context(headers={"Accept-Language": _cli_language()}):
        plan = importing.plan_csv(db.session, kind, data, clock.today(), filename=os.path.basename(path),
                                    size=os.path.getsize(path))
        if not plan.ok:
            for error in plan.errors:
                click.echo(str(error), err=True)
            if plan.more_errors:
                click.echo(ngettext("… and %(num)s more error.", "… and %(num)s more errors.", plan.more_errors),
                           err=True)
            raise click.ClickException(ngettext("%(num)s error: nothing was imported.",
                                                "%(num)s errors: nothing was imported.", plan.error_count))
        summary = _("%(kind)s: %(created)s to create, %(updated)s to update, %(unchanged)s unchanged.",
                    kind=kind, created=plan.created, updated=plan.updated, unchanged=plan.unchanged)
        if plan.ignored_columns:
            click.echo(_("Ignored columns: %(columns)s", columns=", ".join(plan.ignored_columns)))
        if dry_run:
            click.echo(summary + " " + _("Dry run: nothing was saved."))
            return
        try:
            importing.apply_plan(db.session, plan)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        click.echo(summary + " " + _("Saved."))
