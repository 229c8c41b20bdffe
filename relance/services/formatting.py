"""Money and dates formatted for a language with Babel (used by pages, letters and emails)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.numbers import get_currency_precision, get_currency_symbol
from flask_babel import get_locale


def format_money(amount: Decimal, currency: str, language: str) -> str:
    """Babel's `format_currency` (standard pattern, the currency's digits), with what depends only on the
    locale and the currency worked out once: a page of 50 rows formats 200 amounts."""
    return _money_format(language, currency)(amount)


def money_for_reader(amount: Decimal, currency: str) -> str:
    """An amount in the current reader's language (pages, messages): 1 200,50 € in French."""
    return format_money(amount, currency, str(get_locale() or "fr"))


@lru_cache(maxsize=256)
def _money_format(language: str, currency: str):
    """A function amount -> text giving exactly what `NumberPattern.apply` gives (tests/test_formatting.py),
    with the prefix and suffix (currency symbol, quotes) made once instead of for every amount."""
    locale = Locale.parse(language)
    pattern = locale.currency_formats["standard"]
    digits = get_currency_precision(currency)
    if pattern.exp_prec or pattern.scale or "@" in pattern.pattern or "¤¤¤" in pattern.pattern:
        return lambda amount: pattern.apply(amount, locale, currency=currency, currency_digits=True,
                                            decimal_quantization=True)
    symbol = get_currency_symbol(currency, locale)

    def affix(text: str) -> str:
        text = text.replace("¤¤", currency.upper()).replace("¤", symbol)
        return re.sub(r"'([^']*)'", lambda m: m.group(1) or "'", text)

    prefixes, suffixes = tuple(map(affix, pattern.prefix)), tuple(map(affix, pattern.suffix))

    def apply(amount) -> str:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
        negative = int(value.is_signed())
        number = pattern._quantize_value(abs(value).normalize(), locale, (digits, digits), True,
                                         numbering_system="latn")
        return prefixes[negative] + number + suffixes[negative]

    return apply


def format_day(value: date, language: str, form: str = "long") -> str:
    """A date for a reader of `language` (a locale); the "short" form of English, 12/3/26, is ambiguous: English
    readers get the day, the month's name and the year (3 Dec 2026)."""
    if form == "short" and str(language).startswith("en"):
        form = ENGLISH_SHORT_DATE
    return babel_format_date(value, form, locale=language)


ENGLISH_SHORT_DATE = "d MMM y"


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
