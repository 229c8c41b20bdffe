"""Reading one cell: the field parsers shared by the CSV import and the API.

Each `parse_*` takes the text as written and returns the stored value (`Decimal`, `date`, ISO code, canonical
word) or raises `InvalidValue` with a translated message quoting the value. `PARSERS` maps each kind's columns
to their parser; a column without one is text (`parse_text`: trimmed, no control characters, a length limit).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from babel import Locale
from babel.numbers import list_currencies
from flask_babel import lazy_gettext as _l

from relance.services.engine.recipients import InvalidAddress, entered_addresses
from relance.services.texts import languages
from relance.services.texts.safe_text import control_error

MAX_AMOUNT = Decimal("999999999999.99")
MAX_LENGTH = {"code": 64, "name": 200, "email": 500, "address": 1000, "postcode": 20, "city": 120, "phone": 64,
              "number": 64, "customer_code": 64, "invoice_number": 64, "reference": 120, "siren": 9,
              "vat_number": 20, "first_name": 120, "sales_reps": 2000, "note": 2000, "credits_invoice": 64,
              "policy": 80}
MULTILINE = {"address"}

# Words accepted for the coded columns (compared folded: lower case, no accents).
CUSTOMER_KIND_WORDS = {
    "business": "business", "entreprise": "business", "professionnel": "business", "pro": "business",
    "b2b": "business", "company": "business", "societe": "business",
    "consumer": "consumer", "particulier": "consumer", "b2c": "consumer", "individual": "consumer",
}
INVOICE_KIND_WORDS = {
    "invoice": "invoice", "facture": "invoice",
    "credit_note": "credit_note", "credit note": "credit_note", "credit-note": "credit_note", "avoir": "credit_note",
    "facture d'avoir": "credit_note",
}
STATUS_WORDS = {
    "draft": "draft", "brouillon": "draft",
    "validated": "validated", "validee": "validated", "valide": "validated", "open": "validated",
    "unpaid": "validated", "impayee": "validated", "a payer": "validated",
    "paid": "paid", "payee": "paid", "reglee": "paid", "soldee": "paid",
    "cancelled": "cancelled", "canceled": "cancelled", "abandonnee": "cancelled", "annulee": "cancelled",
}


YES_NO_WORDS = {
    "yes": True, "y": True, "oui": True, "o": True, "1": True, "true": True, "vrai": True, "x": True,
    "no": False, "n": False, "non": False, "0": False, "false": False, "faux": False,
}
CONTACT_ROLE_WORDS = {
    "billing": "billing", "facture": "billing", "facturation": "billing", "contact facturation": "billing",
    "contact client facturation": "billing", "billing contact": "billing",
    "followup": "followup", "follow-up": "followup", "follow up": "followup", "relance": "followup",
    "suivi": "followup", "suivi relance": "followup", "responsable suivi facture client": "followup",
    "invoice follow-up": "followup",
}
CHANNEL_WORDS = {
    "email": "email", "e-mail": "email", "mail": "email", "courriel": "email",
    "letter": "letter", "courrier": "letter", "lettre": "letter", "postal": "letter", "post": "letter",
}


class InvalidValue(ValueError):
    """A cell that can't be read; the argument is the translated message."""


def shorten(value, limit: int = 80) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fold(text: str) -> str:
    """Lower case, accents removed, spaces collapsed: for comparing words and headers."""
    text = unicodedata.normalize("NFKD", text.strip().lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", text)


_SPACES = re.compile(r"[\s\u00a0\u202f\u2009'’]")
_TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_ISO_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})" + _TIME)
_FR_DATE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")


def parse_amount(raw: str, allow_negative: bool = False) -> Decimal:
    """'1 234,56', '1.234,56', '1,234.56', '1234.5', '-12', '(12,00)' -> Decimal; refuses ambiguity."""
    text = raw.strip()
    if text.endswith("€"):
        text = text[:-1]
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    text = _SPACES.sub("", text)
    if text[:1] in "-−" and text[:1]:
        negative, text = True, text[1:]
    elif text.endswith("-"):
        negative, text = True, text[:-1]
    elif text.startswith("+"):
        text = text[1:]
    if not re.fullmatch(r"[\d.,]*\d[\d.,]*", text):
        raise InvalidValue(_l('"%(value)s" is not an amount.', value=shorten(raw)))
    commas, dots = text.count(","), text.count(".")
    if commas and dots:
        decimal_sep = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        if text.count(decimal_sep) > 1 or not re.fullmatch(
                rf"\d{{1,3}}(\{thousands}\d{{3}})*\{decimal_sep}\d+", text):
            raise InvalidValue(_l('"%(value)s" is not an amount.', value=shorten(raw)))
        text = text.replace(thousands, "").replace(decimal_sep, ".")
    elif commas + dots > 1:
        sep = "," if commas else "."
        if not re.fullmatch(rf"\d{{1,3}}(\{sep}\d{{3}})+", text):
            raise InvalidValue(_l('"%(value)s" is not an amount.', value=shorten(raw)))
        text = text.replace(sep, "")
    elif commas + dots == 1:
        if re.fullmatch(r"[1-9]\d{0,2}[.,]\d{3}", text):
            raise InvalidValue(_l(
                '"%(value)s" is ambiguous (thousands or decimals?): write it with two decimals, '
                'like 1234,00 or 1234.00.', value=shorten(raw)))
        text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidValue(_l('"%(value)s" is not an amount.', value=shorten(raw))) from None
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidValue(_l('"%(value)s" has more than two decimals.', value=shorten(raw)))
    if amount > MAX_AMOUNT:
        raise InvalidValue(_l('"%(value)s" is too large.', value=shorten(raw)))
    if negative and amount:
        if not allow_negative:
            raise InvalidValue(_l('"%(value)s" is negative: amounts must be positive or zero.', value=shorten(raw)))
        amount = -amount
    return amount.quantize(Decimal("0.01"))


def parse_date(raw: str) -> date:
    """dd/mm/yyyy (also - or . and two-digit years), yyyy-mm-dd (time ignored) or yyyymmdd."""
    text = raw.strip()
    for pattern, order in ((_ISO_DATE, "ymd"), (_FR_DATE, "dmy"), (_COMPACT_DATE, "ymd")):
        match = pattern.fullmatch(text)
        if not match:
            continue
        parts = dict(zip(order, (int(g) for g in match.groups()), strict=True))
        year = parts["y"] + 2000 if parts["y"] < 100 else parts["y"]
        try:
            value = date(year, parts["m"], parts["d"])
        except ValueError:
            raise InvalidValue(_l(
                '"%(value)s" is not a real date (dates are read day/month/year).', value=shorten(raw))) from None
        if not 1900 <= value.year <= 2199:
            raise InvalidValue(_l('"%(value)s" is out of range (years 1900 to 2199).', value=shorten(raw)))
        return value
    raise InvalidValue(_l('"%(value)s" is not a date: write dd/mm/yyyy or yyyy-mm-dd.', value=shorten(raw)))


def parse_text(raw: str, column: str) -> str:
    text = raw.strip().replace("\r\n", "\n").replace("\r", "\n")
    if control_error(text, multiline=True):
        raise InvalidValue(_l("Control characters are not allowed."))
    if "\n" in text and column not in MULTILINE:
        raise InvalidValue(_l("Line breaks are not allowed in this column."))
    limit = MAX_LENGTH.get(column)
    if limit and len(text) > limit:
        raise InvalidValue(_l("Too long: %(length)s characters, at most %(limit)s.", length=len(text), limit=limit))
    return text


def _word(raw: str, words: dict[str, str], accepted: str) -> str:
    folded = fold(raw).replace("_", " ")
    value = words.get(folded) or words.get(folded.replace(" ", "_"))
    if value is None:
        raise InvalidValue(_l('"%(value)s" is not accepted: use one of %(accepted)s.',
                              value=shorten(raw), accepted=accepted))
    return value


@cache
def currencies() -> frozenset[str]:
    """ISO 4217 codes (Babel's list, without the testing/no-currency codes)."""
    return frozenset(list_currencies()) - {"XXX", "XTS"}


def parse_currency(raw: str) -> str:
    text = raw.strip().upper()
    if text == "€":
        return "EUR"
    if text not in currencies():
        raise InvalidValue(_l('"%(value)s" is not an ISO 4217 currency code (like EUR, USD, CHF).',
                              value=shorten(raw)))
    return text


@cache
def _country_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for locale in ("en", "fr"):
        for code, name in Locale(locale).territories.items():
            if len(code) == 2 and code.isalpha() and code not in ("ZZ", "XA", "XB", "QO", "EU", "EZ", "UN"):
                names.setdefault(fold(name), code)
                names[code.lower()] = code
    return names


def parse_language(raw: str) -> str:
    """Any language Babel knows, by its code (de, de_CH, de-CH) or its name in the shipped languages or its own
    (allemand, German, Deutsch, español, Nederlands): stored as its code."""
    try:
        return languages.parse(raw)
    except languages.UnknownLanguage:
        raise InvalidValue(_l('"%(value)s" is not a language: write its code (%(examples)s) or its name '
                              '(Deutsch, español, Nederlands).', value=shorten(raw),
                              examples=", ".join((*languages.SHIPPED, "de_CH")))) from None


def parse_country(raw: str) -> str:
    code = _country_names().get(fold(raw))
    if not code:
        raise InvalidValue(_l('"%(value)s" is not a country: write an ISO code like FR, BE or CH.',
                              value=shorten(raw)))
    return code


def parse_emails(raw: str) -> str:
    """The web forms' rule (`recipients.entered_addresses`): several addresses separated by commas or semicolons."""
    try:
        return entered_addresses(parse_text(raw, "email"), several=True)
    except InvalidAddress as exc:
        raise InvalidValue(exc.message) from None


def parse_siren(raw: str) -> str:
    """A French company number: 9 digits (spaces allowed: "987 654 321")."""
    text = re.sub(r"[\s\u00a0\u202f.]", "", raw)
    if not re.fullmatch(r"[0-9]{9}", text):
        raise InvalidValue(_l('"%(value)s" is not a SIREN number (9 digits).', value=shorten(raw)))
    return text


def parse_vat_number(raw: str) -> str:
    """An intra-EU VAT number: a country prefix and 2 to 13 characters ("FR 44 987654321" -> "FR44987654321")."""
    text = re.sub(r"[\s\u00a0\u202f.\-]", "", raw).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9A-Z+*]{2,13}", text):
        raise InvalidValue(_l('"%(value)s" is not a VAT number (a country code then 2 to 13 letters or digits, '
                              'like FR44987654321).', value=shorten(raw)))
    return text


def parse_bool(raw: str) -> bool:
    """yes/no, oui/non, 1/0, true/false (also the API's JSON booleans, read as text)."""
    folded = fold(raw)
    if folded not in YES_NO_WORDS:
        raise InvalidValue(_l('"%(value)s" is not accepted: use one of %(accepted)s.',
                              value=shorten(raw), accepted="yes, no, oui, non, 1, 0"))
    return YES_NO_WORDS[folded]


def parse_address_list(raw: str) -> tuple[str, ...]:
    """Several addresses separated by , or ; (users named by their login email): each checked, in order, once."""
    text = parse_text(raw, "sales_reps")
    try:
        checked = entered_addresses(text, several=True)
    except InvalidAddress as exc:
        raise InvalidValue(exc.message) from None
    return tuple(dict.fromkeys(part for part in checked.split(", ") if part))


def parse_one_address(raw: str) -> str:
    try:
        return entered_addresses(parse_text(raw, "email"), several=False)
    except InvalidAddress as exc:
        raise InvalidValue(exc.message) from None


def parse_rank(raw: str) -> int:
    """A level's rank: a whole number from 0 to 99 (0 = before the due date)."""
    text = raw.strip()
    if not re.fullmatch(r"\d{1,2}", text):
        raise InvalidValue(_l('"%(value)s" is not a level: write its rank, a whole number (0 to 3 by default).',
                              value=shorten(raw)))
    return int(text)


PARSERS: dict[str, dict[str, Callable[[str], Any]]] = {
    "customers": {
        "siren": parse_siren, "vat_number": parse_vat_number,
        "email": parse_emails, "language": parse_language, "country": parse_country,
        "kind": lambda raw: _word(raw, CUSTOMER_KIND_WORDS, "business, consumer, entreprise, particulier"),
    },
    "invoices": {
        "issue_date": parse_date, "due_date": parse_date, "currency": parse_currency,
        "total_excl_tax": lambda raw: parse_amount(raw, allow_negative=True),
        "total_incl_tax": lambda raw: parse_amount(raw, allow_negative=True),
        "status": lambda raw: _word(raw, STATUS_WORDS,
                                    "draft, validated, paid, cancelled, brouillon, validée, payée, abandonnée"),
        "kind": lambda raw: _word(raw, INVOICE_KIND_WORDS, "invoice, credit_note, facture, avoir"),
    },
    "payments": {"date": parse_date, "amount": parse_amount},
    "contacts": {
        "email": parse_one_address,
        "role": lambda raw: _word(raw, CONTACT_ROLE_WORDS, "billing, followup, facture, relance"),
    },
    "history": {
        "level": parse_rank, "date": parse_date,
        "channel": lambda raw: _word(raw, CHANNEL_WORDS, "email, letter, courriel, courrier"),
    },
}
PARSERS["invoices"]["no_auto_reminders"] = parse_bool
PARSERS["customers"].update({"direct_debit": parse_bool, "no_auto_reminders": parse_bool,
                             "sales_reps": parse_address_list, "group_reminders": parse_bool})
