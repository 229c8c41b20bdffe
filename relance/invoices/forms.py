from decimal import Decimal

from babel.numbers import list_currencies
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from relance import clock
from relance.forms import Form, choices
from relance.services.payments import PaymentError, parse_amount

STATUS_CHOICES = [("draft", _l("Draft")), ("validated", _l("Validated")), ("paid", _l("Paid")),
                  ("cancelled", _l("Cancelled"))]
KIND_CHOICES = [("invoice", _l("Invoice")), ("credit_note", _l("Credit note"))]
CURRENCIES = frozenset(list_currencies())


class MoneyField(StringField):
    """An amount typed as '1 234,56' or '1234.56'; `data` is a Decimal (None when empty or wrong)."""

    data: Decimal | None  # type: ignore[assignment]  # a StringField's text, parsed: StringField says str | None

    def process_formdata(self, valuelist):
        self.raw = valuelist[0] if valuelist else ""
        self.data = None
        if self.raw.strip():
            try:
                self.data = parse_amount(self.raw)
            except PaymentError as exc:
                self.data = None
                raise ValueError(str(exc.message)) from None

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else f"{self.data:.2f}"


class InvoiceForm(Form):
    number = StringField(_l("Number"), validators=[DataRequired(), Length(max=64)])
    customer_code = StringField(_l("Customer code"), validators=[DataRequired(), Length(max=64)])
    issue_date = DateField(_l("Issue date"), validators=[InputRequired()])
    due_date = DateField(_l("Due date"), validators=[Optional()])
    currency = StringField(_l("Currency"), default="EUR", validators=[DataRequired(), Length(min=3, max=3)])
    total_excl_tax = MoneyField(_l("Total excl. tax"), validators=[InputRequired()])
    total_incl_tax = MoneyField(_l("Total incl. tax"), validators=[InputRequired()])
    status = SelectField(_l("Status"), choices=choices(STATUS_CHOICES), default="validated")
    kind = SelectField(_l("Kind"), choices=choices(KIND_CHOICES), default="invoice")
    billing_contact_id = SelectField(_l("Customer billing contact"), coerce=int, default=0)
    followup_contact_id = SelectField(_l("Customer invoice follow-up contact"), coerce=int, default=0)
    followup_user_id = SelectField(_l("Reminder follow-up (user)"), coerce=int, default=0)
    no_auto_reminders = BooleanField(_l("No automatic reminders"))
    credits_invoice = StringField(_l("Credited invoice"), validators=[Optional(), Length(max=64)])
    pdf = FileField(_l("Invoice PDF"))

    def validate_currency(self, field):
        field.data = (field.data or "").strip().upper()
        if field.data not in CURRENCIES:
            raise ValidationError(_l("Unknown currency: use an ISO 4217 code such as EUR, USD or GBP."))

    def validate_due_date(self, field):
        if field.data and self.issue_date.data and field.data < self.issue_date.data:
            raise ValidationError(_l("The due date cannot be before the issue date."))

    def validate_total_excl_tax(self, field):
        if field.data is not None and field.data < 0:
            raise ValidationError(_l("The amount cannot be negative."))

    def validate_total_incl_tax(self, field):
        if field.data is not None and field.data < 0:
            raise ValidationError(_l("The amount cannot be negative."))
        if field.data is not None and self.total_excl_tax.data is not None and self.total_excl_tax.data > field.data:
            raise ValidationError(_l("The total incl. tax cannot be lower than the total excl. tax."))


class PaymentForm(Form):
    amount = MoneyField(_l("Amount"), validators=[InputRequired()])
    date = DateField(_l("Payment date"), validators=[InputRequired()], default=lambda: clock.today())
    reference = StringField(_l("Reference"), validators=[Optional(), Length(max=120)])

    def validate_amount(self, field):
        if field.data is not None and field.data <= Decimal("0"):
            raise ValidationError(_l("The amount must be greater than zero."))
