from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired, MultipleFileField
from wtforms import HiddenField, SelectField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; types-WTForms: 3.2
from wtforms.validators import AnyOf, DataRequired, Regexp

from relance.forms import Form

KIND_CHOICES = [SelectChoice("customers", _l("Customers")), SelectChoice("invoices", _l("Invoices")),
                SelectChoice("payments", _l("Payments"))]
KIND_CHOICES += [SelectChoice("contacts", _l("Contacts")),
                 SelectChoice("history", _l("Reminders already sent (history)"))]


class UploadForm(Form):
    kind = SelectField(_l("What the file contains"), choices=KIND_CHOICES, default="invoices")
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])


class EInvoiceForm(Form):
    files = MultipleFileField(_l("Factur-X PDFs or invoice XMLs"),
                              validators=[FileRequired(_l("Choose one or more Factur-X PDF or XML files."))])


class ConfirmForm(Form):
    kind = HiddenField(validators=[AnyOf([choice.value for choice in KIND_CHOICES] + ["facturx"])])
    token = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_-]{20,64}$")])


class PdfsForm(Form):
    archive = FileField(_l("ZIP of invoice PDFs"), validators=[FileRequired(_l("Choose a ZIP file."))])
