"""Customers (tiers), their contacts and sales representatives."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relance.extensions import Model, db
from relance.models.base import utcnow
from relance.models.user import User

if TYPE_CHECKING:  # invoice.py imports this module
    from relance.models.invoice import Invoice
    from relance.models.reminder import Policy

CUSTOMER_KINDS = ("business", "consumer")
CONTACT_ROLES = ("billing", "followup")  # "contact client facturation" / "responsable suivi facture"

customer_sales_reps = Table(
    "customer_sales_reps",
    db.metadata,
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class Customer(Model):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str] = mapped_column(String(500), default="")
    phone: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    country: Mapped[str] = mapped_column(String(2), default="FR")
    language: Mapped[str] = mapped_column(String(8), default="fr")
    kind: Mapped[str] = mapped_column(String(16), default="business")
    # French company number (SIREN, 9 digits) and intra-EU VAT number: how an e-invoice (Factur-X) names its buyer
    siren: Mapped[str] = mapped_column(String(9), default="", index=True)
    vat_number: Mapped[str] = mapped_column(String(20), default="", index=True)
    no_auto_reminders: Mapped[bool] = mapped_column(default=False)
    paused_until: Mapped[date | None]
    pause_reason: Mapped[str] = mapped_column(Text, default="")
    direct_debit: Mapped[bool] = mapped_column(default=False)
    # one message for all the customer's invoices reminded the same day: None follows the company's setting
    # (`group_by_customer`), True / False overrides it for this customer
    group_reminders: Mapped[bool | None]
    # the reminder policy (set of levels) the customer follows; None: the default policy
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("policies.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    contacts: Mapped[list[Contact]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="Contact.id"
    )
    sales_reps: Mapped[list[User]] = relationship(secondary=customer_sales_reps)
    invoices: Mapped[list[Invoice]] = relationship(back_populates="customer")
    policy: Mapped[Policy | None] = relationship()

    def contact(self, role: str) -> Contact | None:
        return next((c for c in self.contacts if c.role == role), None)

    def __repr__(self) -> str:
        return f"<Customer {self.code}>"


class Contact(Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    first_name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(16), default="billing")

    customer: Mapped[Customer] = relationship(back_populates="contacts")

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.name) if p)
