"""Company settings (key/value with typed defaults) and the statutory interest rate table."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import JSON, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relance.extensions import Model

RATE_KINDS = ("b2b", "consumer")


class Setting(Model):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)


class StatutoryRate(Model):
    """Annual late-interest rate (percent) valid from a date, per country and kind."""

    __tablename__ = "statutory_rates"
    __table_args__ = (UniqueConstraint("country", "kind", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2), default="FR")
    kind: Mapped[str] = mapped_column(String(16), default="b2b")
    valid_from: Mapped[date]
    rate: Mapped[Decimal] = mapped_column(Numeric(7, 3))
    note: Mapped[str] = mapped_column(String(200), default="")
