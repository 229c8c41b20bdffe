"""Typed access to the company settings stored as key/value rows.

Every setting has a type and a default here; the database only holds what a manager changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from relance.models import Setting


@dataclass(frozen=True)
class Spec:
    type: type
    default: Any


SPECS: dict[str, Spec] = {
    # company identity and letterhead
    "company_name": Spec(str, "Ma Société SAS"),
    "company_address": Spec(str, ""),
    "company_postcode": Spec(str, ""),
    "company_city": Spec(str, ""),
    "company_country": Spec(str, "FR"),
    "company_email": Spec(str, ""),
    "company_phone": Spec(str, ""),
    "company_logo": Spec(str, ""),  # file name under FILES_PATH
    "company_iban": Spec(str, ""),
    "company_bic": Spec(str, ""),
    "company_legal": Spec(str, ""),
    # sending
    "sender_email": Spec(str, ""),  # empty: the user who makes the reminder
    "copy_to_sales": Spec(bool, False),
    "save_letter_copy": Spec(bool, True),
    "next_reminder_delay": Spec(str, "+15 days"),
    "payment_url_pattern": Spec(str, ""),  # e.g. https://pay.example.com/{number}
    "default_language": Spec(str, "fr"),
    "notice_deadline_days": Spec(int, 8),
    # automatic run
    "auto_hour": Spec(int, 10),
    "auto_timezone": Spec(str, "Europe/Paris"),
    "auto_letters": Spec(bool, False),
    "business_days": Spec(bool, False),
    "business_country": Spec(str, "FR"),
    "min_days_between": Spec(int, 7),
    "manual_cancels_hours": Spec(int, 20),
    "min_amount": Spec(Decimal, Decimal("0.00")),
    "skip_direct_debit": Spec(bool, True),
    "skip_consumer_penalties": Spec(bool, True),
    # law
    "statutory_interest": Spec(bool, True),
    "indemnity_by_country": Spec(dict, {"FR": "40.00", "DE": "40.00", "BE": "40.00", "ES": "40.00",
                                        "IT": "40.00", "GB": "40.00"}),
}


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


class Settings:
    """A read snapshot of every setting: `settings.min_days_between`, `settings["auto_hour"]`."""

    def __init__(self, values: dict[str, Any]):
        self._values = values

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def load(session: Session) -> Settings:
    stored = {s.key: s.value for s in session.scalars(select(Setting))}
    return Settings({key: _decode(spec, stored.get(key)) for key, spec in SPECS.items()})


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
