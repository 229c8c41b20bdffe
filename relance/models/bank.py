"""Bank statement lines (credits read from a camt.053/054, OFX or CSV statement) and what became of them.

A line is kept once: `key` is unique, made from the bank's own entry reference (camt `AcctSvcrRef`, OFX `FITID`)
when the bank gives one, else from a hash of the account, date, amount, label and the line's rank among the
identical lines of its file (services/data_in/statements.py), so importing the same file twice adds nothing.
Debits are not kept. A line is `new` (nothing found), `matched` (candidates proposed, waiting for a person),
`recorded` (it became payments: `Payment.bank_line_id`) or `ignored`. Deleting its last payment frees it again
(services/payments.py).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relance.extensions import Model
from relance.models.base import money_column, utcnow

if TYPE_CHECKING:
    from relance.models.invoice import Payment

BANK_LINE_STATUSES = ("new", "matched", "recorded", "ignored")
# how a candidate was found (services/data_in/matching.py explains each)
MATCH_RULES = ("invoice_number", "rf_reference", "customer_amount", "customer_sum", "paid_claim")


class BankLine(Model):
    __tablename__ = "bank_lines"
    __table_args__ = (Index("ix_bank_lines_status_booking_date", "status", "booking_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the entry reference, or of the line
    entry_ref: Mapped[str] = mapped_column(String(120), default="")  # AcctSvcrRef / FITID as the bank wrote it
    account: Mapped[str] = mapped_column(String(64), default="")  # the statement's account (IBAN or number)
    booking_date: Mapped[date]
    value_date: Mapped[date | None]
    amount: Mapped[Decimal] = money_column()  # a credit: always > 0
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    label: Mapped[str] = mapped_column(Text, default="")  # remittance information / label as written
    reference: Mapped[str] = mapped_column(String(64), default="")  # structured reference (RF creditor ref...)
    counterparty_name: Mapped[str] = mapped_column(String(200), default="")
    counterparty_iban: Mapped[str] = mapped_column(String(34), default="", index=True)
    source_file: Mapped[str] = mapped_column(String(255), default="")
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="new")  # BANK_LINE_STATUSES
    # the best rule that found candidates ("" = none) and the proposals:
    # [{"rule": MATCH_RULES, "invoices": [id, ...], "amounts": ["12.00", ...], "answer": id | None}, ...]
    rule: Mapped[str] = mapped_column(String(32), default="")
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    automatic: Mapped[bool] = mapped_column(default=False)  # recorded by the import itself (setting on)

    payments: Mapped[list[Payment]] = relationship(back_populates="bank_line", order_by="Payment.id",
                                                   passive_deletes=True)

    def __repr__(self) -> str:
        return f"<BankLine {self.booking_date} {self.amount} {self.status}>"
