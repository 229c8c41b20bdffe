"""`flask relance run-auto --date YYYY-MM-DD [--dry-run]`: the automatic run of a date, or what it would send."""

from __future__ import annotations

import textwrap
from datetime import date

import click
from flask import current_app

from relance.commands import relance_cli
from relance.extensions import db
from relance.services.sending.config import SendingConfig


def _day(ctx, param, value: str | None) -> date:
    if value is None:  # the company's today
        from relance import clock

        return clock.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: expected YYYY-MM-DD", ctx, param) from None


@relance_cli.command("run-auto")
@click.option("--date", "day", callback=_day, help="The run's date, YYYY-MM-DD (default: the company's today).")
@click.option("--dry-run", is_flag=True, help="List what would be sent, with previews; send nothing.")
@click.option("--previews", default=20, show_default=True, help="How many rendered previews a dry run shows.")
def run_auto(day: date, dry_run: bool, previews: int) -> None:
    """Perform the automatic run of a date (the periodic task's service), or show it with --dry-run."""
    from relance.services.sending import autorun, autorun_preview

    if dry_run:
        result = autorun_preview.dry_run(db.session, day, limit=previews,
                                         config=SendingConfig.from_config(current_app.config))
        db.session.rollback()
        items = [(due, channels) for due, channels in result.plan.items if due.invoice_id not in result.already]
        emails = sum(1 for _, channels in items if "email" in channels)
        letters = sum(1 for _, channels in items if "letter" in channels)
        click.echo(f"dry run {day.isoformat()}: {result.count} reminders would be sent "
                   f"(emails={emails} letters={letters} already_made={len(result.already)}); nothing was sent")
        if result.plan.note:
            click.echo(f"  {result.plan.note}")
        if result.plan.skipped:
            click.echo("  skipped: " + " ".join(f"{code}={n}" for code, n in sorted(result.plan.skipped.items())))
        for due, channels in items:
            click.echo(f"- {due.invoice_number} {due.customer_code} level {due.level} {'+'.join(channels)} "
                       f"to {', '.join(due.to) or '-'} total_claimed={due.total_claimed} {due.currency}")
        for preview in result.previews:
            click.echo(f"\n=== {preview.due.invoice_number} · {preview.channel} · {preview.language} ===")
            click.echo(f"Subject: {preview.subject}")
            click.echo(textwrap.indent(preview.text.strip(), "  "))
        return
    run = autorun.run_auto(db.session, day, config=SendingConfig.from_config(current_app.config))
    reasons = " ".join(f"{code}={n}" for code, n in sorted((run.skipped_reasons or {}).items()))
    click.echo(f"run {run.id} {day.isoformat()} status={run.status} catch_up={run.catch_up} total={run.total} "
               f"sent={run.sent} failed={run.failed} skipped={run.skipped}" + (f" ({reasons})" if reasons else ""))
    if run.letters_pdf_path:
        click.echo(f"letters to print: {run.letters_pdf_path}")
