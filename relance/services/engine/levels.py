"""Reminder levels: the delay language ("+15 days", "-5 days", "+2 weeks", "+1 month", or in French "+15 jours",
"-5 jours", "+2 semaines", "+1 mois") and level validation.

`parse_delay` is strict: anything but a sign, a whole number and a unit is refused with the accepted forms.
Delays are stored in English (`str(Delay)`) and shown in the reader's language (`Delay.text()`).
`validate_level` checks a whole level (as plain values) and returns the cleaned values or raises
`LevelError` with one message per field, so a form saves everything or nothing.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from relance.models import DELAY_BASES, LEVEL_CHANNELS, PENALTY_KINDS, Customer, Policy, ReminderLevel
from relance.models.reminder import ensure_default_policy
from relance.services.errors import RelanceError

if TYPE_CHECKING:  # schedule.py imports this module
    from relance.services.engine.schedule import Level

# A reminder in one of these states counts as done (a failed or cancelled one does not); a phone call counts once
# made ("to_call": waiting for an agent) as a pending email does.
DONE_STATUSES = ("pending", "sent", "to_post", "posted", "to_call", "called")
# Made: an email accepted by the server, a letter printed (to post) or posted, a phone call to make or made.
MADE_STATUSES = ("sent", "to_post", "posted", "to_call", "called")
# Delivered: an email accepted by the server, a letter posted, a call whose outcome an agent recorded. The next
# level waits for the last one delivered.
DELIVERED_STATUSES = ("sent", "posted", "called")
# The channels a level may have: an email, a letter, both, or a phone call only (`ReminderLevel.phone_call` adds a
# call to an email or a letter). Only email and letter have texts.
WRITTEN_CHANNELS = ("email", "letter")
ACCEPTED_DELAYS = _l("+15 days, -5 days, +1 day, +2 weeks, +1 month, +0 days")
UNITS = {"day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month", "months": "month",
         "jour": "day", "jours": "day", "semaine": "week", "semaines": "week", "mois": "month"}
_DELAY_RE = re.compile(r"^([+-]) ?(\d{1,4}) ([a-z]+)$")
CENTS = Decimal("0.01")


class DelayError(RelanceError):
    """A delay that is not one of the accepted forms (`text`); str() is the user-facing message."""

    def __init__(self, text: str):
        self.text = text
        super().__init__(_l("%(delay)r is not a delay: write a sign, a number and days, weeks or months, "
                            "for example %(forms)s", delay=text, forms=ACCEPTED_DELAYS))


@dataclass(frozen=True)
class Delay:
    """A signed number of days, weeks or months, added to a date with `apply`."""

    count: int  # signed
    unit: str  # "day", "week" or "month"

    def apply(self, start: date) -> date:
        if self.unit == "day":
            return start + timedelta(days=self.count)
        if self.unit == "week":
            return start + timedelta(weeks=self.count)
        return add_months(start, self.count)

    def latest_start(self, on: date) -> date:
        """The latest start date whose `apply` falls on or before `on` (used to select in SQL)."""
        if self.unit != "month":
            return on - (self.apply(on) - on)
        candidate = add_months(on, -self.count) + timedelta(days=3)
        while self.apply(candidate) > on:
            candidate -= timedelta(days=1)
        return candidate

    @property
    def days(self) -> int | None:
        return {"day": self.count, "week": 7 * self.count}.get(self.unit)

    def __str__(self) -> str:
        size = abs(self.count)
        return f"{'-' if self.count < 0 else '+'}{size} {self.unit}{'' if size == 1 else 's'}"

    def text(self) -> str:
        """In the current language: "+15 jours", "-1 week"."""
        size = abs(self.count)
        if self.unit == "day":
            words = ngettext("%(num)s day", "%(num)s days", size)
        elif self.unit == "week":
            words = ngettext("%(num)s week", "%(num)s weeks", size)
        else:
            words = ngettext("%(num)s month", "%(num)s months", size)
        return f"{'-' if self.count < 0 else '+'}{words}"


def delay_text(text: str) -> str:
    """A stored delay in the current language (the text itself when it is not a delay)."""
    try:
        return parse_delay(text).text()
    except DelayError:
        return text or ""


def add_months(start: date, months: int) -> date:
    """Calendar months; the day is clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def parse_delay(text: str) -> Delay:
    """'+15 days' -> Delay(15, 'day'); '-5 days', '+2 weeks', '+1 month', '+ 15 days' (Dolibarr style), and the
    French words ('+15 jours', '+2 semaines', '+1 mois') too."""
    if not isinstance(text, str):
        raise DelayError(text)
    return _parse_delay(text)


@lru_cache(maxsize=256)  # the levels' few delays, read for every invoice of a run
def _parse_delay(text: str) -> Delay:
    match = _DELAY_RE.match(text.strip().lower())
    if not match or match.group(3) not in UNITS:
        raise DelayError(text)
    sign, number, unit = match.groups()
    count = int(number) * (-1 if sign == "-" else 1)
    return Delay(count, UNITS[unit])


class LevelError(RelanceError):
    """Invalid level values: `errors` maps each field name to its message (`message` joins them all)."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))


def validate_level(values: dict, languages: tuple[str, ...] = ("fr", "en", "de", "es", "it", "nl")) -> dict:
    """Check the fields of a level; returns cleaned values (Decimal penalty, canonical delay) or raises. `names`
    keeps the languages of `languages` (the shipped ones, texts.languages.SHIPPED)."""
    errors: dict[str, str] = {}
    cleaned = dict(values)
    rank = values.get("rank")
    if not isinstance(rank, int) or isinstance(rank, bool) or not 0 <= rank <= 99:
        errors["rank"] = str(_l("The rank must be a whole number from 0 to 99."))
    names = values.get("names") or {}
    if not isinstance(names, dict) or not any(str(v).strip() for v in names.values()):
        errors["names"] = str(_l("Give the level a name (in at least one language)."))
    else:
        cleaned["names"] = {k: str(v).strip() for k, v in names.items() if k in languages and str(v).strip()}
    try:
        delay = parse_delay(values.get("delay", ""))
        cleaned["delay"] = str(delay)
    except DelayError as exc:
        errors["delay"] = str(exc)
    else:
        if rank == 0 and values.get("basis", "due_date") == "due_date" and delay.count > 0:
            errors["delay"] = str(_l("The level before the due date needs a delay of 0 or less, e.g. -5 days."))
    if values.get("basis", "due_date") not in DELAY_BASES:
        errors["basis"] = str(_l("The basis must be one of: %(choices)s.", choices=", ".join(DELAY_BASES)))
    if values.get("channels", "email") not in LEVEL_CHANNELS:
        errors["channels"] = str(_l("The channels must be one of: %(choices)s.", choices=", ".join(LEVEL_CHANNELS)))
    kind = values.get("penalty_kind", "none")
    if kind not in PENALTY_KINDS:
        errors["penalty_kind"] = str(_l("The penalty must be one of: %(choices)s.", choices=", ".join(PENALTY_KINDS)))
    try:
        value = Decimal(str(values.get("penalty_value") or "0").replace(",", ".").strip())
        if not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        errors["penalty_value"] = str(_l("The penalty value must be a number, e.g. 40.00 or 1.5."))
    else:
        if value < 0:
            errors["penalty_value"] = str(_l("The penalty value cannot be negative."))
        elif kind == "percent" and value > 100:
            errors["penalty_value"] = str(_l("A percentage penalty cannot exceed 100 %."))
        elif kind == "none":
            value = Decimal("0")
        cleaned["penalty_value"] = value.quantize(CENTS)
    cleaned["phone_call"] = bool(values.get("phone_call")) and values.get("channels", "email") != "phone"
    if errors:
        raise LevelError(errors)
    return cleaned


CHANNEL_LABELS = {"email": _l("email"), "letter": _l("letter"), "phone": _l("phone call")}  # a reader's words


def channels_of(level: ReminderLevel | Level) -> tuple[str, ...]:
    """'both' -> ('email', 'letter'); with `phone_call`, "phone" after them ('phone' alone: a call only)."""
    channels = ("email", "letter") if level.channels == "both" else (level.channels,)
    if getattr(level, "phone_call", False) and "phone" not in channels:
        channels = (*channels, "phone")
    return channels


def written_channels(channels) -> tuple[str, ...]:
    """The channels that have a text (the phone has none)."""
    return tuple(channel for channel in channels if channel in WRITTEN_CHANNELS)


def default_policy_id(session: Session) -> int:
    """The default policy (made on first need): the levels of every customer that chose no policy."""
    return ensure_default_policy(session.connection())


def policy_of(session: Session, customer: Customer | None) -> int:
    """The policy whose levels a customer follows: its own, else the default one."""
    return (customer.policy_id if customer is not None else None) or default_policy_id(session)


def active_levels(session: Session, policy_id: int | None = None) -> list[ReminderLevel]:
    """The active levels of a policy (None: the default policy), by rank."""
    policy_id = policy_id or default_policy_id(session)
    return list(session.scalars(select(ReminderLevel).where(ReminderLevel.active, ReminderLevel.policy_id == policy_id)
                                .order_by(ReminderLevel.rank)))


def customer_levels(session: Session, customer: Customer | None) -> list[ReminderLevel]:
    """The active levels a customer's invoices follow (its policy's), by rank."""
    return active_levels(session, policy_of(session, customer))


def level_at(session: Session, policy_id: int | None, rank: int) -> ReminderLevel | None:
    """The level of that rank in a policy (None: the default policy), active or not; None when there is none."""
    return session.scalar(select(ReminderLevel).where(ReminderLevel.policy_id == (policy_id or default_policy_id(
        session)), ReminderLevel.rank == rank))


def levels_by_id(session: Session) -> dict[int, ReminderLevel]:
    """Every level of every policy, by id (the due reminders and the reminders name theirs by `level_id`)."""
    return {level.id: level for level in session.scalars(select(ReminderLevel))}


def level_list(session: Session) -> list[ReminderLevel]:
    """Every level of every policy: the default policy's first, by rank (the filters naming a rank)."""
    return list(session.scalars(select(ReminderLevel).join(Policy).order_by(Policy.is_default.desc(), Policy.name,
                                                                             ReminderLevel.rank)))



def no_level_message() -> str:
    """What every screen and command says when no level is active (nothing can be chased), in the current locale."""
    return str(_l("No reminder level is active: create or activate levels under Administration > Reminder levels."))


def save_level(session: Session, values: dict, level: ReminderLevel | None = None,
               policy_id: int | None = None) -> ReminderLevel:
    """Validate then create or update a level (a new one in `policy_id`, None: the default policy); on error nothing
    is changed (LevelError)."""
    cleaned = validate_level(values)
    policy_id = level.policy_id if level is not None and level.policy_id else policy_id or default_policy_id(session)
    clash = session.scalar(select(ReminderLevel).where(ReminderLevel.policy_id == policy_id,
                                                       ReminderLevel.rank == cleaned["rank"]))
    if clash is not None and clash is not level:
        raise LevelError({"rank": str(_l("Level %(rank)s already exists.", rank=cleaned["rank"]))})
    level = level or ReminderLevel(policy_id=policy_id)
    for key in ("rank", "names", "delay", "basis", "automatic", "channels", "penalty_kind", "penalty_value",
                "formal_notice", "active", "phone_call"):
        if key in cleaned:
            setattr(level, key, cleaned[key])
    session.add(level)
    session.flush()
    return level
