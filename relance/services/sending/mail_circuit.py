"""The mail server's circuit, kept in the `ServiceState` row named "smtp".

After each batch the row says what the server last did: `ok` True (it answered) or False with `detail` (why).
When the server cannot be reached at all (connection refused, unreachable, timed out, 421 greeting) the circuit
opens: `ok` False and `until` = when the next attempt may be made (backoff 1, 2, 4 ... minutes, at most 30), and
`data` = {"since": when the outage began (ISO, naive UTC), "failures": attempts to connect since then}. While
`until` is in the future, senders leave the emails pending without trying (no attempt counted); after
`SEND_OUTAGE_DAYS` of outage a waiting email fails with the reason. /healthz reads the same row:
ok False + until in the future = "circuit open".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from relance.models.health import ServiceState
from relance.services import service_state

NAME = "smtp"
MAX_WAIT = 30 * 60  # seconds between two tries at most


@dataclass(frozen=True)
class Circuit:
    ok: bool = True
    detail: str = ""
    until: datetime | None = None
    since: datetime | None = None  # the outage's start (None when the server answered last)
    failures: int = 0

    def open_at(self, now: datetime) -> bool:
        """The circuit is open: nobody tries the server before `until`."""
        return not self.ok and self.until is not None and self.until > now


def wait(failures: int) -> int:
    """Seconds before the next try after `failures` failed connections in a row: 1 min, 2, 4 ... at most 30."""
    return min(60 * 2 ** max(0, failures - 1), MAX_WAIT)


def state(session: Session) -> Circuit:
    """The row as stored now (read as plain columns: never an object the session keeps from an earlier read)."""
    row = session.execute(select(ServiceState.ok, ServiceState.detail, ServiceState.until, ServiceState.data)
                          .where(ServiceState.name == NAME)).first()
    if row is None:
        return Circuit()
    data = row.data or {}
    since = None
    if not row.ok and data.get("since"):
        try:
            since = datetime.fromisoformat(data["since"])
        except (TypeError, ValueError):
            since = None
    return Circuit(bool(row.ok), row.detail or "", row.until, since, int(data.get("failures") or 0))


def record_down(session: Session, now: datetime, reason: str) -> Circuit:
    """The server could not be reached at `now`: open (or keep open) the circuit; the caller has committed."""
    before = state(session)
    since = before.since if not before.ok and before.since else now
    failures = (before.failures if not before.ok else 0) + 1
    until = now + timedelta(seconds=wait(failures))
    service_state.put(session, NAME, False, reason, until=until,
                      data={"since": since.isoformat(), "failures": failures})
    return Circuit(False, reason, until, since, failures)


def record_answer(session: Session, ok: bool, detail: str = "") -> None:
    """The server answered (the circuit closes); `ok` False with `detail` when the connection was given up (a drop,
    a 421 while sending, refused credentials). The caller has committed."""
    service_state.put(session, NAME, ok, detail, until=None, data={})
