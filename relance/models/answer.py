"""What customers answer from their page: "I have paid", "I will pay on", "I dispute this invoice".

An open answer holds the invoice's reminders (the engine's exclusions `paid_claimed`, `promised`, `disputed`:
`relance/services/engine/schedule.py`): a paid claim and a promise through `hold_until`, a dispute until an agent
resolves it. An agent closes an answer: a paid claim accepted (the payment recorded) or rejected, a promise kept or
broken, a dispute resolved (a credit note named) or rejected with a reason.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relance.extensions import Model
from relance.models.base import MONEY, utcnow
from relance.models.customer import Customer
from relance.models.invoice import Invoice
from relance.models.user import User, hash_token

ANSWER_KINDS = ("paid", "promise", "dispute")
ANSWER_STATUSES = ("open", "accepted", "rejected", "kept", "broken", "resolved", "replaced")
DISPUTE_REASONS = ("not_received", "wrong_amount", "already_paid", "goods_or_service", "other")


class Answer(Model):
    __tablename__ = "answers"
    __table_args__ = (
        Index("ix_answers_invoice_id_status", "invoice_id", "status"),
        Index("ix_answers_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # ANSWER_KINDS
    status: Mapped[str] = mapped_column(String(16), default="open")  # ANSWER_STATUSES
    # paid claim, promise: the reminders wait through this day (fixed when the answer is given); dispute: None
    hold_until: Mapped[date | None]
    paid_on: Mapped[date | None]  # paid claim: the date the customer gives
    amount: Mapped[Decimal | None] = mapped_column(MONEY)  # paid claim: the amount the customer gives
    reference: Mapped[str] = mapped_column(String(120), default="")  # paid claim: the transfer's reference
    promise_date: Mapped[date | None]  # promise: the day the customer will pay
    reason: Mapped[str] = mapped_column(String(32), default="")  # dispute: DISPUTE_REASONS
    message: Mapped[str] = mapped_column(Text, default="")
    file_path: Mapped[str | None] = mapped_column(String(255))  # a file the customer joined (under FILES_PATH)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    handled_at: Mapped[datetime | None]
    resolution: Mapped[str] = mapped_column(Text, default="")  # the agent's words (sent to the customer if rejected)
    credit_note: Mapped[str] = mapped_column(String(64), default="")  # a resolved dispute: the credit note's number
    # the email about it (to the agent when given, to the customer when a dispute is rejected): sent, or why not
    notified_at: Mapped[datetime | None]
    notify_error: Mapped[str] = mapped_column(Text, default="")

    invoice: Mapped[Invoice] = relationship(back_populates="answers")
    customer: Mapped[Customer] = relationship()
    handled_by: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<Answer {self.kind} {self.status} invoice={self.invoice_id}>"


class CustomerLink(Model):
    """The link to a customer's page, printed in their reminders: a random token (256 bits) of which only the
    SHA-256 is kept, valid until `expires_at` unless revoked. A reminder run gives each customer it reminds a new
    one; revoking ends every link of the customer."""

    __tablename__ = "customer_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship()

    @classmethod
    def issue(cls, customer_id: int, now: datetime, days: int) -> tuple[CustomerLink, str]:
        """A new link; the clear token is returned once (it goes into the reminder), only its hash is stored."""
        clear = secrets.token_urlsafe(32)
        return cls(customer_id=customer_id, token_hash=hash_token(clear), created_at=now,
                   expires_at=now + timedelta(days=days)), clear
