"""Money and dates formatted for a language with Babel (used by pages, letters and emails)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date


def format_money(amount: Decimal, currency: str, language: str) -> str:
    """Babel's `format_currency` (standard pattern, the currency's digits), with the locale and its pattern
    parsed once: a page of 50 rows formats 20 amounts a row."""
    locale, pattern = _money_pattern(language)
    return pattern.apply(amount, locale, currency=currency, currency_digits=True, decimal_quantization=True)


@lru_cache(maxsize=64)
def _money_pattern(language: str):
    locale = Locale.parse(language)
    return locale, locale.currency_formats["standard"]


def format_day(value: date, language: str, form: str = "long") -> str:
    return babel_format_date(value, form, locale=language)


@lru_cache(maxsize=256)
def format_locale(language: str, country: str | None = None) -> str:
    """The locale that writes money and dates for a reader of `language` living in `country` (ISO code):
    en + GB -> en_GB (16/12/2025, 3 March 2026), en + US -> en_US (12/16/25), fr + BE -> fr_BE; the language
    alone when Babel knows no such pair. Translations still come from the language's catalogue."""
    if country and len(country) == 2 and country.isalpha():
        candidate = f"{language}_{country.upper()}"
        try:
            Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            return language
        return candidate
    return language
