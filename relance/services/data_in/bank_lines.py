"""Bank statement lines in: a statement imported (read, kept once, matched, the exact matches recorded when the
company allows it), and what a person does with a line afterwards (record it on invoices, ignore it).

`import_statement(session, data, ..., settings=...)` reads the whole file first (`statements.read_statement`: a bad
file raises `StatementError` and nothing is written), leaves out the lines already kept (same `key`), matches the
others against the open invoices (`matching.Book`) and writes the new lines in bulk; with the setting
`statement_auto_record` on, each exact match becomes its payment(s) at once (`Payment.bank_line_id`; the payment
triggers settle the invoices), so the next automatic run no longer chases them. The caller commits (CLI, a route,
the API), so a failure leaves nothing.

`record_line(session, line, allocations, user, now)` and `ignore_line(...)` are the person's actions (review page,
API): checked like any payment (`payments.record_payment`), audited. Deleting a line's payment frees the line
(`payments.delete_payment`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from relance.models import BankLine, Invoice, Payment, User
from relance.services import answers, audit, payments
from relance.services.data_in.matching import Book, Match, Proposal
from relance.services.data_in.statements import Statement, StatementLine, keyed, read_statement
from relance.services.errors import RelanceError

CHUNK = 500


class BankLineError(RelanceError):
    pass


@dataclass
class LineOutcome:
    line: StatementLine
    key: str
    match: Match
    status: str  # new / matched / recorded
    id: int | None = None


@dataclass
class StatementImport:
    statement: Statement
    filename: str = ""
    already: int = 0  # lines kept by an earlier import
    outcomes: list[LineOutcome] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.statement.lines)

    @property
    def imported(self) -> int:
        return len(self.outcomes)

    @property
    def skipped(self) -> int:
        """Left aside: already imported, debits, pending entries and reversals."""
        return self.already + self.statement.debits + self.statement.other

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def automatic(self) -> int:
        return self.count("recorded")

    @property
    def proposed(self) -> int:
        return self.count("matched")

    @property
    def left(self) -> int:
        return self.count("new")


def _payment_reference(line: StatementLine) -> str:
    return (line.reference or line.entry_ref or " ".join(line.label.split()))[:120]


def import_statement(session: Session, data: bytes, *, now: datetime, settings, fmt: str | None = None,
                     columns: dict[str, str] | None = None, filename: str = "",
                     auto_record: bool | None = None) -> StatementImport:
    """Read, keep once, match and (setting on) record a statement file. Raises StatementError on a bad file
    before anything is written. `auto_record`: None follows the setting `statement_auto_record`. The caller
    commits."""
    statement = read_statement(data, fmt, columns, filename)
    result = StatementImport(statement, filename=filename[:255])
    lines = keyed(statement.lines)
    known: set[str] = set()
    keys = [key for key, _line in lines]
    for start in range(0, len(keys), CHUNK):
        known.update(session.scalars(select(BankLine.key).where(BankLine.key.in_(keys[start:start + CHUNK]))))
    fresh = [(key, line) for key, line in lines if key not in known]
    result.already = len(lines) - len(fresh)
    if not fresh:
        return result
    record = settings.statement_auto_record if auto_record is None else auto_record
    session.flush()
    book = Book.load(session)
    for key, line in fresh:
        match = book.match(line)
        status = "matched" if match.proposals else "new"
        if record and match.exact:
            for invoice_id, amount in zip(match.proposals[0].invoices, match.proposals[0].amounts, strict=True):
                book.consume(invoice_id, amount)
            status = "recorded"
        result.outcomes.append(LineOutcome(line, key, match, status))
    if record:
        _still_open(session, result.outcomes)
    _write(session, result, now)
    return result


def _still_open(session: Session, outcomes: list[LineOutcome]) -> None:
    """Lock the invoices about to be paid (PostgreSQL: against a payment recorded meanwhile) and check that what is
    left on each is still at least what the import records; a line whose invoice changed goes back to proposed."""
    wanted: dict[int, Decimal] = {}
    for outcome in outcomes:
        if outcome.status == "recorded":
            for invoice_id, amount in zip(outcome.match.proposals[0].invoices, outcome.match.proposals[0].amounts,
                                          strict=True):
                wanted[invoice_id] = wanted.get(invoice_id, Decimal(0)) + amount
    ids = sorted(wanted)
    left: dict[int, Decimal] = {}
    for start in range(0, len(ids), CHUNK):
        query = (select(Invoice.id, Invoice.total_incl_tax - Invoice.amount_paid)
                 .where(Invoice.id.in_(ids[start:start + CHUNK]), Invoice.status == "validated",
                        Invoice.kind == "invoice").order_by(Invoice.id).with_for_update())
        left.update((i, Decimal(r)) for i, r in session.execute(query))
    for outcome in outcomes:
        if outcome.status == "recorded" and any(
                left.get(i, Decimal(0)) < wanted[i] for i in outcome.match.proposals[0].invoices):
            outcome.status = "matched"


def _write(session: Session, result: StatementImport, now: datetime) -> None:
    rows = [{
        "key": o.key, "entry_ref": o.line.entry_ref, "account": o.line.account, "booking_date": o.line.booking_date,
        "value_date": o.line.value_date, "amount": o.line.amount, "currency": o.line.currency,
        "label": o.line.label, "reference": o.line.reference, "counterparty_name": o.line.counterparty_name,
        "counterparty_iban": o.line.counterparty_iban, "source_file": result.filename, "imported_at": now,
        "status": o.status, "rule": o.match.rule, "candidates": [p.as_json() for p in o.match.proposals],
        "automatic": o.status == "recorded",
    } for o in result.outcomes]
    for start in range(0, len(rows), CHUNK):
        ids = session.scalars(insert(BankLine).returning(BankLine.id, sort_by_parameter_order=True),
                              rows[start:start + CHUNK]).all()
        for outcome, line_id in zip(result.outcomes[start:start + CHUNK], ids, strict=True):
            outcome.id = line_id
    paid = [{"invoice_id": invoice_id, "date": o.line.booking_date, "amount": amount,
             "reference": _payment_reference(o.line), "bank_line_id": o.id, "created_at": now}
            for o in result.outcomes if o.status == "recorded"
            for invoice_id, amount in zip(o.match.proposals[0].invoices, o.match.proposals[0].amounts, strict=True)]
    for start in range(0, len(paid), CHUNK):
        session.execute(insert(Payment), paid[start:start + CHUNK])
    if paid:
        session.expire_all()  # the triggers changed the invoices' amount paid and status
        answers.paid_by_bank(session, _by_invoice((p["invoice_id"], p["amount"]) for p in paid), None, now)


def _by_invoice(pairs) -> dict[int, Decimal]:
    """(invoice id, amount) pairs -> each invoice's total."""
    total: dict[int, Decimal] = {}
    for invoice_id, amount in pairs:
        total[invoice_id] = total.get(invoice_id, Decimal(0)) + amount
    return total


# --- a person's actions ---------------------------------------------------------------------------------------------

def proposals(line: BankLine) -> list[Proposal]:
    return [Proposal(p["rule"], list(p["invoices"]), [Decimal(a) for a in p["amounts"]], p.get("answer"))
            for p in line.candidates or []]


def record_line(session: Session, line: BankLine, allocations: list[tuple[Invoice, Decimal]], user: User | None,
                now: datetime) -> list[Payment]:
    """Record the line as payments on these invoices (one or several: a split); the amounts add up to the line's at
    most. Each payment is checked as one typed by hand. The caller commits."""
    if line.status == "recorded":
        raise BankLineError(_l("This bank line is already recorded."))
    if not allocations:
        raise BankLineError(_l("Choose at least one invoice."), field="invoice")
    total = sum((Decimal(amount) for _invoice, amount in allocations), Decimal(0))
    if total > line.amount:
        raise BankLineError(_l("The amounts add up to more than the bank line."), field="amount")
    made = []
    for invoice, amount in allocations:
        if invoice.currency != line.currency:
            raise BankLineError(_l("Invoice %(number)s is in %(currency)s, the bank line in %(line)s.",
                                   number=invoice.number, currency=invoice.currency, line=line.currency),
                                field="invoice")
        made.append(payments.record_payment(session, invoice, amount, line.booking_date,
                                            (line.reference or line.entry_ref or " ".join(line.label.split()))[:120],
                                            bank_line=line))
    answers.paid_by_bank(session, _by_invoice((invoice.id, Decimal(amount)) for invoice, amount in allocations),
                         user, now)  # the customer's "I have paid" answered
    line.status = "recorded"
    line.automatic = False
    audit.record(session, user, "record", "bank_line", line.id,
                 after={"invoices": [i.number for i, _a in allocations], "amounts": [str(a) for _i, a in allocations]})
    return made


def ignore_line(session: Session, line: BankLine, user: User | None) -> None:
    """Not a customer's payment (a refund, a transfer between accounts): kept, out of the review list."""
    if line.status == "recorded":
        raise BankLineError(_l("This bank line is recorded: delete its payment first."))
    line.status = "ignored"
    audit.record(session, user, "ignore", "bank_line", line.id)


# --- the review page's reads and actions -----------------------------------------------------------------------------

REVIEW_STATUSES = ("matched", "new", "recorded", "ignored", "all")
MAX_SPLIT = 5  # invoices one line may be split across from the review page


def review_query(status: str):
    """The bank lines of the review page: one status (or all), the newest booking first."""
    query = select(BankLine).order_by(BankLine.booking_date.desc(), BankLine.id.desc())
    return query if status == "all" else query.where(BankLine.status == status)


def candidate_invoices(session: Session, lines: list[BankLine]) -> dict[int, Invoice]:
    """The invoices the lines propose, with their customers, in one query."""
    from sqlalchemy.orm import joinedload

    ids = {i for line in lines for p in line.candidates or [] for i in p["invoices"]}
    if not ids:
        return {}
    return {i.id: i for i in session.scalars(select(Invoice).options(joinedload(Invoice.customer))
                                                 .where(Invoice.id.in_(ids)))}


def accept(session: Session, line: BankLine, index: int, user: User | None, now: datetime) -> list[Payment]:
    """Record the line as its proposal number `index` says (each invoice its proposed amount). The caller commits."""
    found = proposals(line)
    if not 0 <= index < len(found):
        raise BankLineError(_l("This proposal no longer exists."), field="proposal")
    proposal = found[index]
    invoices = {i.id: i for i in session.scalars(select(Invoice).where(Invoice.id.in_(proposal.invoices)))}
    if len(invoices) != len(set(proposal.invoices)):
        raise BankLineError(_l("An invoice of this proposal was deleted."), field="proposal")
    return record_line(session, line, [(invoices[i], a) for i, a in zip(proposal.invoices, proposal.amounts,
                                                                          strict=True)], user, now)


def record_numbers(session: Session, line: BankLine, pairs: list[tuple[str, str]], user: User | None,
                   now: datetime) -> list[Payment]:
    """Record the line on the invoices a person names (number, amount; an empty amount: what is left of the line,
    at most the invoice's remaining due): another invoice than proposed, or a split. The caller commits."""
    wanted = [(n.strip(), a.strip()) for n, a in pairs if n.strip() or a.strip()]
    if not wanted:
        raise BankLineError(_l("Choose at least one invoice."), field="invoice")
    if len(wanted) > MAX_SPLIT:
        raise BankLineError(_l("At most %(count)s invoices per bank line.", count=MAX_SPLIT), field="invoice")
    allocations: list[tuple[Invoice, Decimal]] = []
    left = line.amount
    for number, raw in wanted:
        invoice = session.scalar(select(Invoice).where(Invoice.number == number)) if number else None
        if invoice is None:
            raise BankLineError(_l('No invoice numbered "%(number)s".', number=number[:64]), field="invoice")
        amount = payments.parse_amount(raw) if raw else min(left, invoice.remaining_due)
        allocations.append((invoice, amount))
        left -= amount
    return record_line(session, line, allocations, user, now)


def restore(session: Session, line: BankLine, user: User | None) -> None:
    """An ignored line back to the review list."""
    if line.status != "ignored":
        raise BankLineError(_l("Only an ignored line can be brought back."))
    line.status = "matched" if line.candidates else "new"
    audit.record(session, user, "restore", "bank_line", line.id)
