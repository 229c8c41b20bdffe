"""What the running parts last said about themselves (the worker's heartbeat, the mail server's last answer,
the mail circuit): one row per part, read by /healthz and the dashboard."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from relance.extensions import Model
from relance.models.base import utcnow


class ServiceState(Model):
    """`name`: "worker", "smtp", ... `ok`: the last news was good; `until`: a time that matters to that part
    (the mail circuit stays open until then); `data`: anything else it wants to show."""

    __tablename__ = "service_states"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    ok: Mapped[bool] = mapped_column(default=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    until: Mapped[datetime | None]
    data: Mapped[dict] = mapped_column(JSON, default=dict)
