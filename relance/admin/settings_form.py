"""The settings form (Administration > Settings) and its field helpers: IBAN, per-country indemnities, logo.
Every field refuses bad input with a message; numbers accept "12,5" and "12.5"."""

from __future__ import annotations

import re
import zoneinfo
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlsplit

import holidays
from babel.numbers import is_currency
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as NumberError
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from relance.forms import (
    LANGUAGE_CHOICES,
    Amount,
    Form,
    WholeNumber,
    choices,
    country_choices,
    email_address,
    known_country,
    parse_decimal,
    parse_int,
)
from relance.services.engine.levels import DelayError, delay_text, parse_delay
from relance.services.engine.penalties import parse_indemnity

LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg"}
LOGO_MAX_BYTES = 1024 * 1024


def iban_is_valid(iban: str) -> bool:
    compact = re.sub(r"\s", "", iban).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", compact):
        return False
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def format_iban(iban: str) -> str:
    compact = re.sub(r"\s", "", iban).upper()
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


def holiday_countries() -> list[str]:
    return [c for c in holidays.list_supported_countries() if len(c) == 2]


def parse_indemnities(text: str) -> tuple[dict[str, str], list[str]]:
    """Lines "FR: 40" or "FR: 40 EUR" -> ({"FR": "40.00"} or {"FR": "40.00 EUR"}, errors naming the line). An
    amount without a currency is in the country's own (penalties.parse_indemnity: FR -> EUR, GB -> GBP)."""
    result: dict[str, str] = {}
    errors: list[str] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        match = re.fullmatch(r"\s*([A-Za-z]{2})\s*[:=;\s]\s*(.+?)(?:\s+([A-Za-z]{3}))?\s*", line)
        amount = parse_decimal(match.group(2)) if match else None
        code = match.group(1).upper() if match else ""
        currency = (match.group(3) or "").upper() if match else ""
        if not match or amount is None:
            errors.append(str(_l('Line %(n)d: write a country code, a colon and an amount, like "FR: 40".',
                                 n=number)))
        elif not known_country(code):
            errors.append(str(_l('Line %(n)d: "%(code)s" is not a country code.', n=number, code=code)))
        elif currency and not is_currency(currency):
            errors.append(str(_l('Line %(n)d: "%(code)s" is not a currency code (like EUR or GBP).', n=number,
                                 code=currency)))
        elif amount < 0 or amount > 10000:
            errors.append(str(_l("Line %(n)d: the amount must be between 0 and 10,000.", n=number)))
        elif code in result:
            errors.append(str(_l("Line %(n)d: %(code)s is given twice.", n=number, code=code)))
        else:
            result[code] = " ".join(filter(None, (str(amount.quantize(Decimal("0.01"))), currency)))
    return result, errors


def format_indemnities(values: dict) -> str:
    """The stored rules as lines, each with its currency: "FR: 40.00 EUR"."""
    lines = []
    for code, value in sorted((values or {}).items()):
        rule = parse_indemnity(value, code)
        lines.append(f"{code}: {value}" if rule is None or len(str(value).split()) > 1
                     else f"{code}: {value} {rule.currency}")
    return "\n".join(lines)


class SettingsForm(Form):
    company_name = StringField(_l("Company name"), validators=[DataRequired(_l("Enter the company name.")),
                                                               Length(max=200)],
                               description=_l("As it must appear at the top of letters and in emails."))
    company_address = TextAreaField(_l("Street address"), validators=[Length(max=500)],
                                    description=_l("Street and number, building. Postcode and town go below."))
    company_postcode = StringField(_l("Postcode"), validators=[Length(max=20)])
    company_city = StringField(_l("Town"), validators=[Length(max=120)])
    company_country = SelectField(_l("Country"), validate_choice=False)
    company_email = StringField(_l("Company email"), validators=[email_address, Length(max=254)],
                                description=_l("Printed on letters, for customers who want to answer."))
    company_phone = StringField(_l("Company phone"), validators=[Length(max=64)])
    logo = FileField(_l("Logo"), description=_l("PNG or JPEG image, at most 1 MB. Printed at the top of letters."))
    remove_logo = BooleanField(_l("Remove the current logo"))
    company_iban = StringField(_l("IBAN"), validators=[Length(max=50)],
                               description=_l("Bank account printed on letters so that customers can pay by "
                                              "transfer. Example: FR76 3000 6000 0112 3456 7890 189."))
    company_bic = StringField(_l("BIC"), validators=[Length(max=11)],
                              description=_l("Bank identifier code, 8 or 11 letters and digits."))
    company_siren = StringField(_l("SIREN or SIRET"), validators=[Length(max=20)],
                                description=_l("9 digits (SIREN) or 14 digits (SIRET); required for a French "
                                               "company."))
    company_vat = StringField(_l("VAT number"), validators=[Length(max=20)],
                              description=_l("Intra-community VAT number, like FR44732829320 (optional)."))
    company_legal = TextAreaField(_l("Legal mentions"), validators=[Length(max=2000)],
                                  description=_l("Printed at the bottom of letters: legal form, share capital, "
                                                 "SIRET, RCS, VAT number."))

    sender_email = StringField(_l("Sender email address"), validators=[email_address, Length(max=254)],
                               description=_l("Reminders are sent from this address. Leave empty to send them "
                                              "from the address of the user who makes the reminder."))
    copy_to_sales = BooleanField(_l("Send a copy of each reminder email to the customer's sales representative"))
    save_letter_copy = BooleanField(_l("Keep a copy of each reminder letter with the invoice"))
    group_by_customer = BooleanField(
        _l("One email per customer for all their invoices reminded the same day"),
        description=_l("The invoices are listed in one email, each with its level and amounts, every invoice "
                       "attached; the highest level gives the text. A customer's form can choose otherwise."))
    next_reminder_delay = StringField(
        _l("Next reminder, by default"), validators=[DataRequired(_l("Enter a delay, like +15 days."))],
        description=_l('When you make a reminder by hand, the next reminder date is proposed this long after '
                       'today. Write "+15 days" for fifteen days.'))
    payment_url_pattern = StringField(
        _l("Online payment link"), validators=[Length(max=500)],
        description=_l("Address of your online payment page, with {number} where the invoice number goes. "
                       "Example: https://pay.example.com/invoice/{number}. Leave empty if you have none."))
    default_language = RadioField(_l("Language of texts when the customer has none"),
                                  choices=choices(LANGUAGE_CHOICES), validate_choice=False)
    notice_deadline_days = StringField(
        _l("Deadline given in a formal notice (days)"), validators=[WholeNumber(1, 60)],
        description=_l("The customer has this many days to pay after a formal notice. The law suggests 8 to 15."))

    customer_link_days = StringField(
        _l("Links to the customer's page stay valid (days)"), validators=[WholeNumber(1, 365)],
        description=_l("Each reminder carries a link to the customer's page (their open invoices, and where they "
                       "answer); it works this many days."))
    promise_grace_days = StringField(
        _l("Days of grace after a promise to pay"), validators=[WholeNumber(0, 60)],
        description=_l("A customer who promises to pay on a date gets no reminder until that date and these days; "
                       "then the reminders resume if the invoice is still unpaid."))
    paid_claim_days = StringField(
        _l("Days to wait for a payment the customer says is made"), validators=[WholeNumber(1, 60)],
        description=_l("No reminder during these days, for the payment to reach your bank; an agent records it "
                       "when it arrives."))

    auto_hour = SelectField(_l("Time of the daily automatic sending"), validate_choice=False,
                            description=_l("Automatic reminders are sent once a day at this time."))
    auto_timezone = SelectField(_l("Time zone"), validate_choice=False,
                                description=_l("The time above is read in this time zone."))
    auto_letters = BooleanField(_l("Also prepare the letters of automatic reminders (to print and post)"))
    business_days = BooleanField(_l("Send only on working days"),
                                 description=_l("A reminder due on a weekend or a public holiday waits for the "
                                                "next working day."))
    business_country = SelectField(_l("Public holidays of"), validate_choice=False,
                                   description=_l("The country whose public holidays are not working days."))
    min_days_between = StringField(
        _l("Minimum days between two reminders of the same invoice"), validators=[WholeNumber(0, 365)],
        description=_l("Protects your customers from receiving reminders too close together."))
    manual_cancels_hours = StringField(
        _l("A reminder made by hand replaces the automatic one for (hours)"), validators=[WholeNumber(0, 720)],
        description=_l("If someone reminds a customer by hand, no automatic reminder is sent for that invoice "
                       "during this many hours."))
    min_amount = StringField(_l("Do not remind amounts below"), validators=[Amount(Decimal(0), Decimal(1000000))],
                             description=_l("Invoices whose remaining amount is smaller are not reminded "
                                            "automatically. 0 reminds everything."))
    skip_direct_debit = BooleanField(_l("Do not remind customers who pay by direct debit"))
    skip_consumer_penalties = BooleanField(_l("No penalties for private customers (consumers)"),
                                           description=_l("Penalties, late interest and the fixed indemnity are "
                                                          "only claimed from businesses."))

    statement_auto_record = BooleanField(
        _l("Record the payments of a bank statement that match an invoice exactly"),
        description=_l("When the amount and the invoice number (or the customer and the amount) leave no doubt, "
                       "the payment is recorded at the import. Any doubt, and the line waits for someone to "
                       "check it."))

    statutory_interest = BooleanField(_l("Claim late-payment interest at the legal rate"),
                                      description=_l("Calculated with the rate table (Administration > Legal "
                                                     "interest rates)."))
    indemnity_by_country = TextAreaField(
        _l("Fixed recovery indemnity per country"),
        description=_l('One line per country where your company may be (the creditor\'s country decides): the '
                       'two-letter country code, a colon, the amount and, if it is not the country\'s own, its '
                       'currency. Example: "FR: 40 EUR". The law sets 40 euros in France for business customers, '
                       'claimed in euros whatever the invoice\'s currency.'))

    GROUPS = [
        (_l("Your company"), _l("Shown on the letterhead of letters and in emails."),
         ["company_name", "company_address", "company_postcode", "company_city", "company_country",
          "company_email", "company_phone", "logo", "company_iban", "company_bic", "company_siren", "company_vat",
          "company_legal"]),
        (_l("Sending reminders"), _l("How reminders are sent, by hand or automatically."),
         ["sender_email", "copy_to_sales", "save_letter_copy", "group_by_customer", "next_reminder_delay",
          "payment_url_pattern",
          "default_language", "notice_deadline_days"]),
        (_l("The customer's page"), _l("Where customers see their open invoices and answer: paid, will pay on a "
                                      "date, dispute."),
         ["customer_link_days", "promise_grace_days", "paid_claim_days"]),
        (_l("Automatic reminders"), _l("Every day Relance sends the reminders that are due. These rules decide "
                                       "when and to whom."),
         ["auto_hour", "auto_timezone", "auto_letters", "business_days", "business_country", "min_days_between",
          "manual_cancels_hours", "min_amount", "skip_direct_debit", "skip_consumer_penalties"]),
        (_l("Bank statements"), _l("Payments read from your bank's statements and matched to the invoices."),
         ["statement_auto_record"]),
        (_l("Late-payment penalties set by law"), _l("Amounts added to the sums claimed from late payers."),
         ["statutory_interest", "indemnity_by_country"]),
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.company_country.choices = choices(country_choices())
        self.business_country.choices = choices(country_choices(holiday_countries()))
        self.auto_hour.choices = choices((str(h), f"{h:02d}:00") for h in range(24))
        zones = [z for z in sorted(zoneinfo.available_timezones())
                 if "/" in z and not z.startswith(("Etc/", "SystemV/"))]
        self.auto_timezone.choices = choices([(z, z.replace("_", " ")) for z in zones] + [("UTC", "UTC")])

    # field checks that need more than a validator
    def validate_company_country(self, field):
        if not known_country(field.data):
            raise ValidationError(_l("Choose a country from the list."))

    def validate_business_country(self, field):
        if field.data not in holiday_countries():
            raise ValidationError(_l("Choose a country from the list."))

    def validate_auto_hour(self, field):
        if parse_int(field.data) not in range(24):
            raise ValidationError(_l("Choose an hour between 00:00 and 23:00."))

    def validate_auto_timezone(self, field):
        try:
            zoneinfo.ZoneInfo(field.data or "")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValidationError(_l("Choose a time zone from the list, like Europe/Paris.")) from None

    def validate_default_language(self, field):
        if field.data not in dict(LANGUAGE_CHOICES):
            raise ValidationError(_l("Choose French or English."))

    def validate_company_iban(self, field):
        if field.data and field.data.strip():
            if not iban_is_valid(field.data):
                raise ValidationError(_l("This IBAN is not valid: check the letters and digits "
                                         "(example: FR76 3000 6000 0112 3456 7890 189)."))
            field.data = format_iban(field.data)

    def validate_company_siren(self, field):
        number = "".join(ch for ch in (field.data or "") if not ch.isspace() and ch not in ".-")
        if number:
            try:
                field.data = (fr_siret if len(number) == 14 else fr_siren).validate(number)
            except NumberError:
                raise ValidationError(_l("SIREN/SIRET: %(value)s is not a valid SIREN (9 digits) or SIRET (14 "
                                         "digits): check the digits (the last one is a check digit).",
                                         value=number)) from None

    def validate_company_vat(self, field):
        if field.data and field.data.strip():
            try:
                field.data = eu_vat.validate(field.data.strip())
            except NumberError:
                raise ValidationError(_l("VAT number: %(value)s is not a valid intra-community VAT number (like "
                                         "FR44732829320).", value=field.data.strip())) from None

    def validate_company_bic(self, field):
        if field.data and field.data.strip():
            field.data = field.data.strip().upper().replace(" ", "")
            if not re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", field.data):
                raise ValidationError(_l("A BIC has 8 or 11 letters and digits, like BNPAFRPP."))

    def validate_next_reminder_delay(self, field):
        try:
            delay = parse_delay(field.data)
        except DelayError:
            raise ValidationError(_l('Write the delay like "+15 days" (a plus sign, a number and days, weeks or '
                                     'months).')) from None
        if delay.count <= 0:
            raise ValidationError(_l("The next reminder must be after today: use a plus sign, like +15 days."))
        field.data = str(delay)

    def validate_payment_url_pattern(self, field):
        text = (field.data or "").strip()
        field.data = text
        if not text:
            return
        parts = urlsplit(text.replace("{number}", "X"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError(_l("The link must start with https:// (or http://)."))
        if "{number}" not in text:
            raise ValidationError(_l("The link must contain {number}, where the invoice number goes."))
        rest = text.replace("{number}", "").replace("{customer}", "").replace("{amount}", "")
        if re.search(r"[{}\s]", rest):
            raise ValidationError(_l("Between braces only {number}, {customer} and {amount} can be used, and the "
                                     "link has no spaces."))

    def validate_indemnity_by_country(self, field):
        _values, errors = parse_indemnities(field.data)
        if errors:
            raise ValidationError(" ".join(errors))

    def validate_logo(self, field):
        storage = field.data
        if not storage or not getattr(storage, "filename", ""):
            return
        head = storage.stream.read(LOGO_MAX_BYTES + 1)
        storage.stream.seek(0)
        if len(head) > LOGO_MAX_BYTES:
            raise ValidationError(_l("The logo is larger than 1 MB: use a smaller image."))
        if not any(head.startswith(magic) for magic in LOGO_TYPES):
            raise ValidationError(_l("The logo must be a PNG or JPEG image."))

    def logo_upload(self) -> tuple[bytes, str] | None:
        storage = self.logo.data
        if not storage or not getattr(storage, "filename", ""):
            return None
        data = storage.stream.read()
        extension = next(ext for magic, ext in LOGO_TYPES.items() if data.startswith(magic))
        return data, extension

    def fill(self, values: dict) -> None:
        """Show the stored settings in the form (GET)."""
        for name, field in self._fields.items():
            if name not in values:
                continue
            value = values[name]
            if name == "indemnity_by_country":
                field.data = format_indemnities(value)
            elif name == "next_reminder_delay":
                field.data = delay_text(value)
            elif isinstance(field, BooleanField):
                field.data = bool(value)
            else:
                field.data = "" if value is None else str(value).replace(".", ",") if name == "min_amount" \
                    else str(value)

    def values(self) -> dict:
        """The typed settings (after validate())."""
        result: dict[str, Any] = {}
        for name in (n for _title, _text, names in self.GROUPS for n in names):
            if name == "logo":
                continue
            field = self[name]
            if name == "indemnity_by_country":
                result[name] = parse_indemnities(field.data)[0]
            elif name in ("notice_deadline_days", "auto_hour", "min_days_between", "manual_cancels_hours",
                          "customer_link_days", "promise_grace_days", "paid_claim_days"):
                result[name] = parse_int(field.data)
            elif name == "min_amount":
                # a number after validate(): the field's Amount validator refuses what parse_decimal can't read
                result[name] = cast(Decimal, parse_decimal(field.data)).quantize(Decimal("0.01"))
            elif isinstance(field, BooleanField):
                result[name] = bool(field.data)
            else:
                result[name] = (field.data or "").strip()
        return result

