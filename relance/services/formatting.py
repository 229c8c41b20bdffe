"""Money and dates formatted for a language with Babel (used by pages, letters and emails)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency


def format_money(amount: Decimal, currency: str, language: str) -> str:
    return format_currency(amount, currency, locale=language)


def format_day(value: date, language: str, form: str = "long") -> str:
    return babel_format_date(value, form, locale=language)
