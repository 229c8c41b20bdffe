"""`flask relance import customers|invoices|payments|contacts|history FILE [--dry-run]`,
`flask relance import facturx FILES...`, `flask relance import pdfs ZIP_OR_FOLDER [--dry-run]`,
`flask relance import statement FILE [--format camt|ofx|csv] [--columns date=...,amount=...] [--dry-run]`."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from relance import clock
from relance.commands import relance_cli
from relance.extensions import db
from relance.services import settings as company_settings
from relance.services.data_in import einvoice
from relance.services.data_in.apply import apply_plan
from relance.services.data_in.bank_lines import import_statement
from relance.services.data_in.plan import KINDS
from relance.services.data_in.reading import MAX_BYTES, plan_csv
from relance.services.data_in.statements import FORMATS, StatementError, parse_columns
from relance.services.letters import invoice_pdfs
from relance.services.letters.invoice_pdf import store_pdf


def _cli_language() -> str:
    """French when the shell speaks French, English otherwise."""
    lang = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "fr" if lang.lower().startswith("fr") else "en"


@relance_cli.command("import")
@click.argument("kind", type=click.Choice((*KINDS, "facturx", "pdfs", "statement")))
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, readable=True))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; save nothing.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="statement: the file's format (default: found from its content).")
@click.option("--columns", default="",
              help="statement, CSV: the headers of the columns, as date=...,amount=...,label=...,reference=... "
                   "(also credit, debit, counterparty, iban, currency, value_date); the usual names are found "
                   "without it.")
def import_command(kind: str, paths: tuple[str, ...], dry_run: bool, fmt: str | None, columns: str) -> None:
    """Import customers, invoices, payments, contacts or the reminders history from a CSV file (all rows or none);
    invoices from Factur-X / ZUGFeRD PDFs and CII / UBL XML files (facturx FILES...: every valid file imported,
    each refused one named with its reason; exit status 1 when a file was refused); invoice PDFs (pdfs) from a
    ZIP or a folder of NUMBER.pdf files (all files or none); or a bank statement (statement: camt.053, camt.054,
    OFX or CSV; its credits matched to the open invoices, the exact matches recorded when the setting allows it)."""
    if kind != "statement" and (fmt or columns):
        raise click.UsageError("--format and --columns are for a statement.")
    if kind == "facturx":
        folders = [path for path in paths if os.path.isdir(path)]
        if folders:
            raise click.BadParameter(f"{folders[0]} is a folder: give the files.", param_hint="PATHS")
        _import_einvoices(paths, dry_run)
        return
    if len(paths) != 1:
        raise click.UsageError(f"{kind}: one {'ZIP file or folder' if kind == 'pdfs' else 'CSV file'} at a time.")
    path = paths[0]
    if kind == "statement":
        if os.path.isdir(path):
            raise click.BadParameter(f"{path} is a folder: give a statement file.", param_hint="PATH")
        _import_statement(path, fmt, columns, dry_run)
        return
    if kind == "pdfs":
        _import_pdfs(path, dry_run)
        return
    if os.path.isdir(path):
        raise click.BadParameter(f"{path} is a folder: give a CSV file.", param_hint="PATH")
    with open(path, "rb") as handle:
        data = handle.read(MAX_BYTES + 1)  # a larger file is refused without reading it all
    with current_app.test_request_context(headers={"Accept-Language": _cli_language()}):
        plan = plan_csv(db.session, kind, data, clock.today(), filename=os.path.basename(path),
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
            apply_plan(db.session, plan)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        click.echo(summary + " " + _("Saved."))


def _import_einvoices(paths: tuple[str, ...], dry_run: bool) -> None:
    limit = current_app.config["INVOICE_PDF_MAX_BYTES"]
    uploads = []
    for path in paths:
        with open(path, "rb") as handle:
            uploads.append((os.path.basename(path), handle.read(limit + 1)))  # larger: refused unread
    with current_app.test_request_context(headers={"Accept-Language": _cli_language()}):
        plan = einvoice.plan_files(db.session, uploads, clock.today(), max_bytes=limit)
        for refusal in plan.refused:
            click.echo(str(refusal), err=True)
        for accepted in plan.accepted:
            for note in accepted.note_texts:
                click.echo(f"{accepted.filename}: {note}")
        summary = _("Factur-X: %(files)s files, %(created)s invoices to create, %(updated)s to update, "
                    "%(unchanged)s unchanged, %(customers)s new customers, %(refused)s refused.",
                    files=plan.files, created=plan.created, updated=plan.updated, unchanged=plan.unchanged,
                    customers=plan.new_customers, refused=len(plan.refused))
        if dry_run:
            click.echo(summary + " " + _("Dry run: nothing was saved."))
        elif plan.has_changes:
            with einvoice.saving(db.session, plan, None, store_pdf):
                db.session.commit()
            click.echo(summary + " " + _("Saved."))
        else:
            db.session.rollback()
            click.echo(summary + " " + _("Nothing to save."))
        if plan.refused:
            raise click.ClickException(ngettext("%(num)s file refused (named above).",
                                                "%(num)s files refused (named above).", len(plan.refused)))


def _import_pdfs(path: str, dry_run: bool) -> None:
    with current_app.test_request_context(headers={"Accept-Language": _cli_language()}):
        source = os.path.basename(os.path.normpath(path))
        if os.path.isdir(path):
            plan = invoice_pdfs.plan_pdfs(db.session, folder=Path(path), source=source)
        else:
            if os.path.getsize(path) > current_app.config["MAX_CONTENT_LENGTH"]:
                raise click.ClickException(_("The archive is too large: %(max)s MB at most.",
                                             max=current_app.config["MAX_CONTENT_LENGTH"] // 1024 // 1024))
            with open(path, "rb") as handle:
                plan = invoice_pdfs.plan_pdfs(db.session, data=handle.read(), source=source)
        if not plan.ok:
            for refusal in plan.refused:
                click.echo(str(refusal), err=True)
            raise click.ClickException(ngettext("%(num)s file refused: no PDF was saved.",
                                                "%(num)s files refused: no PDF was saved.", len(plan.refused)))
        summary = _("pdfs: %(count)s invoice PDFs to store (%(replaced)s replacing an earlier one).",
                    count=len(plan.accepted), replaced=len(plan.replaced))
        if dry_run:
            click.echo(summary + " " + _("Dry run: nothing was saved."))
            return
        with invoice_pdfs.saving(db.session, plan):
            db.session.commit()
        click.echo(summary + " " + _("Saved."))


def _import_statement(path: str, fmt: str | None, columns: str, dry_run: bool) -> None:
    with open(path, "rb") as handle:
        data = handle.read()
    with current_app.test_request_context(headers={"Accept-Language": _cli_language()}):
        try:
            result = import_statement(db.session, data, now=clock.utcnow(), settings=company_settings.load(db.session),
                                      fmt=fmt, columns=parse_columns(columns), filename=os.path.basename(path))
        except StatementError as error:
            db.session.rollback()
            raise click.ClickException(_("%(file)s: %(error)s Nothing was imported.",
                                         file=os.path.basename(path), error=str(error))) from None
        click.echo(_("statement: %(read)s credits read, %(imported)s imported, %(skipped)s skipped "
                     "(%(already)s already imported, %(debits)s debits, %(other)s pending or reversed), "
                     "%(automatic)s matched automatically, %(proposed)s proposed, %(left)s left.",
                     read=result.read, imported=result.imported, skipped=result.skipped, already=result.already,
                     debits=result.statement.debits, other=result.statement.other, automatic=result.automatic,
                     proposed=result.proposed, left=result.left))
        if dry_run:
            db.session.rollback()
            click.echo(_("Dry run: nothing was saved."))
            return
        try:
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        click.echo(_("Saved."))
