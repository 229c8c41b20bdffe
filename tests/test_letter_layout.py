"""Letter layout: nothing printed can be lost, cut or covered.

Letters of every default level x language (fr, en) x number of invoices in the customer's table (1, 2, 5, 12, 30,
60) x customer (a short one; a "worst" one: 40-character customer and company names, an attention line, a
3-line street address, a foreign country, a partial payment and a penalty on levels 2 and 3) = 96 letters, the
full cross product, rendered for real (letters/typeset.py) in four tests (one per language x customer). Each PDF is read
back with poppler (`pdftotext`: its text layer; `pdftotext -bbox`: the box of every word) and pypdf (its pages)
and must show:
- every amount of the summary box, each on the row of its label, the IBAN, the BIC, the payment reference and
  the total due, the payment and summary boxes whole on one page;
- every recipient line in the envelope window, every invoice of the table once, on the row of its amount,
  with the table's header row on every page the table runs on;
- every word inside the printable area, in one of three bands (following pages' header, page area, footer),
  no word over another one, nothing but the footer in the footer band, and "n / N" on every page;
- a "... (continued)" header with the company name on every page but the first.
Six pages of representative letters are kept as PNG in $RELANCE_TEST_OUTPUT/letters/ (a temporary directory
when unset) for a person to look at.
"""

from __future__ import annotations

import html
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from flask_babel import force_locale, gettext
from pypdf import PdfReader
from sqlalchemy import select

from relance.extensions import db
from relance.models import Reminder, ReminderLevel, User
from relance.services import settings as settings_service
from relance.services.letters import content, printing
from relance.services.sending import dunning
from relance.services.texts import wording
from relance.services.texts.formatting import format_money
from tests.conftest import need_service
from tests.factories import install_live_defaults, make_customer, make_invoice, make_payment, make_user

ON = date(2026, 3, 3)
BEFORE_DUE = date(2026, 1, 10)  # the "before due date" level writes 5 days before the main invoice's due date
MM = 72 / 25.4
PAGE_W, PAGE_H = 210.0, 297.0
LEFT, RIGHT, BOTTOM = 22.0, 18.0, 20.0  # the page area's margins (letters/typeset.py), mm
TOP_FIRST, TOP_NEXT = 15.0, 24.0
SLACK = 0.6  # mm: a glyph box may poke out of its line box by the font's ascent/descent rounding
COUNTS = (1, 2, 5, 12, 30, 60)
IBAN, BIC = "FR76 3000 6000 0112 3456 7890 189", "AGRIFRPP"

COMPANY_SHORT = "Atelier Durand SAS"
COMPANY_LONG = "Ateliers Réunis de Mécanique Durand SARL"  # 40 characters
CUSTOMER_SHORT = "Garage Dubois"
CUSTOMER_LONG = "Établissements Lefèvre & Marchand Frères"  # 40 characters, and an "&" to escape
STREET = {  # a one-line street, and three lines of 30-40 characters
    ("fr", False): "12 rue de la République",
    ("fr", True): "Bâtiment C, escalier 4, 3e étage\n40 avenue du Général Maréchal de Lattre\n"
                  "Zone artisanale des Peupliers",
    ("en", False): "14 King Street",
    ("en", True): "Unit 4, Second Floor, Victoria House\n145-157 St John Street Industrial Estate\n"
                  "Ancoats Business Park",
}
assert len(COMPANY_LONG) == 40 and len(CUSTOMER_LONG) == 40


CITY = {  # French customers in France or Belgium, English ones in the United Kingdom (a country line)
    ("fr", False): {"postcode": "69002", "city": "Lyon", "country": "FR"},
    ("fr", True): {"postcode": "1050", "city": "Ixelles", "country": "BE"},
    ("en", False): {"postcode": "EC1A 1BB", "city": "London", "country": "GB"},
    ("en", True): {"postcode": "M1 1AE", "city": "Manchester", "country": "GB"},
}


@dataclass
class Case:
    rank: int
    language: str
    count: int
    worst: bool
    data: printing.LetterData
    pdf: bytes = b""

    @property
    def name(self) -> str:
        return f"level{self.rank}-{self.language}-{self.count}inv-{'worst' if self.worst else 'short'}"


# --- building letters -----------------------------------------------------------------------------------


def company(worst: bool) -> None:
    settings_service.save(db.session, {
        "company_name": COMPANY_LONG if worst else COMPANY_SHORT,
        "company_address": "18 rue des Lilas prolongée, bâtiment des Ateliers" if worst else "18 rue des Lilas",
        "company_postcode": "75011", "company_city": "Paris", "company_phone": "+33 1 23 45 67 89",
        "company_email": "compta@atelier-durand.example", "company_iban": IBAN, "company_bic": BIC,
        "sender_email": "compta@atelier-durand.example",
        "payment_url_pattern": "https://pay.atelier-durand.example/{customer}/{number}",
        "company_legal": ("SARL au capital de 250 000 € — RCS Paris B 123 456 789 — SIRET 123 456 789 00012 — "
                          "TVA FR12 123456789 — APE 2562B — Siège : 18 rue des Lilas, 75011 Paris") if worst
        else "SAS au capital de 50 000 € — RCS Paris 123 456 789",
    })
    db.session.flush()


def customer_with_invoices(language: str, count: int, worst: bool):
    """A customer whose table holds `count` invoices: the one reminded (1 200.00 due 15 Jan 2026) + older ones."""
    customer = make_customer(
        name=CUSTOMER_LONG if worst else CUSTOMER_SHORT, language=language,
        address=STREET[language, worst], **(CITY[language, worst]),
        contacts=[{"name": "Marchand-Lefèvre", "first_name": "Anne-Sophie", "role": "billing"}] if worst else [])
    currency = "EUR" if language == "fr" else "GBP"
    invoice = make_invoice(customer, total="1200.00", due=date(2026, 1, 15), currency=currency)
    if worst:
        make_payment(invoice, "250.00", on=date(2026, 2, 2))
    for n in range(count - 1):
        make_invoice(customer, total=Decimal("100.50") + n, due=date(2025, 12, 1 + n % 28), currency=currency)
    return invoice


def letter_data(level: ReminderLevel, invoice, user: User, on: date, link: str = "") -> printing.LetterData:
    """The letter the engine would print for this invoice at this level (a reminder row never saved, as the
    template editor's preview makes it: the rulebook is not what is tested here); `link`: the customer's page."""
    settings = settings_service.load(db.session)
    rendered = wording.render_for_invoice(db.session, invoice, level, "letter", on, settings, user=user,
                                          page_url=link)
    claim = rendered.claim
    draft = Reminder(key="layout", invoice=invoice, level=level.rank, level_ref=level,
                     formal_notice=level.formal_notice, level_names=dict(level.names or {}), channel="letter",
                     user=user, reminder_date=on, language=rendered.language, subject=rendered.subject,
                     body=rendered.text, penalty=claim.penalty, interest=claim.interest, indemnity=claim.indemnity,
                     indemnity_currency=claim.indemnity_currency if claim.indemnity else "",
                     total_claimed=claim.total_claimed, page_url=link)
    with db.session.no_autoflush:
        data = content.letter_data(db.session, draft, settings)
    if draft in db.session:
        db.session.expunge(draft)
    return data


def build_cases(ranks=(0, 1, 2, 3), languages=("fr", "en"), counts=COUNTS, worsts=(False, True),
                link: str = "") -> list[Case]:
    install_live_defaults(db.session)
    levels = {level.rank: level for level in db.session.scalars(select(ReminderLevel))}
    user = make_user(signature="Claire Agent\nService comptabilité")
    cases = []
    for worst in worsts:
        company(worst)
        for rank in (2, 3):  # the worst customer also has a penalty line (10 % of the invoice)
            levels[rank].penalty_kind, levels[rank].penalty_value = ("percent", Decimal("10")) if worst \
                else ("none", Decimal("0"))
        for language in languages:
            for count in counts:
                invoice = customer_with_invoices(language, count, worst)
                for rank in ranks:
                    data = letter_data(levels[rank], invoice, user, BEFORE_DUE if rank == 0 else ON, link)
                    cases.append(Case(rank, language, count, worst, data))
    db.session.rollback()
    for case in cases:
        case.pdf = printing.render_letter(case.data)
    return cases


# --- reading letters back -------------------------------------------------------------------------------


def norm(text: str) -> str:
    return re.sub(r"[\s\u00a0\u202f]+", " ", text).strip()


@dataclass
class Word:
    page: int
    text: str
    x0: float  # mm from the left and from the top of the sheet
    y0: float
    x1: float
    y1: float


PAGE_RE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)
WORD_RE = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', re.S)


def words_of(pdf: bytes) -> tuple[list[list[Word]], list[tuple[float, float]]]:
    """Every word's box, page by page (poppler's `pdftotext -bbox`), and each page's size in mm."""
    out = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True, check=True).stdout
    pages, sizes = [], []
    for n, (width, height, body) in enumerate(PAGE_RE.findall(out.decode())):
        sizes.append((float(width) / MM, float(height) / MM))
        pages.append([Word(n, html.unescape(text), *(float(v) / MM for v in box))
                      for *box, text in WORD_RE.findall(body)])
    return pages, sizes


def row(words: list[Word], anchor: Word) -> str:
    """The words on the same line as `anchor` (a table row, a label and its amount), left to right."""
    middle = (anchor.y0 + anchor.y1) / 2
    return norm(" ".join(w.text for w in sorted(words, key=lambda w: w.x0) if w.y0 < middle < w.y1))


def find(words: list[Word], phrase: str) -> list[Word]:
    """The first word of each place where `phrase` is written on one line."""
    first = norm(phrase).split(" ")[0]
    return [w for w in words if w.text == first and norm(phrase) in row(words, w)[row(words, w).find(first):]]


def overlaps(words: list[Word]) -> list[tuple[str, str]]:
    """Pairs of words whose boxes cross (beyond SLACK): text printed over text."""
    found = []
    ordered = sorted(words, key=lambda w: w.y0)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.y0 >= a.y1 - SLACK:
                break
            if min(a.x1, b.x1) - max(a.x0, b.x0) > SLACK and min(a.y1, b.y1) - max(a.y0, b.y0) > SLACK:
                found.append((a.text, b.text))
    return found


def labels(language: str) -> dict[str, str]:
    with force_locale(language):
        return {key: gettext(key) for key in (
            "Summary of the amounts due", "Principal (remaining due)", "Late payment penalty",
            "Statutory late interest", "Fixed recovery indemnity", "Total due", "How to pay", "Days late",
            "(continued)", "not computed", "Total due, excluding the indemnity")}


def check_letter(case: Case) -> None:
    """Everything the module docstring promises, for one PDF; the assertion says which letter and what."""
    data, where = case.data, case.name
    reader = PdfReader(io.BytesIO(case.pdf))
    text = norm(subprocess.run(["pdftotext", "-", "-"], input=case.pdf, capture_output=True, check=True)
                .stdout.decode())  # the text layer, as pypdf reads it (other tests) but in C: 96 letters here
    pages, sizes = words_of(case.pdf)
    count = len(pages)
    assert count == len(reader.pages)
    label = labels(data.language)
    money = {key: norm(format_money(getattr(data, key), data.currency, data.locale))
             for key in ("principal", "penalty", "interest", "indemnity", "total") if getattr(data, key)}
    if data.indemnity:  # in its own currency: 40 EUR on a GBP invoice of a French company
        money["indemnity"] = norm(format_money(data.indemnity, data.indemnity_currency or data.currency,
                                               data.locale))

    # 1. what must be read: amounts, IBAN, BIC, reference, recipient, invoices (the text layer)
    for key, value in money.items():
        assert value in text, (where, key, value)
    for value in (IBAN, BIC, data.payment_reference, *data.recipient):
        assert norm(value) in text, (where, value)

    # 2. the boxes: whole on one page, each amount on its label's row
    box_page = [n for n, words in enumerate(pages) if find(words, label["Summary of the amounts due"])]
    assert len(box_page) == 1, (where, "summary box title", box_page)
    words = pages[box_page[0]]
    rows = {"principal": "Principal (remaining due)", "penalty": "Late payment penalty",
            "interest": "Statutory late interest", "indemnity": "Fixed recovery indemnity",
            "total": "Total due, excluding the indemnity" if data.indemnity_apart else "Total due"}
    for key, value in money.items():
        anchors = find(words, label[rows[key]])
        assert anchors and value in row(words, anchors[-1]), (where, key, value, [row(words, a) for a in anchors])
    for key in set(rows) - set(money) - {"principal", "total"}:  # zero lines are left out
        anchors = find(words, label[rows[key]])
        if key == "interest" and data.interest is None:  # no rate: said, never a guessed amount
            assert anchors and label["not computed"] in row(words, anchors[-1]), (where, "interest not computed")
        else:
            assert not anchors, (where, "zero line shown", key)
    payment = find(words, label["How to pay"])
    assert payment, (where, "payment box title")
    box_text = norm(" ".join(w.text for w in sorted(words, key=lambda w: (round(w.y0, 0), w.x0))
                             if w.y0 >= payment[0].y0 - SLACK and w.x0 >= payment[0].x0 - SLACK))
    for value in (IBAN, BIC, data.payment_reference):
        assert value in box_text, (where, "payment box", value)

    # 3. recipient in the envelope window (page 1: 108-200 mm from the left, 45-95 mm from the top)
    first = pages[0]
    for line in data.recipient:
        spots = find(first, line)
        assert spots, (where, "recipient line", line)
        assert all(w.x0 >= 108 and w.x1 <= 200 and w.y0 >= 45 and w.y1 <= 95 for w in spots), (where, line)

    # 4. the invoices table: each invoice once, on its row, header row on every page it runs on
    table_pages = set()
    for line in data.invoices:
        amount = norm(format_money(line.remaining_due, line.currency, data.locale))
        spots = [w for words in pages for w in words if w.text == line.number and w.x0 < LEFT + 5
                 and row(words, w).startswith(line.number) and row(words, w).endswith(amount)]
        assert len(spots) == 1, (where, "invoice row", line.number, amount, len(spots))
        table_pages.add(spots[0].page)
    for n in table_pages:
        assert find(pages[n], label["Days late"]), (where, "table header on page", n + 1)

    # 5. geometry: inside the printable area, in its band, nothing printed over anything
    for n, words in enumerate(pages):
        width, height = sizes[n]
        assert (round(width), round(height)) == (210, 297), (where, "A4", sizes[n])
        top = TOP_FIRST if n == 0 else TOP_NEXT
        header = [w for w in words if w.y1 <= top + SLACK]
        footer = [w for w in words if w.y0 >= PAGE_H - BOTTOM - SLACK]
        body = [w for w in words if w not in header and w not in footer]
        for w in words:
            assert w.x0 >= LEFT - SLACK and w.x1 <= PAGE_W - RIGHT + SLACK, (where, n + 1, "past the side", w)
            assert w.y0 >= 8 and w.y1 <= PAGE_H - 8, (where, n + 1, "off the printable area", w)
        for w in body:
            assert top - SLACK <= w.y0 and w.y1 <= PAGE_H - BOTTOM + SLACK, (where, n + 1, "across a band", w)
        footer_text = norm(" ".join(w.text for w in sorted(footer, key=lambda w: (round(w.y0), w.x0))))
        assert f"{n + 1} / {count}" in footer_text, (where, "page number", n + 1, footer_text)
        allowed = set(norm(f"{data.company['legal']} {n + 1} / {count}").split(" "))
        assert {w.text for w in footer} <= allowed, (where, n + 1, "in the footer band", footer_text)
        header_text = norm(" ".join(w.text for w in sorted(header, key=lambda w: w.x0)))
        if n == 0:
            assert not header, (where, "header on page 1", header_text)
        else:
            assert norm(data.company["name"]) in header_text and label["(continued)"] in header_text, \
                (where, n + 1, "continued header", header_text)
        assert not overlaps(words), (where, n + 1, "text over text", overlaps(words)[:5])


# --- the tests ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory) -> Path:
    base = os.environ.get("RELANCE_TEST_OUTPUT")
    path = Path(base) / "letters" if base else tmp_path_factory.mktemp("output") / "letters"
    path.mkdir(parents=True, exist_ok=True)
    return path


def png(pdf: bytes, page: int, target: Path) -> Path:
    """One page of a PDF as a PNG (poppler's pdftoppm, 60 dpi)."""
    need_service(shutil.which("pdftoppm"), "pdftoppm (poppler-utils)")
    stem = target.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", str(page), "-l", str(page), "-singlefile", "-",
                    str(stem)], input=pdf, check=True)
    return target


# six pages for a person to look at: a one-page letter with both boxes; a letter whose text has no table (the table
# follows the signature); a formal notice to the "worst" customer, its 60-invoice table running over a page with its
# header row repeated, and its last page (0: the last); boxes moved whole to the next page
SHOWN = [("level2-fr-2inv-short", 1), ("level0-en-30inv-worst", 1), ("level3-fr-60inv-worst", 1),
         ("level3-fr-60inv-worst", 2), ("level3-fr-60inv-worst", 0), ("level2-en-12inv-worst", 2)]


@pytest.mark.slow
@pytest.mark.parametrize("worst", [False, True], ids=["short", "worst"])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_level_language_table_length_and_address(sqlite_app, output_dir, language, worst):
    """One language x customer per test (the four spread over the test workers): 4 levels x 6 table lengths."""
    need_service(shutil.which("pdftotext"), "pdftotext (poppler-utils)")
    cases = build_cases(languages=(language,), worsts=(worst,))
    assert len(cases) == 4 * len(COUNTS)
    for case in cases:
        check_letter(case)
    # the letters count their pages, and a long table makes a long letter
    pages = {case.name: len(PdfReader(io.BytesIO(case.pdf)).pages) for case in cases}
    assert pages.get("level3-fr-60inv-worst", 3) >= 3 and pages.get("level1-en-1inv-short", 1) == 1
    assert all(pages[f"level{rank}-{language}-1inv-{'worst' if worst else 'short'}"] <= 2 for rank in range(4))

    by_name = {case.name: case for case in cases}
    made = []
    for n, (name, page) in enumerate(SHOWN, 1):
        if name in by_name:
            page = page or pages[name]
            target = output_dir / f"{n}-{name}-page{page}.png"
            target.unlink(missing_ok=True)
            made.append(png(by_name[name].pdf, page, target))
    assert all(path.exists() and path.stat().st_size > 5000 for path in made), made


def test_one_page_second_reminder_with_four_invoices_shows_the_whole_summary(sqlite_app):
    need_service(shutil.which("pdftotext"), "pdftotext (poppler-utils)")
    [case] = build_cases(ranks=(2,), languages=("fr",), counts=(4,), worsts=(False,))
    data = case.data
    assert data.interest and data.indemnity and data.total  # the amounts the old layout cut off
    reader = PdfReader(io.BytesIO(case.pdf))
    assert len(reader.pages) == 1
    text = norm(reader.pages[0].extract_text())
    for line in ("Récapitulatif des sommes dues", "Principal (reste dû)", "Intérêts de retard légaux",
                 "Indemnité forfaitaire de recouvrement", "Total dû", "Règlement", IBAN, BIC,
                 data.payment_reference):
        assert norm(line) in text, line
    for amount in (data.principal, data.interest, data.indemnity, data.total):
        assert norm(format_money(amount, "EUR", "fr")) in text
    check_letter(case)


def test_a_letter_with_a_link_prints_it_once_in_its_box_and_a_short_letter_keeps_one_page(sqlite_app):
    """The default emails invite the customer to their page in a paragraph; a letter's default text goes without it
    (the letter prints the link with its QR code in a box of its own): the link once, everything checked as above,
    the one-invoice letters of levels 0 and 1 on one page as without a link."""
    need_service(shutil.which("pdftotext"), "pdftotext (poppler-utils)")
    link = "https://relance.atelier-durand.example/c/" + "Zq3_xK9-" * 5 + "abc"
    cases = build_cases(counts=(1,), worsts=(False,), link=link)
    assert len(cases) == 8
    for case in cases:
        check_letter(case)
        assert case.data.page_url == link
        text = "".join(subprocess.run(["pdftotext", "-", "-"], input=case.pdf, capture_output=True,
                                      check=True).stdout.decode().split())
        assert text.count("relance.atelier-durand.example/c/") == 1, case.name
        if case.rank in (0, 1):
            assert len(PdfReader(io.BytesIO(case.pdf)).pages) == 1, case.name


def test_the_reminder_pdf_exists_whatever_the_copy_setting(sqlite_app):
    """With "save a copy" off, /reminders/<id>/letter.pdf builds the letter again (tests/test_letters.py checks
    the history link too); here with a letter of two pages: the same layout, numbered."""
    install_live_defaults(db.session)
    company(False)
    settings_service.save(db.session, {"save_letter_copy": False})
    levels = {level.rank: level for level in db.session.scalars(select(ReminderLevel))}
    invoice = customer_with_invoices("fr", 30, False)
    reminder = dunning.create_reminder(db.session, invoice, levels[1], "letter", ON, user=make_user())
    db.session.commit()
    dunning.send([reminder.id])
    db.session.refresh(reminder)
    assert reminder.status == "to_post" and reminder.pdf_path is None
    client = sqlite_app.test_client()
    make_user(email="viewer@layout.example", role="viewer", password="correct horse 42")
    db.session.commit()
    client.post("/login", data={"email": "viewer@layout.example", "password": "correct horse 42"})
    response = client.get(f"/reminders/{reminder.id}/letter.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    letter_pages = len(reader.pages) - 1  # the invoice follows the letter
    assert letter_pages >= 2
    for n in range(letter_pages):
        assert f"{n + 1} / {letter_pages}" in reader.pages[n].extract_text()


def test_the_checks_see_text_over_text_and_text_in_the_footer_band():
    """The geometry checks are not blind: a footer drawn over the letter (the old absolutely positioned legal
    line) and text in the footer band are both found."""
    need_service(shutil.which("pdftotext"), "pdftotext (poppler-utils)")
    from weasyprint import HTML

    pdf = HTML(string='<style>@page { size: A4; margin: 15mm 18mm 20mm 22mm }</style>'
                      '<p style="position: absolute; top: 40mm">Principal 1200,00</p>'
                      '<p style="position: absolute; top: 40.5mm">Covered by the footer</p>'
                      '<p style="position: absolute; top: 268mm">Below the page area</p>').write_pdf()
    [words], _sizes = words_of(pdf)
    assert overlaps(words)
    assert [w.text for w in words if w.y1 > PAGE_H - BOTTOM] == ["Below", "the", "page", "area"]
