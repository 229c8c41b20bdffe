from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from relance.forms import EmailAddresses, Form, choices

KIND_CHOICES = [("business", _l("Business")), ("consumer", _l("Consumer"))]
GROUP_CHOICES = [("", _l("As the company's setting")), ("yes", _l("One email for all their invoices")),
                 ("no", _l("One email per invoice"))]
ROLE_CHOICES = [("billing", _l("Billing")), ("followup", _l("Invoice follow-up"))]


class CustomerForm(Form):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=64)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = StringField(_l("Email"), validators=[EmailAddresses(several=True), Length(max=500)],
                        description=_l("Several addresses may be separated by commas."))
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=64)])
    address = TextAreaField(_l("Address"), validators=[Optional(), Length(max=2000)])
    postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=20)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=120)])
    country = StringField(
        _l("Country"), default="FR",
        validators=[DataRequired(), Regexp(r"^[A-Za-z]{2}$", message=_l("Two letters, e.g. FR, BE, DE."))],
    )
    language = SelectField(_l("Language"), choices=[], default="fr",  # customer_language_choices(), per reader
                           description=_l("Reminders are written in this language when it has texts, else in the "
                                          "company's language."))
    kind = SelectField(_l("Kind"), choices=choices(KIND_CHOICES), default="business")
    sales_reps = SelectMultipleField(_l("Sales representatives"), coerce=int, validate_choice=True)
    direct_debit = BooleanField(_l("Pays by direct debit"))
    no_auto_reminders = BooleanField(_l("No automatic reminders"))
    # not "policy": the form is filled from the customer (obj=), whose `policy` is the relationship
    reminder_policy = SelectField(_l("Reminder policy"), choices=[], default="",  # policy_choices(), per request
                                  description=_l("The reminder levels this customer follows (Administration > "
                                                 "Reminder levels)."))
    group_reminders = SelectField(
        _l("Invoices reminded the same day"), choices=choices(GROUP_CHOICES), default="", validate_choice=False,
        description=_l("One email listing all of them, every invoice attached, or one email per invoice."))
    paused_until = DateField(_l("Pause reminders until"), validators=[Optional()])
    pause_reason = StringField(_l("Reason for the pause"), validators=[Optional(), Length(max=500)])

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.paused_until.data and not (self.pause_reason.data or "").strip():
            self.pause_reason.errors = [*self.pause_reason.errors, _l("Give the reason for the pause.")]
            valid = False
        return valid


class ContactForm(Form):
    first_name = StringField(_l("First name"), validators=[Optional(), Length(max=120)])
    name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=120)])
    email = StringField(_l("Email"), validators=[EmailAddresses(several=True), Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=64)])
    role = SelectField(_l("Role"), choices=choices(ROLE_CHOICES), default="billing")
