"""The form of a legal interest rate (Administration > Legal interest rates)."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from relance import params
from relance.forms import Amount, Form, choices, country_choices, known_country
from relance.models import RATE_KINDS

RATE_KIND_CHOICES = [("b2b", _l("Business customers")), ("consumer", _l("Private customers (consumers)"))]
assert [k for k, _label in RATE_KIND_CHOICES] == list(RATE_KINDS)


class RateForm(Form):
    country = SelectField(_l("Country"), validate_choice=False)
    kind = SelectField(_l("Customers"), choices=choices(RATE_KIND_CHOICES), validate_choice=False)
    valid_from = StringField(_l("Valid from"), validators=[DataRequired(_l("Enter the date the rate starts."))],
                             description=_l("Usually 1 January or 1 July."))
    rate = StringField(_l("Annual rate (%)"), validators=[Amount(Decimal(0), Decimal(100), places=3)],
                       description=_l("For example 12,15 for 12.15 % a year."))
    note = StringField(_l("Note"), validators=[Length(max=200)],
                       description=_l("Where the rate comes from, like \"ECB + 10 points\"."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = choices(country_choices())

    def validate_country(self, field):
        if not known_country(field.data):
            raise ValidationError(_l("Choose a country from the list."))

    def validate_kind(self, field):
        if field.data not in RATE_KINDS:
            raise ValidationError(_l("Choose business or private customers."))

    def validate_valid_from(self, field):
        from datetime import date

        try:
            field.parsed = date.fromisoformat((field.data or "").strip())
        except ValueError:
            raise ValidationError(_l("Enter a date like 2026-07-01.")) from None
        try:
            params.check_date(field.parsed, str(field.label.text), params.DATA_FIRST_DAY, params.DATA_LAST_DAY)
        except params.ParamError as exc:
            raise ValidationError(exc.message) from None
