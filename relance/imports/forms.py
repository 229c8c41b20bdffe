from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Regexp

from relance.forms import Form

KIND_CHOICES = [SelectChoice("customers", _l("Customers")), SelectChoice("invoices", _l("Invoices")),
                SelectChoice("payments", _l("Payments"))]


class UploadForm(Form):
    kind = SelectField(_l("What the file contains"), choices=KIND_CHOICES, default="invoices")
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])


class ConfirmForm(Form):
    kind = HiddenField(validators=[AnyOf(["customers", "invoices", "payments"])])
    token = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_-]{20,64}$")])
