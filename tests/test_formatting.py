"""Money formatting: the fast path gives exactly what Babel's `format_currency` gives."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import format_currency
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from relance.services.texts.formatting import format_money

LOCALES = ("fr", "en", "en_GB", "en_US", "fr_BE", "fr_CH", "de_CH", "nl_NL", "ar_EG", "hi_IN", "ja")
CURRENCIES = ("EUR", "GBP", "USD", "CHF", "JPY", "BHD", "XOF")


@settings(max_examples=400, derandomize=True, deadline=None)
@given(amount=st.decimals(min_value=Decimal("-99999999.999"), max_value=Decimal("99999999.999"), places=3),
       locale=st.sampled_from(LOCALES), currency=st.sampled_from(CURRENCIES))
def test_format_money_is_babels_format_currency(amount, locale, currency):
    ours, babel = format_money(amount, currency, locale), format_currency(amount, currency, locale=locale)
    if "CH" in locale:  # Babel strips quoted text from the whole string: 1'000'000 loses its group marks
        ours, babel = ours.replace("'", ""), babel.replace("'", "")
    assert ours == babel


def test_swiss_millions_keep_their_group_marks():
    assert format_money(Decimal("1234567.8"), "CHF", "de_CH") == "CHF\xa01'234'567.80"


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "-0", "0.005", "999.995", "1E+20"])
def test_format_money_edges_are_babels(value):
    for locale in ("fr", "en", "hi_IN"):
        for currency in ("EUR", "JPY", "BHD"):
            assert format_money(Decimal(value), currency, locale) == format_currency(Decimal(value), currency,
                                                                                      locale=locale)


def test_format_money_examples():
    assert format_money(Decimal("1200.5"), "EUR", "fr") == "1\u202f200,50\xa0€"
    assert format_money(Decimal("-3"), "GBP", "en_GB") == "-£3.00"
    assert format_money(Decimal("0.004"), "JPY", "ja") == "￥0"
    assert format_money(12, "EUR", "en") == "€12.00"


@pytest.mark.parametrize("language", ["fr", "en"])
def test_page_filters_write_what_the_functions_write(sqlite_app, language):
    """The |money and |short_date filters take the page's language once (current_locale): the same text as
    `money` and `short_date`, which ask Flask-Babel for each value."""
    from datetime import date, datetime

    from flask import render_template_string

    from relance.templating import money, short_date

    days = [date(2026, 1, 1), date(2026, 12, 3), date(1999, 7, 14)]
    amounts = [(Decimal("1200.5"), "EUR"), (Decimal("-3"), "GBP"), (Decimal("1234567.891"), "JPY")]
    source = ("{% for d in days %}{{ d|short_date }}|{% endfor %}"
              "{% for a, c in amounts %}{{ a|money(c) }}|{% endfor %}"
              "{{ moment|short_date }}|{{ none|short_date }}|{{ none|money }}")
    with sqlite_app.test_request_context(headers={"Accept-Language": language}):
        moment = datetime(2026, 3, 1, 14, 30)
        ours = render_template_string(source, days=days, amounts=amounts, moment=moment, none=None)
        theirs = "".join(f"{short_date(d)}|" for d in days) + "".join(f"{money(a, c)}|" for a, c in amounts) + \
            f"{short_date(moment)}||"
    assert ours == str(escape(theirs)) and ("Dec" in ours) == (language == "en")
