"""camt.053 files written for tests and bench/statement.py: the structure of tests/data/statements/camt053_v08.xml
(the German banks' published sample), any number of credits and debits; `book()`: the open invoices the sample files
of tests/data/statements pay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

from relance.extensions import db
from relance.models import Invoice
from tests.factories import make_customer, make_invoice


def book() -> dict[str, Invoice]:
    """The open invoices (by number) the statements of tests/data/statements speak of: Boulangerie Martin's three,
    Garage Dupont's two, and one of Hôtel du Lac that no sample file pays. Committed."""
    martin = make_customer(name="Boulangerie Martin")
    dupont = make_customer(name="Garage Dupont")
    lac = make_customer(name="Hôtel du Lac")
    invoices = {
        "FA-2026-0101": make_invoice(martin, "1200.00", number="FA-2026-0101"),
        "FA-2026-0102": make_invoice(martin, "350.00", number="FA-2026-0102"),
        "FA-2026-0103": make_invoice(martin, "149.90", number="FA-2026-0103"),
        "FA-2026-0201": make_invoice(dupont, "540.00", number="FA-2026-0201"),
        "FA-2026-0202": make_invoice(dupont, "460.00", number="FA-2026-0202"),
        "FA-2026-0301": make_invoice(lac, "2400.00", number="FA-2026-0301"),
    }
    db.session.commit()
    return invoices


@dataclass
class Credit:
    amount: Decimal
    label: str = ""
    reference: str = ""  # structured creditor reference (CdtrRefInf/Ref)
    name: str = ""
    iban: str = ""
    ref: str = ""  # AcctSvcrRef
    booked: date = date(2026, 6, 15)
    debit: bool = False


def _entry(credit: Credit) -> str:
    party = ""
    if credit.name or credit.iban:
        party = "<RltdPties>"
        if credit.name:
            party += f"<Dbtr><Pty><Nm>{escape(credit.name)}</Nm></Pty></Dbtr>"
        if credit.iban:
            party += f"<DbtrAcct><Id><IBAN>{credit.iban}</IBAN></Id></DbtrAcct>"
        party += "</RltdPties>"
    remittance = ""
    if credit.label or credit.reference:
        remittance = "<RmtInf>"
        if credit.label:
            remittance += f"<Ustrd>{escape(credit.label)}</Ustrd>"
        if credit.reference:
            remittance += (f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>ISO</Issr></Tp>"
                           f"<Ref>{escape(credit.reference)}</Ref></CdtrRefInf></Strd>")
        remittance += "</RmtInf>"
    ref = f"<AcctSvcrRef>{escape(credit.ref)}</AcctSvcrRef>" if credit.ref else ""
    indicator = "DBIT" if credit.debit else "CRDT"
    return (f"<Ntry><Amt Ccy=\"EUR\">{credit.amount:.2f}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>"
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{credit.booked.isoformat()}</Dt></BookgDt>"
            f"<ValDt><Dt>{credit.booked.isoformat()}</Dt></ValDt>{ref}"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
            f"<NtryDtls><TxDtls><Amt Ccy=\"EUR\">{credit.amount:.2f}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>"
            f"{party}{remittance}</TxDtls></NtryDtls></Ntry>\n")


def camt053(credits: list[Credit], version: str = "08", iban: str = "FR7630006000011234567890189",
            message: str = "053") -> bytes:
    """A camt.053 statement (or, `message="054"`, a camt.054 notification) of these entries."""
    entries = "".join(_entry(c) for c in credits)
    outer, inner = ("BkToCstmrStmt", "Stmt") if message == "053" else ("BkToCstmrDbtCdtNtfctn", "Ntfctn")
    return (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            f"<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.{message}.001.{version}\">\n<{outer}>"
            "<GrpHdr><MsgId>GENERATED-1</MsgId><CreDtTm>2026-06-16T05:30:00</CreDtTm></GrpHdr>\n"
            f"<{inner}><Id>GENERATED-1-1</Id><CreDtTm>2026-06-16T05:30:00</CreDtTm><Acct><Id><IBAN>{iban}</IBAN>"
            "</Id><Ccy>EUR</Ccy></Acct>\n"
            f"{entries}</{inner}></{outer}></Document>\n").encode()
