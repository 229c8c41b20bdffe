"""Login throttle: failed logins slow down whoever fails, and never lock the rightful user out.

What is counted. Each failed login is a row (`LoginFailure`: the email typed, the address it came from, the
known-browser id it came with, the moment), so the limits hold across web processes and servers. Three counters
read those rows:

- here: one account from one address (email + address), over the last 24 hours;
- address: every account from one address, over the last hour (one address trying many accounts);
- known browser: one account from a browser that logged into it before (email + that browser's id), 24 hours.

Growing delays, no lockout. Below a counter's `free` failures nothing waits; from there the next try waits
FIRST_WAIT (5 s) after the latest failure, doubling with each further failure, at most LONGEST_WAIT (15 min). A
try made during the wait is refused before the password is looked at, and is not counted.

Why someone else's failures never refuse a correct password. There is no counter per account: failures for an
account from one address never count anywhere else.
- An attacker trying passwords for admin@... slows down their own address (its "here" and "address" counters).
  The admin, from any other address, logs in at once with the right password: a correct password from an address
  that is not itself throttled, for everybody or for that account, is always accepted.
- People sharing one address (an office behind one NAT; every user when a reverse proxy is not declared with
  RELANCE_TRUSTED_PROXIES) share its counters. So a browser that logged into an account before carries a signed
  known-browser cookie (relance/auth/known_browser.py), and its tries for that account are counted on their own
  counter only, not on the address's nor on "here". Someone else's failures from the same address therefore never
  refuse a person in their usual browser; only a browser new to that account waits with the address.
  A known-browser cookie is given only after the right password for that account, so it cannot be made for an
  account whose password one does not know; its holder's own failures are slowed down on its own counter.
A correct password clears the counter it was checked on (that browser's, or that account's "here"); the address
counter keeps the other accounts' failures (logging into one's own account must not reset the count of one trying
many accounts).

Known limit: a guess spread over many addresses at one account is slowed down per address only (a counter per
account is exactly what would lock the rightful user out). The password rule is the defence against it (at least
12 characters, common passwords refused: services/accounts.py). An IPv6 address is counted by its /64 network
(which one client usually owns whole), an IPv4-mapped IPv6 address as the IPv4 address.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from relance.models.user import LoginFailure

FIRST_WAIT = timedelta(seconds=5)
LONGEST_WAIT = timedelta(minutes=15)
KEEP = timedelta(days=1)  # failures older than this are deleted (the longest window)


@dataclass(frozen=True)
class Limit:
    free: int  # failures in the window that cost no wait
    window: timedelta


HERE = Limit(free=3, window=timedelta(days=1))  # one account from one address
KNOWN_BROWSER = Limit(free=3, window=timedelta(days=1))  # one account from a browser that logged into it before
ADDRESS = Limit(free=20, window=timedelta(hours=1))  # any account from one address: an office mistypes too
# wrong links to a customer's page (relance/portal) from one address, counted as failures of an email no account has
LINK = Limit(free=30, window=timedelta(minutes=10))
LINK_KEY = "#customer-page"


def email_key(email: str) -> str:
    return (email or "").strip().lower()[:254]


def address_key(address: str) -> str:
    """The address as counted: IPv4 as is, IPv6 by its /64 network, anything else (no address) as given."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return (address or "").strip()[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class Attempt:
    """A login try: the email typed, the client address, and the known-browser id this browser holds for that
    email ("" when none; auth/known_browser.py checks the cookie's signature and email)."""

    email: str
    address: str
    browser: str = ""

    @property
    def email_key(self) -> str:
        return email_key(self.email)

    @property
    def address_key(self) -> str:
        return address_key(self.address)


def delay(failures: int, limit: Limit) -> timedelta:
    """The wait after the latest of `failures` failures: none below the limit, then 5 s doubling to 15 min."""
    if failures < limit.free:
        return timedelta(0)
    return min(LONGEST_WAIT, FIRST_WAIT * 2 ** min(failures - limit.free, 16))


def _counters(attempt: Attempt):
    """(limit, conditions) of the counters that apply to this try."""
    email = LoginFailure.email == attempt.email_key
    if attempt.browser:
        return [(KNOWN_BROWSER, (email, LoginFailure.device == attempt.browser))]
    address = LoginFailure.ip == attempt.address_key
    return [(HERE, (email, address)), (ADDRESS, (address,))]


def wait_seconds(session: Session, attempt: Attempt, now: datetime) -> int:
    """Seconds to wait before this try may be checked (0: now)."""
    return max((_wait(session, limit, conditions, now) for limit, conditions in _counters(attempt)), default=0)


def _wait(session: Session, limit: Limit, conditions, now: datetime) -> int:
    failures, latest = session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(*conditions, LoginFailure.at > now - limit.window)
    ).one()
    if failures and failures >= limit.free:
        return max(0, math.ceil((latest + delay(failures, limit) - now).total_seconds()))
    return 0


def link_wait_seconds(session: Session, address: str, now: datetime) -> int:
    """Seconds before this address may open a customer's page again after too many wrong links (0: now)."""
    return _wait(session, LINK, (LoginFailure.email == LINK_KEY, LoginFailure.ip == address_key(address)), now)


def record_link_miss(session: Session, address: str, now: datetime) -> None:
    record_failure(session, Attempt(email=LINK_KEY, address=address), now)


def record_failure(session: Session, attempt: Attempt, now: datetime) -> None:
    session.add(LoginFailure(email=attempt.email_key, ip=attempt.address_key, device=attempt.browser[:32], at=now))
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - KEEP))


def record_success(session: Session, attempt: Attempt) -> None:
    """The right password clears the counter it was checked on: this known browser's for that account, or that
    account's from this address (the address keeps its count of the other accounts' failures, and a known
    browser's success leaves the failures of others at its address counted)."""
    email = LoginFailure.email == attempt.email_key
    if attempt.browser:
        session.execute(delete(LoginFailure).where(email, LoginFailure.device == attempt.browser))
    else:
        session.execute(delete(LoginFailure).where(email, LoginFailure.ip == attempt.address_key))
