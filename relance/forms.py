"""The base of every web form: single-line text fields refuse control characters (a carriage return in an
invoice number would reach an email header), with the same rule as the CSV import and the API."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from relance.services.safe_text import control_error


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
