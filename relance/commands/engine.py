"""`flask relance due --date YYYY-MM-DD [--json]` and `flask relance explain NUMBER --date YYYY-MM-DD`."""

from __future__ import annotations

import json
from datetime import date

import click
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select

from relance import clock
from relance.commands import relance_cli
from relance.extensions import db
from relance.models import Invoice
from relance.services.engine import readiness
from relance.services.engine import schedule as schedule_service


def _day(_ctx, _param, value: str | None) -> date:
    if value is None:
        return clock.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: write YYYY-MM-DD, e.g. 2026-03-03") from None


def _language(value: str | None) -> str:
    return value or current_app.config["BABEL_DEFAULT_LOCALE"]


@relance_cli.command("due")
@click.option("--date", "on", callback=_day, help="The day of the run (YYYY-MM-DD); today when omitted.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (amounts as strings).")
@click.option("--manual", is_flag=True, help="What a person may send (not only the automatic reminders).")
@click.option("--language", type=click.Choice(["fr", "en"]), default=None, help="Language of the reasons.")
def due(on: date, as_json: bool, manual: bool, language: str | None) -> None:
    """List the reminders due on a date."""
    with force_locale(_language(language)):
        result = schedule_service.schedule(db.session, on, automatic=not manual)
        problems = readiness.check(db.session).messages()  # nothing can be chased, or a text is missing: say so
    if as_json:  # the words on stderr: stdout stays the JSON array
        for problem in problems:
            click.echo(problem, err=True)
        if result.note:  # e.g. before go-live, or not a business day
            click.echo(result.note, err=True)
        click.echo(json.dumps([item.as_json() for item in result.due], ensure_ascii=False, indent=2))
        return
    for problem in problems:
        click.echo(f"! {problem}")
    if result.note:
        click.echo(result.note)
    for item in result.due:
        interest = "-" if item.interest is None else f"{item.interest:.2f}"
        apart = item.indemnity_currency not in ("", item.currency) and item.indemnity
        indemnity_currency = f" {item.indemnity_currency} (apart)" if apart else ""
        click.echo(f"{item.invoice_number:16} {item.customer_code:10} level {item.level} "
                   f"{'+'.join(item.channels):12} due {item.remaining_due:>12.2f} interest {interest:>8} "
                   f"indemnity {item.indemnity:>6.2f}{indemnity_currency} total {item.total_claimed:>12.2f} "
                   f"{item.currency} "
                   f"to {', '.join(item.to) or '-'} ({item.language})")
        for reason in item.reasons:
            click.echo(f"    ! {reason}")
    click.echo(f"{len(result.due)} due, {len(result.skipped)} skipped on {on.isoformat()}.")
    for skip in result.skipped:
        click.echo(f"  skipped {skip.invoice_number} level {skip.level}: {skip.reason}")


@relance_cli.command("explain")
@click.argument("number")
@click.option("--date", "on", callback=_day, help="The day to explain (YYYY-MM-DD); today when omitted.")
@click.option("--manual", is_flag=True, help="Explain for a person instead of the automatic run.")
@click.option("--language", type=click.Choice(["fr", "en"]), default=None)
def explain(number: str, on: date, manual: bool, language: str | None) -> None:
    """Explain why an invoice is or is not due on a date, and when its next reminder will be."""
    invoice = db.session.scalar(select(Invoice).where(Invoice.number == number))
    if invoice is None:
        raise click.ClickException(f"no invoice numbered {number!r}")
    result = schedule_service.explain(db.session, invoice, on, automatic=not manual, language=_language(language))
    click.echo(str(result))
