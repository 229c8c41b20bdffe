"""All models, importable from relance.models."""

from relance.models import paid_state, reminder_state  # noqa: F401 (their triggers are created with the tables)
from relance.models.answer import ANSWER_KINDS, ANSWER_STATUSES, DISPUTE_REASONS, Answer, CustomerLink
from relance.models.bank import BANK_LINE_STATUSES, MATCH_RULES, BankLine
from relance.models.customer import CONTACT_ROLES, CUSTOMER_KINDS, Contact, Customer, customer_sales_reps
from relance.models.health import ServiceState
from relance.models.invoice import INVOICE_KINDS, INVOICE_STATUSES, Invoice, Payment
from relance.models.mass import MassSelection
from relance.models.reminder import (
    CALL_OUTCOMES,
    CHANNELS,
    DELAY_BASES,
    LEVEL_CHANNELS,
    PENALTY_KINDS,
    REMINDER_STATUSES,
    FormToken,
    Policy,
    Reminder,
    ReminderLevel,
    Run,
    Template,
    TemplateVersion,
)
from relance.models.settings import RATE_KINDS, Setting, StatutoryRate
from relance.models.user import ROLES, ApiToken, AuditLog, User, role_rank

__all__ = [
    "ANSWER_KINDS", "ANSWER_STATUSES", "BANK_LINE_STATUSES", "CALL_OUTCOMES", "CHANNELS", "CONTACT_ROLES",
    "CUSTOMER_KINDS", "DELAY_BASES", "DISPUTE_REASONS", "INVOICE_KINDS", "INVOICE_STATUSES", "LEVEL_CHANNELS",
    "MATCH_RULES", "PENALTY_KINDS", "RATE_KINDS", "REMINDER_STATUSES", "ROLES", "Answer", "ApiToken", "AuditLog",
    "BankLine", "Contact", "Customer", "CustomerLink", "FormToken", "Invoice", "MassSelection", "Payment", "Policy",
    "Reminder", "ReminderLevel", "Run", "ServiceState", "Setting", "StatutoryRate", "Template", "TemplateVersion",
    "User", "customer_sales_reps", "role_rank",
]
