"""Reading a bank statement file: ISO 20022 camt.053 (statement) and camt.054 (debit/credit notification), OFX
(SGML 1.x and XML 2.x, with ofxtools) and CSV with configurable columns. Nothing is written here.

`read_statement(data, fmt=None, columns=None, filename="")` gives a `Statement`: its credits as `StatementLine`s
(one per transaction: a camt entry that batches several credits gives one line per transaction detail), the
number of debits and of other entries left aside (pending, reversals). A file that can't be read raises
`StatementError` naming the line or element, so nothing of it is saved. camt is read by element names whatever the
namespace (versions .001.02 to .001.08 and later differ in a few paths, both read: `Sts`/`Sts/Cd`,
`Dbtr/Nm`/`Dbtr/Pty/Nm`, `TxDtls/AmtDtls`/`TxDtls/Amt`).

`line_key(line, rank)` is what keeps a line once: the bank's own entry reference when given, else a hash of the
account, date, amount, currency and label, and the line's rank among the identical ones of its file.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from lxml import etree

from relance.services.data_in.plan import ImportPlan
from relance.services.data_in.reading import MAX_BYTES, decode
from relance.services.data_in.values import InvalidValue, fold, parse_amount, parse_date
from relance.services.errors import RelanceError

FORMATS = ("camt", "ofx", "csv")
CSV_FIELDS = ("date", "amount", "credit", "debit", "label", "reference", "counterparty", "iban", "currency",
              "value_date")
# header names recognised for each CSV field without --columns (compared folded, punctuation as "_")
CSV_ALIASES = {
    "date": ("date", "date_operation", "date_comptable", "booking_date", "date_de_comptabilisation", "date_op"),
    "value_date": ("date_valeur", "value_date", "date_de_valeur"),
    "amount": ("amount", "montant", "montant_eur", "montant_euros", "somme"),
    "credit": ("credit", "credits", "montant_credit", "credit_eur"),
    "debit": ("debit", "debits", "montant_debit", "debit_eur"),
    "label": ("label", "libelle", "libelle_operation", "description", "details", "motif", "communication",
              "remittance_information", "detail"),
    "reference": ("reference", "ref", "reference_operation", "structured_reference", "reference_structuree"),
    "counterparty": ("counterparty", "tiers", "contrepartie", "emetteur", "donneur_d_ordre", "payer", "nom"),
    "iban": ("iban", "iban_contrepartie", "counterparty_iban", "compte_contrepartie"),
    "currency": ("currency", "devise"),
}
MAX_LABEL = 2000


class StatementError(RelanceError):
    """A statement file that can't be read; `where` says the line or element ("" = the file as a whole)."""

    def __init__(self, message, where: str = "") -> None:
        super().__init__(message, field="file")
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else str(self.message)


@dataclass
class StatementLine:
    booking_date: date
    amount: Decimal  # > 0: a credit
    currency: str
    label: str = ""
    reference: str = ""  # structured reference (camt CdtrRefInf/Ref, CSV column)
    counterparty_name: str = ""
    counterparty_iban: str = ""
    entry_ref: str = ""  # AcctSvcrRef / FITID: the bank's own reference of the entry
    account: str = ""
    value_date: date | None = None
    where: str = ""  # line or element, for messages


@dataclass
class Statement:
    format: str
    version: str = ""
    account: str = ""
    lines: list[StatementLine] = field(default_factory=list)
    debits: int = 0  # debits seen and left aside
    other: int = 0  # pending entries, reversals: left aside


def line_key(line: StatementLine, rank: int = 0) -> str:
    """The line's identity: the bank's reference when it gave one (per account), else its content and its rank
    among the lines of its file with the same content (two identical transfers on one day are two lines)."""
    if line.entry_ref:
        raw = "\x1f".join(("ref", line.account, line.entry_ref))
    else:
        raw = "\x1f".join(("line", line.account, line.booking_date.isoformat(), str(line.amount), line.currency,
                           " ".join(line.label.split()), line.reference, str(rank)))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def keyed(lines: list[StatementLine]) -> list[tuple[str, StatementLine]]:
    """(key, line) for each line, the identical lines of the file numbered in order."""
    seen: dict[str, int] = {}
    result = []
    for line in lines:
        base = line_key(line, 0)
        rank = seen.get(base, 0)
        seen[base] = rank + 1
        result.append((base if rank == 0 else line_key(line, rank), line))
    return result


def detect_format(data: bytes, filename: str = "") -> str:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    name = filename.lower()
    if b"OFXHEADER" in head or b"<OFX>" in head or name.endswith((".ofx", ".qfx")):
        return "ofx"
    if head.startswith(b"<?XML") or head.startswith(b"<DOCUMENT") or name.endswith(".xml"):
        return "camt"
    return "csv"


def read_statement(data: bytes, fmt: str | None = None, columns: dict[str, str] | None = None,
                   filename: str = "") -> Statement:
    """Read a statement file (format given or detected); raises StatementError, nothing is half-read."""
    if len(data) > MAX_BYTES * 5:
        raise StatementError(_l("The file is %(size)s MB; the limit is %(limit)s MB.",
                                size=f"{len(data) / 1024 / 1024:.1f}", limit=MAX_BYTES * 5 // 1024 // 1024))
    if not data.strip():
        raise StatementError(_l("The file is empty."))
    fmt = fmt or detect_format(data, filename)
    if fmt == "camt":
        return read_camt(data)
    if fmt == "ofx":
        return read_ofx(data)
    if fmt == "csv":
        return read_csv(data, columns or {})
    raise StatementError(_l("Unknown statement format %(format)s: camt, ofx or csv.", format=fmt))


# --- camt.053 / camt.054 ---------------------------------------------------------------------------------------------

_CAMT_KINDS = {"BkToCstmrStmt": ("camt.053", "Stmt"), "BkToCstmrDbtCdtNtfctn": ("camt.054", "Ntfctn"),
               "BkToCstmrAcctRpt": ("camt.052", "Rpt")}


def _local(element) -> str:
    return etree.QName(element).localname


def _child(element, *path: str):
    """The first descendant along `path` (local names, any namespace), or None."""
    for name in path:
        if element is None:
            return None
        element = next((c for c in element if isinstance(c.tag, str) and _local(c) == name), None)
    return element


def _children(element, name: str) -> list:
    return [c for c in element if isinstance(c.tag, str) and _local(c) == name] if element is not None else []


def _text(element, *path: str) -> str:
    found = _child(element, *path)
    return (found.text or "").strip() if found is not None else ""


def _where(element) -> str:
    return str(_l("line %(line)s, element %(element)s", line=element.sourceline, element=_local(element)))


def _camt_date(element, where_el) -> date | None:
    if element is None:
        return None
    raw = _text(element, "Dt") or _text(element, "DtTm")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise StatementError(_l('"%(value)s" is not a date (YYYY-MM-DD).', value=raw[:40]), _where(where_el)) \
            from None


def _camt_amount(element) -> tuple[Decimal, str]:
    try:
        value = Decimal((element.text or "").strip())
    except InvalidOperation:
        raise StatementError(_l('"%(value)s" is not an amount.', value=(element.text or "")[:40]),
                             _where(element)) from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")) \
            or value > Decimal("999999999999.99"):
        raise StatementError(_l('"%(value)s" is not an amount.', value=(element.text or "")[:40]), _where(element))
    currency = (element.get("Ccy") or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise StatementError(_l("The amount has no currency (attribute Ccy)."), _where(element))
    return value.quantize(Decimal("0.01")), currency


def _party(details, role: str) -> tuple[str, str]:
    """(name, IBAN) of the debtor (or another role) of a transaction: v02 `Dbtr/Nm`, v08 `Dbtr/Pty/Nm`."""
    parties = _child(details, "RltdPties")
    if parties is None:
        return "", ""
    party = _child(parties, role)
    name = _text(party, "Nm") or _text(party, "Pty", "Nm")
    iban = _text(parties, f"{role}Acct", "Id", "IBAN")
    return name[:200], iban.replace(" ", "").upper()[:34]


def _remittance(details) -> tuple[list[str], str]:
    info = _child(details, "RmtInf")
    texts = [(u.text or "").strip() for u in _children(info, "Ustrd")]
    reference = ""
    for structured in _children(info, "Strd"):
        ref = _text(structured, "CdtrRefInf", "Ref")
        if ref:
            reference = reference or ref
        texts += [(r.text or "").strip() for r in _children(structured, "AddtlRmtInf")]
        doc = _child(structured, "RfrdDocInf")
        if doc is not None and _text(doc, "Nb"):
            texts.append(_text(doc, "Nb"))
    return [t for t in texts if t], reference[:64]


def read_camt(data: bytes) -> Statement:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
    try:
        root = etree.parse(io.BytesIO(data), parser).getroot()
    except etree.XMLSyntaxError as exc:
        raise StatementError(_l("The XML is malformed: %(detail)s", detail=exc.msg),
                             str(_l("line %(line)s", line=exc.lineno))) from None
    namespace = etree.QName(root).namespace or ""
    kind_el = next((c for c in root if isinstance(c.tag, str) and _local(c) in _CAMT_KINDS), None)
    if _local(root) != "Document" or kind_el is None:
        raise StatementError(_l("This XML is not an ISO 20022 camt.053 or camt.054 statement."),
                             _where(root))
    kind, report = _CAMT_KINDS[_local(kind_el)]
    version = namespace.rsplit(":", 1)[-1] if namespace else kind
    statement = Statement(format=kind, version=version)
    for stmt in _children(kind_el, report):
        account = _text(stmt, "Acct", "Id", "IBAN") or _text(stmt, "Acct", "Id", "Othr", "Id")
        account = account.replace(" ", "").upper()[:64]
        statement.account = statement.account or account
        for entry in _children(stmt, "Ntry"):
            _camt_entry(entry, account, statement)
    if not statement.lines and not statement.debits and not statement.other and not _children(kind_el, report):
        raise StatementError(_l("No statement (%(element)s) in this file.", element=report), _where(kind_el))
    return statement


def _camt_entry(entry, account: str, statement: Statement) -> None:
    indicator = _text(entry, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise StatementError(_l("CdtDbtInd must be CRDT or DBIT."), _where(entry))
    amount_el = _child(entry, "Amt")
    if amount_el is None:
        raise StatementError(_l("The entry has no amount (Amt)."), _where(entry))
    amount, currency = _camt_amount(amount_el)
    status = _text(entry, "Sts") or _text(entry, "Sts", "Cd")
    reversal = _text(entry, "RvslInd").lower() in ("true", "1")
    if indicator == "DBIT":
        statement.debits += 1
        return
    if status not in ("", "BOOK") or reversal:
        statement.other += 1
        return
    booked = _camt_date(_child(entry, "BookgDt"), entry) or _camt_date(_child(entry, "ValDt"), entry)
    if booked is None:
        raise StatementError(_l("The entry has no booking date (BookgDt)."), _where(entry))
    value_date = _camt_date(_child(entry, "ValDt"), entry)
    entry_ref = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")
    entry_info = _text(entry, "AddtlNtryInf")
    details = [d for block in _children(entry, "NtryDtls") for d in _children(block, "TxDtls")]
    if len(details) <= 1:
        detail = details[0] if details else None
        texts, reference = _remittance(detail) if detail is not None else ([], "")
        name, iban = _party(detail, "Dbtr") if detail is not None else ("", "")
        label = " ".join([*texts, entry_info] if entry_info and entry_info not in texts else texts)
        statement.lines.append(StatementLine(
            booked, amount, currency, label[:MAX_LABEL], reference, name, iban,
            (entry_ref or (_text(detail, "Refs", "AcctSvcrRef") if detail is not None else ""))[:120],
            account, value_date, _where(entry)))
        return
    for index, detail in enumerate(details, start=1):  # a batch: one line per credit transfer
        amount_el = _child(detail, "AmtDtls", "TxAmt", "Amt")
        if amount_el is None:
            amount_el = _child(detail, "Amt")
        if amount_el is None:
            raise StatementError(_l("A transaction of a batch entry has no amount (AmtDtls or Amt)."),
                                 _where(detail))
        tx_amount, tx_currency = _camt_amount(amount_el)
        texts, reference = _remittance(detail)
        name, iban = _party(detail, "Dbtr")
        own_ref = _text(detail, "Refs", "AcctSvcrRef")
        ref = own_ref or (f"{entry_ref}/{index}" if entry_ref else "")
        statement.lines.append(StatementLine(
            booked, tx_amount, tx_currency, " ".join(texts)[:MAX_LABEL], reference, name, iban, ref[:120],
            account, value_date, _where(detail)))


# --- OFX ----------------------------------------------------------------------------------------------------------

def read_ofx(data: bytes) -> Statement:
    from ofxtools.Parser import OFXTree

    tree = OFXTree()
    try:
        tree.parse(io.BytesIO(data))
        written = _days_as_written(tree.getroot())
        ofx = tree.convert()
    except (SyntaxError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise StatementError(_l("The OFX file can't be read: %(detail)s", detail=detail)) from None
    sgml = data.lstrip(b"\xef\xbb\xbf \t\r\n").upper().startswith(b"OFXHEADER:")
    statement = Statement(format="ofx", version="1.x SGML" if sgml else "2.x XML")
    try:
        statements = list(ofx.statements)
    except (AttributeError, RecursionError):
        statements = []
    if not statements:
        raise StatementError(_l("No bank statement (STMTRS or CCSTMTRS) in this OFX file."))
    for stmt in statements:
        account_obj = getattr(stmt, "account", None)
        account = str(getattr(account_obj, "acctid", "") or "")[:64]
        statement.account = statement.account or account
        default_currency = str(getattr(stmt, "curdef", "") or "EUR")
        for tx in getattr(stmt, "banktranlist", None) or []:
            amount = Decimal(tx.trnamt).quantize(Decimal("0.01"))
            if amount <= 0:
                statement.debits += 1
                continue
            currency = default_currency
            if getattr(tx, "currency", None) is not None:
                currency = str(tx.currency.cursym)
            posted = _day_written(written, tx)
            name = str(tx.name or (tx.payee.name if getattr(tx, "payee", None) is not None else "") or "")
            memo = str(tx.memo or "")
            label = " ".join(p for p in (name, memo) if p)
            statement.lines.append(StatementLine(
                posted, amount, currency, label[:MAX_LABEL], str(tx.refnum or "")[:64], name[:200], "",
                str(tx.fitid or "")[:120], account, None, f"FITID {tx.fitid}"))
    return statement


def _days_as_written(root) -> dict[str, list[date | None]]:
    """Each transaction's posting day as the bank wrote it (the first 8 digits of DTPOSTED, in the bank's time zone),
    by FITID, in the file's order. ofxtools turns "20261204003000[+1:CET]" into 3 December 23:30 UTC: the payment
    would be dated the day before the one on the customer's statement."""
    found: dict[str, list[date | None]] = {}
    for element in root.iter("STMTTRN"):
        raw = (element.findtext("DTPOSTED") or "").strip()
        try:
            day: date | None = date(int(raw[0:4]), int(raw[4:6]), int(raw[6:8]))
        except ValueError:
            day = None  # ofxtools reports what is wrong with it
        found.setdefault((element.findtext("FITID") or "").strip(), []).append(day)
    return found


def _day_written(written: dict[str, list[date | None]], tx) -> date:
    """The transaction's day as written (`_days_as_written`), else ofxtools' (UTC) day."""
    days = written.get(str(tx.fitid or "").strip())
    day = days.pop(0) if days else None
    if day is not None:
        return day
    return tx.dtposted.date() if isinstance(tx.dtposted, datetime) else tx.dtposted


# --- CSV ----------------------------------------------------------------------------------------------------------

def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fold(text)).strip("_")


def parse_columns(raw: str) -> dict[str, str]:
    """--columns "date=Date opération,amount=Montant,label=Libellé" -> {field: header}; StatementError when a
    field is unknown."""
    result: dict[str, str] = {}
    for part in (p for p in raw.split(",") if p.strip()):
        name, sep, header = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in CSV_FIELDS or not header.strip():
            raise StatementError(_l('"%(part)s": write field=column header, the fields being %(fields)s.',
                                    part=part.strip()[:60], fields=", ".join(CSV_FIELDS)))
        result[name] = header.strip()
    return result


def read_csv(data: bytes, columns: dict[str, str]) -> Statement:
    import csv

    plan = ImportPlan(kind="payments")
    text = decode(data, plan)
    if text is None:
        error = plan.errors[0]
        raise StatementError(error.message, str(_l("line %(line)s", line=error.line)) if error.line else "")
    lines = text.splitlines()
    header_index = next((i for i, line in enumerate(lines) if line.strip()), 0)
    wanted = {field_name: _header_key(header) for field_name, header in columns.items()}
    known = {alias: name for name, aliases in CSV_ALIASES.items() for alias in aliases}

    def mapping(cells: list[str]) -> dict[str, int]:
        keys = [_header_key(c.lstrip("\ufeff")) for c in cells]
        found: dict[str, int] = {}
        for field_name, key in wanted.items():
            if key in keys:
                found[field_name] = keys.index(key)
        for index, key in enumerate(keys):
            name = known.get(key)
            if name and name not in found and name not in wanted and index not in found.values():
                found[name] = index
        return found

    def header(sep: str) -> list[str]:  # a line that is no CSV header (a field over csv's limit...): no cell
        try:
            return next(csv.reader([lines[header_index]] if lines else [""], delimiter=sep))
        except (csv.Error, StopIteration):
            return []

    separator = max((";", ",", "\t"), key=lambda sep: len(mapping(header(sep))))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    statement = Statement(format="csv", version=f"sep={separator!r}")
    positions: dict[str, int] | None = None
    line_no = 1
    try:
        for cells in reader:
            start, line_no = line_no, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            where = str(_l("line %(line)s", line=start))
            if positions is None:
                positions = mapping(cells)
                missing = [f for f in wanted if f not in positions]
                if missing:
                    raise StatementError(_l('Column "%(header)s" (%(field)s) is not in the header.',
                                            header=columns[missing[0]], field=missing[0]), where)
                if "date" not in positions or not ({"amount", "credit"} & set(positions)) \
                        or "label" not in positions:
                    raise StatementError(_l(
                        "The header must name a date, an amount (or a credit column) and a label; give them with "
                        "--columns date=...,amount=...,label=... when their names are not recognised."), where)
                continue
            _csv_row(cells, positions, statement, where)
    except csv.Error as exc:
        raise StatementError(_l("The CSV is malformed here (%(detail)s): a quote is probably not closed.",
                                detail=str(exc)), str(_l("line %(line)s", line=line_no))) from None
    if positions is None:
        raise StatementError(_l("The file is empty."))
    return statement


def _csv_row(cells: list[str], positions: dict[str, int], statement: Statement, where: str) -> None:
    def cell(name: str) -> str:
        index = positions.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    try:
        if "amount" in positions:
            amount = parse_amount(cell("amount"), allow_negative=True) if cell("amount") else Decimal(0)
        else:
            credit = parse_amount(cell("credit"), allow_negative=True) if cell("credit") else Decimal(0)
            debit = parse_amount(cell("debit"), allow_negative=True) if cell("debit") else Decimal(0)
            amount = abs(credit) if credit else -abs(debit)
        if amount <= 0:
            statement.debits += 1
            return
        if not cell("date"):
            raise InvalidValue(_l("The date is missing."))
        booked = parse_date(cell("date"))
        value_date = parse_date(cell("value_date")) if cell("value_date") else None
    except InvalidValue as exc:
        raise StatementError(exc.args[0], where) from None
    currency = (cell("currency") or "EUR").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise StatementError(_l('"%(value)s" is not a currency code.', value=currency[:20]), where)
    label = " ".join(cell("label").split())
    statement.lines.append(StatementLine(
        booked, amount, currency, label[:MAX_LABEL], cell("reference")[:64], cell("counterparty")[:200],
        cell("iban").replace(" ", "").upper()[:34], "", "", value_date, where))
