"""What a new company starts with: the four default levels and the French statutory rates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from relance.models import ReminderLevel, StatutoryRate
from relance.services.texts.wording import install_default_texts

# No level is automatic until the go-live step chooses them (services/golive.py): a new company sends nothing
# automatically before it went live. The levels 0-2 are the ones the go-live step suggests.
SUGGESTED_AUTOMATIC = (0, 1, 2)
DEFAULT_LEVELS = [
    # rank, names, delay, automatic, channels, penalty kind, penalty value, formal notice
    (0, {"fr": "Rappel avant échéance", "en": "Reminder before due date", "de": "Erinnerung vor Fälligkeit",
         "es": "Recordatorio de vencimiento", "it": "Promemoria di scadenza", "nl": "Herinnering vóór vervaldatum"},
     "-5 days", False, "email", "none", "0.00", False),
    (1, {"fr": "Première relance", "en": "First reminder", "de": "Zahlungserinnerung", "es": "Primer recordatorio",
         "it": "Primo sollecito", "nl": "Eerste herinnering"},
     "+15 days", False, "email", "none", "0.00", False),
    (2, {"fr": "Deuxième relance", "en": "Second reminder", "de": "Mahnung", "es": "Segundo aviso",
         "it": "Secondo sollecito", "nl": "Tweede herinnering"},
     "+30 days", False, "both", "none", "0.00", False),
    (3, {"fr": "Mise en demeure", "en": "Formal notice", "de": "Letzte Mahnung", "es": "Requerimiento formal de pago",
         "it": "Diffida e messa in mora", "nl": "Ingebrekestelling"},
     "+45 days", False, "letter", "none", "0.00", True),
]

# ECB main refinancing rate on 1 Jan / 1 Jul + 10 points (Code de commerce L441-10).
FRENCH_B2B_RATES = [
    (date(2024, 1, 1), "14.50"),
    (date(2024, 7, 1), "14.25"),
    (date(2025, 1, 1), "13.15"),
    (date(2025, 7, 1), "12.15"),
    (date(2026, 1, 1), "12.15"),
]
# Taux légal, "autres cas" (used for consumers from the formal notice when the company opts in).
FRENCH_CONSUMER_RATES = [(date(2026, 1, 1), "2.62")]


def install_defaults(session: Session) -> None:
    """Create the default levels and rates where none exist (idempotent)."""
    if session.scalar(select(ReminderLevel.id).limit(1)) is None:
        for rank, names, delay, automatic, channels, kind, value, notice in DEFAULT_LEVELS:
            session.add(ReminderLevel(
                rank=rank, names=names, delay=delay, basis="due_date", automatic=automatic,
                channels=channels, penalty_kind=kind, penalty_value=Decimal(value), formal_notice=notice,
            ))
    if session.scalar(select(StatutoryRate.id).limit(1)) is None:
        for valid_from, rate in FRENCH_B2B_RATES:
            session.add(StatutoryRate(country="FR", kind="b2b", valid_from=valid_from, rate=Decimal(rate),
                                      note="BCE + 10 points"))
        for valid_from, rate in FRENCH_CONSUMER_RATES:
            session.add(StatutoryRate(country="FR", kind="consumer", valid_from=valid_from, rate=Decimal(rate),
                                      note="Taux légal (autres cas)"))
    session.flush()
    install_default_texts(session)
