"""Matching bank statement credits to open invoices, each proposal with the rule that found it.

The rules, in order:
1. `invoice_number`: an open invoice's number written in the label / remittance information, in any case, with or
   without its spaces, dashes, dots and slashes (`FA-2026-0101`, `fa 2026 0101`, `FA20260101`), whole words only.
2. `rf_reference`: a structured creditor reference (RF, ISO 11649, checked with python-stdnum) in the structured
   reference or the label, whose reference part is an invoice number (`rf_reference(number)` makes one).
3. `customer_amount`: the customer (the counterparty's IBAN seen on an earlier line recorded for them, else a name
   equal to the customer's, legal form aside; none when that finds several) and one of its open invoices whose
   remaining due is exactly the amount.
4. `customer_sum`: that customer and several of its open invoices whose remaining dues add up exactly to it.
Paid claims from the customer's page (`Answer` kind "paid", open) are shown as candidates (`paid_claim`) when their
amount is the line's.

A match is `exact` when a single set of invoices fits: the amount equals what is left on them, nothing else named or
found fits, no paid claim of that customer points elsewhere, and the invoices belong to the customer the
counterparty names (when it names one). Only an exact match may be recorded automatically; everything else is a
proposal for a person. When two invoices could match, the line is proposed, never recorded.

`Book.load(session)` reads the open invoices, the customers and the open paid claims once (one query each), so a
statement of 10,000 lines against 100,000 invoices is matched in memory; `Book.consume` takes a recorded payment off
the book so that the next lines of the same file see it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

from relance.models import Answer, BankLine, Customer, Invoice, Payment
from relance.services.data_in.statements import StatementLine
from relance.services.data_in.values import fold

RULE_LABELS = {
    "invoice_number": _l("invoice number in the label"),
    "rf_reference": _l("structured creditor reference (RF)"),
    "customer_amount": _l("customer and exact remaining amount"),
    "customer_sum": _l("customer and exact sum of several invoices"),
    "paid_claim": _l("the customer said they paid this amount"),
}
MAX_WINDOW = 6  # an invoice number may be written in up to this many pieces ("FA 2026 01 01")
MIN_KEY = 3  # shorter numbers are never looked for in a label (too many chance hits)
SUM_MAX_INVOICES = 20  # a customer with more open invoices than this is not searched for sums
SUM_BUDGET = 50_000  # steps of the sum search per line; past it the search gives up (never a guess)
LEGAL_FORMS = {"sa", "sas", "sasu", "sarl", "eurl", "sci", "snc", "scop", "gmbh", "ag", "kg", "ltd", "limited",
               "plc", "llc", "inc", "bv", "nv", "srl", "spa", "sl", "co", "cie", "et", "and", "the", "ste", "societe",
               "ets", "etablissements"}
_RF = re.compile(r"RF\d{2}(?:\s?[0-9A-Z]){1,21}")


def number_key(text: str) -> str:
    """An invoice number as compared: upper case, letters and digits only."""
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def rf_reference(number: str) -> str:
    """The ISO 11649 creditor reference (RF) that carries this invoice number (letters and digits, at most 21)."""
    key = number_key(number)
    if not key or len(key) > 21:
        raise ValueError(f"{number!r} can't be carried by an RF reference")
    return f"RF{mod_97_10.calc_check_digits(key + 'RF')}{key}"


def name_key(name: str) -> str:
    words = re.split(r"[^a-z0-9]+", fold(name))
    return " ".join(w for w in words if w and w not in LEGAL_FORMS)


@dataclass
class OpenInvoice:
    id: int
    number: str
    customer_id: int
    currency: str
    remaining: Decimal


@dataclass
class Proposal:
    rule: str
    invoices: list[int]
    amounts: list[Decimal]
    answer: int | None = None

    def as_json(self) -> dict:
        return {"rule": self.rule, "invoices": list(self.invoices), "amounts": [str(a) for a in self.amounts],
                "answer": self.answer}


@dataclass
class Match:
    rule: str = ""  # the rule of the first proposal ("" = nothing found)
    proposals: list[Proposal] = field(default_factory=list)
    exact: bool = False  # proposals[0] fits without doubt: it may be recorded automatically
    customer_id: int | None = None  # the customer the counterparty names, if one


class Book:
    """The open invoices (indexed by number, by customer), the customers (by name, by IBAN seen before) and the open
    paid claims, read once."""

    def __init__(self) -> None:
        self.invoices: dict[int, OpenInvoice] = {}
        self.by_key: dict[str, list[int]] = defaultdict(list)
        self.by_customer: dict[int, list[int]] = defaultdict(list)
        self.by_name: dict[str, list[int]] = defaultdict(list)
        self.by_iban: dict[str, set[int]] = defaultdict(set)
        self.claims: dict[Decimal, list[tuple[int, int]]] = defaultdict(list)  # amount -> (answer, invoice)
        self.window = 1

    @classmethod
    def load(cls, session: Session) -> Book:
        book = cls()
        rows = session.execute(
            select(Invoice.id, Invoice.number, Invoice.customer_id, Invoice.currency,
                   Invoice.total_incl_tax - Invoice.amount_paid)
            .where(Invoice.status == "validated", Invoice.kind == "invoice",
                   Invoice.total_incl_tax > Invoice.amount_paid))
        for invoice_id, number, customer_id, currency, remaining in rows:
            book.add(OpenInvoice(invoice_id, number, customer_id, currency, Decimal(remaining).quantize(
                Decimal("0.01"))))
        for customer_id, name in session.execute(select(Customer.id, Customer.name)):
            key = name_key(name or "")
            if key:
                book.by_name[key].append(customer_id)
        seen = (select(BankLine.counterparty_iban, Invoice.customer_id)
                .join(Payment, Payment.bank_line_id == BankLine.id).join(Invoice, Invoice.id == Payment.invoice_id)
                .where(BankLine.counterparty_iban != "").group_by(BankLine.counterparty_iban, Invoice.customer_id))
        for iban, customer_id in session.execute(seen):
            book.by_iban[iban].add(customer_id)
        claims = session.execute(
            select(Answer.id, Answer.invoice_id, func.coalesce(Answer.amount, 0))
            .where(Answer.kind == "paid", Answer.status == "open"))
        for answer_id, invoice_id, amount in claims:
            invoice = book.invoices.get(invoice_id)
            if invoice is None:
                continue
            book.claims[Decimal(amount).quantize(Decimal("0.01")) if amount else invoice.remaining].append(
                (answer_id, invoice_id))
        return book

    def add(self, invoice: OpenInvoice) -> None:
        self.invoices[invoice.id] = invoice
        self.by_customer[invoice.customer_id].append(invoice.id)
        key = number_key(invoice.number)
        if len(key) >= MIN_KEY:
            self.by_key[key].append(invoice.id)
            pieces = len([p for p in re.split(r"[^0-9A-Za-z]+", invoice.number) if p])
            self.window = max(self.window, min(MAX_WINDOW, pieces + 2))

    def consume(self, invoice_id: int, amount: Decimal) -> None:
        """A payment recorded: less is left; a settled invoice leaves the book."""
        invoice = self.invoices[invoice_id]
        invoice.remaining -= amount
        if invoice.remaining <= 0:
            del self.invoices[invoice_id]
            self.by_customer[invoice.customer_id].remove(invoice_id)
            key = number_key(invoice.number)
            if invoice_id in self.by_key.get(key, []):
                self.by_key[key].remove(invoice_id)

    # --- the rules ------------------------------------------------------------------------------------------------

    def named(self, text: str) -> list[int]:
        """The open invoices whose number is written in `text` (whole pieces, separators ignored)."""
        tokens = re.findall(r"[0-9A-Z]+", text.upper())
        found: list[int] = []
        for start in range(len(tokens)):
            joined = ""
            for piece in tokens[start:start + self.window]:
                joined += piece
                for invoice_id in self.by_key.get(joined, ()):
                    if invoice_id not in found:
                        found.append(invoice_id)
        return found

    def referenced(self, line: StatementLine) -> list[int]:
        """The open invoices an RF creditor reference of the line carries (in the structured reference or the
        label, compact or in groups: `RF42 FA20 2601 01`); only a reference with valid check digits counts."""
        found: list[int] = []
        for text in (line.reference.upper(), line.label.upper()):
            for match in _RF.finditer(text):
                written = match.group(0)
                ends = sorted({len(written)} | {i for i, c in enumerate(written) if c == " "}, reverse=True)
                for end in ends:  # the longest reference that ends where a group ends
                    candidate = written[:end].replace(" ", "")
                    if len(candidate) < 5 or not iso11649.is_valid(candidate):
                        continue
                    ids = self.by_key.get(candidate[4:], [])
                    found += [i for i in ids if i not in found]
                    if ids:
                        break
        return found

    def customer_of(self, line: StatementLine) -> int | None:
        if line.counterparty_iban:
            known = self.by_iban.get(line.counterparty_iban)
            if known:
                return next(iter(known)) if len(known) == 1 else None
        key = name_key(line.counterparty_name)
        customers = self.by_name.get(key, []) if key else []
        return customers[0] if len(customers) == 1 else None

    def match(self, line: StatementLine) -> Match:
        result = Match(customer_id=self.customer_of(line))
        amount = line.amount

        def usable(ids: list[int]) -> list[int]:
            return [i for i in ids if i in self.invoices and self.invoices[i].currency == line.currency]

        by_rf = usable(self.referenced(line))
        by_number = [i for i in usable(self.named(line.label + " " + line.reference)) if i not in by_rf]
        named = by_number + by_rf
        if named:
            self._named(result, named, by_number, amount)
        elif result.customer_id is not None:
            self._by_customer(result, result.customer_id, line)
        self._claims(result, line)
        if result.proposals:
            result.rule = result.proposals[0].rule
        return result

    def _named(self, result: Match, named: list[int], by_number: list[int], amount: Decimal) -> None:
        def rule(ids: list[int]) -> str:
            return "invoice_number" if all(i in by_number for i in ids) else "rf_reference"

        remaining = [self.invoices[i].remaining for i in named]
        if sum(remaining) == amount:
            result.proposals.append(Proposal(rule(named), list(named), list(remaining)))
            customers = {self.invoices[i].customer_id for i in named}
            result.exact = len(customers) == 1 and result.customer_id in (None, *customers)
            return
        fits = [i for i in named if self.invoices[i].remaining == amount]
        ordered = fits + [i for i in named if i not in fits]
        for invoice_id in ordered:  # each named invoice: a partial payment or more than is left, for a person
            invoice = self.invoices[invoice_id]
            result.proposals.append(Proposal(rule([invoice_id]), [invoice_id], [min(amount, invoice.remaining)]))

    def _by_customer(self, result: Match, customer_id: int, line: StatementLine) -> None:
        own = [self.invoices[i] for i in self.by_customer.get(customer_id, ()) if
               self.invoices[i].currency == line.currency]
        same = [i for i in own if i.remaining == line.amount]
        for invoice in same:
            result.proposals.append(Proposal("customer_amount", [invoice.id], [invoice.remaining]))
        if same:
            result.exact = len(same) == 1
            return
        if len(own) > SUM_MAX_INVOICES:
            return
        sets, complete = _sums([i for i in own if i.remaining < line.amount], line.amount)
        for chosen in sets:
            result.proposals.append(Proposal("customer_sum", [i.id for i in chosen], [i.remaining for i in chosen]))
        result.exact = complete and len(sets) == 1

    def _claims(self, result: Match, line: StatementLine) -> None:
        proposed = {i for p in result.proposals for i in p.invoices}
        exact = result.proposals[0].invoices if result.exact else []
        exact_customers = {self.invoices[i].customer_id for i in exact}
        for answer_id, invoice_id in self.claims.get(line.amount, ()):
            invoice = self.invoices.get(invoice_id)
            if invoice is None or invoice.currency != line.currency:
                continue
            if invoice_id in proposed:
                continue
            if len(result.proposals) >= 10:
                break
            result.proposals.append(Proposal("paid_claim", [invoice_id], [min(line.amount, invoice.remaining)],
                                             answer_id))
            if invoice.customer_id in exact_customers:
                result.exact = False  # the customer said this amount paid another invoice: a person decides
        if result.proposals and result.proposals[0].rule == "paid_claim":
            result.exact = False


def _sums(invoices: list[OpenInvoice], total: Decimal) -> tuple[list[list[OpenInvoice]], bool]:
    """The sets of two or more invoices whose remaining dues add up exactly to `total`, at most 2 (a second one
    makes the answer ambiguous), and whether the search went through (False: the budget ran out or a second set was
    found, so a single set found is no proof)."""
    items = sorted(invoices, key=lambda i: i.remaining, reverse=True)
    found: list[list[OpenInvoice]] = []
    steps = 0
    suffix = [Decimal(0)] * (len(items) + 1)
    for index in range(len(items) - 1, -1, -1):
        suffix[index] = suffix[index + 1] + items[index].remaining

    def walk(start: int, left: Decimal, chosen: list[OpenInvoice]) -> bool:
        nonlocal steps
        for index in range(start, len(items)):
            steps += 1
            if steps > SUM_BUDGET or len(found) > 1:
                return False
            value = items[index].remaining
            if value > left or suffix[index] < left:
                if suffix[index] < left:
                    return True
                continue
            if value == left:
                if chosen:
                    found.append([*chosen, items[index]])
                continue
            if not walk(index + 1, left - value, [*chosen, items[index]]):
                return False
        return True

    complete = walk(0, total, [])
    return found, complete
