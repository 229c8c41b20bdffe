"""The mass reminder page's selection, kept per user on the server so it survives pages and filters."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from relance.extensions import Model


class MassSelection(Model):
    """One invoice of a user's mass selection: the chosen level and the channels ticked (none = not selected)."""

    __tablename__ = "mass_selections"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[int]  # the level's rank
    letter: Mapped[bool] = mapped_column(default=False)
    email: Mapped[bool] = mapped_column(default=False)
    # "send anyway" a level the rules refuse, with the reason typed by the agent
    override: Mapped[bool] = mapped_column(default=False)
    override_reason: Mapped[str] = mapped_column(Text, default="")

    @property
    def selected(self) -> bool:
        return self.letter or self.email
