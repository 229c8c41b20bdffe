"""Going live: the step a manager completes once before anything is sent automatically (issue 17).

A new company's levels send nothing automatically: the automatic view of the engine (`engine/schedule.py`) is
closed until this step is done (settings `auto_start_date` and `go_live_date`), then opens on the first day of
automatic sending. The step records, all at once or not at all:
- the company's identity for letters: name, address, SIREN/SIRET and VAT number (python-stdnum), IBAN and BIC
  (schwifty), the sender address of the emails;
- the send hour and which levels are automatic (none until chosen);
- the go-live date (default today): an invoice whose due date is before it was already overdue when the company went
  live, and the engine never chases it automatically (`before_go_live`) until a person brings it into the automatic
  schedule from a level (`adopt`: `Invoice.auto_from_rank`, audited) or reminds it by hand.
Automatic sending starts on the day after the confirmation, or on the go-live date when that is later
(`start_day`): the confirmation shows that day's dry run (`preview`), so nothing is sent on the day of the switch and
the first run is the one the manager saw.

The web page (`relance/golive/`), `flask relance go-live` and the demo call this service; the caller commits.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from schwifty import BIC, IBAN
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as NumberError
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret

from relance.models import Customer, Invoice, ReminderLevel, User
from relance.services import audit
from relance.services import settings as settings_service
from relance.services.engine.levels import active_levels, level_at, level_list
from relance.services.engine.recipients import InvalidAddress, entered_addresses
from relance.services.errors import RelanceError

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)  # as relance.params (services import no web module)

# the fields of the step, in the order of the page; `automatic` and `go_live_date` are not stored as such
FIELDS = ("company_name", "company_address", "company_postcode", "company_city", "company_siren", "company_vat",
          "company_iban", "company_bic", "sender_email", "auto_hour", "automatic", "go_live_date")
SETTINGS = ("company_name", "company_address", "company_postcode", "company_city", "company_siren", "company_vat",
            "company_iban", "company_bic", "sender_email", "auto_hour")


class GoLiveError(RelanceError):
    """The step refused: `errors` maps each wrong field to its message; `field`/`message` are the first one."""

    def __init__(self, errors: dict[str, Any]):
        first = next(iter(errors))
        super().__init__(errors[first], field=first)
        self.errors = errors


@dataclass(frozen=True)
class Choice:
    """What the manager chose, checked: the settings to store, the automatic levels and the go-live date."""

    settings: dict[str, Any]
    automatic: frozenset[int]
    go_live: date


def fingerprint(choice: Choice) -> str:
    """A short digest of a choice: the confirmation names the dry run it follows (a field changed after the dry run
    shows the dry run again before anything is switched on)."""
    text = json.dumps([choice.settings, sorted(choice.automatic), choice.go_live.isoformat()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def is_done(settings) -> bool:
    """The go-live step was completed (automatic sending may start on `auto_start_date`)."""
    return bool(settings.auto_start_date)


def start_day(go_live: date, today: date) -> date:
    """The first day automatic runs send: the day after the confirmation, or the go-live date when later."""
    return max(go_live, today + timedelta(days=1))


def current(session: Session, today: date) -> dict[str, Any]:
    """The step's fields as stored (to fill the page): no level automatic until the step was done."""
    settings = settings_service.load(session)
    values: dict[str, Any] = {name: getattr(settings, name) for name in SETTINGS}
    done = is_done(settings)
    values["automatic"] = sorted(lvl.rank for lvl in active_levels(session) if lvl.automatic) if done else []
    values["go_live_date"] = settings.go_live_date if done else today.isoformat()
    return values


def _automatic(raw: Any, ranks: set[int]) -> frozenset[int]:
    """The automatic levels from a list of ranks or a text such as "0,1,2" ("" or "none": none)."""
    if raw is None:
        return frozenset()
    items = raw.replace(";", ",").split(",") if isinstance(raw, str) else list(raw)
    found: set[int] = set()
    for item in items:
        text = str(item).strip()
        if not text or text.lower() == "none":
            continue
        if not (text.isascii() and text.isdigit() and len(text) <= 3) or int(text) not in ranks:
            raise ValueError(text)
        found.add(int(text))
    return frozenset(found)


def clean(session: Session, raw: Mapping[str, Any], today: date) -> Choice:
    """Check every field (raises `GoLiveError` with all the wrong ones; nothing is written)."""
    settings = settings_service.load(session)
    errors: dict[str, Any] = {}
    out: dict[str, Any] = {}

    def text(name: str) -> str:
        return str(raw.get(name) or "").strip()

    for name, label in (("company_name", _l("Company name")), ("company_address", _l("Address")),
                        ("company_postcode", _l("Postcode")), ("company_city", _l("City"))):
        out[name] = text(name)
        if not out[name]:
            errors[name] = _l("%(field)s is required: it is printed on every letter.", field=label)
        elif len(out[name]) > (300 if name == "company_address" else 120):
            errors[name] = _l("%(field)s is too long.", field=label)

    number = "".join(ch for ch in text("company_siren") if not ch.isspace() and ch not in ".-")
    if not number:
        if settings.company_country == "FR":
            errors["company_siren"] = _l("The SIREN or SIRET is required for a French company (9 or 14 digits).")
        out["company_siren"] = ""
    else:
        module = fr_siret if len(number) == 14 else fr_siren
        try:
            out["company_siren"] = module.validate(number)
        except NumberError:
            errors["company_siren"] = _l("SIREN/SIRET: %(value)s is not a valid SIREN (9 digits) or SIRET (14 "
                                         "digits): check the digits (the last one is a check digit).", value=number)

    vat_raw = text("company_vat")
    out["company_vat"] = ""
    if vat_raw:
        try:
            vat = eu_vat.validate(vat_raw)
        except NumberError:
            errors["company_vat"] = _l("VAT number: %(value)s is not a valid intra-community VAT number (like "
                                       "FR44732829320).", value=vat_raw)
        else:
            siren = str(out.get("company_siren") or "")[:9]
            if vat.startswith("FR") and siren and vat[4:] != siren:
                errors["company_vat"] = _l("VAT number: %(value)s does not belong to the SIREN %(siren)s.",
                                           value=vat, siren=siren)
            out["company_vat"] = vat

    iban_raw = text("company_iban")
    out["company_iban"] = ""
    if iban_raw:
        try:
            out["company_iban"] = IBAN(iban_raw).formatted
        except ValueError:
            errors["company_iban"] = _l("IBAN: %(value)s is not a valid IBAN: check the letters and digits "
                                        "(example: FR76 3000 6000 0112 3456 7890 189).", value=iban_raw)
    bic_raw = text("company_bic").replace(" ", "").upper()
    out["company_bic"] = ""
    if bic_raw:
        try:
            out["company_bic"] = str(BIC(bic_raw))
        except ValueError:
            errors["company_bic"] = _l("BIC: %(value)s is not a valid BIC (8 or 11 letters and digits, like "
                                       "BNPAFRPP).", value=bic_raw)

    try:
        out["sender_email"] = entered_addresses(text("sender_email"), several=False)
    except InvalidAddress as bad:
        errors["sender_email"] = bad.message
    else:
        if not out["sender_email"]:
            errors["sender_email"] = _l("The sender address is required: automatic emails are sent from it.")

    hour = text("auto_hour")
    if hour.isascii() and hour.isdigit() and int(hour) < 24:
        out["auto_hour"] = int(hour)
    else:
        errors["auto_hour"] = _l("Send hour: choose an hour between 0 and 23.")

    ranks = {level.rank for level in level_list(session) if level.active}  # of every policy
    try:
        automatic = _automatic(raw.get("automatic"), ranks)
    except ValueError as bad:
        automatic = frozenset()
        errors["automatic"] = _l("Automatic levels: %(value)s is not an active level (active: %(ranks)s).",
                                 value=str(bad), ranks=", ".join(map(str, sorted(ranks))) or "-")

    day_raw = text("go_live_date")
    go_live = today
    if day_raw:
        try:
            go_live = date.fromisoformat(day_raw)
            if not FIRST_DAY <= go_live <= LAST_DAY:
                raise ValueError(day_raw)
        except ValueError:
            errors["go_live_date"] = _l("Go-live date: %(value)s is not a date (YYYY-MM-DD, between 2000 and "
                                        "2100).", value=day_raw)
    if errors:
        raise GoLiveError({name: errors[name] for name in FIELDS if name in errors})
    return Choice(out, automatic, go_live)


def _apply(session: Session, choice: Choice, today: date, start: date | None = None) -> dict[str, Any]:
    """Write the choice into the session (settings and the automatic flags of the levels of every policy); returns
    what was stored."""
    stored = {**choice.settings, "go_live_date": choice.go_live.isoformat(),
              "auto_start_date": (start or start_day(choice.go_live, today)).isoformat()}
    settings_service.save(session, stored)
    for level in session.scalars(select(ReminderLevel)):
        level.automatic = level.active and level.rank in choice.automatic
    session.flush()
    return stored


@dataclass
class Preview:
    """The dry run of the first day of automatic sending, with the choice applied (nothing kept)."""

    day: date
    go_live: date
    reminders: int  # reminders the run would make (one per invoice and channel)
    by_level: list[tuple[int, str, int]] = field(default_factory=list)  # (rank, name, reminders)
    by_customer: list[tuple[str, str, int]] = field(default_factory=list)  # (code, name, reminders)
    left_out: int = 0  # invoices overdue before go-live, left for a person to decide
    note: str = ""


def preview(session: Session, choice: Choice, today: date, language: str = "fr") -> Preview:
    """What automatic sending would do on its first day with this choice: the dry run of that day
    (`autorun_preview`), counted per level and per customer. The choice is written into the session only to ask
    the engine, then the session is rolled back: nothing is kept."""
    from relance.services.sending import autorun_preview  # sending imports nothing from here

    try:
        _apply(session, choice, today)
        day = start_day(choice.go_live, today)
        result = autorun_preview.dry_run(session, day, limit=0)
        items = [(due, channels) for due, channels in result.plan.items if due.invoice_id not in result.already]
        levels = Counter[int]()
        names: dict[int, str] = {}
        customers = Counter[tuple[str, str]]()
        for due, channels in items:
            levels[due.level] += len(channels)
            names.setdefault(due.level, _level_name(session, due.level, language))
            customers[(due.customer_code, due.customer_name)] += len(channels)
        return Preview(
            day=day, go_live=choice.go_live, reminders=sum(levels.values()),
            by_level=[(rank, names[rank], n) for rank, n in sorted(levels.items())],
            by_customer=[(code, name, n) for (code, name), n in sorted(customers.items(),
                                                                       key=lambda item: (-item[1], item[0]))],
            left_out=overdue_count(session, choice.go_live),
            note=result.plan.note)
    finally:
        session.rollback()


def _level_name(session: Session, rank: int, language: str) -> str:
    level = level_at(session, None, rank)
    return level.name(language) if level is not None else str(rank)


def confirm(session: Session, choice: Choice, today: date, user: User | None,
            start: date | None = None) -> dict[str, Any]:
    """Go live: store the choice (settings, automatic levels, go-live and start dates) with an audit line. The
    caller commits (a refused choice raised in `clean`, before anything was written). `start`: the first day of
    automatic sending when not `start_day` (the demo, which has no one to show a dry run to)."""
    before = settings_service.load(session).as_dict()
    levels_before = {lvl.rank: lvl.automatic for lvl in session.scalars(select(ReminderLevel))}
    stored = _apply(session, choice, today, start)
    audit.record(session, user, "go_live", "settings", None,
                 before={**{k: before.get(k) for k in stored},
                         "automatic_levels": sorted(r for r, auto in levels_before.items() if auto)},
                 after={**stored, "automatic_levels": sorted(choice.automatic)})
    return stored


# --- invoices overdue before go-live ---------------------------------------------------------------------------


def overdue_select(go_live: date):
    """A SELECT of the open invoices due before the go-live date and not brought into the automatic schedule (the
    engine's `before_go_live` exclusion applies to them), oldest first."""
    return (select(Invoice).join(Customer, Customer.id == Invoice.customer_id)
            .where(Invoice.is_open, Invoice.due_date.is_not(None), Invoice.due_date < go_live,
                   Invoice.auto_from_rank.is_(None))
            .order_by(Invoice.due_date, Invoice.number))


def overdue_count(session: Session, go_live: date) -> int:
    return session.scalar(select(func.count()).select_from(overdue_select(go_live).subquery())) or 0


def go_live_day(settings) -> date | None:
    try:
        return date.fromisoformat(settings.go_live_date) if settings.go_live_date else None
    except ValueError:
        return None


def adoptable_ranks(session: Session) -> list[ReminderLevel]:
    """The levels an overdue invoice may be brought in from (the active levels after the due date)."""
    return [level for level in active_levels(session) if level.rank > 0]


def adopt(session: Session, invoice_ids: Iterable[int] | None, rank: Any, user: User | None) -> int:
    """Bring invoices overdue before go-live into the automatic schedule from level `rank` (`invoice_ids`: some
    of them; None: every one listed). The engine then treats each as normal from that level. One audit line per
    invoice; returns how many were brought in. Raises `GoLiveError` (field "rank") for a level that is not active;
    the caller commits."""
    settings = settings_service.load(session)
    go_live = go_live_day(settings)
    if not is_done(settings) or go_live is None:
        raise GoLiveError({"go_live": _l("The go-live step is not done yet.")})
    ranks = {level.rank for level in adoptable_ranks(session)}
    text = str(rank if rank is not None else "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 3 and int(text) in ranks):
        raise GoLiveError({"rank": _l("Level: choose one of the active levels after the due date (%(ranks)s).",
                                      ranks=", ".join(map(str, sorted(ranks))) or "-")})
    chosen = int(text)
    query = overdue_select(go_live)
    if invoice_ids is not None:
        ids = sorted(set(invoice_ids))
        if not ids:
            return 0
        query = query.where(Invoice.id.in_(ids))
    count = 0
    for invoice in session.scalars(query):
        invoice.auto_from_rank = chosen
        audit.record(session, user, "adopt", "invoice", invoice.id, before={"auto_from_rank": None},
                     after={"auto_from_rank": chosen, "number": invoice.number, "go_live_date": go_live})
        count += 1
    session.flush()
    return count
