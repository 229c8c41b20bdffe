"""The __VARIABLES__ of reminder texts: one registry (description, compute, format per language).

Substitution is plain text replacement from this registry: a text is data and nothing in it is evaluated.
Names kept from the Dolibarr module (users paste their texts) come first; their amounts are numbers without
currency (the old texts write "__TOTAL_TTC__ __MONEY__"). Our own amounts carry their currency.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from babel.numbers import get_currency_precision
from flask_babel import force_locale, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from relance.services.engine.penalties import ZERO, Claim
from relance.services.errors import RelanceError
from relance.services.texts import typography
from relance.services.texts.formatting import babel_locale, currency_symbol, format_day, format_money, format_number

VARIABLE_RE = re.compile(r"__[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*__")


@dataclass(frozen=True)
class OverdueLine:
    number: str
    issue_date: date
    due_date: date
    remaining_due: Decimal
    currency: str
    days_late: int
    # a message for several invoices (`wording.Renderer.render(group=...)`): each invoice's level and total claimed
    level_name: str = ""
    claimed: Decimal | None = None


@dataclass(frozen=True)
class Context:
    """Everything a text may show about one reminder, as plain values."""

    language: str
    on: date  # the reminder date
    invoice_number: str
    invoice_date: date
    due_date: date
    currency: str
    total_incl_tax: Decimal
    claim: Claim
    level_name: str = ""
    penalty_kind: str = "none"
    penalty_value: Decimal = ZERO
    customer_name: str = ""
    customer_code: str = ""
    contact_name: str = ""
    contact_first_name: str = ""
    signature: str = ""
    payment_url: str = ""
    deadline: date | None = None
    company: dict = field(default_factory=dict)  # name, address, iban, bic ...
    overdue: tuple[OverdueLine, ...] = ()
    locale: str = ""  # the formats of the reader's country (formatting.format_locale); the language's when empty
    customer_page_url: str = ""  # the link to the customer's page ("" when Relance has no public address)
    promise_date: date | None = None  # the day the customer promised to pay (an open promise), else None

    @property
    def formats(self) -> str:
        return self.locale or self.language


@dataclass(frozen=True)
class Variable:
    name: str
    description: object  # lazy string
    compute: Callable[[Context], object]
    kind: str = "text"  # text, money, number, amount (number without currency), date, int, table
    currency: Callable[[Context], str] | None = None  # money in another currency than the invoice's
    optional: bool = False  # a paragraph holding it is left out when its value is empty (`paragraphs`)


def _indemnity_currency(ctx: Context) -> str:
    return ctx.claim.indemnity_currency or ctx.currency


def _number(value: Decimal, language: str, currency: str = "EUR") -> str:
    """An amount without its currency, with the currency's decimals: 1,200.00 (EUR), 151,039 (JPY)."""
    digits = get_currency_precision(currency)
    return format_number(value, "#,##0" + ("." + "0" * digits if digits else ""), language)


def _interest_detail(ctx: Context) -> str:
    claim = ctx.claim
    if claim.interest is None:
        return _("statutory interest not computed (rate missing)")
    if not claim.interest_periods:
        return _("no statutory interest")
    parts = [
        _("%(rate)s%% a year on %(base)s from %(start)s to %(end)s, %(days)s days",
          rate=format_number(p.rate, "#,##0.00", ctx.formats),
          base=format_money(p.base, ctx.currency, ctx.formats),
          start=format_day(p.start, ctx.formats), end=format_day(p.end, ctx.formats), days=p.days)
        for p in claim.interest_periods
    ]
    return "; ".join(parts)


_DAYS_LATE: dict[tuple[str, int], str] = {}  # (locale in force, days): the words, looked up once per process


def _days_late(ctx: Context) -> str:
    # keyed by the locale ngettext translates with (resolve()'s force_locale(ctx.language)), not by ctx.language:
    # a call outside an app context (no locale, English words) must not be kept as the French ones
    key = (str(get_locale()), ctx.claim.days_late)
    words = _DAYS_LATE.get(key)
    if words is None:
        words = _DAYS_LATE[key] = ngettext("%(num)d day", "%(num)d days", ctx.claim.days_late)
    return words


def _claim_detail(ctx: Context) -> str:
    """What is claimed, one line each, the lines at zero left out (the remaining due always shows)."""
    claim, money = ctx.claim, (lambda amount: format_money(amount, ctx.currency, ctx.formats))
    lines = [_("principal outstanding: %(amount)s", amount=money(claim.remaining_due))]
    if claim.penalty:
        lines.append(_("fixed penalty under our terms and conditions: %(amount)s", amount=money(claim.penalty)))
    if claim.interest is None or claim.interest:
        amount = money(claim.interest) if claim.interest is not None else _("(not computed)")
        lines.append(_("late-payment interest: %(amount)s (%(detail)s)", amount=amount,
                       detail=_interest_detail(ctx)))
    if claim.indemnity:  # in its own currency (40 EUR on a USD invoice: then not part of the total)
        lines.append(_("fixed compensation for recovery costs (business customers): %(amount)s",
                       amount=format_money(claim.indemnity, _indemnity_currency(ctx), ctx.formats)))
    return ";\n".join(f"- {line}" for line in lines) + "."  # French spacing comes with the value's typography


def _total_claimed(ctx: Context) -> str:
    """The total in the invoice's currency; an indemnity in another currency follows it, never added to it:
    "$1,218.77 plus €40.00 fixed compensation for recovery costs"."""
    total = format_money(ctx.claim.total_claimed, ctx.currency, ctx.formats)
    if not ctx.claim.indemnity_apart:
        return total
    return _("%(total)s plus %(indemnity)s fixed compensation for recovery costs", total=total,
             indemnity=format_money(ctx.claim.indemnity, _indemnity_currency(ctx), ctx.formats))


def _penalty_value(ctx: Context) -> str:
    if ctx.penalty_kind == "percent":
        return format_number(ctx.penalty_value, "#,##0.##", ctx.formats)
    return _number(ctx.penalty_value, ctx.formats, ctx.currency)


def _penalty_type(ctx: Context) -> str:
    if ctx.penalty_kind == "percent":
        return "%"
    return currency_symbol(ctx.currency, ctx.formats)


def payment_url(pattern: str, number: str, customer_code: str, amount) -> str:
    """The company's online payment link for one invoice (the setting's pattern with {number}, {customer} and
    {amount} filled in, each quoted), or "" without a pattern: the one builder for texts and letters."""
    if not pattern:
        return ""
    return (pattern.replace("{number}", quote(number, safe="")).replace("{customer}", quote(customer_code, safe=""))
            .replace("{amount}", str(amount)))


def _payment_url(ctx: Context) -> str:
    return payment_url(ctx.payment_url, ctx.invoice_number, ctx.customer_code, ctx.claim.remaining_due)


def _company_address(ctx: Context) -> str:
    company = ctx.company
    town = " ".join(p for p in (company.get("postcode", ""), company.get("city", "")) if p)
    return ", ".join(p for p in (company.get("address", ""), town) if p)


_VARIABLES = [
    # names from the Dolibarr module
    Variable("__REF_FACTURE__", _l("Invoice number"), lambda c: c.invoice_number),
    Variable("__DATE_FACTURE__", _l("Invoice date"), lambda c: c.invoice_date, "date"),
    Variable("__TOTAL_TTC__", _l("Invoice total incl. tax, without currency (follow it with __MONEY__)"),
             lambda c: c.total_incl_tax, "amount"),
    Variable("__MONEY__", _l("Currency symbol of the invoice"),
             lambda c: currency_symbol(c.currency, c.formats)),
    Variable("__DATE_ECHEANCE__", _l("Due date of the invoice"), lambda c: c.due_date, "date"),
    Variable("__DETTE__", _l("Remaining due, without currency"), lambda c: c.claim.remaining_due, "amount"),
    Variable("__MAJORATION__", _l("Penalty of the level as configured (amount or percentage)"), _penalty_value),
    Variable("__MAJORATIONTYPE__", _l("Type of the penalty: % or the currency symbol"), _penalty_type),
    Variable("__MAJORATION_TOTAL__", _l("Amount to pay now: the remaining due plus the penalty, without currency"),
             lambda c: c.claim.remaining_due + c.claim.penalty, "amount"),
    Variable("__RETARD__", _l("Days late"), lambda c: c.claim.days_late, "int"),
    Variable("__DAYS_LATE__", _l("Days late with the word: 1 day, 12 days"), _days_late),
    Variable("__FRAISSUP__", _l("Penalty amount, without currency"), lambda c: c.claim.penalty, "amount"),
    Variable("__USER_SIGNATURE__", _l("Signature of the user making the reminder (else the company name)"),
             lambda c: c.signature or c.company.get("name", "")),
    Variable("__ONLINE_PAYMENT_URL__", _l("Online payment link (from the payment URL setting)"), _payment_url),
    Variable("__NAME__", _l("Last name of the billing contact"), lambda c: c.contact_name),
    Variable("__FIRSTNAME__", _l("First name of the billing contact"), lambda c: c.contact_first_name),
    # ours
    Variable("__CUSTOMER_NAME__", _l("Customer name"), lambda c: c.customer_name),
    Variable("__CUSTOMER_CODE__", _l("Customer code"), lambda c: c.customer_code),
    Variable("__COMPANY_NAME__", _l("Your company name"), lambda c: c.company.get("name", "")),
    Variable("__COMPANY_ADDRESS__", _l("Your company address on one line"), _company_address),
    Variable("__COMPANY_IBAN__", _l("Your IBAN"), lambda c: c.company.get("iban", "")),
    Variable("__COMPANY_BIC__", _l("Your BIC"), lambda c: c.company.get("bic", "")),
    Variable("__AMOUNT_DUE__", _l("Remaining due, with currency"), lambda c: c.claim.remaining_due, "money"),
    Variable("__PENALTY__", _l("Penalty amount, with currency"), lambda c: c.claim.penalty, "money"),
    Variable("__INTEREST__", _l("Statutory late interest, with currency"), lambda c: c.claim.interest, "money"),
    Variable("__INTEREST_DETAIL__", _l("Statutory interest rate(s) and period(s)"), _interest_detail),
    Variable("__INDEMNITY__", _l("Fixed recovery indemnity (business customers), with currency"),
             lambda c: c.claim.indemnity, "money", _indemnity_currency),
    Variable("__CLAIM_DETAIL__", _l("What is claimed, one line each (remaining due, then the penalty, interest and "
                                    "indemnity that are not zero)"), _claim_detail),
    Variable("__TOTAL_CLAIMED__", _l("Total claimed: remaining due + penalty + interest + indemnity"),
             _total_claimed),
    Variable("__DEADLINE__", _l("Payment deadline (reminder date + the notice deadline setting)"),
             lambda c: c.deadline, "date"),
    Variable("__TODAY__", _l("Date of the reminder"), lambda c: c.on, "date"),
    Variable("__LEVEL_NAME__", _l("Name of the reminder level"), lambda c: c.level_name),
    Variable("__INVOICES_TABLE__", _l("Table of the customer's overdue invoices (in a message for several "
                                       "invoices: those invoices, each with its level and total claimed)"),
             lambda c: c.overdue, "table"),
    Variable("__CUSTOMER_PAGE_URL__", _l("Link to the customer's page: their open invoices to download, and where "
                                         "they answer (paid, will pay on a date, dispute). Without a link (no public "
                                         "address) the paragraph holding it is left out: write it in a paragraph of "
                                         "its own"),
             lambda c: c.customer_page_url, optional=True),
    Variable("__PROMISE_DATE__", _l("The date the customer promised to pay (empty without a promise)"),
             lambda c: c.promise_date, "date"),
]
VARIABLES: dict[str, Variable] = {v.name: v for v in _VARIABLES}
OPTIONAL = frozenset(v.name for v in _VARIABLES if v.optional)  # their paragraph goes when they are empty


def names() -> list[str]:
    return list(VARIABLES)


def unknown_variables(text: str) -> list[str]:
    """The `__X__` names in a text that are not in the registry, in order of appearance, once each."""
    found = dict.fromkeys(m.group(0) for m in VARIABLE_RE.finditer(text or ""))
    return [name for name in found if name not in VARIABLES]


class TemplateError(RelanceError):
    """A text that cannot be saved: `errors` maps "subject"/"body" to the message (`message` joins them all)."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def validate_template(subject: str, body: str) -> None:
    """Refuse an empty subject or body and any unknown variable (listing the valid ones)."""
    errors: dict[str, str] = {}
    for field_name, text in (("subject", subject), ("body", body)):
        if not (text or "").strip():
            errors[field_name] = str(_l("The subject cannot be empty.") if field_name == "subject"
                                     else _l("The body cannot be empty."))
            continue
        unknown = unknown_variables(text)
        if unknown:
            errors[field_name] = str(_l("Unknown variable(s): %(unknown)s. Valid variables: %(valid)s.",
                                        unknown=", ".join(unknown), valid=", ".join(VARIABLES)))
    if errors:
        raise TemplateError(errors)


def _format(variable: Variable, value: Any, ctx: Context, html: bool) -> str:  # value: of the variable's kind
    language = ctx.formats
    if variable.kind == "table":
        return _table_html(value, language) if html else _table_text(value, language)
    if value is None or value == "":
        return "" if variable.kind != "money" else _("(not computed)")
    if variable.kind == "money":
        return format_money(value, variable.currency(ctx) if variable.currency else ctx.currency, language)
    if variable.kind == "amount":
        return _number(value, language, ctx.currency)
    if variable.kind == "date":
        return format_day(value, language)
    return str(value)


def values(ctx: Context, html: bool = False) -> dict[str, str]:
    """Every variable's value formatted for the context's language (escaped Markup when `html`)."""
    with force_locale(ctx.language):
        result = {}
        for variable in _VARIABLES:
            text = _format(variable, variable.compute(ctx), ctx, html)
            if not isinstance(text, Markup):
                text = typography.for_language(text, ctx.language)
            if html and not isinstance(text, Markup):  # escaped, its lines kept as in the text's paragraphs
                text = Markup(str(escape(text)).replace("\n", "<br>"))  # noqa: S704 (escaped)
            result[variable.name] = text
        return result


def substitute(text: str, mapping: dict[str, str]) -> str:
    """Plain replacement of known `__X__` names; anything else is left as written."""
    return VARIABLE_RE.sub(lambda m: str(mapping.get(m.group(0), m.group(0))), text or "")


# Paragraphs: a text's parts between blank lines. One rule in the three renderings (`render_text`, `render_html`,
# `Compiled`): a paragraph holding an OPTIONAL variable (the link to the customer's page) is left out, whole, when
# that variable's value is empty; in the plain text with the blank line before it (after it for the first one).
_BLANK_LINE = re.compile(r"(\n\s*\n)")


def paragraphs(text: str) -> list[tuple[str, str]]:
    """(the blank line before it, the paragraph) for each paragraph of a text, the first with "" before it:
    joined again, they are the text."""
    pieces = _BLANK_LINE.split(text)
    return [(pieces[i - 1] if i else "", pieces[i]) for i in range(0, len(pieces), 2)]


def needs(paragraph: str) -> frozenset[str]:
    """The OPTIONAL variables of a paragraph: it is left out when one of them is empty."""
    return frozenset(m.group(0) for m in VARIABLE_RE.finditer(paragraph)).intersection(OPTIONAL)


def _kept(needed: frozenset[str], mapping: dict[str, str]) -> bool:
    return all(mapping.get(name) for name in needed)


def render_text(text: str, ctx: Context) -> str:
    """The text with every variable's value (French spacing around punctuation for a French reader), without the
    paragraphs whose link is empty."""
    mapping = values(ctx)
    kept = [(blank, paragraph) for blank, paragraph in paragraphs(typography.for_language(text or "", ctx.language))
            if _kept(needs(paragraph), mapping)]
    return "".join((blank if i else "") + substitute(paragraph, mapping) for i, (blank, paragraph) in enumerate(kept))


def render_html(text: str, ctx: Context) -> Markup:
    """The text as HTML: the text and every value escaped, blank lines -> paragraphs, newlines -> <br>; the
    paragraphs whose link is empty left out."""
    mapping = values(ctx, html=True)
    blocks = []
    for paragraph in re.split(r"\n\s*\n", (text or "").strip()):
        if not _kept(needs(paragraph), mapping):
            continue
        stripped = paragraph.strip()
        if stripped == "__INVOICES_TABLE__":
            blocks.append(str(mapping[stripped]))
            continue
        escaped = str(escape(typography.for_language(paragraph, ctx.language))).replace("\n", "<br>\n")
        blocks.append(f"<p>{substitute(escaped, mapping)}</p>")
    return Markup("\n".join(blocks))  # noqa: S704 (the text and every value were escaped above)


# --- many texts at once: one resolution of the variables for the subject, the plain body and the HTML body ---

_NAME_SPLIT = re.compile(f"({VARIABLE_RE.pattern})")
TABLE = "__INVOICES_TABLE__"


@dataclass(frozen=True)
class Compiled:
    """A text made ready once for many readers of one language: typography applied, cut at its variables
    (literal, name, literal, ... : `fill` puts the values in), and its HTML paragraphs escaped and cut the same
    way (a paragraph that is only the invoices table is None). A text with paragraphs that go when their link is
    empty also keeps its plain paragraphs cut one by one (`pieces`: the blank line before, the cut paragraph, the
    variables it needs), and each HTML paragraph what it needs."""

    language: str
    parts: tuple[str, ...]
    paragraphs: tuple[tuple[str, ...] | None, ...]
    names: frozenset[str]  # the variables the text uses (`resolve` needs no others)
    needed: tuple[frozenset[str], ...] = ()  # what each HTML paragraph needs (`needs`); () when none is optional
    pieces: tuple[tuple[str, tuple[str, ...], frozenset[str]], ...] = ()

    def text(self, mapping: dict[str, str]) -> str:
        if not self.pieces:
            return fill(self.parts, mapping)
        kept = [(blank, parts) for blank, parts, needed in self.pieces if _kept(needed, mapping)]
        return "".join((blank if i else "") + fill(parts, mapping) for i, (blank, parts) in enumerate(kept))

    def html(self, mapping: dict[str, str]) -> Markup:
        blocks = [mapping[TABLE] if parts is None else fill(parts, mapping)
                  for n, parts in enumerate(self.paragraphs) if not self.needed or _kept(self.needed[n], mapping)]
        return Markup("\n".join(blocks))  # noqa: S704 (the text was escaped when compiled, the values by `resolve`)


def fill(parts: tuple[str, ...], mapping: dict[str, str]) -> str:
    """`substitute` on a text cut by `compile_text`: the same one pass, unknown names left as written."""
    out = list(parts)
    for i in range(1, len(out), 2):
        out[i] = str(mapping.get(out[i], out[i]))
    return "".join(out)


@lru_cache(maxsize=512)
def compile_text(text: str, language: str) -> Compiled:
    """`text` ready for `render_text` / `render_html` in `language` (kept: a run compiles each level's text once)."""
    html: list[tuple[str, ...] | None] = []
    needed: list[frozenset[str]] = []
    for paragraph in re.split(r"\n\s*\n", (text or "").strip()):
        needed.append(needs(paragraph))
        if paragraph.strip() == TABLE:
            html.append(None)
            continue
        escaped = str(escape(typography.for_language(paragraph, language))).replace("\n", "<br>\n")
        html.append(tuple(_NAME_SPLIT.split(f"<p>{escaped}</p>")))
    typeset = typography.for_language(text or "", language)
    parts = tuple(_NAME_SPLIT.split(typeset))
    names = frozenset(parts[1::2]).union(*(p[1::2] for p in html if p is not None))
    optional = any(needed)
    pieces = tuple((blank, tuple(_NAME_SPLIT.split(paragraph)), needs(paragraph))
                   for blank, paragraph in paragraphs(typeset)) if optional else ()
    return Compiled(language, parts, tuple(html), names | ({TABLE} if None in html else set()),
                    tuple(needed) if optional else (), pieces)


class Tables:
    """The invoices tables (plain and HTML) made once per list of overdue invoices, reader's language and formats:
    the invoices of one customer share theirs (keep one for a run)."""

    def __init__(self) -> None:
        self._made: dict[tuple, tuple[str, str]] = {}

    def get(self, ctx: Context) -> tuple[str, str]:
        key = (ctx.overdue, ctx.language, ctx.formats)
        made = self._made.get(key)
        if made is None:  # under the caller's force_locale(ctx.language): the headers' words
            text = typography.for_language(_table_text(ctx.overdue, ctx.formats), ctx.language)
            made = self._made[key] = (text, str(_table_html(ctx.overdue, ctx.formats)))
        return made


def resolve(ctx: Context, tables: Tables | None = None,
            names: frozenset[str] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """Every variable's value once (or those in `names`: the ones a text uses, `Compiled.names`), as plain text
    and as escaped HTML: exactly `values(ctx)` and `values(ctx, html=True)` (tests/test_batch_texts.py), the
    formatting done once for both."""
    text: dict[str, str] = {}
    html: dict[str, str] = {}
    with force_locale(babel_locale(ctx.language)):  # the Locale parsed once (force_locale would parse it each time)
        for variable in _VARIABLES if names is None else [v for v in _VARIABLES if v.name in names]:
            if variable.kind == "table":
                text[variable.name], html[variable.name] = (tables or Tables()).get(ctx)
                continue
            value = typography.for_language(_format(variable, variable.compute(ctx), ctx, False), ctx.language)
            text[variable.name] = value
            html[variable.name] = str(escape(value)).replace("\n", "<br>")
    return text, html


Column = tuple[str, Callable[[OverdueLine, str], str], bool]  # header, a line's cell in a language, a number


def _columns(lines: tuple[OverdueLine, ...]) -> list[Column]:
    """The invoices table's columns (headers in the current locale). A message for several invoices also shows each
    line's level and total claimed; before their due date (nothing late, nothing more claimed) neither the days late
    nor the total claimed."""
    grouped = any(line.level_name for line in lines)
    early = grouped and all(line.days_late == 0 and line.claimed in (None, line.remaining_due) for line in lines)
    columns: list[Column] = [(_("Invoice"), lambda line, _language: line.number, False)]
    if grouped:
        columns.append((_("Level"), lambda line, _language: line.level_name, False))
    columns += [(_("Date"), lambda line, language: format_day(line.issue_date, language, "short"), False),
                (_("Due date"), lambda line, language: format_day(line.due_date, language, "short"), False)]
    if not early:
        columns.append((_("Days late"), lambda line, _language: str(line.days_late), True))
    columns.append((_("Remaining due"),
                    lambda line, language: format_money(line.remaining_due, line.currency, language), True))
    if grouped and not early:
        columns.append((_("Claimed"), lambda line, language: format_money(
            line.remaining_due if line.claimed is None else line.claimed, line.currency, language), True))
    return columns


def _table_text(lines: tuple[OverdueLine, ...], language: str) -> str:
    columns = _columns(lines)
    rows = [[header for header, _cell, _number in columns],
            *[[cell(line, language) for _header, cell, _number in columns] for line in lines]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    out = []
    for row in rows:
        cells = [cell.rjust(w) if number else cell.ljust(w)
                 for cell, w, (_header, _cell, number) in zip(row, widths, columns, strict=True)]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def _table_html(lines: tuple[OverdueLine, ...], language: str) -> Markup:
    columns = _columns(lines)
    head = "".join(f'<th{" class=num" if number else ""}>{escape(header)}</th>' for header, _cell, number in columns)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if number else ""}>{escape(cell(line, language))}</td>'
                                    for _header, cell, number in columns) + "</tr>" for line in lines)
    html = f'<table class="invoices"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return Markup(html)  # noqa: S704 (every cell was escaped)


def catalogue() -> list[tuple[str, str]]:
    """(name, description) of every variable, described in the current language (for template editors)."""
    return [(v.name, str(v.description)) for v in _VARIABLES]
