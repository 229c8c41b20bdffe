"""Typed access to the company settings stored as key/value rows.

Every setting is a field of `CompanySettings` with its type and default; the database only holds what a manager
changed. `load(session)` gives a frozen `CompanySettings`, `save(session, values)` stores values by name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any, get_origin, get_type_hints

from sqlalchemy import select
from sqlalchemy.orm import Session

from relance.models import Setting


def _indemnities() -> dict[str, str]:
    return {"FR": "40.00", "DE": "40.00", "BE": "40.00", "ES": "40.00", "IT": "40.00", "GB": "40.00"}


@dataclass(frozen=True)
class CompanySettings:
    """Every company setting, typed, with its default (what `load` gives when a manager changed nothing)."""

    # company identity and letterhead
    company_name: str = "Ma Société SAS"
    company_address: str = ""
    company_postcode: str = ""
    company_city: str = ""
    company_country: str = "FR"
    company_email: str = ""
    company_phone: str = ""
    company_logo: str = ""  # file name under FILES_PATH
    company_iban: str = ""
    company_bic: str = ""
    company_legal: str = ""
    company_siren: str = ""  # SIREN (9 digits) or SIRET (14), checked with python-stdnum (go-live)
    company_vat: str = ""  # intra-community VAT number, compact (FR12123456789)
    # sending
    sender_email: str = ""  # empty: the user who makes the reminder
    copy_to_sales: bool = False
    save_letter_copy: bool = True
    next_reminder_delay: str = "+15 days"
    payment_url_pattern: str = ""  # e.g. https://pay.example.com/{number}
    default_language: str = "fr"
    notice_deadline_days: int = 8
    group_by_customer: bool = False  # one message for all a customer's invoices reminded the same day
    # the customer page (services/answers.py): how long its link is valid, how long answers hold the reminders
    customer_link_days: int = 60
    promise_grace_days: int = 3  # a promise holds through its day and these days; then the chase resumes
    paid_claim_days: int = 7  # "I have paid" holds this many days for the payment to reach the bank
    # go-live (services/golive.py): "" = the go-live step is not done, nothing is sent automatically
    go_live_date: str = ""  # YYYY-MM-DD: invoices due before it are not chased automatically unless brought in
    auto_start_date: str = ""  # YYYY-MM-DD: the first day the automatic runs send
    # automatic run
    auto_hour: int = 10
    auto_timezone: str = "Europe/Paris"
    auto_letters: bool = False
    business_days: bool = False
    business_country: str = "FR"
    min_days_between: int = 7
    manual_cancels_hours: int = 20
    min_amount: Decimal = Decimal("0.00")
    skip_direct_debit: bool = True
    skip_consumer_penalties: bool = True
    # bank statements (services/data_in/statements.py): a line matched exactly and without doubt becomes a payment
    # at its import; off, every match waits for a person
    statement_auto_record: bool = False
    # law
    statutory_interest: bool = True
    indemnity_by_country: dict[str, str] = field(default_factory=_indemnities)  # country -> "40.00" [currency]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Spec:
    type: type
    default: Any


def _specs() -> dict[str, Spec]:
    hints = get_type_hints(CompanySettings)
    defaults = CompanySettings()
    return {f.name: Spec(get_origin(hints[f.name]) or hints[f.name], getattr(defaults, f.name))
            for f in fields(CompanySettings)}


SPECS: dict[str, Spec] = _specs()  # name -> its type (dict for the mapping) and default, from CompanySettings


def _decode(spec: Spec, raw: Any) -> Any:
    if raw is None:
        return spec.default
    if spec.type is Decimal:
        return Decimal(str(raw))
    if spec.type is bool:
        return bool(raw)
    if spec.type is int:
        return int(raw)
    return raw


def _encode(spec: Spec, value: Any) -> Any:
    if spec.type is Decimal:
        return str(Decimal(str(value)))
    return spec.type(value) if spec.type in (bool, int, str) else value


def load(session: Session) -> CompanySettings:
    """Every setting: the stored value, else its default."""
    stored = {s.key: s.value for s in session.scalars(select(Setting))}
    return CompanySettings(**{key: _decode(SPECS[key], raw) for key, raw in stored.items()
                              if key in SPECS and raw is not None})


def save(session: Session, values: dict[str, Any]) -> None:
    """Store the given settings (the caller commits, so a form saves all at once or not at all)."""
    unknown = set(values) - set(SPECS)
    if unknown:
        raise KeyError(f"unknown settings: {', '.join(sorted(unknown))}")
    for key, value in values.items():
        row = session.get(Setting, key)
        encoded = _encode(SPECS[key], value)
        if row is None:
            session.add(Setting(key=key, value=encoded))
        else:
            row.value = encoded
