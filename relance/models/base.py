"""Column helpers shared by the models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Numeric
from sqlalchemy.orm import mapped_column

MONEY = Numeric(14, 2, asdecimal=True)
ZERO = Decimal("0.00")
# The largest id: ids are INTEGER columns, PostgreSQL's int4 (SQLite's are wider). Nothing larger may reach a
# query (SQLite raises OverflowError past 2**63, PostgreSQL "integer out of range"): relance/params.py.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """Naive UTC timestamp (stored the same way on SQLite and PostgreSQL), from the application's clock."""
    from relance import clock

    return clock.utcnow()


def money_column(**kwargs):
    kwargs.setdefault("default", ZERO)
    kwargs.setdefault("nullable", False)
    return mapped_column(MONEY, **kwargs)
