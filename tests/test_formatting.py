"""Money formatting: the fast path gives exactly what Babel's `format_currency` gives."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency
from hypothesis import given, settings
from hypothesis import strategies as st

from relance.services.formatting import format_money

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


def test_format_money_examples():
    assert format_money(Decimal("1200.5"), "EUR", "fr") == "1\u202f200,50\xa0€"
    assert format_money(Decimal("-3"), "GBP", "en_GB") == "-£3.00"
    assert format_money(Decimal("0.004"), "JPY", "ja") == "￥0"
    assert format_money(12, "EUR", "en") == "€12.00"
