"""Who receives a reminder email, who gets a copy and who sends it.

To: the invoice's "invoice follow-up" contact, else its "billing" contact, else the customer's email.
Copy (setting `copy_to_sales`): the invoice's reminder follow-up user, else the customer's sales
representatives, else the invoice's creator. Sender: the default sender setting, else the user who makes the
reminder, else the company email. A missing or invalid address is a reason, never an exception.

Addresses are checked once more when they are entered (web forms, API, CSV import), by one function:
`entered_addresses`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import email_validator
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, EMAIL_MAX_LENGTH, LOCAL_PART_MAX_LENGTH
from flask_babel import lazy_gettext as _l

from relance.models import Invoice, User


@dataclass(frozen=True)
class Recipients:
    to: tuple[str, ...]
    cc: tuple[str, ...]
    sender: str
    reasons: tuple[str, ...] = ()


@lru_cache(maxsize=65536)
def clean_address(raw: str) -> str | None:
    """The normalised address, or None when it is not a valid email address."""
    return _clean(raw)


def _clean(raw: str) -> str | None:
    """`clean_address` without its cache (`split_addresses`, cached itself, asks this: one cache look-up, not two,
    for each address the selection checks)."""
    try:
        address = raw.strip()
    except AttributeError:
        return None
    if plain_address(address):
        return address
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+[a-z]{{2,63}}\Z")


def plain_address(address: str) -> bool:
    """True for an address email-validator accepts as it is (its normalised form is the address itself): a plain
    ASCII dot-atom before the @, lowercase letters, digits and inner hyphens in the domain's labels (no "--", so no
    Punycode), a letters-only top-level domain, not a special-use domain, not a mailbox name it lowercases
    ("Postmaster"), 254 characters at most. Most addresses are; the others go through email-validator itself
    (`tests/test_recipients_fast.py` checks the two agree). It answers in about a microsecond where
    email-validator takes some 30: the selection checks every customer's address."""
    if len(address) > EMAIL_MAX_LENGTH or not _PLAIN.match(address):
        return False
    local, domain = address.rsplit("@", 1)
    if len(local) > LOCAL_PART_MAX_LENGTH or "--" in domain or local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        return False
    names = email_validator.SPECIAL_USE_DOMAIN_NAMES  # a list the application may change: read at each call
    return domain not in names and not domain.endswith(_dotted(tuple(names)))


@lru_cache(maxsize=8)
def _dotted(names: tuple[str, ...]) -> tuple[str, ...]:
    """The names with a dot before each: one `str.endswith` finds a subdomain of any of them."""
    return tuple("." + name for name in names)


SEPARATORS = re.compile(r"[,;]")


@lru_cache(maxsize=65536)
def split_addresses(raw: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(valid, invalid) addresses of a field that may hold several separated by commas or semicolons."""
    if raw and "," not in raw and ";" not in raw:  # one address (most fields): the same answer, without the split
        stripped = raw.strip()
        if not stripped:
            return (), ()
        address = _clean(raw)
        return ((address,), ()) if address else ((), (stripped,))
    valid: list[str] = []
    invalid: list[str] = []
    for part in SEPARATORS.split(raw or ""):
        if part.strip():
            address = _clean(part)
            (valid if address else invalid).append(address or part.strip())
    return tuple(valid), tuple(invalid)


class InvalidAddress(ValueError):
    """An entered address that is not a valid email address; `message` (translatable) names it."""

    def __init__(self, address: str):
        super().__init__(address)
        self.address = address
        shown = address if len(address) <= 80 else address[:79] + "…"
        self.message = _l('"%(value)s" is not a valid email address.', value=shown)


def entered_addresses(raw: str | None, several: bool = True) -> str:
    """An address field as entered in a form, the API or a CSV file, checked with email-validator (no DNS look-up):
    each address trimmed and otherwise kept as typed (case, accents: `Jürgen@hôtelduparc.example` is valid), several
    ones (`several=True`: separated by commas or semicolons, like `split_addresses` reads them) joined by ", ".
    "" for an empty field. Raises `InvalidAddress` naming the first bad address; `several=False` (a login, the
    sender): the whole value must be one address."""
    text = (raw or "").strip()
    parts = [part.strip() for part in SEPARATORS.split(text)] if several else [text]
    parts = [part for part in parts if part]
    for part in parts:
        if clean_address(part) is None:
            raise InvalidAddress(part)
    return ", ".join(parts)


LABELS = {
    "followup_contact": _l("invoice follow-up contact"), "billing_contact": _l("billing contact"),
    "customer": _l("customer email"), "followup_user": _l("reminder follow-up user"),
    "sales_reps": _l("sales representatives"), "creator": _l("invoice creator"),
    "default_sender": _l("default sender setting"), "user": _l("user making the reminder"),
    "company": _l("company email"),
}


def _first_valid(sources: Iterable[tuple[str, str | None]], reasons: list[str]) -> tuple[str, ...]:
    for label, raw in sources:
        if not raw:
            continue
        valid, invalid = split_addresses(raw)
        for address in invalid:
            reasons.append(str(_l("Invalid email address %(address)r (%(source)s) ignored.",
                                  address=address, source=str(LABELS[label]))))
        if valid:
            return tuple(dict.fromkeys(valid))
    return ()


def choose(*, followup_contact: str | None, billing_contact: str | None, customer: str | None,
           followup_user: str | None, sales_reps: Iterable[str], creator: str | None, copy_to_sales: bool,
           default_sender: str | None, user: str | None = None, company: str | None = None) -> Recipients:
    """The rules above, on plain addresses (used by the set-based schedule and by `for_invoice`)."""
    to, reasons = addressees(followup_contact, billing_contact, customer)
    cc: tuple[str, ...] = ()
    if copy_to_sales:
        cc, cc_reasons = copies(followup_user, sales_reps, creator, to)
        reasons += cc_reasons
    address, sender_reasons = sender(default_sender, user, company)
    return Recipients(to, cc, address, reasons + sender_reasons)


def addressees(followup_contact: str | None, billing_contact: str | None,
               customer: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(to, reasons) of `choose`: the first of the sources with a valid address."""
    reasons: list[str] = []
    to = _first_valid((("followup_contact", followup_contact), ("billing_contact", billing_contact),
                       ("customer", customer)), reasons)
    if not to:
        reasons.append(str(_l("No valid email address for this customer: the reminder cannot go by email.")))
    return to, tuple(reasons)


def copies(followup_user: str | None, sales_reps: Iterable[str], creator: str | None,
           to: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(cc, reasons) of `choose` with the copy to sales on, without the addresses already in `to`."""
    reasons: list[str] = []
    cc = _first_valid((("followup_user", followup_user), ("sales_reps", ",".join(sales_reps)),
                       ("creator", creator)), reasons)
    return tuple(a for a in cc if a not in to), tuple(reasons)


def sender(default_sender: str | None, user: str | None, company: str | None) -> tuple[str, tuple[str, ...]]:
    """(sender, reasons) of `choose` (the same for every reminder of one user: the selection asks once a run)."""
    reasons: list[str] = []
    found = _first_valid((("default_sender", default_sender), ("user", user), ("company", company)), reasons)
    if not found:
        reasons.append(str(_l("No sender address: set the default sender in the settings.")))
    return (found[0] if found else ""), tuple(reasons)


def for_invoice(invoice: Invoice, settings, user: User | None = None) -> Recipients:
    """`choose` for an Invoice row (loads its contacts and users through the relationships)."""
    customer = invoice.customer
    return choose(
        followup_contact=invoice.followup_contact.email if invoice.followup_contact else None,
        billing_contact=invoice.billing_contact.email if invoice.billing_contact else None,
        customer=customer.email,
        followup_user=invoice.followup_user.email if invoice.followup_user else None,
        sales_reps=[rep.email for rep in customer.sales_reps if rep.active],
        creator=invoice.creator.email if invoice.creator else None,
        copy_to_sales=settings.copy_to_sales, default_sender=settings.sender_email,
        user=user.email if user else None, company=settings.company_email,
    )


def phone_numbers(invoice: Invoice) -> list[str]:
    """Whom a phone call reaches, each number once: the invoice's "invoice follow-up" and "billing" contacts, the
    customer's own number, then the customer's other contacts ("First Name: number" for a contact)."""
    customer = invoice.customer
    named = [c for c in (invoice.followup_contact, invoice.billing_contact) if c is not None]
    others = [c for c in customer.contacts if c not in named]
    found: list[str] = []
    seen: set[str] = set()

    def add(number: str | None, label: str) -> None:
        number = (number or "").strip()
        if number and number not in seen:
            seen.add(number)
            found.append(f"{label}: {number}" if label else number)

    for contact in named:
        add(contact.phone, " ".join(p for p in (contact.first_name, contact.name) if p))
    add(customer.phone, "")
    for contact in others:
        add(contact.phone, " ".join(p for p in (contact.first_name, contact.name) if p))
    return found
