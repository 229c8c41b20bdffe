"""The one clock of the application: `now()` (aware UTC) and `today()` (the company's local date).

The server's time zone is not the company's: at 00:30 in Paris a UTC server still says yesterday. `today()`
is the date in the company's time zone (the `auto_timezone` setting, "Time zone" in the settings), and every
route, task, CLI default and page asks it; services get their dates passed in. A test (or a demo) may set
the app config `CLOCK` to a callable returning an aware datetime to run the whole app at another moment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def now() -> datetime:
    """The current moment, aware, in UTC (the app's `CLOCK` when one is set)."""
    source: Callable[[], datetime] | None = current_app.config.get("CLOCK") if has_app_context() else None
    moment = source() if source is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utcnow() -> datetime:
    """The current moment as naive UTC, the way timestamps are stored."""
    return now().replace(tzinfo=None)


def local_date(moment: datetime, zone: str) -> date:
    """The date of an aware (or naive UTC) moment in a time zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).date()


def company_zone(session=None) -> str:
    from relance.services import settings as settings_service

    if session is None:
        from relance.extensions import db

        session = db.session
    return settings_service.load(session).auto_timezone


def today(session=None, zone: str | None = None) -> date:
    """Today in the company's time zone: the one "today" of the whole application."""
    return local_date(now(), zone or company_zone(session))
