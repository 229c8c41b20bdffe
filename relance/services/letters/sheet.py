"""A letter as the words it prints (`LetterSheet`): every label translated, every amount and date formatted in the
customer's language, the body's HTML read into paragraphs and tables. Made in the caller's process (it needs the
app's translations); `letters/typeset.py` lays it out on A4 pages without the app, in the letter workers.

What the sheet holds is text, never markup: the typesetter escapes it (a customer named "<b>" prints "<b>")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from flask_babel import force_locale, get_locale
from flask_babel import gettext as _

from relance.services.texts import typography
from relance.services.texts.formatting import format_day, format_money, short_day

# a paragraph: its runs, each (text, link or ""); "\n" alone is a line break
Run = tuple[str, str]


@dataclass
class Table:
    """A table of the text (`__INVOICES_TABLE__`) or the letter's statement: the header's and rows' cells, and which
    columns are numbers (right-aligned)."""

    head: list[str]
    rows: list[list[str]]
    numbers: list[bool]
    widths: tuple[float, ...] = ()  # fractions of the line (the statement's fixed columns); (): from the content


@dataclass
class LetterSheet:
    language: str
    title: str
    company: str  # the letterhead's name
    letterhead: list[str]  # the lines under it (street, postcode and city, phone, email)
    logo: str  # data: URL of a PNG or JPEG, or ""
    reference: str  # "Our reference: C001 / FA-1" ("": none)
    registered: str  # the registered-letter mention above the window ("": not a formal notice)
    return_address: str
    recipient: list[str]
    place_date: str
    notice: str  # "FORMAL NOTICE" ("": none)
    subject: str  # "Subject: ..."
    body: list[list[Run] | Table]
    statement_title: str = ""
    statement: Table | None = None
    payment: list[tuple[str, str]] = field(default_factory=list)  # the payment box: (text, mono value), title first
    payment_url: str = ""  # "Pay online: https://..." (wraps anywhere)
    sums_title: str = ""
    sums: list[tuple[str, str, str]] = field(default_factory=list)  # (label, amount, "" | "total" | "apart")
    page_link: tuple[str, str, str] | None = None  # (title, explanation, address: printed with its QR code)
    signature: str = ""
    running: tuple[str, str] = ("", "")  # the following pages' header: company name, rest ("· Our ref... (continued)")
    legal: str = ""  # the footer's legal line


def plain_sheet(words: str) -> LetterSheet:
    """A sheet that only says `words` (a worker's first letter; tests of the pool and the merged PDF)."""
    return LetterSheet(language="en", title=words, company="", letterhead=[], logo="", reference="", registered="",
                       return_address="", recipient=[], place_date="", notice="", subject="",
                       body=[[(words, "")]])


def _labelled(label: str, value: str) -> str:
    """"Subject: value" in English, "Objet\u00a0: value" in French (the pages' `label` filter); "" without a value.
    (No gettext call inside an f-string: Babel's extraction would not see it.)"""
    return f"{typography.for_language(f'{label}:', str(get_locale() or ''))} {value}" if value else ""


class _Body(HTMLParser):
    """The body's HTML (our own: `<p>` with `<br>` and `<a href>`, `<table class="invoices">`) -> blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[list[Run] | Table] = []
        self.runs: list[Run] = []
        self.href = ""
        self.table: Table | None = None
        self.cell: list[str] | None = None
        self.row: list[str] | None = None
        self.in_head = False

    def _flush(self) -> None:
        while self.runs and self.runs[-1][0] == "\n":
            self.runs.pop()
        if any(text.strip() for text, _href in self.runs):
            self.blocks.append(self.runs)
        self.runs = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "p":
            self._flush()
        elif tag == "br" and self.table is None:
            self.runs.append(("\n", ""))
        elif tag == "a":
            self.href = dict(attrs).get("href") or ""
        elif tag == "table":
            self._flush()
            self.table = Table([], [], [])
        elif tag == "thead":
            self.in_head = True
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag in ("td", "th") and self.table is not None:
            self.cell = []
            if self.in_head:
                self.table.numbers.append(dict(attrs).get("class") == "num")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._flush()
        elif tag == "a":
            self.href = ""
        elif tag == "thead":
            self.in_head = False
        elif tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(re.sub(r"[ \t\r\n]+", " ", "".join(self.cell)).strip(" "))  # no-break spaces kept
            self.cell = None
        elif tag == "tr" and self.table is not None and self.row is not None:
            (self.table.head.extend(self.row) if self.in_head else self.table.rows.append(self.row))
            self.row = None
        elif tag == "table" and self.table is not None:
            self.blocks.append(self.table)
            self.table = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        elif self.table is None:
            text = " ".join(data.split("\n"))  # the HTML's own newlines (after a <br>) are spaces, as a browser shows
            if text.strip() or self.runs:
                self.runs.append((text, self.href))


def body_blocks(html: str) -> list[list[Run] | Table]:
    parser = _Body()
    parser.feed(str(html))
    parser.close()
    parser._flush()
    return parser.blocks


STATEMENT_WIDTHS = (0.24, 0.18, 0.20, 0.17, 0.21)  # the widest headers of the six languages fit (es, nl)


def letter_sheet(data) -> LetterSheet:
    """The sheet of a `printing.LetterData`, in the customer's language (needs the app: translations)."""
    formats = data.locale or data.language  # en_GB: English words (the en catalogue), British dates
    with force_locale(formats):
        return _sheet(data, formats)


def _sheet(data, formats: str) -> LetterSheet:
    company = data.company

    def money(amount, currency=None) -> str:
        return format_money(amount, currency or data.currency, formats)

    letterhead = [line for line in (
        company.get("address") or "",
        " ".join(p for p in (company.get("postcode"), company.get("city")) if p),
        _labelled(_("Phone"), company.get("phone") or ""),
        company.get("email") or "") if line]
    reference = _labelled(_("Our reference"), data.reference)
    back = [company["name"]]
    if company.get("address"):
        back.append(company["address"])
    if company.get("city"):
        back.append(f"{company.get('postcode') or ''} {company['city']}".strip())
    legal = []
    if company.get("legal"):
        legal.append(company["legal"])
    if company.get("siren"):
        legal.append(_labelled(_("SIRET") if len(company["siren"]) == 14 else _("SIREN"), company["siren"]))
    if company.get("vat"):
        legal.append(_labelled(_("VAT number"), company["vat"]))
    body = body_blocks(data.body_html)
    sheet = LetterSheet(
        language=data.language, title=data.subject, company=company["name"], letterhead=letterhead,
        logo=company.get("logo_url") or "", reference=reference,
        registered=_("Registered letter with acknowledgement of receipt") if data.formal_notice else "",
        return_address=" · ".join(back), recipient=list(data.recipient),
        place_date=(f"{company['city']}, " if company.get("city") else "") + format_day(data.on, formats),
        notice=_("FORMAL NOTICE") if data.formal_notice else "",
        subject=_labelled(_("Subject"), data.subject), body=body,
        running=(company["name"], (f" · {reference}" if reference else "") + " " + _("(continued)")),
        legal=" · ".join(legal), signature=data.signature)
    if data.invoices and not any(isinstance(block, Table) for block in body):
        sheet.statement_title = _("Statement of your unpaid invoices")
        sheet.statement = Table(
            [_("Invoice"), _("Date"), _("Due date"), _("Days late"), _("Remaining due")],
            [[line.number, short_day(line.issue_date, formats),
              short_day(line.due_date, formats) if line.due_date else "", str(line.days_late),
              money(line.remaining_due, line.currency)] for line in data.invoices],
            [False, False, False, True, True], STATEMENT_WIDTHS)
    if company.get("iban") or data.payment_url:
        sheet.payment = [(_("How to pay"), "")]
        if company.get("iban"):
            sheet.payment += [(_("Bank transfer"), ""), ("IBAN ", company["iban"])]
            if company.get("bic"):
                sheet.payment.append(("BIC ", company["bic"]))
            sheet.payment.append((_("Please quote: %(reference)s",
                                    reference=data.payment_reference or data.reference), ""))
        if data.payment_url:
            sheet.payment_url = _labelled(_("Pay online"), data.payment_url)
    sheet.sums_title = _("Summary of the amounts due")
    sums = [(_("Principal (remaining due)"), money(data.principal), "")]
    if data.penalty:
        sums.append((_("Late payment penalty"), money(data.penalty), ""))
    if data.interest is None:
        sums.append((_("Statutory late interest"), _("not computed"), ""))
    elif data.interest:
        sums.append((_("Statutory late interest"), money(data.interest), ""))
    if data.indemnity_apart:  # an indemnity in another currency (40 EUR on a USD invoice): after the total, not in it
        sums.append((_("Total due, excluding the indemnity"), money(data.total), "total"))
        sums.append((_("Fixed recovery indemnity"), money(data.indemnity, data.indemnity_currency), "apart"))
    else:
        if data.indemnity:
            sums.append((_("Fixed recovery indemnity"), money(data.indemnity), ""))
        sums.append((_("Total due"), money(data.total), "total"))
    sheet.sums = sums
    if data.page_url:
        sheet.page_link = (_("Your invoices online"),
                           _("Scan the code or type the address to download your invoices, or to tell us that you "
                             "have paid, when you will pay or what is wrong:"), data.page_url)
    return sheet
