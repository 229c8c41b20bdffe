"""The API's JSON schemas, used twice: to check request bodies and query strings, and in the OpenAPI document.

`check(schema, value, path)` implements the part of JSON Schema these schemas use (type, enum, pattern,
format date, lengths, bounds, required, additionalProperties, items), so what the document promises is
exactly what the endpoints accept. Domain rules (an existing customer, due date after issue date, ...) come
after, from the import service, and answer 422 with the same error shape.
"""

from __future__ import annotations

import math
import re
from datetime import date

from flask_babel import lazy_gettext as _l

from relance.models import CHANNELS, INVOICE_KINDS, INVOICE_STATUSES, REMINDER_STATUSES

MAX_ITEMS = 1000
PER_PAGE_MAX = 200

DATE = {"type": "string", "format": "date", "description": "yyyy-mm-dd"}
DATETIME = {"type": "string", "format": "date-time"}
MONEY_IN = {"type": ["string", "number"], "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$", "minimum": 0,
            "maximum": 999999999999.99,
            "description": "A non-negative amount with at most two decimals, as a number or a string like "
                           "\"1234.50\". Credit notes are sent with positive totals and kind credit_note."}
MONEY_OUT = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "description": "Decimal amount, e.g. \"1234.50\""}
CODE = {"type": "string", "minLength": 1, "maxLength": 64}


def text(limit: int, **extra) -> dict:
    return {"type": "string", "maxLength": limit, **extra}


CUSTOMER_FIELDS = {
    "name": text(200, minLength=1),
    "email": text(500, description="One or more addresses separated by commas or semicolons, each a valid "
                                   "address (internationalised ones too), kept as written."),
    "language": text(64, description="Any language Babel knows: its code (fr, en, de, es, it, nl, pt, de_CH...) or "
                                     "its name (Deutsch, allemand, español, Nederlands...); stored as its code."),
    "country": {"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2 code."},
    "kind": {"type": "string", "enum": ["business", "consumer"]},
    "address": text(1000),
    "postcode": text(20),
    "city": text(120),
    "phone": text(64),
}
CUSTOMER_FIELDS.update({
    "direct_debit": {"type": "boolean", "description": "Pays by direct debit (default false)."},
    "no_auto_reminders": {"type": "boolean", "description": "No automatic reminders (default false)."},
    "group_reminders": {"type": ["boolean", "null"], "description": (
        "One email (or letter) for all the customer's invoices reminded the same day (true), one per invoice "
        "(false); null or absent: the company's setting.")},
    "sales_reps": {"type": "array", "maxItems": 50, "items": text(254, minLength=1), "description": (
        "Emails of existing users: replaces the customer's sales representatives (copied on reminder emails).")},
    "policy": {"type": ["string", "null"], "maxLength": 80, "description": (
        "The name of the reminder policy (set of levels) the customer follows, compared without case; null or "
        "empty: the default policy.")},
})
INVOICE_FIELDS = {
    "customer_code": CODE,
    "issue_date": DATE,
    "due_date": {"type": ["string", "null"], "format": "date", "description": "yyyy-mm-dd; null: never reminded."},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code (default EUR)."},
    "total_excl_tax": MONEY_IN,
    "total_incl_tax": MONEY_IN,
    "status": {"type": "string", "enum": list(INVOICE_STATUSES), "description": "Default validated."},
    "kind": {"type": "string", "enum": list(INVOICE_KINDS), "description": "Default invoice."},
}
INVOICE_FIELDS["no_auto_reminders"] = {"type": "boolean", "description": "No automatic reminders (default false)."}
INVOICE_FIELDS["credits_invoice"] = {"type": ["string", "null"], "maxLength": 64, "description": (
    "A credit note: the number of the invoice it credits (the same customer's; an invoice of the same batch too). "
    "Its amount is taken off that invoice from the credit note's issue date, like a payment; refused when larger "
    "than what is left to pay. Null or \"\": credits no invoice.")}
PAYMENT_FIELDS = {"date": DATE, "amount": MONEY_IN, "reference": text(120)}


def obj(properties: dict, required: list[str], **extra) -> dict:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False,
            **extra}


CUSTOMER_PUT = obj(CUSTOMER_FIELDS, ["name"], description=(
    "Fields left out keep their current value (or take their default when the customer is created)."))
CUSTOMER_ITEM = obj({"code": CODE, **CUSTOMER_FIELDS}, ["code", "name"])
INVOICE_PUT = obj(INVOICE_FIELDS, ["customer_code", "issue_date", "due_date", "total_excl_tax", "total_incl_tax"],
                  description="Fields left out keep their current value (or take their default on creation).")
INVOICE_ITEM = obj({"number": CODE, **INVOICE_FIELDS},
                   ["number", "customer_code", "issue_date", "due_date", "total_excl_tax", "total_incl_tax"])
PAYMENT_IN = obj(PAYMENT_FIELDS, ["date", "amount"])
PAYMENT_ITEM = obj({"invoice_number": CODE, **PAYMENT_FIELDS}, ["invoice_number", "date", "amount"])
CONTACT_ITEM = obj({
    "customer_code": CODE, "email": text(254, minLength=1), "name": text(120), "first_name": text(120),
    "phone": text(64), "role": {"type": "string", "enum": ["billing", "followup"], "description": "Default billing."},
}, ["customer_code", "email"], description="Key: customer_code + email (an existing contact is updated).")
HISTORY_ITEM = obj({
    "invoice_number": CODE,
    "level": {"type": "integer", "minimum": 0, "maximum": 99, "description": "The level's rank."},
    "date": DATE, "channel": {"type": "string", "enum": list(CHANNELS)}, "note": text(2000),
}, ["invoice_number", "level", "date", "channel"], description=(
    "A reminder sent by a previous tool: recorded as delivered (sent / posted) and marked imported, so the "
    "engine goes on with the next level."))
REMINDER_IN = obj({
    "level": {"type": "integer", "minimum": 0, "maximum": 99, "description": "The level's rank (0 to 3 by default)."},
    "channel": {"type": "string", "enum": list(CHANNELS)},
    "note": text(2000),
    "next_date": {"type": ["string", "null"], "format": "date", "description": "yyyy-mm-dd: remind again then."},
    "override_reason": text(2000, description=(
        "Send anyway what the rules refuse (a level already sent, too soon, ...), with the reason: kept on the "
        "reminder and in the audit log. Refusals that cannot be overridden (a paid invoice, ...) stay refused.")),
}, ["level", "channel"])


def batch(item: dict) -> dict:
    return obj({"items": {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_ITEMS}}, ["items"])


def nullable(schema: dict) -> dict:
    return {**schema, "type": [schema["type"], "null"]}


CUSTOMER_OUT = {"type": "object", "required": [
    "code", "name", "email", "language", "country", "kind", "address", "postcode", "city", "phone",
    "no_auto_reminders", "group_reminders", "policy", "paused_until", "created_at"], "properties": {
    "code": {"type": "string"}, "name": {"type": "string"}, "email": {"type": "string"},
    "language": {"type": "string"}, "country": {"type": "string"}, "kind": {"type": "string"},
    "address": {"type": "string"}, "postcode": {"type": "string"}, "city": {"type": "string"},
    "phone": {"type": "string"}, "no_auto_reminders": {"type": "boolean"},
    "group_reminders": {"type": ["boolean", "null"]}, "paused_until": nullable(DATE),
    "policy": {"type": ["string", "null"], "description": (
        "The name of the reminder policy the customer follows (the default policy's when it chose none); null only "
        "before any policy exists.")},
    "created_at": DATETIME}}
INVOICE_OUT = {"type": "object", "required": [
    "number", "customer_code", "issue_date", "due_date", "currency", "total_excl_tax", "total_incl_tax",
    "amount_paid", "amount_credited", "remaining_due", "status", "kind", "open", "no_auto_reminders",
    "credits_invoice", "created_at", "updated_at"],
    "properties": {
        "number": {"type": "string"}, "customer_code": {"type": "string"}, "issue_date": DATE,
        "due_date": nullable(DATE), "currency": {"type": "string"}, "total_excl_tax": MONEY_OUT,
        "total_incl_tax": MONEY_OUT, "amount_paid": {**MONEY_OUT, "description": (
            "The payments received, the credit notes allocated to the invoice included (`amount_credited`).")},
        "amount_credited": {**MONEY_OUT, "description": (
            "What the credit notes allocated to the invoice take off it (part of `amount_paid`): an invoice "
            "closed by a credit note is paid with amount_credited > 0.")},
        "remaining_due": MONEY_OUT,
        "status": {"type": "string", "enum": list(INVOICE_STATUSES)},
        "kind": {"type": "string", "enum": list(INVOICE_KINDS)},
        "open": {"type": "boolean", "description": "Counts as due: validated invoice with something left to pay."},
        "no_auto_reminders": {"type": "boolean"},
        "credits_invoice": {"type": ["string", "null"], "description": "A credit note: the invoice it credits."},
        "created_at": DATETIME, "updated_at": DATETIME}}
PAYMENT_OUT = {"type": "object", "required": ["id", "invoice_number", "date", "amount", "reference", "credit_note",
                                            "created_at"],
               "properties": {"id": {"type": "integer"}, "invoice_number": {"type": "string"}, "date": DATE,
                              "amount": MONEY_OUT, "reference": {"type": "string"},
                              "credit_note": {"type": ["string", "null"], "description": (
                                  "Not a payment: the credit note allocated to the invoice (its number), dated its "
                                  "issue date. Null: a payment.")},
                              "created_at": DATETIME}}
REMINDER_OUT = {"type": "object", "required": [
    "id", "level", "level_name", "formal_notice", "channel", "status", "reminder_date", "next_date", "automatic",
    "recipients", "subject", "total_claimed", "sent_at", "error", "override_reason"], "properties": {
    "id": {"type": "integer"}, "level": {"type": "integer", "description": "The level's rank when it was made."},
    "level_name": {"type": "string", "description": "The level's name when it was made."},
    "formal_notice": {"type": "boolean"}, "override_reason": {"type": "string"},
    "channel": {"type": "string", "enum": [*CHANNELS, "phone"]},
    "status": {"type": "string", "enum": list(REMINDER_STATUSES)}, "reminder_date": DATE,
    "next_date": nullable(DATE), "automatic": {"type": "boolean"},
    "recipients": {"type": "array", "items": {"type": "string"}}, "subject": {"type": "string"},
    "total_claimed": MONEY_OUT, "sent_at": nullable(DATETIME), "error": {"type": "string"}}}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["status", "message"], "properties": {
        "status": {"type": "integer"}, "message": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "object", "required": ["path", "message"], "properties": {
            "path": {"type": "string", "description": "Where the problem is, e.g. items[0].due_date"},
            "message": {"type": "string"}}}}}}}}


def page_of(item: dict) -> dict:
    return {"type": "object", "required": ["items", "page", "per_page", "total", "pages"], "properties": {
        "items": {"type": "array", "items": item}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
        "total": {"type": "integer"}, "pages": {"type": "integer"}}}


def batch_result(item: dict) -> dict:
    return {"type": "object", "required": ["created", "updated", "unchanged", "items"], "properties": {
        "created": {"type": "integer"}, "updated": {"type": "integer"}, "unchanged": {"type": "integer"},
        "items": {"type": "array", "items": item}}}


PAGE_PARAMS = {
    "page": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": PER_PAGE_MAX, "default": 50},
}
CUSTOMER_QUERY = {**PAGE_PARAMS, "q": text(200, description="Part of the code or name.")}
INVOICE_QUERY = {
    **PAGE_PARAMS,
    "customer_code": CODE,
    "status": {"type": "string", "enum": list(INVOICE_STATUSES)},
    "kind": {"type": "string", "enum": list(INVOICE_KINDS)},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "open": {"type": "boolean", "description": "true: only invoices that count as due; false: only the others."},
}


# --- checking ---------------------------------------------------------------------------------------------

_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TYPES = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
TYPE_NAMES = {"string": _l("a string"), "number": _l("a number"), "integer": _l("a whole number"),
              "boolean": _l("true or false"), "null": _l("null"), "object": _l("an object"), "array": _l("a list")}


PATTERN_MESSAGES = {
    MONEY_IN["pattern"]: _l("Must be an amount like 1234.50 (at most two decimals, no sign)."),
    "^[A-Z]{2}$": _l("Must be two capital letters (ISO country code, e.g. FR)."),
    "^[A-Z]{3}$": _l("Must be three capital letters (ISO currency code, e.g. EUR)."),
}


def join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def check(schema: dict, value, path: str = "") -> list[tuple[str, object]]:
    """(path, message) for each way `value` breaks `schema`."""
    types = schema.get("type")
    if types:
        types = types if isinstance(types, list) else [types]
        if not any(_TYPES[t](value) for t in types):
            return [(path, _l("Must be %(type)s.", type=" / ".join(str(TYPE_NAMES[t]) for t in types)))]
    if value is None:
        return []
    errors: list[tuple[str, object]] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append((path, _l("Must be one of: %(values)s.", values=", ".join(schema["enum"]))))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append((path, _l("A value is required.")))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append((path, _l("Too long: %(length)s characters, at most %(limit)s.", length=len(value),
                                    limit=schema["maxLength"])))
        if "pattern" in schema and not re.search(schema["pattern"].replace("$", r"\Z"), value):
            errors.append((path, PATTERN_MESSAGES.get(schema["pattern"], _l("Wrong format."))))
        if schema.get("format") == "date" and not _is_date(value):
            errors.append((path, _l("Must be a date written yyyy-mm-dd.")))
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append((path, _l("Must be at least %(minimum)s.", minimum=schema["minimum"])))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append((path, _l("Must be at most %(maximum)s.", maximum=schema["maximum"])))
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append((join(path, name), _l("This field is required.")))
        for name, spec in properties.items():  # in the schema's order, whatever the order of the body
            if name in value:
                errors.extend(check(spec, value[name], join(path, name)))
        if schema.get("additionalProperties") is False:
            errors.extend((join(path, name), _l("Unknown field.")) for name in value if name not in properties)
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append((path, _l("At least %(count)s item is needed.", count=schema["minItems"])))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append((path, _l("At most %(count)s items at once.", count=schema["maxItems"])))
        if "items" in schema and not errors:
            for index, item in enumerate(value):
                errors.extend(check(schema["items"], item, join(path, index)))
    return errors


def _is_date(value: str) -> bool:
    if not _DATE_RE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
REFUSAL_OUT = {"type": "object", "required": ["code", "reason", "overridable"], "properties": {
    "code": {"type": "string"}, "reason": {"type": "string"}, "overridable": {"type": "boolean"}}}
ELIGIBILITY_OUT = {"type": "object", "required": ["invoice_number", "date", "level", "channel", "may_send",
                                                  "next_level", "refusals"], "properties": {
    "invoice_number": {"type": "string"}, "date": DATE, "level": {"type": ["integer", "null"]},
    "channel": {"type": ["string", "null"]}, "may_send": {"type": "boolean"},
    "next_level": {"type": ["integer", "null"], "description": "The level the engine sends next."},
    "refusals": {"type": "array", "items": REFUSAL_OUT}}}
ELIGIBILITY_QUERY = {
    "level": {"type": "integer", "minimum": 0, "maximum": 99, "description": "Default: the engine's next level."},
    "channel": {"type": "string", "enum": list(CHANNELS)},
}
