"""The base of every web form: single-line text fields refuse control characters (a carriage return in an
invoice number would reach an email header), with the same rule as the CSV import and the API; and the
validator of email address fields, again the same as the CSV import's and the API's."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import ValidationError

from relance.services.recipients import InvalidAddress, entered_addresses
from relance.services.safe_text import control_error


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


class Form(FlaskForm):
    """FlaskForm whose text fields refuse control characters (single-line fields: line breaks too)."""

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if isinstance(field, StringField) and field.type not in ("CSRFTokenField",):
                message = control_error(field.data, multiline=isinstance(field, TextAreaField))
                if message:
                    field.errors = [*field.errors, message]
                    valid = False
        return valid
