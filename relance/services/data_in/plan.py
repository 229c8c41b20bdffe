"""The plan of an import: rows checked against the database, nothing written.

`plan_records(session, kind, rows, today)` takes rows {column: raw text} (from `reading.plan_csv` for a file, or
from the API's JSON items), reads each cell with `values.PARSERS` and returns an `ImportPlan`: what would be
created / updated / left unchanged, and every error naming its line (or item) and column. A plan with any error
holds no change; `apply.apply_plan` writes one without errors.

`plan.basis` is a digest of every database row the checks read (the records the file's keys name, and for invoices
and payments the customers and invoices they refer to); `basis(session, plan)` reads the same rows again, so a
stored plan can be applied later only while they are unchanged (services/data_in/staging.py).

Columns present in the file set their value (an empty cell means the default); columns absent from the
file leave existing records untouched. Keys: customers by code, invoices by number; a payment already
recorded (same invoice, date, amount, reference) is not recorded twice. A customer's `sales_reps` names existing
users by their email. Contacts (key: customer code + email) and the reminders history sent by a previous tool are
planned by their own modules (`contacts`, `history`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from relance.models import Customer, Invoice, Payment, Policy, User
from relance.models.base import ZERO
from relance.models.customer import customer_sales_reps
from relance.services.data_in.values import PARSERS, InvalidValue, parse_text, shorten

KINDS = ("customers", "invoices", "payments", "contacts", "history")
MAX_ERRORS = 100
CHUNK = 5000
PROGRESS_ROWS = 1000  # plan_records reports its progress every this many rows

COLUMNS = {
    "customers": ("code", "name", "email", "language", "country", "kind", "address", "postcode", "city", "phone",
                  "siren", "vat_number"),
    "invoices": ("number", "customer_code", "issue_date", "due_date", "currency", "total_excl_tax",
                 "total_incl_tax", "status", "kind"),
    "payments": ("invoice_number", "date", "amount", "reference"),
    "contacts": ("customer_code", "email", "name", "first_name", "phone", "role"),
    "history": ("invoice_number", "level", "date", "channel", "note"),
}
COLUMNS["customers"] += ("direct_debit", "no_auto_reminders", "sales_reps", "group_reminders", "policy")
COLUMNS["invoices"] += ("no_auto_reminders", "credits_invoice")
# Columns that must hold a value (due_date may be empty: never reminded).
NOT_EMPTY = {
    "customers": ("code", "name"),
    "invoices": ("number", "customer_code", "issue_date", "total_excl_tax", "total_incl_tax"),
    "payments": ("invoice_number", "date", "amount"),
    "contacts": ("customer_code", "email"),
    "history": ("invoice_number", "level", "date", "channel"),
}
KEY = {"customers": "code", "invoices": "number", "payments": "invoice_number", "contacts": "email",
       "history": "invoice_number"}
DEFAULTS: dict[str, dict[str, Any]] = {
    "customers": {"email": "", "language": "fr", "country": "FR", "kind": "business", "address": "",
                  "postcode": "", "city": "", "phone": "", "siren": "", "vat_number": ""},
    "invoices": {"currency": "EUR", "status": "validated", "kind": "invoice", "due_date": None},
    "payments": {"reference": ""},
    "contacts": {"name": "", "first_name": "", "phone": "", "role": "billing"},
    "history": {"note": ""},
}
DEFAULTS["customers"].update({"direct_debit": False, "no_auto_reminders": False, "sales_reps": "",
                              "group_reminders": None,  # None: the company's setting (group_by_customer)
                              "policy": None})  # the default policy (its name once planned: `_policy_names`)
DEFAULTS["invoices"]["no_auto_reminders"] = False

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


class Tally:
    """How many items a plan creates, updates and leaves unchanged: `_actions()` gives each item's action."""

    def _actions(self) -> Iterable[str]:
        raise NotImplementedError

    def count(self, action: str) -> int:
        return sum(1 for a in self._actions() if a == action)

    @property
    def created(self) -> int:
        return self.count("create")

    @property
    def updated(self) -> int:
        return self.count("update")

    @property
    def unchanged(self) -> int:
        return self.count("unchanged")


@dataclass
class ImportPlan(Tally):
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
    basis: str = ""  # digest of the database rows the checks read (`basis`)

    def cell(self, line: int, column: str) -> str:
        return str(self.raw.get(line, {}).get(column) or "")

    def add_error(self, line, column, message, value="", field_name=None) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(line, column, message, shorten(value), field_name))

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    @property
    def more_errors(self) -> int:
        return self.error_count - len(self.errors)

    def _actions(self) -> Iterable[str]:
        return (c.action for c in self.changes)

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


class Number:
    """A whole number shown in the reader's language (100,000 / 100 000) when the message is rendered."""

    def __init__(self, value: int):
        self.value = value

    def __str__(self) -> str:
        from flask_babel import format_decimal

        return format_decimal(self.value)


class Day:
    """A date shown in the reader's language when the message is rendered."""

    def __init__(self, value: date):
        self.value = value

    def __str__(self) -> str:
        from flask_babel import format_date

        return format_date(self.value, "medium")


def chunks(items: list, size: int = CHUNK):
    """Slices of `size` items: the IN lists of the reads and the bulk writes."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def plan_records(session: Session, kind: str, rows: list[tuple[int, dict]], today: date,
                 plan: ImportPlan | None = None, progress: Callable[[int, int], None] | None = None,
                 coming: Collection[str] = ()) -> ImportPlan:
    """Check rows {column: raw text} (from a file or the API) against the database. `progress(done, total)` is
    called every PROGRESS_ROWS rows read (and once at the end of the reading). `coming`: for invoices, the codes of
    customers the same import creates first (their invoices keep `customer_code` and no `customer_id`: `apply_plan`
    finds it once the customers are written)."""
    plan = plan or ImportPlan(kind=kind, rows=len(rows))
    if not plan.columns:
        plan.columns = tuple(c for c in COLUMNS[kind] if any(c in values for _, values in rows))
    labels = plan.labels
    parsed = []
    first_line: dict[str, int] = {}
    key_column = KEY[kind]
    for number, (line, raw) in enumerate(rows):
        if progress is not None and number % PROGRESS_ROWS == 0 and number:
            progress(number, len(rows))
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
        if kind in ("customers", "invoices") and key:
            if key in first_line:
                plan.add_error(line, labels.get(key_column, key_column), _l(
                    '"%(value)s" is already on line %(line)s of this file.', value=key, line=first_line[key]),
                    key, key_column)
                failed = True
            else:
                first_line[key] = line
        parsed.append((line, values, failed))
        plan.raw[line] = raw
    if progress is not None:
        progress(len(rows), len(rows))
    if kind == "invoices":
        _plan_invoices(session, parsed, plan, labels, today, frozenset(coming))
    else:
        _planner(kind)(session, parsed, plan, labels, today)
    if not plan.ok:
        plan.changes = []
        plan.errors.sort(key=lambda e: e.line or 0)
    return plan


def own_module(kind: str):
    """The module of a kind planned on its own (`plan_rows`, `basis`, `apply`), or None. Imported here: they import
    this module."""
    if kind == "contacts":
        from relance.services.data_in import contacts

        return contacts
    if kind == "history":
        from relance.services.data_in import history

        return history
    return None


def _planner(kind: str) -> Callable:
    """The checks of one kind against the database."""
    module = own_module(kind)
    if module is not None:
        return module.plan_rows
    return {"customers": _plan_customers, "invoices": _plan_invoices, "payments": _plan_payments}[kind]


def _diff(existing: dict, values: dict) -> dict:
    return {k: (existing[k], v) for k, v in values.items() if k in existing and existing[k] != v}


def _digest(*parts: Iterable) -> str:
    """A digest of rows read (in any order): equal when the same rows hold the same values."""
    digest = hashlib.sha256()
    for part in parts:
        for text in sorted(map(repr, part)):
            digest.update(text.encode())
            digest.update(b"\n")
        digest.update(b"\x00")
    return digest.hexdigest()


def read_policies(session) -> tuple[tuple[int, str, bool], ...]:
    """Every policy as (id, name, is_default), by id: what a customer's `policy` column is checked against."""
    rows = session.execute(select(Policy.id, Policy.name, Policy.is_default).order_by(Policy.id))
    return tuple((policy_id, name, bool(is_default)) for policy_id, name, is_default in rows)


def _default_name(policies) -> str | None:
    return next((name for _id, name, is_default in policies if is_default), None)


def _read_customers(session, codes, policies=None) -> dict[str, dict]:
    """The existing customers of these codes: code -> their columns (`sales_reps`: their emails, sorted, joined;
    `policy`: the name of the policy they follow, the default one's when they chose none)."""
    policies = read_policies(session) if policies is None else policies
    names = {policy_id: name for policy_id, name, _default in policies}
    default = _default_name(policies)
    columns = [c for c in COLUMNS["customers"] if c not in ("code", "sales_reps", "policy")]
    existing = {}
    for chunk in chunks(sorted(set(codes))):
        for row in session.execute(select(Customer.id, Customer.code, Customer.policy_id,
                                          *(getattr(Customer, c) for c in columns))
                                   .where(Customer.code.in_(chunk))):
            values = row._asdict()
            chosen = values.pop("policy_id")
            existing[row.code] = {**values, "sales_reps": "", "policy": names.get(chosen, default)}
    reps: dict[int, list[str]] = {}
    ids = {c["id"]: code for code, c in existing.items()}
    for chunk in chunks(sorted(ids)):
        for customer_id, email in session.execute(
                select(customer_sales_reps.c.customer_id, User.email)
                .join(User, User.id == customer_sales_reps.c.user_id)
                .where(customer_sales_reps.c.customer_id.in_(chunk))):
            reps.setdefault(customer_id, []).append(email)
    for customer_id, emails in reps.items():
        existing[ids[customer_id]]["sales_reps"] = ", ".join(sorted(emails, key=str.lower))
    return existing


def read_users(session, emails) -> dict[str, str]:
    """The users of these emails (compared without case): lower-case email -> the email as stored."""
    found: dict[str, str] = {}
    for chunk in chunks(sorted({e.lower() for e in emails})):
        for email in session.scalars(select(User.email).where(func.lower(User.email).in_(chunk))):
            found[email.lower()] = email
    return found


def _rep_emails(plan: ImportPlan) -> list[str]:
    return [e for c in plan.changes for e in (c.values.get("sales_reps") or "").split(", ") if e]


def _read_invoices(session, numbers, codes) -> tuple[dict[str, int], dict[str, dict]]:
    """The customers of these codes (code -> id) and the existing invoices of these numbers."""
    customers: dict[str, int] = {}
    for chunk in chunks(sorted(set(codes))):
        customers.update(session.execute(select(Customer.code, Customer.id).where(Customer.code.in_(chunk))).all())
    columns = ("customer_id", "issue_date", "due_date", "currency", "total_excl_tax", "total_incl_tax", "status",
               "kind", "amount_paid", "no_auto_reminders")
    credited = aliased(Invoice)
    existing = {}
    for chunk in chunks(sorted(set(numbers))):
        for row in session.execute(select(Invoice.id, Invoice.number, *(getattr(Invoice, c) for c in columns),
                                          func.coalesce(credited.number, "").label("credits_invoice"))
                                   .outerjoin(credited, credited.id == Invoice.credits_invoice_id)
                                   .where(Invoice.number.in_(chunk))):
            existing[row.number] = row._asdict()
    return customers, existing


def _read_credited(session, numbers) -> tuple[dict[str, dict], dict[str, dict[str, Decimal]]]:
    """The invoices of these numbers as credited invoices (with their customer's code) and the credit notes' payments
    on them: invoice number -> {credit note number: amount}."""
    invoices: dict[str, dict] = {}
    for chunk in chunks(sorted(set(numbers))):
        for row in session.execute(select(Invoice.id, Invoice.number, Customer.code.label("customer_code"),
                                          Invoice.kind, Invoice.status, Invoice.currency, Invoice.total_incl_tax,
                                          Invoice.amount_paid)
                                   .join(Customer, Customer.id == Invoice.customer_id)
                                   .where(Invoice.number.in_(chunk))):
            invoices[row.number] = row._asdict()
    credits: dict[str, dict[str, Decimal]] = {}
    numbers_of = {i["id"]: n for n, i in invoices.items()}
    note = aliased(Invoice)
    for chunk in chunks(sorted(numbers_of)):
        for invoice_id, number, amount in session.execute(
                select(Payment.invoice_id, note.number, Payment.amount).join(note, note.id == Payment.credit_note_id)
                .where(Payment.invoice_id.in_(chunk))):
            credits.setdefault(numbers_of[invoice_id], {})[number] = Decimal(amount)
    return invoices, credits


def _credited_numbers(rows: Iterable[dict], existing: dict[str, dict]) -> set[str]:
    """The invoices named as credited by these rows or, for the rows without the column, by their credit notes now."""
    return {n for n in (*(v.get("credits_invoice") for v in rows), *(e["credits_invoice"] for e in existing.values()))
            if n}


def _read_payments(session, numbers) -> tuple[dict[str, dict], Counter]:
    """The invoices of these numbers and the payments already recorded on them (counted)."""
    invoices = {}
    for chunk in chunks(sorted(set(numbers))):
        for row in session.execute(select(Invoice.id, Invoice.number, Invoice.status, Invoice.kind,
                                          Invoice.total_incl_tax, Invoice.amount_paid, Invoice.currency)
                                   .where(Invoice.number.in_(chunk))):
            invoices[row.number] = row._asdict()
    recorded: Counter = Counter()
    ids = sorted(i["id"] for i in invoices.values())
    for chunk in chunks(ids):
        for row in session.execute(select(Payment.invoice_id, Payment.date, Payment.amount, Payment.reference)
                                   .where(Payment.invoice_id.in_(chunk))):
            recorded[(row.invoice_id, row.date, Decimal(row.amount).quantize(Decimal("0.01")), row.reference)] += 1
    return invoices, recorded


def basis(session: Session, plan: ImportPlan) -> str:
    """The digest of the rows a plan without errors relies on, read now: equal to `plan.basis` while none of
    them changed (a record created, changed or deleted under one of the file's keys, a payment recorded on one of
    its invoices...). Reads only those rows, by key; the file is not read again."""
    keys = [c.key for c in plan.changes]
    if plan.kind == "customers":
        policies = read_policies(session)
        return _digest(_read_customers(session, keys, policies).items(), read_users(session, _rep_emails(plan)).items(),
                       policies)
    module = own_module(plan.kind)
    if module is not None:
        return module.basis(session, plan)
    if plan.kind == "invoices":
        codes = [c.values.get("customer_code", "") for c in plan.changes]
        customers, existing = _read_invoices(session, keys, codes)
        credited, credits = _read_credited(session, _credited_numbers((c.values for c in plan.changes), existing))
        return _digest(customers.items(), existing.items(), credited.items(), credits.items())
    invoices, recorded = _read_payments(session, keys)
    return _digest(invoices.items(), recorded.items())


def _plan_customers(session, parsed, plan, labels, today) -> None:
    codes = [v["code"] for _, v, _ in parsed if v.get("code")]
    policies = read_policies(session)
    existing = _read_customers(session, codes, policies)
    users = read_users(session, [e for _, v, _ in parsed for e in v.get("sales_reps") or ()])
    plan.basis = _digest(existing.items(), users.items(), policies)
    for line, values, failed in parsed:
        if "policy" in values and not values["policy"]:  # empty: the default policy
            values = {**values, "policy": _default_name(policies)}
        elif "policy" in values:
            named = _policy_name(values["policy"], policies)
            if named is None:
                plan.add_error(line, labels.get("policy", "policy"), _l(
                    'No reminder policy is called "%(name)s": use one of %(names)s, or leave the cell empty for the '
                    'default policy.', name=values["policy"], names=", ".join(name for _id, name, _d in policies)),
                    values["policy"], "policy")
                failed = True
            else:
                values = {**values, "policy": named}
        if "sales_reps" in values:
            unknown = [e for e in values["sales_reps"] or () if e.lower() not in users]
            for email in unknown:
                plan.add_error(line, labels.get("sales_reps", "sales_reps"), _l(
                    'No user has the email "%(email)s": create the sales representative\'s user first (Admin > '
                    'Users), or correct the address.', email=email), email, "sales_reps")
                failed = True
            if not failed:
                values = {**values, "sales_reps": ", ".join(
                    sorted((users[e.lower()] for e in values["sales_reps"] or ()), key=str.lower))}
        if failed:
            continue
        _add_change(plan, line, values, existing.get(values["code"]), "code", DEFAULTS["customers"])


def _policy_name(raw: str, policies) -> str | None:
    """The name, as stored, of the policy `raw` names (compared without case and outer spaces); None when it names
    none."""
    wanted = raw.strip().casefold()
    return next((name for _id, name, _default in policies if name.casefold() == wanted), None)


def _add_change(plan, line, values, current, key, defaults) -> None:
    if current is None:
        plan.changes.append(Change(line, "create", str(values[key]), {**defaults, **values}))
        return
    changes = _diff(current, {k: v for k, v in values.items() if k != key})
    plan.changes.append(Change(line, "update" if changes else "unchanged", str(values[key]), values, changes,
                               current["id"]))


def _plan_invoices(session, parsed, plan, labels, today, coming: frozenset[str] = frozenset()) -> None:
    label = lambda column: labels.get(column, column)  # noqa: E731
    numbers = [v["number"] for _, v, _ in parsed if v.get("number")]
    codes = [v["customer_code"] for _, v, _ in parsed if v.get("customer_code")]
    customers, existing = _read_invoices(session, numbers, codes)
    credited, credits = _read_credited(session, _credited_numbers((v for _, v, _ in parsed), existing))
    plan.basis = _digest(customers.items(), existing.items(), credited.items(), credits.items())
    for line, values, failed in parsed:
        code = values.get("customer_code")
        if code and code not in customers and code not in coming:
            plan.add_error(line, label("customer_code"), _l(
                'Unknown customer code "%(code)s": import the customers first.', code=code), code, "customer_code")
            failed = True
        if failed:
            continue
        values = dict(values)
        code = values.pop("customer_code")
        values["customer_id"] = customers.get(code)
        if values["customer_id"] is None:  # a customer this import creates first (`coming`)
            values["customer_code"] = code
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
    _plan_credits(plan, label, existing, credited, credits)


def _plan_credits(plan: ImportPlan, label: Callable[[str], str], existing: dict[str, dict],
                  credited: dict[str, dict], credits: dict[str, dict[str, Decimal]]) -> None:
    """Check every credit note of the file that credits an invoice (its `credits_invoice`, else the one it credits
    now) as it will be once the file is written: the credited invoice as the file leaves it (it may be a row of the
    file), what is left to pay on it counting the file's credit notes in their order, their payments recomputed."""
    from relance.services import credit_notes  # it imports this module

    rows = {c.key: c for c in plan.changes}

    def after(key: str) -> dict:
        return {**existing.get(key, {}), **rows[key].values}

    left: dict[str, Decimal] = {}
    for change in plan.changes:
        number = change.values.get("credits_invoice", existing.get(change.key, {}).get("credits_invoice", ""))
        if not number:
            continue
        note = after(change.key)
        target = after(number) if number in rows else credited.get(number)
        if target is not None and number not in left:
            paid = Decimal(target.get("amount_paid") or ZERO) - sum(
                (amount for key, amount in credits.get(number, {}).items() if key in rows), ZERO)
            left[number] = Decimal(target["total_incl_tax"]) - paid
        facts = credit_notes.Facts(change.key, note["customer_code"], note["kind"], note["status"], note["currency"],
                                   Decimal(note["total_incl_tax"]))
        target_facts = None if target is None else credit_notes.Facts(
            number, target["customer_code"], target["kind"], target["status"], target["currency"],
            Decimal(target["total_incl_tax"]))
        message = credit_notes.refusal(facts, number, target_facts, left.get(number, ZERO))
        if message is not None:
            plan.add_error(change.line, label("credits_invoice"), message, number, "credits_invoice")
            continue
        left[number] -= facts.total


def _name_customers(plan: ImportPlan, customers: dict[str, int]) -> None:
    codes = {i: c for c, i in customers.items()}
    for change in plan.changes:
        coming = change.values.get("customer_code", "")  # set when the customer is created by the same import
        change.values["customer_code"] = codes.get(change.values["customer_id"], coming)
        if "customer_id" in change.changes:
            old, new = change.changes.pop("customer_id")
            change.changes["customer_code"] = (codes.get(old, f"#{old}"), codes.get(new, coming or f"#{new}"))


def unknown_invoice(plan: ImportPlan, line: int, column: str | None, number: str) -> None:
    """The error of a row naming an invoice the database does not have (payments, reminder history)."""
    plan.add_error(line, column, _l('Unknown invoice number "%(number)s": import the invoices first.', number=number),
                   number, "invoice_number")


def _plan_payments(session, parsed, plan, labels, today) -> None:
    label = lambda column: labels.get(column, column)  # noqa: E731
    numbers = [v["invoice_number"] for _, v, _ in parsed if v.get("invoice_number")]
    invoices, recorded = _read_payments(session, numbers)
    plan.basis = _digest(invoices.items(), recorded.items())
    paid = {number: Decimal(i["amount_paid"] or ZERO) for number, i in invoices.items()}
    for line, values, failed in parsed:
        number = values.get("invoice_number")
        invoice = invoices.get(number) if number else None
        if number and invoice is None:
            unknown_invoice(plan, line, label("invoice_number"), number)
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
        if failed or invoice is None:  # no invoice: its number was missing, an error already
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
