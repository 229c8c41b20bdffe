from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo

from relance.forms import Form


class LoginForm(Form):
    email = StringField(_l("Email"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Remember me"))
    submit = SubmitField(_l("Log in"))


class EmptyForm(Form):
    """A POST-only form: the CSRF token of an action button."""

    submit = SubmitField(_l("Submit"))


class PasswordChangeForm(Form):
    """A person changes their own password; the rule is services/accounts.password_problem."""

    current_password = PasswordField(_l("Current password"),
                                     validators=[DataRequired(_l("Enter your current password."))])
    new_password = PasswordField(
        _l("New password"), validators=[DataRequired(_l("Enter a new password."))],
        description=_l("At least 12 characters. A few words separated by spaces are easy to remember and hard to "
                       "guess. Common passwords are refused."))
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(_l("Enter the new password a second time.")),
        EqualTo("new_password", _l("The two new passwords are different."))])
    submit = SubmitField(_l("Change the password"))
