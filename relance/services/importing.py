"""CSV (and API) input -> validated rows -> one all-or-nothing bulk write.

`plan_csv(session, kind, data, today)` reads a file (encoding and separator detected), checks every row
against the database and returns an `ImportPlan`: what would be created / updated / left unchanged, and
every error with its line and column. `apply_plan(session, plan)` writes a plan without errors in bulk;
the caller commits. The API builds plans from JSON items with `plan_records`.

Columns present in the file set their value (an empty cell means the default); columns absent from the
file leave existing records untouched. Keys: customers by code, invoices by number; a payment already
recorded (same invoice, date, amount, reference) is not recorded twice.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache

from babel import Locale
from babel.numbers import list_currencies
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from relance.models import Customer, Invoice, Payment
from relance.models.base import ZERO
from relance.services import audit
from relance.services.recipients import InvalidAddress, entered_addresses
from relance.services.safe_text import control_error

KINDS = ("customers", "invoices", "payments")
LANGUAGES = ("fr", "en")  # the languages of the reminder texts
MAX_BYTES = 10 * 1024 * 1024
MAX_ERRORS = 100
MAX_AMOUNT = Decimal("999999999999.99")
CHUNK = 5000

COLUMNS = {
    "customers": ("code", "name", "email", "language", "country", "kind", "address", "postcode", "city", "phone"),
    "invoices": ("number", "customer_code", "issue_date", "due_date", "currency", "total_excl_tax",
                 "total_incl_tax", "status", "kind"),
    "payments": ("invoice_number", "date", "amount", "reference"),
}
REQUIRED = {
    "customers": ("code", "name"),
    "invoices": ("number", "customer_code", "issue_date", "due_date", "total_excl_tax", "total_incl_tax"),
    "payments": ("invoice_number", "date", "amount"),
}
# Columns that must hold a value (due_date may be empty: never reminded).
NOT_EMPTY = {
    "customers": ("code", "name"),
    "invoices": ("number", "customer_code", "issue_date", "total_excl_tax", "total_incl_tax"),
    "payments": ("invoice_number", "date", "amount"),
}
KEY = {"customers": "code", "invoices": "number", "payments": "invoice_number"}
MAX_LENGTH = {"code": 64, "name": 200, "email": 500, "address": 1000, "postcode": 20, "city": 120, "phone": 64,
              "number": 64, "customer_code": 64, "invoice_number": 64, "reference": 120}
MULTILINE = {"address"}

# Header names accepted for each column (compared lower-case, without accents and punctuation).
ALIASES = {
    "customers": {
        "code": ("code", "code_client", "customer_code", "client_code", "ref_client", "reference_client"),
        "name": ("name", "nom", "raison_sociale", "societe", "company", "customer_name", "nom_client"),
        "email": ("email", "e_mail", "mail", "courriel", "adresse_email", "email_address"),
        "language": ("language", "langue", "lang"),
        "country": ("country", "pays", "country_code", "code_pays"),
        "kind": ("kind", "type", "type_client", "customer_type"),
        "address": ("address", "adresse", "street"),
        "postcode": ("postcode", "code_postal", "cp", "zip", "zipcode", "zip_code", "postal_code"),
        "city": ("city", "ville", "town"),
        "phone": ("phone", "telephone", "tel", "phone_number"),
    },
    "invoices": {
        "number": ("number", "numero", "num", "invoice_number", "numero_facture", "n_facture", "no_facture",
                   "n_piece", "numero_piece", "piece", "invoice", "facture", "ref_facture"),
        "customer_code": ("customer_code", "code_client", "client_code", "client", "customer", "compte_client"),
        "issue_date": ("issue_date", "date_facture", "date", "invoice_date", "date_emission", "date_piece"),
        "due_date": ("due_date", "echeance", "date_echeance", "date_d_echeance", "date_limite"),
        "currency": ("currency", "devise", "monnaie"),
        "total_excl_tax": ("total_excl_tax", "total_ht", "montant_ht", "ht", "amount_excl_tax", "net"),
        "total_incl_tax": ("total_incl_tax", "total_ttc", "montant_ttc", "ttc", "amount_incl_tax", "total"),
        "status": ("status", "statut", "etat"),
        "kind": ("kind", "type", "type_facture", "type_piece", "nature"),
    },
    "payments": {
        "invoice_number": ("invoice_number", "numero_facture", "n_facture", "facture", "invoice", "number",
                           "numero", "n_piece"),
        "date": ("date", "date_paiement", "date_reglement", "payment_date", "paid_on"),
        "amount": ("amount", "montant", "montant_regle", "montant_paye", "paid"),
        "reference": ("reference", "ref", "libelle", "label", "mode_reglement"),
    },
}

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
DEFAULTS = {
    "customers": {"email": "", "language": "fr", "country": "FR", "kind": "business", "address": "",
                  "postcode": "", "city": "", "phone": ""},
    "invoices": {"currency": "EUR", "status": "validated", "kind": "invoice", "due_date": None},
    "payments": {"reference": ""},
}

ENCODING_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "cp1252": "Windows-1252", "utf-16": "UTF-16"}
SEPARATOR_LABELS = {";": ";", ",": ",", "\t": "tab"}


@dataclass
class RowError:
    """One problem: `line` in the file (or index of the API item), `column` as written in the file."""

    line: int | None
    column: str | None
    message: object  # a lazy translated string
    value: str = ""
    field: str | None = None  # canonical column name (API path)

    @property
    def text(self) -> str:
        """The message as plain text (a lazy string would reach Jinja as markup, unescaped)."""
        return str(self.message)

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(str(_l("line %(line)s", line=self.line)))
        if self.column:
            where.append(str(_l("column %(column)s", column=self.column)))
        return f"{', '.join(where)}: {self.message}" if where else str(self.message)


@dataclass
class Change:
    line: int
    action: str  # create | update | unchanged
    key: str
    values: dict
    changes: dict = field(default_factory=dict)  # field -> (old, new), for updates
    record_id: int | None = None


@dataclass
class ImportPlan:
    kind: str
    filename: str = ""
    encoding: str = ""
    separator: str = ""
    rows: int = 0
    changes: list[Change] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    columns: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)  # column -> header as written in the file
    raw: dict[int, dict] = field(default_factory=dict, repr=False)  # line -> cells as written

    def cell(self, line: int, column: str) -> str:
        return str(self.raw.get(line, {}).get(column) or "")

    def add_error(self, line, column, message, value="", field_name=None) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(line, column, message, _shorten(value), field_name))

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    @property
    def more_errors(self) -> int:
        return self.error_count - len(self.errors)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def created(self) -> int:
        return self.count("create")

    @property
    def updated(self) -> int:
        return self.count("update")

    @property
    def unchanged(self) -> int:
        return self.count("unchanged")

    @property
    def encoding_label(self) -> str:
        return ENCODING_LABELS.get(self.encoding, self.encoding)

    @property
    def separator_label(self) -> str:
        return SEPARATOR_LABELS.get(self.separator, self.separator)


class Money:
    """An amount shown in the reader's language when the message is rendered."""

    def __init__(self, amount: Decimal, currency: str = "EUR"):
        self.amount, self.currency = amount, currency

    def __str__(self) -> str:
        from flask_babel import format_currency

        return format_currency(self.amount, self.currency)


class Day:
    """A date shown in the reader's language when the message is rendered."""

    def __init__(self, value: date):
        self.value = value

    def __str__(self) -> str:
        from flask_babel import format_date

        return format_date(self.value, "medium")


class InvalidValue(ValueError):
    """A cell that can't be read; the argument is the translated message."""


def _shorten(value, limit: int = 80) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fold(text: str) -> str:
    """Lower case, accents removed, spaces collapsed: for comparing words and headers."""
    text = unicodedata.normalize("NFKD", text.strip().lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", text)


def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", _fold(text)).strip("_")


# --- reading the file ---------------------------------------------------------------------------------


def _line_of(data: bytes, index: int) -> int:
    return data.count(b"\n", 0, index) + 1


def decode(data: bytes, plan: ImportPlan, size: int | None = None) -> str | None:
    """The text of the file, or None after adding a file-level error to the plan."""
    size = max(size or 0, len(data))
    if size > MAX_BYTES:
        plan.add_error(None, None, _l(
            "The file is %(size)s MB; the limit is %(limit)s MB. Split it into several files.",
            size=f"{size / 1024 / 1024:.1f}", limit=MAX_BYTES // 1024 // 1024))
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel "Unicode text": UTF-16 with a BOM
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            plan.add_error(None, None, _l("The file claims to be UTF-16 but can't be read as such."))
            return None
        plan.encoding = "utf-16"
        data = text.encode("utf-8")
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        plan.add_error(1, None, _l("The file is empty: it needs a header line and at least one row."))
        return None
    for signature, what in ((b"%PDF", _l("a PDF document")), (b"PK\x03\x04", _l("an Excel workbook (.xlsx) or a ZIP")),
                            (b"\xd0\xcf\x11\xe0", _l("an Excel 97 workbook (.xls)"))):
        if data.startswith(signature):
            plan.add_error(1, None, _l(
                "This file is %(what)s, not CSV text. Save it as CSV (separator ; or ,) first.", what=what))
            return None
    nul = data.find(b"\x00")
    if nul >= 0:
        plan.add_error(_line_of(data, nul), None, _l(
            "The file contains binary data (byte 0x00): it is not a CSV text file."))
        return None
    if plan.encoding != "utf-16":
        if data.startswith(b"\xef\xbb\xbf"):
            plan.encoding, data = "utf-8-sig", data[3:]
        else:
            plan.encoding = "utf-8"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
                plan.encoding = "cp1252"
            except UnicodeDecodeError as exc:
                plan.add_error(_line_of(data, exc.start), None, _l(
                    "Byte 0x%(byte)s can't be read as UTF-8 or Windows-1252: save the file as UTF-8 CSV.",
                    byte=f"{data[exc.start]:02X}"))
                return None
    bad = re.search(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    if bad and len(re.findall(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]", text[:4096])) > 8:
        plan.add_error(text.count("\n", 0, bad.start()) + 1, None, _l(
            "The file contains binary data (control characters): it is not a CSV text file."))
        return None
    return text


def _sniff(header_line: str, kind: str) -> str:
    known = _known_headers(kind)

    def score(sep: str):
        cells = next(csv.reader([header_line], delimiter=sep))
        return sum(1 for c in cells if _header_key(c) in known), len(cells)

    return max((";", ",", "\t"), key=score)


@cache
def _known_headers(kind: str) -> dict[str, str]:
    return {alias: column for column, aliases in ALIASES[kind].items() for alias in aliases}


def read_rows(text: str, kind: str, plan: ImportPlan) -> list[tuple[int, dict[str, str]]] | None:
    """(line, {column: raw text}) for every non-empty row; None after a header or structure error."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    header_line_no = text.splitlines().index(first) + 1 if first else 1
    plan.separator = _sniff(first, kind)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=plan.separator, strict=True)
    known = _known_headers(kind)
    header: list[str] | None = None
    positions: dict[str, int] = {}
    labels: dict[str, str] = {}
    rows: list[tuple[int, dict[str, str]]] = []
    line = 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = cells
                for index, cell in enumerate(cells):
                    name = cell.strip().lstrip("\ufeff")
                    column = known.get(_header_key(name))
                    if column is None:
                        if name:
                            plan.ignored_columns.append(name)
                        continue
                    if column in positions:
                        plan.add_error(start, name, _l(
                            'Column "%(column)s" appears twice (columns %(first)s and %(second)s).',
                            column=column, first=positions[column] + 1, second=index + 1))
                        continue
                    positions[column] = index
                    labels[column] = name
                for column in REQUIRED[kind]:
                    if column not in positions:
                        plan.add_error(start, column, _l(
                            'Missing column "%(column)s". Expected columns: %(columns)s.',
                            column=column, columns=";".join(COLUMNS[kind])), field_name=column)
                if not plan.ok:
                    return None
                plan.columns = tuple(c for c in COLUMNS[kind] if c in positions)
                plan.labels = labels
                continue
            extra = [c for c in cells[len(header):] if c.strip()]
            if extra:
                plan.add_error(start, None, _l(
                    "This row has %(count)s values but the header has %(columns)s columns "
                    "(check the separator and the quotes).", count=len(cells), columns=len(header)))
                continue
            rows.append((start, {c: (cells[i] if i < len(cells) else "") for c, i in positions.items()}))
    except csv.Error as exc:
        plan.add_error(line, None, _l(
            "The CSV is malformed here (%(detail)s): a quote is probably not closed.", detail=str(exc)))
        return None
    if header is None:
        plan.add_error(header_line_no, None, _l("The file is empty: it needs a header line and at least one row."))
        return None
    if not rows:
        plan.add_error(header_line_no, None, _l("The file has a header line but no rows."))
        return None
    plan.rows = len(rows)
    return rows


# --- values ---------------------------------------------------------------------------------------------

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
        raise InvalidValue(_l('"%(value)s" is not an amount.', value=_shorten(raw)))
    commas, dots = text.count(","), text.count(".")
    if commas and dots:
        decimal_sep = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        if text.count(decimal_sep) > 1 or not re.fullmatch(
                rf"\d{{1,3}}(\{thousands}\d{{3}})*\{decimal_sep}\d+", text):
            raise InvalidValue(_l('"%(value)s" is not an amount.', value=_shorten(raw)))
        text = text.replace(thousands, "").replace(decimal_sep, ".")
    elif commas + dots > 1:
        sep = "," if commas else "."
        if not re.fullmatch(rf"\d{{1,3}}(\{sep}\d{{3}})+", text):
            raise InvalidValue(_l('"%(value)s" is not an amount.', value=_shorten(raw)))
        text = text.replace(sep, "")
    elif commas + dots == 1:
        if re.fullmatch(r"[1-9]\d{0,2}[.,]\d{3}", text):
            raise InvalidValue(_l(
                '"%(value)s" is ambiguous (thousands or decimals?): write it with two decimals, '
                'like 1234,00 or 1234.00.', value=_shorten(raw)))
        text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidValue(_l('"%(value)s" is not an amount.', value=_shorten(raw))) from None
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidValue(_l('"%(value)s" has more than two decimals.', value=_shorten(raw)))
    if amount > MAX_AMOUNT:
        raise InvalidValue(_l('"%(value)s" is too large.', value=_shorten(raw)))
    if negative and amount:
        if not allow_negative:
            raise InvalidValue(_l('"%(value)s" is negative: amounts must be positive or zero.', value=_shorten(raw)))
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
                '"%(value)s" is not a real date (dates are read day/month/year).', value=_shorten(raw))) from None
        if not 1900 <= value.year <= 2199:
            raise InvalidValue(_l('"%(value)s" is out of range (years 1900 to 2199).', value=_shorten(raw)))
        return value
    raise InvalidValue(_l('"%(value)s" is not a date: write dd/mm/yyyy or yyyy-mm-dd.', value=_shorten(raw)))


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
    folded = _fold(raw).replace("_", " ")
    value = words.get(folded) or words.get(folded.replace(" ", "_"))
    if value is None:
        raise InvalidValue(_l('"%(value)s" is not accepted: use one of %(accepted)s.',
                              value=_shorten(raw), accepted=accepted))
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
                              value=_shorten(raw)))
    return text


@cache
def _language_names() -> dict[str, str]:
    """Codes and names (in English and French) of the languages Relance writes in."""
    names: dict[str, str] = {}
    for code in LANGUAGES:
        names[code] = code
        for locale in ("en", "fr"):
            names[_fold(Locale(locale).languages[code])] = code
    return names


@cache
def _country_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for locale in ("en", "fr"):
        for code, name in Locale(locale).territories.items():
            if len(code) == 2 and code.isalpha() and code not in ("ZZ", "XA", "XB", "QO", "EU", "EZ", "UN"):
                names.setdefault(_fold(name), code)
                names[code.lower()] = code
    return names


def parse_language(raw: str) -> str:
    code = _language_names().get(_fold(raw))
    if not code:
        raise InvalidValue(_l('"%(value)s" is not a supported language: use %(languages)s.',
                              value=_shorten(raw), languages=", ".join(LANGUAGES)))
    return code


def parse_country(raw: str) -> str:
    code = _country_names().get(_fold(raw))
    if not code:
        raise InvalidValue(_l('"%(value)s" is not a country: write an ISO code like FR, BE or CH.',
                              value=_shorten(raw)))
    return code


def parse_emails(raw: str) -> str:
    """The web forms' rule (`recipients.entered_addresses`): several addresses separated by commas or semicolons."""
    try:
        return entered_addresses(parse_text(raw, "email"), several=True)
    except InvalidAddress as exc:
        raise InvalidValue(exc.message) from None


PARSERS = {
    "customers": {
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
}


# --- planning -------------------------------------------------------------------------------------------


def plan_csv(session: Session, kind: str, data: bytes, today: date, filename: str = "",
             size: int | None = None) -> ImportPlan:
    """Read and check a whole CSV file; nothing is written. `size`: the real size when `data` was cut short."""
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}")
    plan = ImportPlan(kind=kind, filename=filename)
    text = decode(data, plan, size)
    if text is None:
        return plan
    rows = read_rows(text, kind, plan)
    if rows is None:
        return plan
    return plan_records(session, kind, rows, today, plan)


def plan_records(session: Session, kind: str, rows: list[tuple[int, dict]], today: date,
                 plan: ImportPlan | None = None) -> ImportPlan:
    """Check rows {column: raw text} (from a file or the API) against the database."""
    plan = plan or ImportPlan(kind=kind, rows=len(rows))
    if not plan.columns:
        plan.columns = tuple(c for c in COLUMNS[kind] if any(c in values for _, values in rows))
    labels = plan.labels
    parsed = []
    first_line: dict[str, int] = {}
    key_column = KEY[kind]
    for line, raw in rows:
        values, failed = {}, False
        for column, text in raw.items():
            label = labels.get(column, column)
            text = "" if text is None else str(text)
            try:
                if not text.strip():
                    if column in NOT_EMPTY[kind]:
                        raise InvalidValue(_l("A value is required."))
                    values[column] = DEFAULTS[kind].get(column, "")
                    continue
                parser = PARSERS[kind].get(column)
                values[column] = parser(text) if parser else parse_text(text, column)
            except InvalidValue as exc:
                plan.add_error(line, label, exc.args[0], text, column)
                failed = True
        key = values.get(key_column)
        if kind != "payments" and key:
            if key in first_line:
                plan.add_error(line, labels.get(key_column, key_column), _l(
                    '"%(value)s" is already on line %(line)s of this file.', value=key, line=first_line[key]),
                    key, key_column)
                failed = True
            else:
                first_line[key] = line
        parsed.append((line, values, failed))
        plan.raw[line] = raw
    {"customers": _plan_customers, "invoices": _plan_invoices, "payments": _plan_payments}[kind](
        session, parsed, plan, labels, today)
    if not plan.ok:
        plan.changes = []
        plan.errors.sort(key=lambda e: e.line or 0)
    return plan


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _diff(existing: dict, values: dict) -> dict:
    return {k: (existing[k], v) for k, v in values.items() if k in existing and existing[k] != v}


def _plan_customers(session, parsed, plan, labels, today) -> None:
    codes = [v["code"] for _, v, _ in parsed if v.get("code")]
    columns = [c for c in COLUMNS["customers"] if c != "code"]
    existing = {}
    for chunk in _chunks(codes):
        for row in session.execute(select(Customer.id, Customer.code, *(getattr(Customer, c) for c in columns))
                                   .where(Customer.code.in_(chunk))):
            existing[row.code] = row._asdict()
    for line, values, failed in parsed:
        if failed:
            continue
        _add_change(plan, line, values, existing.get(values["code"]), "code", DEFAULTS["customers"])


def _add_change(plan, line, values, current, key, defaults) -> None:
    if current is None:
        plan.changes.append(Change(line, "create", str(values[key]), {**defaults, **values}))
        return
    changes = _diff(current, {k: v for k, v in values.items() if k != key})
    plan.changes.append(Change(line, "update" if changes else "unchanged", str(values[key]), values, changes,
                               current["id"]))


def _plan_invoices(session, parsed, plan, labels, today) -> None:
    label = lambda column: labels.get(column, column)  # noqa: E731
    numbers = [v["number"] for _, v, _ in parsed if v.get("number")]
    codes = sorted({v["customer_code"] for _, v, _ in parsed if v.get("customer_code")})
    customers = {}
    for chunk in _chunks(codes):
        customers.update(session.execute(select(Customer.code, Customer.id).where(Customer.code.in_(chunk))).all())
    columns = ("customer_id", "issue_date", "due_date", "currency", "total_excl_tax", "total_incl_tax", "status",
               "kind", "amount_paid")
    existing = {}
    for chunk in _chunks(numbers):
        for row in session.execute(select(Invoice.id, Invoice.number, *(getattr(Invoice, c) for c in columns))
                                   .where(Invoice.number.in_(chunk))):
            existing[row.number] = row._asdict()
    for line, values, failed in parsed:
        code = values.get("customer_code")
        if code and code not in customers:
            plan.add_error(line, label("customer_code"), _l(
                'Unknown customer code "%(code)s": import the customers first.', code=code), code, "customer_code")
            failed = True
        if failed:
            continue
        values = dict(values)
        values["customer_id"] = customers[values.pop("customer_code")]
        current = existing.get(values["number"])
        kind = values.get("kind") or (current or {}).get("kind") or "invoice"
        for column in ("total_excl_tax", "total_incl_tax"):
            if column in values and values[column] < 0:
                if kind != "credit_note":
                    plan.add_error(line, label(column), _l(
                        '"%(value)s" is negative: only a credit note may have negative totals.',
                        value=plan.cell(line, column)), plan.cell(line, column), column)
                    failed = True
                values[column] = -values[column]  # a credit note's totals are stored positive
        if failed:
            continue
        cur = values.get("currency") or (current or {}).get("currency") or "EUR"
        if values.get("due_date") and values["due_date"] < values["issue_date"]:
            plan.add_error(line, label("due_date"), _l(
                "The due date %(due)s is before the issue date %(issue)s.",
                due=Day(values["due_date"]), issue=Day(values["issue_date"])), plan.cell(line, "due_date"), "due_date")
            continue
        if values["total_excl_tax"] > values["total_incl_tax"]:
            plan.add_error(line, label("total_excl_tax"), _l(
                "The total excluding tax (%(excl)s) is larger than the total including tax (%(incl)s).",
                excl=Money(values["total_excl_tax"], cur), incl=Money(values["total_incl_tax"], cur)),
                plan.cell(line, "total_excl_tax"), "total_excl_tax")
            continue
        if current and values["total_incl_tax"] < current["amount_paid"]:
            plan.add_error(line, label("total_incl_tax"), _l(
                "The total including tax (%(total)s) is less than the payments already recorded (%(paid)s).",
                total=Money(values["total_incl_tax"], cur), paid=Money(current["amount_paid"], cur)),
                plan.cell(line, "total_incl_tax"), "total_incl_tax")
            continue
        if (current and values.get("status") == "validated" and kind == "invoice" and current["amount_paid"]
                and current["amount_paid"] >= values["total_incl_tax"]):
            values["status"] = "paid"  # settled by the payments recorded here: stays paid
        _add_change(plan, line, values, current, "number", DEFAULTS["invoices"])
    _name_customers(plan, customers)


def _name_customers(plan: ImportPlan, customers: dict[str, int]) -> None:
    codes = {i: c for c, i in customers.items()}
    for change in plan.changes:
        change.values["customer_code"] = codes.get(change.values["customer_id"], "")
        if "customer_id" in change.changes:
            old, new = change.changes.pop("customer_id")
            change.changes["customer_code"] = (codes.get(old, f"#{old}"), codes.get(new, f"#{new}"))


def _plan_payments(session, parsed, plan, labels, today) -> None:
    label = lambda column: labels.get(column, column)  # noqa: E731
    numbers = sorted({v["invoice_number"] for _, v, _ in parsed if v.get("invoice_number")})
    invoices = {}
    for chunk in _chunks(numbers):
        for row in session.execute(select(Invoice.id, Invoice.number, Invoice.status, Invoice.kind,
                                          Invoice.total_incl_tax, Invoice.amount_paid, Invoice.currency)
                                   .where(Invoice.number.in_(chunk))):
            invoices[row.number] = row._asdict()
    recorded: Counter = Counter()
    ids = [i["id"] for i in invoices.values()]
    for chunk in _chunks(ids):
        for row in session.execute(select(Payment.invoice_id, Payment.date, Payment.amount, Payment.reference)
                                   .where(Payment.invoice_id.in_(chunk))):
            recorded[(row.invoice_id, row.date, Decimal(row.amount).quantize(Decimal("0.01")), row.reference)] += 1
    paid = {number: Decimal(i["amount_paid"] or ZERO) for number, i in invoices.items()}
    for line, values, failed in parsed:
        number = values.get("invoice_number")
        invoice = invoices.get(number) if number else None
        if number and invoice is None:
            plan.add_error(line, label("invoice_number"), _l(
                'Unknown invoice number "%(number)s": import the invoices first.', number=number),
                number, "invoice_number")
            failed = True
        elif invoice and invoice["status"] in ("cancelled", "draft"):
            plan.add_error(line, label("invoice_number"), _l(
                'Invoice "%(number)s" is %(status)s: no payment can be recorded on it.',
                number=number, status=STATUS_LABELS[invoice["status"]]), number, "invoice_number")
            failed = True
        elif invoice and invoice["kind"] == "credit_note":
            plan.add_error(line, label("invoice_number"), _l(
                '"%(number)s" is a credit note: no payment can be recorded on it.', number=number),
                number, "invoice_number")
            failed = True
        if values.get("amount") is not None and values["amount"] <= 0 and "amount" in values:
            plan.add_error(line, label("amount"), _l("A payment amount must be more than zero."),
                           plan.cell(line, "amount"), "amount")
            failed = True
        if values.get("date") and values["date"] > today:
            plan.add_error(line, label("date"), _l(
                "The payment date %(date)s is in the future.", date=Day(values["date"])), plan.cell(line, "date"),
                "date")
            failed = True
        if failed:
            continue
        values = {**DEFAULTS["payments"], **values}
        key = (invoice["id"], values["date"], values["amount"], values["reference"])
        if recorded[key]:
            recorded[key] -= 1
            plan.changes.append(Change(line, "unchanged", number, values, record_id=invoice["id"]))
            continue
        total, cur = Decimal(invoice["total_incl_tax"]), invoice["currency"]
        if paid[number] + values["amount"] > total:
            plan.add_error(line, label("amount"), _l(
                "Overpayment: invoice %(number)s totals %(total)s, %(paid)s is already paid, "
                "this payment of %(amount)s would exceed it by %(excess)s.",
                number=number, total=Money(total, cur), paid=Money(paid[number], cur),
                amount=Money(values["amount"], cur), excess=Money(paid[number] + values["amount"] - total, cur)),
                str(values["amount"]), "amount")
            continue
        paid[number] += values["amount"]
        plan.changes.append(Change(line, "create", number, values, record_id=invoice["id"]))


STATUS_LABELS = {"draft": _l("a draft"), "validated": _l("validated"), "paid": _l("paid"),
                 "cancelled": _l("cancelled")}


# --- writing --------------------------------------------------------------------------------------------


def apply_plan(session: Session, plan: ImportPlan, user=None) -> None:
    """Write a plan without errors in bulk (the caller commits, or rolls back on error)."""
    if not plan.ok:
        raise ValueError("a plan with errors can't be applied")
    model = {"customers": Customer, "invoices": Invoice}.get(plan.kind)
    if model is not None:
        drop = {"customer_code"}
        created = [{k: v for k, v in c.values.items() if k not in drop} for c in plan.changes if c.action == "create"]
        updated = [{"id": c.record_id, **{k: v for k, v in c.values.items() if k not in drop | {KEY[plan.kind]}}}
                   for c in plan.changes if c.action == "update"]
        for chunk in _chunks(created):
            session.execute(insert(model), chunk)
        for chunk in _chunks(updated):
            session.execute(update(model), chunk)
    else:
        _apply_payments(session, plan)
    audit.record(session, user, "import", plan.kind, after={
        "file": plan.filename, "created": plan.created, "updated": plan.updated, "unchanged": plan.unchanged})
    session.flush()
    session.expire_all()


def _apply_payments(session: Session, plan: ImportPlan) -> None:
    rows = [{"invoice_id": c.record_id, "date": c.values["date"], "amount": c.values["amount"],
             "reference": c.values["reference"]} for c in plan.changes if c.action == "create"]
    for chunk in _chunks(rows):
        session.execute(insert(Payment), chunk)
    sync_amount_paid(session, sorted({r["invoice_id"] for r in rows}))


def sync_amount_paid(session: Session, invoice_ids: list[int]) -> None:
    """amount_paid = sum of the payments; a validated invoice paid in full becomes paid."""
    total = (select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.invoice_id == Invoice.id)
             .correlate(Invoice).scalar_subquery())
    for chunk in _chunks(invoice_ids):
        session.execute(update(Invoice).where(Invoice.id.in_(chunk)).values(amount_paid=total)
                        .execution_options(synchronize_session=False))
        session.execute(update(Invoice).where(Invoice.id.in_(chunk), Invoice.status == "validated",
                                              Invoice.kind == "invoice", Invoice.amount_paid >= Invoice.total_incl_tax)
                        .values(status="paid").execution_options(synchronize_session=False))
