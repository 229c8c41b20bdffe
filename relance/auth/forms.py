from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired

from relance.forms import Form


class LoginForm(Form):
    email = StringField(_l("Email"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Remember me"))
    submit = SubmitField(_l("Log in"))


class EmptyForm(Form):
    """A POST-only form: the CSRF token of an action button."""

    submit = SubmitField(_l("Submit"))
