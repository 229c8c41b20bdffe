"""Administration forms. Every field refuses bad input with a message; numbers accept "12,5" and "12.5"."""

from __future__ import annotations

import re
import zoneinfo
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import holidays
from babel import Locale
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from relance.forms import EmailAddresses, Form
from relance.models import RATE_KINDS, ROLES
from relance.services.levels import DelayError, delay_text, parse_delay

LANGUAGES = [("fr", _l("French")), ("en", _l("English"))]
NOT_COUNTRIES = {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"}  # babel "territories" that are no country
LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg"}
LOGO_MAX_BYTES = 1024 * 1024


def choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


# --- parsing helpers shared by the forms and the views ------------------------------------------------

def parse_decimal(text: str | None) -> Decimal | None:
    """ "1 234,50" or "1234.50" -> Decimal; None when it is not a number."""
    cleaned = re.sub(r"[\s\u00a0\u202f€%]", "", text or "").replace(",", ".")
    if not re.fullmatch(r"-?\d+(\.\d+)?", cleaned):
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def parse_int(text: str | None) -> int | None:
    cleaned = (text or "").strip()
    return int(cleaned) if re.fullmatch(r"-?\d{1,9}", cleaned) else None


def iban_is_valid(iban: str) -> bool:
    compact = re.sub(r"\s", "", iban).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", compact):
        return False
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def format_iban(iban: str) -> str:
    compact = re.sub(r"\s", "", iban).upper()
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


def country_choices(codes=None) -> list[tuple[str, str]]:
    """(code, name in the reader's language), sorted by name; only two-letter country codes."""
    names = Locale.parse(str(get_locale() or "fr")).territories
    codes = codes if codes is not None else [c for c in names if known_country(c)]
    return sorted(((c, names.get(c, c)) for c in codes if re.fullmatch(r"[A-Z]{2}", c)), key=lambda x: x[1])


def holiday_countries() -> list[str]:
    return [c for c in holidays.list_supported_countries() if len(c) == 2]


def known_country(code: str) -> bool:
    return re.fullmatch(r"[A-Z]{2}", code or "") is not None and code in Locale("en").territories \
        and code not in NOT_COUNTRIES


def parse_indemnities(text: str) -> tuple[dict[str, str], list[str]]:
    """Lines "FR: 40" -> ({"FR": "40.00"}, errors naming the line)."""
    result: dict[str, str] = {}
    errors: list[str] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        match = re.fullmatch(r"\s*([A-Za-z]{2})\s*[:=;\s]\s*(.+?)\s*", line)
        amount = parse_decimal(match.group(2)) if match else None
        code = match.group(1).upper() if match else ""
        if not match or amount is None:
            errors.append(str(_l('Line %(n)d: write a country code, a colon and an amount, like "FR: 40".',
                                 n=number)))
        elif not known_country(code):
            errors.append(str(_l('Line %(n)d: "%(code)s" is not a country code.', n=number, code=code)))
        elif amount < 0 or amount > 10000:
            errors.append(str(_l("Line %(n)d: the amount must be between 0 and 10,000.", n=number)))
        elif code in result:
            errors.append(str(_l("Line %(n)d: %(code)s is given twice.", n=number, code=code)))
        else:
            result[code] = str(amount.quantize(Decimal("0.01")))
    return result, errors


def format_indemnities(values: dict) -> str:
    return "\n".join(f"{code}: {amount}" for code, amount in sorted((values or {}).items()))


# --- validators ---------------------------------------------------------------------------------------

class WholeNumber:
    def __init__(self, low: int, high: int):
        self.low, self.high = low, high

    def __call__(self, form, field):
        value = parse_int(field.data)
        if value is None or not self.low <= value <= self.high:
            raise ValidationError(_l("Enter a whole number between %(low)d and %(high)d.", low=self.low,
                                     high=self.high))


class Amount:
    def __init__(self, low: Decimal, high: Decimal, places: int = 2):
        self.low, self.high, self.places = low, high, places

    def __call__(self, form, field):
        value = parse_decimal(field.data)
        if value is None or not self.low <= value <= self.high:
            raise ValidationError(_l("Enter a number between %(low)s and %(high)s (for example 12,50).",
                                     low=self.low, high=self.high))
        if value.as_tuple().exponent < -self.places:
            raise ValidationError(_l("Use at most %(n)d decimals.", n=self.places))


email_address = EmailAddresses(several=False)


# --- settings -----------------------------------------------------------------------------------------

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
    company_legal = TextAreaField(_l("Legal mentions"), validators=[Length(max=2000)],
                                  description=_l("Printed at the bottom of letters: legal form, share capital, "
                                                 "SIRET, RCS, VAT number."))

    sender_email = StringField(_l("Sender email address"), validators=[email_address, Length(max=254)],
                               description=_l("Reminders are sent from this address. Leave empty to send them "
                                              "from the address of the user who makes the reminder."))
    copy_to_sales = BooleanField(_l("Send a copy of each reminder email to the customer's sales representative"))
    save_letter_copy = BooleanField(_l("Keep a copy of each reminder letter with the invoice"))
    next_reminder_delay = StringField(
        _l("Next reminder, by default"), validators=[DataRequired(_l("Enter a delay, like +15 days."))],
        description=_l('When you make a reminder by hand, the next reminder date is proposed this long after '
                       'today. Write "+15 days" for fifteen days.'))
    payment_url_pattern = StringField(
        _l("Online payment link"), validators=[Length(max=500)],
        description=_l("Address of your online payment page, with {number} where the invoice number goes. "
                       "Example: https://pay.example.com/invoice/{number}. Leave empty if you have none."))
    default_language = RadioField(_l("Language of texts when the customer has none"), choices=choices(LANGUAGES),
                                  validate_choice=False)
    notice_deadline_days = StringField(
        _l("Deadline given in a formal notice (days)"), validators=[WholeNumber(1, 60)],
        description=_l("The customer has this many days to pay after a formal notice. The law suggests 8 to 15."))

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

    statutory_interest = BooleanField(_l("Claim late-payment interest at the legal rate"),
                                      description=_l("Calculated with the rate table (Administration > Legal "
                                                     "interest rates)."))
    indemnity_by_country = TextAreaField(
        _l("Fixed recovery indemnity per country"),
        description=_l('One line per country: the two-letter country code, a colon and the amount. '
                       'Example: "FR: 40". The law sets 40 euros in France for business customers.'))

    GROUPS = [
        (_l("Your company"), _l("Shown on the letterhead of letters and in emails."),
         ["company_name", "company_address", "company_postcode", "company_city", "company_country",
          "company_email", "company_phone", "logo", "company_iban", "company_bic", "company_legal"]),
        (_l("Sending reminders"), _l("How reminders are sent, by hand or automatically."),
         ["sender_email", "copy_to_sales", "save_letter_copy", "next_reminder_delay", "payment_url_pattern",
          "default_language", "notice_deadline_days"]),
        (_l("Automatic reminders"), _l("Every day Relance sends the reminders that are due. These rules decide "
                                       "when and to whom."),
         ["auto_hour", "auto_timezone", "auto_letters", "business_days", "business_country", "min_days_between",
          "manual_cancels_hours", "min_amount", "skip_direct_debit", "skip_consumer_penalties"]),
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
        if field.data not in dict(LANGUAGES):
            raise ValidationError(_l("Choose French or English."))

    def validate_company_iban(self, field):
        if field.data and field.data.strip():
            if not iban_is_valid(field.data):
                raise ValidationError(_l("This IBAN is not valid: check the letters and digits "
                                         "(example: FR76 3000 6000 0112 3456 7890 189)."))
            field.data = format_iban(field.data)

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
        result = {}
        for name in (n for _title, _text, names in self.GROUPS for n in names):
            if name == "logo":
                continue
            field = self[name]
            if name == "indemnity_by_country":
                result[name] = parse_indemnities(field.data)[0]
            elif name in ("notice_deadline_days", "auto_hour", "min_days_between", "manual_cancels_hours"):
                result[name] = parse_int(field.data)
            elif name == "min_amount":
                result[name] = parse_decimal(field.data).quantize(Decimal("0.01"))
            elif isinstance(field, BooleanField):
                result[name] = bool(field.data)
            else:
                result[name] = (field.data or "").strip()
        return result


# --- users and tokens ---------------------------------------------------------------------------------

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


class UserForm(Form):
    email = StringField(_l("Email"), validators=[DataRequired(_l("Enter the email address.")), email_address,
                                                 Length(max=254)],
                        description=_l("The user logs in with this address."))
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter the name.")), Length(max=120)])
    role = SelectField(_l("Role"), choices=choices(ROLE_CHOICES), validate_choice=False, validators=[_role_check])
    language = SelectField(_l("Language"), choices=choices([("", _l("Browser language"))] + LANGUAGES),
                           validate_choice=False, validators=[_language_check])
    signature = TextAreaField(_l("Email signature"), validators=[Length(max=2000)],
                              description=_l("Replaces __USER_SIGNATURE__ at the end of the reminders this user "
                                             "sends. Plain text."))
    active = BooleanField(_l("Active (may log in)"), default=True)
    password = StringField(_l("Password"), validators=[Optional(), Length(min=8, max=200, message=_l(
        "The password must have at least 8 characters."))],
        description=_l("At least 8 characters. Give it to the user, who can then log in."))


class TokenForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the token a name.")), Length(max=120)],
                       description=_l("What the token is for, like \"Accounting software import\"."))
    user_id = SelectField(_l("Acts as"), validate_choice=False,
                          description=_l("The API works with the rights of this user."))


# --- statutory rates ----------------------------------------------------------------------------------

RATE_KIND_CHOICES = [("b2b", _l("Business customers")), ("consumer", _l("Private customers (consumers)"))]
assert [k for k, _label in RATE_KIND_CHOICES] == list(RATE_KINDS)


class RateForm(Form):
    country = SelectField(_l("Country"), validate_choice=False)
    kind = SelectField(_l("Customers"), choices=choices(RATE_KIND_CHOICES), validate_choice=False)
    valid_from = StringField(_l("Valid from"), validators=[DataRequired(_l("Enter the date the rate starts."))],
                             description=_l("Usually 1 January or 1 July."))
    rate = StringField(_l("Annual rate (%)"), validators=[Amount(Decimal(0), Decimal(100), places=3)],
                       description=_l("For example 12,15 for 12.15 % a year."))
    note = StringField(_l("Note"), validators=[Length(max=200)],
                       description=_l("Where the rate comes from, like \"ECB + 10 points\"."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = choices(country_choices())

    def validate_country(self, field):
        if not known_country(field.data):
            raise ValidationError(_l("Choose a country from the list."))

    def validate_kind(self, field):
        if field.data not in RATE_KINDS:
            raise ValidationError(_l("Choose business or private customers."))

    def validate_valid_from(self, field):
        from datetime import date

        try:
            field.parsed = date.fromisoformat((field.data or "").strip())
        except ValueError:
            raise ValidationError(_l("Enter a date like 2026-07-01.")) from None
