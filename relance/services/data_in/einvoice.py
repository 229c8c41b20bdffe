"""E-invoices read directly: Factur-X / ZUGFeRD PDFs (PDF/A-3 with the EN 16931 CII XML embedded), and bare XML
files (CII, or a UBL 2.1 Invoice / CreditNote).

`read_file(filename, data)` reads one file: a PDF -> its embedded XML (`facturx.get_xml_from_pdf`), an XML as
it is; the XML gives the invoice number, dates, currency, totals, document type and the buyer (`EInvoice`), or
`EInvoiceError` says why the file is refused. Values are kept as written; they are parsed and checked by the
same path as the CSV and API imports.

`plan_files(session, files, today)` reads many files and plans them (`EInvoicePlan`): each buyer is matched to
an existing customer by SIREN, VAT number or code (the buyer's identifier in the invoice), or becomes a new
customer with a generated code; the new customers and the invoices go through `plan.plan_records` (all the row
and field checks of a CSV import). A file with any problem is refused alone, named with its reason; the others
make the plan. `apply_files(session, plan, user, store)` writes it all (customers, then invoices with their
PDF stored byte-identical by `store`, the caller's `letters.invoice_pdf.store_pdf`); the caller commits, or rolls
back and calls `Written.discard()`; after the commit `Written.cleanup()` removes the PDFs the import replaced.
`saving(...)` does that around the caller's commit (the web page, the CLI and the API use it).

Files read only here: nothing is written before `apply_files`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from lxml import etree
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from relance.models import Customer, Invoice
from relance.services import files
from relance.services.data_in.apply import apply_plan
from relance.services.data_in.plan import ImportPlan, Money, Tally, chunks, plan_records
from relance.services.data_in.values import fold
from relance.services.errors import RelanceError

log = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
MAX_FILES = 500  # files in one import

CII = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
UBL = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}
PROFILE_NAMES = {  # the guideline (BT-24) of each Factur-X profile
    "urn:factur-x.eu:1p0:minimum": "MINIMUM",
    "urn:factur-x.eu:1p0:basicwl": "BASIC WL",
    "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic": "BASIC",
    "urn:cen.eu:en16931:2017": "EN 16931",
    "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended": "EXTENDED",
    "urn:cen.eu:en16931:2017#compliant#urn:xoev-de:kosit:standard:xrechnung_2.3": "XRechnung",
    "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0": "XRechnung",
}
# UNTDID 1001 document types: invoices and credit notes (anything else is refused)
INVOICE_TYPES = {"380", "383", "384", "386", "389", "751", "875", "876", "877"}
CREDIT_NOTE_TYPES = {"381", "261", "262", "296", "308", "396", "502", "503", "532"}
NO_DUE_DATE = _l("No due date in the invoice (a MINIMUM profile has none): it will never be reminded until a "
                 "due date is set.")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True)


class EInvoiceError(RelanceError):
    """A file refused: not a PDF or XML, a PDF without an embedded invoice, an XML that is not an invoice, a
    required value missing. `message` says why."""


@dataclass
class Party:
    """The buyer (BG-7) as written in the invoice."""

    name: str = ""
    siren: str = ""  # SpecifiedLegalOrganization/ID schemeID 0002 (or derived from a French VAT number)
    vat_number: str = ""  # SpecifiedTaxRegistration/ID schemeID VA
    identifier: str = ""  # the buyer's ID (BT-46): the seller's code for it
    global_id: str = ""  # GlobalID (BT-46 with a scheme: GLN, ...)
    address: str = ""
    postcode: str = ""
    city: str = ""
    country: str = ""
    email: str = ""  # URIUniversalCommunication (BT-49)


@dataclass
class EInvoice:
    """One invoice read from a file: values as written (text), parsed later by the import's parsers."""

    filename: str
    syntax: str  # "CII" or "UBL"
    profile: str  # "MINIMUM", "BASIC", "EN 16931"... or "" when not declared
    number: str
    type_code: str
    issue_date: str
    due_date: str  # "" when the invoice has none
    currency: str
    tax_basis: str  # TaxBasisTotalAmount / TaxExclusiveAmount
    grand_total: str  # GrandTotalAmount / TaxInclusiveAmount
    due_payable: str  # DuePayableAmount / PayableAmount
    buyer: Party
    buyer_reference: str = ""  # BuyerReference (BT-10)
    credits: str = ""  # a credit note: the preceding invoice it refers to (BT-25), "" when it names none
    pdf: bytes | None = field(default=None, repr=False)  # the Factur-X PDF, kept byte for byte

    @property
    def kind(self) -> str:
        return "credit_note" if self.type_code in CREDIT_NOTE_TYPES else "invoice"


def _text(node, path: str, ns: dict) -> str:
    found = node.xpath(path, namespaces=ns) if node is not None else []
    for item in found:
        value = item if isinstance(item, str) else item.text
        if value and value.strip():
            return " ".join(value.split())
    return ""


def _amount(text: str) -> str:
    """An XML decimal ("1200.5", "1200.0000") as the import's amount text ("1200.50"); anything else unchanged
    (the import's parser says what is wrong with it)."""
    if re.fullmatch(r"[+-]?[0-9]+(\.[0-9]+)?", text):
        try:
            value = Decimal(text)
        except InvalidOperation:
            return text
        if value == value.quantize(Decimal("0.01")):
            return f"{value:.2f}"
    return text


def _siren_of_vat(vat: str) -> str:
    """The SIREN inside a French VAT number (FR + 2 key characters + SIREN), else ""."""
    compact = re.sub(r"\s", "", vat).upper()
    return compact[4:] if re.fullmatch(r"FR[0-9A-Z]{2}[0-9]{9}", compact) else ""


def read_file(filename: str, data: bytes) -> EInvoice:
    """The invoice of one file (a Factur-X / ZUGFeRD PDF, or a CII or UBL XML), or `EInvoiceError`."""
    if not data:
        raise EInvoiceError(_l("The file is empty."))
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if data.startswith(PDF_MAGIC) or (PDF_MAGIC in data[:1024] and not head.startswith(b"<")):
        xml = _xml_of_pdf(data)
        pdf: bytes | None = data
    elif head.startswith(b"<"):
        xml, pdf = data, None
    else:
        raise EInvoiceError(_l("This file is neither a PDF nor an XML file: a Factur-X / ZUGFeRD PDF or a CII or "
                               "UBL invoice XML is expected."))
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise EInvoiceError(_l("The XML can't be read: %(detail)s", detail=str(exc))) from None
    namespace = etree.QName(root).namespace
    local = etree.QName(root).localname
    if namespace == CII["rsm"] and local == "CrossIndustryInvoice":
        invoice = _read_cii(filename, root)
    elif (namespace, local) in ((UBL_INVOICE, "Invoice"), (UBL_CREDIT_NOTE, "CreditNote")):
        invoice = _read_ubl(filename, root, credit_note=local == "CreditNote")
    elif local == "CrossIndustryDocument":
        raise EInvoiceError(_l("This is a ZUGFeRD 1.0 invoice (CrossIndustryDocument): only Factur-X / ZUGFeRD 2 "
                               "(CII) and UBL invoices are read."))
    else:
        raise EInvoiceError(_l("The XML is not a CII (Factur-X / ZUGFeRD) or UBL invoice: its root element is "
                               "%(root)s.", root=f"{local}" + (f" ({namespace})" if namespace else "")))
    invoice.pdf = pdf
    return _checked(invoice)


def _xml_of_pdf(data: bytes) -> bytes:
    import facturx

    try:
        _name, xml = facturx.get_xml_from_pdf(data, check_xsd=False)
    except Exception as exc:  # noqa: BLE001 (pypdf's errors on a broken file are many; the reason is logged)
        log.info("a PDF could not be read: %s", exc)
        raise EInvoiceError(_l("This PDF can't be read (damaged or encrypted).")) from None
    if not xml:
        raise EInvoiceError(_l("This PDF carries no Factur-X/ZUGFeRD invoice (no invoice XML is embedded in it)."))
    return xml


def _checked(invoice: EInvoice) -> EInvoice:
    if not invoice.number:
        raise EInvoiceError(_l("The invoice has no number (BT-1)."))
    if not invoice.issue_date:
        raise EInvoiceError(_l("The invoice has no issue date (BT-2)."))
    if not invoice.currency:
        raise EInvoiceError(_l("The invoice has no currency (BT-5)."))
    if not invoice.grand_total:
        raise EInvoiceError(_l("The invoice has no total including tax (BT-112)."))
    if not invoice.buyer.name:
        raise EInvoiceError(_l("The invoice does not name its buyer (BT-44)."))
    if invoice.type_code not in INVOICE_TYPES | CREDIT_NOTE_TYPES:
        raise EInvoiceError(_l("Document type %(code)s is neither an invoice (380) nor a credit note (381).",
                               code=invoice.type_code or "—"))
    return invoice


def _read_cii(filename: str, root) -> EInvoice:
    ns = CII
    guideline = _text(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID",
                      ns)
    trade = root.find("rsm:SupplyChainTradeTransaction", ns)
    agreement = trade.find("ram:ApplicableHeaderTradeAgreement", ns) if trade is not None else None
    settlement = trade.find("ram:ApplicableHeaderTradeSettlement", ns) if trade is not None else None
    party = agreement.find("ram:BuyerTradeParty", ns) if agreement is not None else None
    address = party.find("ram:PostalTradeAddress", ns) if party is not None else None
    totals = (settlement.find("ram:SpecifiedTradeSettlementHeaderMonetarySummation", ns)
              if settlement is not None else None)
    vat = _text(party, "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']", ns)
    buyer = Party(
        name=_text(party, "ram:Name", ns),
        siren=_text(party, "ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002']", ns) or _siren_of_vat(vat),
        vat_number=vat,
        identifier=_text(party, "ram:ID", ns),
        global_id=_text(party, "ram:GlobalID", ns),
        address="\n".join(t for t in (_text(address, f"ram:{n}", ns) for n in ("LineOne", "LineTwo", "LineThree"))
                          if t),
        postcode=_text(address, "ram:PostcodeCode", ns),
        city=_text(address, "ram:CityName", ns),
        country=_text(address, "ram:CountryID", ns),
        email=_text(party, "ram:URIUniversalCommunication/ram:URIID", ns),
    )
    currency = _text(settlement, "ram:InvoiceCurrencyCode", ns)
    return EInvoice(
        filename=filename, syntax="CII", profile=PROFILE_NAMES.get(guideline, guideline[:40]),
        number=_text(root, "rsm:ExchangedDocument/ram:ID", ns),
        type_code=_text(root, "rsm:ExchangedDocument/ram:TypeCode", ns),
        issue_date=_text(root, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString", ns),
        due_date=_text(settlement, "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString", ns),
        currency=currency,
        tax_basis=_amount(_text(totals, "ram:TaxBasisTotalAmount", ns)),
        grand_total=_amount(_text(totals, "ram:GrandTotalAmount", ns)),
        due_payable=_amount(_text(totals, "ram:DuePayableAmount", ns)),
        buyer=buyer, buyer_reference=_text(agreement, "ram:BuyerReference", ns),
        credits=_text(settlement, "ram:InvoiceReferencedDocument/ram:IssuerAssignedID", ns),
    )


def _read_ubl(filename: str, root, credit_note: bool) -> EInvoice:
    ns = UBL
    party = root.find("cac:AccountingCustomerParty/cac:Party", ns)
    address = party.find("cac:PostalAddress", ns) if party is not None else None
    totals = root.find("cac:LegalMonetaryTotal", ns)
    vat = _text(party, "cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID", ns)
    siren = _text(party, "cac:PartyLegalEntity/cbc:CompanyID[@schemeID='0002']", ns)
    buyer = Party(
        name=_text(party, "cac:PartyLegalEntity/cbc:RegistrationName", ns) or _text(party, "cac:PartyName/cbc:Name",
                                                                                     ns),
        siren=siren or _siren_of_vat(vat), vat_number=vat,
        identifier=_text(party, "cac:PartyIdentification/cbc:ID[not(@schemeID)]", ns),
        global_id=_text(party, "cbc:EndpointID", ns),
        address="\n".join(t for t in (_text(address, f"cbc:{n}", ns) for n in ("StreetName", "AdditionalStreetName"))
                          if t),
        postcode=_text(address, "cbc:PostalZone", ns),
        city=_text(address, "cbc:CityName", ns),
        country=_text(address, "cac:Country/cbc:IdentificationCode", ns),
        email=_text(party, "cac:Contact/cbc:ElectronicMail", ns),
    )
    type_code = _text(root, "cbc:CreditNoteTypeCode" if credit_note else "cbc:InvoiceTypeCode", ns)
    return EInvoice(
        filename=filename, syntax="UBL", profile=PROFILE_NAMES.get(_text(root, "cbc:CustomizationID", ns), ""),
        number=_text(root, "cbc:ID", ns),
        type_code=type_code or ("381" if credit_note else "380"),
        issue_date=_text(root, "cbc:IssueDate", ns),
        due_date=_text(root, "cbc:DueDate", ns) or _text(root, "cac:PaymentMeans/cbc:PaymentDueDate", ns),
        currency=_text(root, "cbc:DocumentCurrencyCode", ns),
        tax_basis=_amount(_text(totals, "cbc:TaxExclusiveAmount", ns)),
        grand_total=_amount(_text(totals, "cbc:TaxInclusiveAmount", ns)),
        due_payable=_amount(_text(totals, "cbc:PayableAmount", ns)),
        buyer=buyer, buyer_reference=_text(root, "cbc:BuyerReference", ns),
        credits=_text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", ns),
    )


# --- planning many files --------------------------------------------------------------------------------------


@dataclass
class Refusal:
    filename: str
    reason: object  # a lazy translated string

    @property
    def text(self) -> str:
        return str(self.reason)

    def __str__(self) -> str:
        return f"{self.filename}: {self.reason}"


@dataclass
class Accepted:
    """A file that will be imported: its invoice, the customer it goes to and what happens."""

    filename: str
    invoice: EInvoice
    customer_code: str
    matched_by: str  # "siren", "vat_number", "code" (an existing customer) or "new"
    action: str = ""  # the invoice's: create | update | unchanged
    values: dict = field(default_factory=dict)  # the invoice's values as planned
    pdf_changed: bool = False  # its PDF becomes the invoice's file
    notes: list = field(default_factory=list)  # lazy strings shown with the file

    @property
    def note_texts(self) -> list[str]:
        return [str(n) for n in self.notes]


@dataclass
class EInvoicePlan(Tally):
    customers: ImportPlan
    invoices: ImportPlan
    accepted: list[Accepted] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def files(self) -> int:
        return len(self.accepted) + len(self.refused)

    @property
    def new_customers(self) -> int:
        return self.customers.created

    def _actions(self) -> Iterable[str]:
        return (a.action for a in self.accepted)

    @property
    def has_changes(self) -> bool:
        return bool(self.created or self.updated)

    def signature(self) -> str:
        """A digest of what the plan would do: a confirmation applies a new plan only when it says the same."""
        digest = hashlib.sha256()
        for a in self.accepted:
            digest.update(repr((a.filename, a.action, a.customer_code, a.matched_by, a.pdf_changed,
                                sorted((k, str(v)) for k, v in a.values.items()))).encode())
        for r in self.refused:
            digest.update(repr((r.filename, r.text)).encode())
        for c in self.customers.changes:
            digest.update(repr((c.action, c.key)).encode())
        return digest.hexdigest()


def _matches(session: Session, invoices: list[EInvoice]) -> tuple[dict, dict, dict, set[str]]:
    """Existing customers by SIREN, by VAT number and by code (for the buyers named), and every code taken."""
    sirens = {i.buyer.siren for i in invoices if i.buyer.siren}
    vats = {i.buyer.vat_number.upper() for i in invoices if i.buyer.vat_number}
    codes = {c for i in invoices for c in (i.buyer.identifier, i.buyer.global_id) if c}
    by_siren: dict[str, str] = {}
    by_vat: dict[str, str] = {}
    by_code: dict[str, str] = {}
    for chunk in chunks(sorted(sirens | vats | codes)):
        rows = session.execute(select(Customer.code, Customer.siren, Customer.vat_number).where(or_(
            Customer.siren.in_(chunk), Customer.vat_number.in_(chunk), Customer.code.in_(chunk)))
            .order_by(Customer.id))
        for code, siren, vat in rows:
            if siren and siren in sirens:
                by_siren.setdefault(siren, code)
            if vat and vat in vats:
                by_vat.setdefault(vat, code)
            if code in codes:
                by_code.setdefault(code, code)
    return by_siren, by_vat, by_code, set(by_code)


def _new_code(session: Session, buyer: Party, taken: set[str]) -> str:
    """A code for a new customer: the buyer's own identifier when free, else FX- and its SIREN, VAT number or
    name (made unique with -2, -3...)."""
    if buyer.identifier and len(buyer.identifier) <= 64:
        base = buyer.identifier
    else:
        stem = buyer.siren or buyer.vat_number or re.sub(r"[^A-Z0-9]+", "-", fold(buyer.name).upper()).strip("-")
        base = "FX-" + (stem[:40] or "CUSTOMER")
    code, n = base, 1
    while code in taken or session.scalar(select(Customer.id).where(Customer.code == code)) is not None:
        n += 1
        code = f"{base[:58]}-{n}"
    taken.add(code)
    return code


def _buyer_key(buyer: Party) -> str:
    """Invoices of the same new buyer in one import make one customer."""
    if buyer.siren:
        return f"siren:{buyer.siren}"
    if buyer.vat_number:
        return f"vat:{buyer.vat_number.upper()}"
    if buyer.identifier:
        return f"id:{buyer.identifier}"
    return f"name:{fold(buyer.name)}"


# a new buyer's language guessed from its country: the languages Relance ships texts in, else English
COUNTRY_LANGUAGES = {"": "fr", "FR": "fr", "BE": "fr", "CH": "fr", "LU": "fr", "MC": "fr", "DE": "de", "AT": "de",
                     "LI": "de", "ES": "es", "IT": "it", "SM": "it", "VA": "it", "NL": "nl"}


def _language(country: str) -> str:
    return COUNTRY_LANGUAGES.get(country.upper(), "en")


def _customer_row(buyer: Party, code: str) -> dict[str, str]:
    return {"code": code, "name": buyer.name, "email": buyer.email, "country": buyer.country or "FR",
            "language": _language(buyer.country), "kind": "business", "address": buyer.address,
            "postcode": buyer.postcode, "city": buyer.city, "siren": buyer.siren, "vat_number": buyer.vat_number}


def _invoice_row(invoice: EInvoice, code: str, known: set[str]) -> dict[str, str]:
    """The import row of an invoice; a credit note's `credits_invoice` when the invoice it refers to is known (in the
    database or among the files): the import checks it (services/credit_notes.py)."""
    row = {"number": invoice.number, "customer_code": code, "issue_date": invoice.issue_date,
           "due_date": invoice.due_date, "currency": invoice.currency, "total_excl_tax": invoice.tax_basis,
           "total_incl_tax": invoice.grand_total, "status": "validated", "kind": invoice.kind}
    if invoice.kind == "credit_note" and invoice.credits in known:
        row["credits_invoice"] = invoice.credits
    return row


def _known(session: Session, invoices: list[EInvoice]) -> set[str]:
    """The invoice numbers the credit notes refer to that are among the files or in the database."""
    wanted = {i.credits for i in invoices if i.kind == "credit_note" and i.credits}
    found = wanted & {i.number for i in invoices}
    for chunk in chunks(sorted(wanted - found)):
        found.update(session.scalars(select(Invoice.number).where(Invoice.number.in_(chunk))))
    return found


def file_name(raw: str | None) -> str:
    """An uploaded file's name as shown: without its folders, at most 200 characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:200]
    return "".join(ch for ch in name if ch.isprintable()) or "—"


def plan_files(session: Session, uploads: list[tuple[str, bytes]], today: date,
               max_bytes: int | None = None) -> EInvoicePlan:
    """Read and check e-invoice files (name, bytes) against the database; nothing is written. Every file is either
    accepted (its invoice and, when new, its customer planned) or refused with its reason. A file larger than
    `max_bytes` is refused unread (the caller may read `max_bytes + 1` bytes of it)."""
    refused: list[Refusal] = []
    read: list[EInvoice] = []
    first: dict[str, str] = {}
    for filename, data in uploads:
        if max_bytes is not None and len(data) > max_bytes:
            refused.append(Refusal(filename, _l("The file is too large: %(max)s MB at most.",
                                                max=f"{max_bytes / 1024 / 1024:.1f}")))
            continue
        try:
            invoice = read_file(filename, data)
        except EInvoiceError as exc:
            refused.append(Refusal(filename, exc.message))
            continue
        if invoice.number in first:
            refused.append(Refusal(filename, _l('Invoice number "%(number)s" is also in the file %(other)s.',
                                                number=invoice.number, other=first[invoice.number])))
            continue
        first[invoice.number] = filename
        read.append(invoice)
    by_siren, by_vat, by_code, taken = _matches(session, read)
    matched: list[tuple[EInvoice, str, str]] = []
    new_codes: dict[str, str] = {}  # buyer key -> generated code
    new_buyers: dict[str, Party] = {}
    for invoice in read:
        buyer = invoice.buyer
        if buyer.siren and buyer.siren in by_siren:
            matched.append((invoice, by_siren[buyer.siren], "siren"))
        elif buyer.vat_number and buyer.vat_number.upper() in by_vat:
            matched.append((invoice, by_vat[buyer.vat_number.upper()], "vat_number"))
        elif buyer.identifier in by_code or buyer.global_id in by_code:
            matched.append((invoice, by_code.get(buyer.identifier) or by_code[buyer.global_id], "code"))
        else:
            key = _buyer_key(buyer)
            if key not in new_codes:
                new_codes[key] = _new_code(session, buyer, taken)
                new_buyers[new_codes[key]] = buyer
            matched.append((invoice, new_codes[key], "new"))
    known = _known(session, read)
    while True:  # refuse the files whose rows fail, plan the others again (each round refuses at least one file)
        customers_plan, invoices_plan, failed = _plan_rows(session, matched, new_buyers, today, known)
        if not failed:
            break
        refused.extend(failed.values())
        matched = [m for m in matched if m[0].filename not in failed]
        used = {code for _, code, how in matched if how == "new"}
        new_buyers = {code: buyer for code, buyer in new_buyers.items() if code in used}
    plan = EInvoicePlan(customers_plan, invoices_plan, refused=refused)
    changes = {c.key: c for c in invoices_plan.changes}
    pdfs = _stored_pdfs(session, [i.number for i, _, _ in matched])
    for invoice, code, how in matched:
        change = changes[invoice.number]
        accepted = Accepted(invoice.filename, invoice, code, how, change.action, change.values)
        if invoice.pdf is not None and pdfs.get(invoice.number) != hashlib.sha256(invoice.pdf).hexdigest():
            accepted.pdf_changed = True
            if accepted.action == "unchanged":  # the same invoice, its PDF added or replaced
                accepted.action = "update"
        if not invoice.due_date:
            accepted.notes.append(NO_DUE_DATE)
        if invoice.kind == "credit_note" and invoice.credits and invoice.credits not in known:
            accepted.notes.append(_l("It credits invoice %(number)s, which is not here yet: allocate it from its "
                                     "customer's invoices once that invoice is imported.", number=invoice.credits))
        paid = _prepaid(invoice)
        if paid:
            accepted.notes.append(_l("The invoice says %(paid)s is already paid (due payable amount below its "
                                     "total): record that payment.", paid=Money(paid, change.values["currency"])))
        plan.accepted.append(accepted)
    order = {name: n for n, (name, _data) in enumerate(uploads)}
    plan.refused.sort(key=lambda r: order.get(r.filename, 0))
    return plan


def _prepaid(invoice: EInvoice) -> Decimal | None:
    try:
        paid = Decimal(invoice.grand_total) - Decimal(invoice.due_payable)
    except InvalidOperation:
        return None
    return paid if paid > 0 else None


def _plan_rows(session, matched, new_buyers, today, known) -> tuple[ImportPlan, ImportPlan, dict[str, Refusal]]:
    """The customers and invoices plans of these files; the files refused by a row error (by file name)."""
    failed: dict[str, Refusal] = {}
    customer_rows = [(n, _customer_row(buyer, code)) for n, (code, buyer) in enumerate(new_buyers.items(), 1)]
    customers = plan_records(session, "customers", customer_rows, today)
    customers.filename = ""
    if not customers.ok:
        bad = {customer_rows[e.line - 1][1]["code"]: e for e in customers.errors if e.line}
        for invoice, code, _how in matched:
            if code in bad:
                failed.setdefault(invoice.filename, Refusal(invoice.filename, _l(
                    "buyer %(detail)s", detail=_field_message(bad[code]))))
        if failed:
            return customers, ImportPlan(kind="invoices"), failed
        raise ValueError("a customers plan failed without a row error")  # every customer row has its line
    invoice_rows = [(n, _invoice_row(invoice, code, known)) for n, (invoice, code, _how) in enumerate(matched, 1)]
    invoices = plan_records(session, "invoices", invoice_rows, today, coming=set(new_buyers))
    if not invoices.ok:
        for error in invoices.errors:
            if error.line:
                invoice = matched[error.line - 1][0]
                failed.setdefault(invoice.filename, Refusal(invoice.filename, _field_message(error)))
        if not failed:
            raise ValueError("an invoices plan failed without a row error")
    return customers, invoices, failed


FIELD_LABELS = {
    "number": _l("invoice number"), "issue_date": _l("issue date"), "due_date": _l("due date"),
    "currency": _l("currency"), "total_excl_tax": _l("total excluding tax"),
    "total_incl_tax": _l("total including tax"), "kind": _l("document type"), "name": _l("name"),
    "email": _l("email"), "country": _l("country"), "address": _l("address"), "postcode": _l("postcode"),
    "city": _l("city"), "siren": _l("SIREN"), "vat_number": _l("VAT number"), "code": _l("code"),
    "credits_invoice": _l("credited invoice"),
}


class _FieldMessage:
    """"field: message" rendered in the reader's language."""

    def __init__(self, column: str | None, message):
        self.column, self.message = column, message

    def __str__(self) -> str:
        label = FIELD_LABELS.get(self.column or "")
        return f"{label}: {self.message}" if label else str(self.message)


def _field_message(error) -> _FieldMessage:
    return _FieldMessage(error.field or error.column, error.message)


def _stored_pdfs(session: Session, numbers: list[str]) -> dict[str, str]:
    """number -> sha256 of the invoice's stored PDF, for the existing invoices of these numbers that have one."""
    found: dict[str, str] = {}
    for chunk in chunks(sorted(set(numbers))):
        for number, path in session.execute(select(Invoice.number, Invoice.pdf_path)
                                            .where(Invoice.number.in_(chunk), Invoice.pdf_path.is_not(None))):
            stored = files.resolve(path)
            if stored is not None:
                found[number] = hashlib.sha256(stored.read_bytes()).hexdigest()
    return found


# --- writing --------------------------------------------------------------------------------------------------


@dataclass
class Written:
    """The PDF files an import stored (`new`) and the ones it replaced (`old`), relative to FILES_PATH."""

    new: list[str] = field(default_factory=list)
    old: list[str] = field(default_factory=list)

    def discard(self) -> None:
        """The write was rolled back: remove the PDFs stored for it."""
        _remove(self.new)

    def cleanup(self) -> None:
        """The write was committed: remove the PDFs it replaced."""
        _remove(self.old)


def _remove(paths: list[str]) -> None:
    for relative in paths:
        path = files.resolve(relative)
        if path is not None:
            path.unlink(missing_ok=True)


@contextmanager
def saving(session: Session, plan: EInvoicePlan, user, store: Callable[[bytes], str]) -> Iterator[Written]:
    """`apply_files` for a caller that commits inside the block: on an error (in the write or the commit) the
    session is rolled back and the PDFs stored for it removed; after the block, the PDFs it replaced."""
    written = None
    try:
        written = apply_files(session, plan, user, store)
        yield written
    except BaseException:
        session.rollback()
        if written is not None:
            written.discard()
        raise
    written.cleanup()


def apply_files(session: Session, plan: EInvoicePlan, user, store: Callable[[bytes], str]) -> Written:
    """Write a plan: the new customers, then the invoices, each with its PDF stored by `store(bytes) -> path`
    (byte-identical). The caller commits, or rolls back and calls `Written.discard()`."""
    written = Written()
    try:
        old_paths = dict(session.execute(select(Invoice.number, Invoice.pdf_path).where(
            Invoice.number.in_([a.invoice.number for a in plan.accepted if a.pdf_changed]))).all())
        for accepted in plan.accepted:
            if not accepted.pdf_changed or accepted.invoice.pdf is None:
                continue
            path = store(accepted.invoice.pdf)
            written.new.append(path)
            change = next(c for c in plan.invoices.changes if c.key == accepted.invoice.number)
            change.values["pdf_path"] = path
            if change.action == "unchanged":
                change.action = "update"
            old = old_paths.get(accepted.invoice.number)
            if old:
                written.old.append(old)
        if plan.customers.changes:
            apply_plan(session, plan.customers, user)
        if plan.invoices.changes:
            plan.invoices.filename = ", ".join(a.filename for a in plan.accepted)[:500]
            apply_plan(session, plan.invoices, user)
    except Exception:
        written.discard()
        raise
    return written
