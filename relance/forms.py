"""What every web form shares, for every area to import (never from another area's forms).

- `Form`: the base of every web form: single-line text fields refuse control characters (a carriage return in
  an invoice number would reach an email header), with the same rule as the CSV import and the API.
- Validators: `EmailAddresses` (the CSV import's and the API's rule; `email_address` for one address),
  `WholeNumber`, `Amount`; the number readers behind them, `parse_int` and `parse_decimal` ("12,5" and "12.5").
- Bounds: date fields refuse a date outside the years the CSV import accepts (relance/params.py:
  DATA_FIRST_DAY..DATA_LAST_DAY, so no year 9999 reaches the engine's date arithmetic); `Within` bounds a whole
  number field (out of range it holds None, so nothing past the database's integer range reaches a query).
- Choices: `choices(pairs)`, `LANGUAGE_CHOICES` (the screens' languages: French, English),
  `customer_language_choices()` (the languages a customer may read), `country_choices()` / `known_country(code)`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import cast

from babel import Locale
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; types-WTForms: 3.2
from wtforms.validators import ValidationError

from relance import params
from relance.services.engine.recipients import InvalidAddress, entered_addresses
from relance.services.texts import languages
from relance.services.texts.safe_text import control_error

LANGUAGE_CHOICES = [("fr", _l("French")), ("en", _l("English"))]  # the screens' languages (users, settings)


def customer_language_choices(keep: str | None = None) -> list[SelectChoice]:
    """The languages a customer may read: the six Relance ships texts in first, then every language Babel knows
    by its name in the reader's language (`keep`: the customer's stored code, offered even when a variant)."""
    return choices(languages.choices(str(get_locale() or "fr"), keep=keep))
NOT_COUNTRIES = {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"}  # babel "territories" that are no country


def choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def parse_decimal(text: str | None) -> Decimal | None:
    """ "1 234,50" or "1234.50" -> Decimal; None when it is not a number."""
    cleaned = re.sub(r"[\s\u00a0\u202f€%]", "", text or "").replace(",", ".")
    if not re.fullmatch(r"-?\d+(\.\d+)?", cleaned):
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def parse_int(text: str | None) -> int | None:
    cleaned = (text or "").strip()
    return int(cleaned) if re.fullmatch(r"-?\d{1,9}", cleaned) else None


def country_choices(codes=None) -> list[tuple[str, str]]:
    """(code, name in the reader's language), sorted by name; only two-letter country codes."""
    names = Locale.parse(str(get_locale() or "fr")).territories
    codes = codes if codes is not None else [c for c in names if isinstance(c, str) and known_country(c)]
    return sorted(((c, names.get(c, c)) for c in codes if re.fullmatch(r"[A-Z]{2}", c)), key=lambda x: x[1])


def known_country(code: str) -> bool:
    return re.fullmatch(r"[A-Z]{2}", code or "") is not None and code in Locale("en").territories \
        and code not in NOT_COUNTRIES


class EmailAddresses:
    """A field of email addresses checked by `recipients.entered_addresses` (the CSV import's and the API's rule):
    kept as typed, trimmed; several separated by commas or semicolons, or exactly one with `several=False`.
    An empty field passes (add DataRequired where one is needed)."""

    def __init__(self, several: bool = False):
        self.several = several

    def __call__(self, form, field):
        try:
            field.data = entered_addresses(field.data, several=self.several)
        except InvalidAddress as exc:
            raise ValidationError(exc.message) from None


email_address = EmailAddresses(several=False)


class WholeNumber:
    def __init__(self, low: int, high: int):
        self.low, self.high = low, high

    def __call__(self, form, field):
        value = parse_int(field.data)
        if value is None or not self.low <= value <= self.high:
            raise ValidationError(_l("Enter a whole number between %(low)d and %(high)d.", low=self.low,
                                     high=self.high))


class Amount:
    def __init__(self, low: Decimal, high: Decimal, places: int = 2):
        self.low, self.high, self.places = low, high, places

    def __call__(self, form, field):
        value = parse_decimal(field.data)
        if value is None or not self.low <= value <= self.high:
            raise ValidationError(_l("Enter a number between %(low)s and %(high)s (for example 12,50).",
                                     low=self.low, high=self.high))
        # a finite number (parse_decimal reads digits only), so the exponent is an int, not "n"/"N"/"F"
        if cast(int, value.as_tuple().exponent) < -self.places:
            raise ValidationError(_l("Use at most %(n)d decimals.", n=self.places))


class Within:
    """A whole number field between `low` and `high` (params' message). Out of range, the field holds None after
    validation, so nothing past the database's integer range reaches a query."""

    def __init__(self, low: int, high: int):
        self.low, self.high = low, high

    def __call__(self, form, field):
        if field.data is not None and not self.low <= field.data <= self.high:
            raw = field.raw_data[0] if field.raw_data else str(field.data)
            field.data = None
            try:
                params.parse_int(raw, str(field.label.text), self.low, self.high)
            except params.ParamError as exc:
                raise ValidationError(exc.message) from None


class Form(FlaskForm):
    """FlaskForm whose text fields refuse control characters (single-line fields: line breaks too) and whose date
    fields refuse dates outside params.DATA_FIRST_DAY..DATA_LAST_DAY."""

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            message = None
            if isinstance(field, StringField) and field.type not in ("CSRFTokenField",):
                message = control_error(field.data, multiline=isinstance(field, TextAreaField))
            elif isinstance(field, DateField) and field.data is not None:
                try:
                    params.check_date(field.data, str(field.label.text), params.DATA_FIRST_DAY,
                                      params.DATA_LAST_DAY)
                except params.ParamError as exc:
                    message = exc.message
            if message:
                field.errors = [*field.errors, message]
                valid = False
        return valid
