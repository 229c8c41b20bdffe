"""The forms of users and API tokens (Administration > Users, API tokens)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from relance.forms import LANGUAGE_CHOICES, Form, choices, email_address
from relance.models import ROLES
from relance.services import accounts

ROLE_CHOICES = [("viewer", _l("viewer: reads everything, changes nothing")),
                ("agent", _l("agent: makes reminders")),
                ("manager", _l("manager: sets up levels, texts and settings")),
                ("admin", _l("admin: also manages users and API tokens"))]
assert [r for r, _label in ROLE_CHOICES] == list(ROLES)


def _role_check(form, field):
    if field.data not in ROLES:
        raise ValidationError(_l("Choose a role from the list."))


def _language_check(form, field):
    if field.data not in ("", "fr", "en"):
        raise ValidationError(_l("Choose French or English."))


def _password_rule(form, field):
    problem = accounts.password_problem(field.data or "", form.email.data or "")
    if problem:
        raise ValidationError(problem)


class UserForm(Form):
    email = StringField(_l("Email"), validators=[DataRequired(_l("Enter the email address.")), email_address,
                                                 Length(max=254)],
                        description=_l("The user logs in with this address."))
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter the name.")), Length(max=120)])
    role = SelectField(_l("Role"), choices=choices(ROLE_CHOICES), validate_choice=False, validators=[_role_check])
    language = SelectField(_l("Language"), choices=choices([("", _l("Browser language"))] + LANGUAGE_CHOICES),
                           validate_choice=False, validators=[_language_check])
    signature = TextAreaField(_l("Email signature"), validators=[Length(max=2000)],
                              description=_l("Replaces __USER_SIGNATURE__ at the end of the reminders this user "
                                             "sends. Plain text."))
    active = BooleanField(_l("Active (may log in)"), default=True)
    password = StringField(_l("Password"), validators=[Optional(), _password_rule],
                           description=_l("At least 12 characters: a few words separated by spaces. Give it to the "
                                          "user, who can then log in and change it."))


class TokenForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the token a name.")), Length(max=120)],
                       description=_l("What the token is for, like \"Accounting software import\"."))
    user_id = SelectField(_l("Acts as"), validate_choice=False,
                          description=_l("The API works with the rights of this user."))

