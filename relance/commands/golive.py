"""`flask relance go-live ...`: the go-live step from the command line (services/golive.py, as the web page), and
`flask relance go-live-adopt` to bring invoices overdue before go-live into the automatic schedule."""

from __future__ import annotations

import click

from relance import clock
from relance.commands import relance_cli
from relance.extensions import db


def _fail(refused) -> click.ClickException:
    return click.ClickException("; ".join(f"{name}: {message}" for name, message in refused.errors.items()))


@relance_cli.command("go-live")
@click.option("--date", "day", default=None, help="Go-live date, YYYY-MM-DD (default: the company's today). "
                                                  "Invoices due before it are not chased automatically.")
@click.option("--automatic", default="", help='Automatic levels, e.g. "0,1,2" (default: none).')
@click.option("--company-name", default=None)
@click.option("--address", default=None, help="Street and number (the company's postal address).")
@click.option("--postcode", default=None)
@click.option("--city", default=None)
@click.option("--siren", default=None, help="SIREN (9 digits) or SIRET (14 digits).")
@click.option("--vat", default=None, help="Intra-community VAT number.")
@click.option("--iban", default=None)
@click.option("--bic", default=None)
@click.option("--sender", default=None, help="Sender address of the automatic emails.")
@click.option("--hour", default=None, help="Send hour, 0-23.")
@click.option("--yes", is_flag=True, help="Go live without asking after the dry run.")
def go_live(day, automatic, company_name, address, postcode, city, siren, vat, iban, bic, sender, hour,
            yes) -> None:
    """Complete the go-live step: show the dry run of the first day of automatic sending, then confirm.
    Options not given keep the stored settings."""
    from relance.services import golive

    today = clock.today()
    raw = golive.current(db.session, today)
    given = {"company_name": company_name, "company_address": address, "company_postcode": postcode,
             "company_city": city, "company_siren": siren, "company_vat": vat, "company_iban": iban,
             "company_bic": bic, "sender_email": sender, "auto_hour": hour, "go_live_date": day}
    raw.update({key: value for key, value in given.items() if value is not None})
    raw["automatic"] = automatic
    if day is None:
        raw["go_live_date"] = today.isoformat()
    try:
        choice = golive.clean(db.session, raw, today)
    except golive.GoLiveError as refused:
        db.session.rollback()
        raise _fail(refused) from None
    preview = golive.preview(db.session, choice, today)
    click.echo(f"dry run {preview.day.isoformat()} (first day of automatic sending): {preview.reminders} "
               f"reminders would be sent; nothing was sent")
    if preview.note:
        click.echo(f"  {preview.note}")
    for rank, name, count in preview.by_level:
        click.echo(f"  level {rank} ({name}): {count}")
    for code, name, count in preview.by_customer:
        click.echo(f"  customer {code} ({name}): {count}")
    click.echo(f"  overdue before go-live on {choice.go_live.isoformat()}, not chased automatically: "
               f"{preview.left_out}")
    if not yes and not click.confirm("Go live?", default=False):
        click.echo("Nothing was changed.")
        return
    golive.confirm(db.session, choice, today, None)
    db.session.commit()
    levels = ",".join(map(str, sorted(choice.automatic))) or "none"
    click.echo(f"live: go-live date {choice.go_live.isoformat()}, automatic sending from "
               f"{golive.start_day(choice.go_live, today).isoformat()}, automatic levels {levels}")


@relance_cli.command("go-live-adopt")
@click.argument("numbers", nargs=-1)
@click.option("--level", "rank", required=True, help="The level the automatic schedule starts from.")
@click.option("--all", "every", is_flag=True, help="Every invoice overdue before go-live.")
def go_live_adopt(numbers: tuple[str, ...], rank: str, every: bool) -> None:
    """Bring invoices overdue before go-live (by number, or --all) into the automatic schedule from a level."""
    from sqlalchemy import select

    from relance.models import Invoice
    from relance.services import golive

    if not numbers and not every:
        raise click.UsageError("give invoice numbers or --all")
    ids = None
    if numbers:
        found = dict(db.session.execute(select(Invoice.number, Invoice.id).where(Invoice.number.in_(numbers))).all())
        missing = [n for n in numbers if n not in found]
        if missing:
            raise click.ClickException(f"unknown invoice: {', '.join(missing)}")
        ids = list(found.values())
    try:
        count = golive.adopt(db.session, ids, rank, None)
    except golive.GoLiveError as refused:
        db.session.rollback()
        raise _fail(refused) from None
    db.session.commit()
    click.echo(f"{count} invoices brought into the automatic schedule from level {rank}")
