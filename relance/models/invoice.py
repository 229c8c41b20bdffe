"""Invoices (and credit notes) and their payments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, and_
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relance.extensions import Model
from relance.models.base import ZERO, money_column, utcnow
from relance.models.customer import Contact, Customer
from relance.models.user import User

if TYPE_CHECKING:
    from relance.models.answer import Answer
    from relance.models.bank import BankLine

INVOICE_STATUSES = ("draft", "validated", "paid", "cancelled")
INVOICE_KINDS = ("invoice", "credit_note")


class Invoice(Model):
    __tablename__ = "invoices"
    __table_args__ = (
        Index("ix_invoices_status_due_date", "status", "due_date"),
        Index("ix_invoices_customer_id_status", "customer_id", "status"),
        # The invoices list (bench/list.py) and the reminder engine's selection (bench/due.py, bench/firstrun.py):
        # filters and sorts answered from this covering index; the engine reads every column it names from it.
        # `number` right after `due_date`: the engine reads the open invoices in (due date, number) order, unsorted.
        Index("ix_invoices_list", "status", "kind", "due_date", "number", "currency", "total_incl_tax", "amount_paid",
              "customer_id", "issue_date", "reminder_level", "last_reminder_date", "manual_next_date",
              "delivered_level", "auto_from_rank", "no_auto_reminders", "followup_contact_id",
              "billing_contact_id", "followup_user_id", "creator_id"),
        Index("ix_invoices_currency", "currency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    issue_date: Mapped[date]
    due_date: Mapped[date | None]  # none: never reminded
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total_excl_tax: Mapped[Decimal] = money_column()
    total_incl_tax: Mapped[Decimal] = money_column()
    # Sum of the payments, kept by database triggers on payments (relance/models/paid_state.py, which also mark a
    # settled invoice paid) so the reminder engine can select in one query.
    amount_paid: Mapped[Decimal] = money_column()
    status: Mapped[str] = mapped_column(String(16), default="validated")
    kind: Mapped[str] = mapped_column(String(16), default="invoice")
    billing_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    followup_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    followup_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    no_auto_reminders: Mapped[bool] = mapped_column(default=False)
    # A credit note: the invoice it credits (same customer). Its amount counts there as a payment on its date, kept as
    # a Payment row by services/credit_notes.py. None: not allocated (an invoice, or a credit note crediting none).
    credits_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="SET NULL"),
                                                           index=True)
    # Highest level and latest date of its done reminders, the next date a person set on the latest, and the
    # highest level delivered: kept by
    # database triggers (relance/models/reminder_state.py), read by the reminder engine.
    reminder_level: Mapped[int | None]
    last_reminder_date: Mapped[date | None]
    manual_next_date: Mapped[date | None]
    delivered_level: Mapped[int | None]  # highest level delivered (an email sent, a letter posted)
    # Brought into the automatic schedule from this level by a person (go-live: an invoice already overdue on the
    # go-live date is not chased automatically until then; services/golive.py). None: the normal schedule.
    auto_from_rank: Mapped[int | None]
    pdf_path: Mapped[str | None] = mapped_column(String(255))  # relative to FILES_PATH
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="invoices")
    payments: Mapped[list[Payment]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="Payment.date",
        foreign_keys="Payment.invoice_id",
    )
    credits_invoice: Mapped[Invoice | None] = relationship(remote_side=[id], foreign_keys=[credits_invoice_id],
                                                           back_populates="credit_notes")
    # the credit notes allocated to this invoice (deleting it leaves them unallocated, SQLite without foreign keys too)
    credit_notes: Mapped[list[Invoice]] = relationship(back_populates="credits_invoice",
                                                       foreign_keys=[credits_invoice_id])
    # a credit note's payment row on the invoice it credits: deleted with the credit note
    credit_payment: Mapped[Payment | None] = relationship(back_populates="credit_note", cascade="all",
                                                          foreign_keys="Payment.credit_note_id")
    billing_contact: Mapped[Contact | None] = relationship(foreign_keys=[billing_contact_id])
    followup_contact: Mapped[Contact | None] = relationship(foreign_keys=[followup_contact_id])
    creator: Mapped[User | None] = relationship(foreign_keys=[creator_id])
    followup_user: Mapped[User | None] = relationship(foreign_keys=[followup_user_id])
    # what the customer answered from their page (relance/models/answer.py); open ones hold the reminders
    answers: Mapped[list[Answer]] = relationship(back_populates="invoice", cascade="all, delete-orphan",
                                                 order_by="Answer.id", passive_deletes=True)

    @hybrid_property
    def remaining_due(self) -> Decimal:
        return (self.total_incl_tax or ZERO) - (self.amount_paid or ZERO)

    @remaining_due.inplace.expression
    @classmethod
    def _remaining_due_expression(cls):
        return cls.total_incl_tax - cls.amount_paid

    @hybrid_property
    def is_open(self) -> bool:
        """Counts as due: a validated invoice (never a credit note, draft or cancelled) with something left."""
        return self.status == "validated" and self.kind == "invoice" and self.remaining_due > 0

    @is_open.inplace.expression
    @classmethod
    def _is_open_expression(cls):
        return and_(cls.status == "validated", cls.kind == "invoice", cls.total_incl_tax > cls.amount_paid)

    @property
    def credited_amount(self) -> Decimal:
        """What the credit notes allocated to this invoice take off it (part of `amount_paid`)."""
        return sum((p.amount for p in self.payments if p.credit_note_id is not None), ZERO)

    @property
    def credited(self) -> bool:
        """Closed with the help of a credit note (paid, a credit note allocated to it): shown "credited"."""
        return self.status == "paid" and self.credited_amount > ZERO

    def days_late(self, on: date) -> int:
        return max(0, (on - self.due_date).days) if self.due_date else 0

    def __repr__(self) -> str:
        return f"<Invoice {self.number}>"


class Payment(Model):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    date: Mapped[date]
    amount: Mapped[Decimal] = money_column()
    reference: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the bank statement line this payment came from (services/data_in/statements.py); None: typed or imported
    bank_line_id: Mapped[int | None] = mapped_column(ForeignKey("bank_lines.id", ondelete="SET NULL"), index=True)
    # the credit note this row stands for (services/credit_notes.py keeps it: dated the credit note's issue date, its
    # total, its number as reference); None: a payment
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), unique=True)

    invoice: Mapped[Invoice] = relationship(back_populates="payments", foreign_keys=[invoice_id])
    credit_note: Mapped[Invoice | None] = relationship(back_populates="credit_payment", foreign_keys=[credit_note_id])
    bank_line: Mapped[BankLine | None] = relationship(back_populates="payments")
