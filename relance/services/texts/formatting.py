"""Money and dates formatted for a language with Babel (used by pages, letters and emails); links in a plain
text made clickable, everything else escaped (`linkify`)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.numbers import (
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    parse_pattern,
)
from flask_babel import get_locale
from markupsafe import Markup, escape

URL_RE = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")


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
    # `_quantize_value` with the locale's symbols looked up once (Babel looks them up for every amount)
    group = get_group_symbol(locale, numbering_system="latn")
    decimal = get_decimal_symbol(locale, numbering_system="latn")
    first, then = pattern.grouping
    least = pattern.int_prec[0]
    quantum = Decimal(10) ** -digits

    def apply(amount) -> str:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
        negative = int(value.is_signed())
        value = abs(value).normalize()
        if not value.is_finite():  # infinity, NaN: Babel's own way
            number = pattern._quantize_value(value, locale, (digits, digits), True, numbering_system="latn")
            return prefixes[negative] + number + suffixes[negative]
        whole, _, fraction = f"{value.quantize(quantum):f}".partition(".")
        if len(whole) < least:
            whole = "0" * (least - len(whole)) + whole
        if len(whole) > first:
            groups, size = [], first
            while len(whole) > size:
                groups.append(whole[-size:])
                whole, size = whole[:-size], then
            whole = group.join([whole, *reversed(groups)])
        number = whole + decimal + fraction if digits else whole
        return prefixes[negative] + number + suffixes[negative]

    return apply


def format_day(value: date, language: str, form: str = "long") -> str:
    """A date for a reader of `language` (a locale); the "short" form of English, 12/3/26, is ambiguous: English
    readers get the day, the month's name and the year (3 Dec 2026). Kept once made (a pure function of its
    arguments: a run formats the same few hundred dates thousands of times)."""
    if isinstance(language, str) and type(value) is date:
        return _day_text(value, language, form)
    return _format_day(value, language, form)


def _format_day(value: date, language: str, form: str) -> str:
    if form == "short" and str(language).startswith("en"):
        form = ENGLISH_SHORT_DATE
    return babel_format_date(value, form, locale=language)


_day_text = lru_cache(maxsize=16384)(_format_day)


@lru_cache(maxsize=256)
def babel_locale(language: str) -> Locale:
    """`Locale.parse(language)`, parsed once."""
    return Locale.parse(language)


@lru_cache(maxsize=64)
def _number_pattern(form: str):
    return parse_pattern(form)


def format_number(value: Decimal, form: str, language: str) -> str:
    """`babel.numbers.format_decimal(value, format=form, locale=language)` (decimal quantization, groups, latn
    digits), with the locale and the pattern parsed once instead of for every number."""
    return _number_pattern(form).apply(value, babel_locale(language), decimal_quantization=True,
                                       group_separator=True, numbering_system="latn")


@lru_cache(maxsize=256)
def currency_symbol(currency: str, language: str) -> str:
    """`get_currency_symbol(currency, locale=language)`, looked up once."""
    return get_currency_symbol(currency, locale=language)


ENGLISH_SHORT_DATE = "d MMM y"


@lru_cache(maxsize=4096)
def short_day(value: date, language: str) -> str:
    """`format_day(value, language, "short")`, kept: a page shows a few hundred dates, many the same."""
    return format_day(value, language, "short")


@lru_cache(maxsize=256)
def format_locale(language: str, country: str | None = None) -> str:
    """The locale that writes money and dates for a reader of `language` living in `country` (ISO code):
    en + GB -> en_GB (16/12/2025, 3 March 2026), en + US -> en_US (12/16/25), fr + BE -> fr_BE; the language
    alone when Babel knows no such pair. Translations still come from the language's catalogue."""
    try:
        if Locale.parse(language).territory:  # de_CH, written so: its own formats whatever the country
            return language
    except (UnknownLocaleError, ValueError):
        return language
    if country and len(country) == 2 and country.isalpha():
        candidate = f"{language}_{country.upper()}"
        try:
            Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            return language
        return candidate
    return language


def linkify(line: str) -> Markup:
    """One line of plain text as HTML: escaped, its web addresses as links."""
    out, last = [], 0
    for match in URL_RE.finditer(line):
        out.append(escape(line[last:match.start()]))
        url = escape(match.group(0))
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        last = match.end()
    out.append(escape(line[last:]))
    return Markup("").join(out)
