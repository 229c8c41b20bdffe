"""The letter's typesetter (letters/sheet.py -> letters/typeset.py), on what the layout tests do not draw: text that
looks like markup, words longer than their column, characters the main font lacks, the body's HTML read into
paragraphs and tables. Real PDFs, read back with pypdf and poppler."""

from __future__ import annotations

import html
import io
import re
import shutil
import subprocess

from pypdf import PdfReader

from relance.services.letters import typeset
from relance.services.letters.sheet import Table, body_blocks, plain_sheet
from tests.conftest import need_service

MM = 72 / 25.4


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def words_of(pdf: bytes) -> list[tuple[str, float, float]]:
    """Every word with its left and right edges in mm (poppler's `pdftotext -bbox`)."""
    need_service(shutil.which("pdftotext"), "pdftotext (poppler-utils)")
    out = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return [(html.unescape(word), float(x0) / MM, float(x1) / MM) for x0, x1, word in
            re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">(.*?)</word>', out)]


def test_text_that_looks_like_markup_is_printed_as_it_is():
    sheet = plain_sheet('<b>bold</b> & <font name="Mono">x</font> <a href="javascript:alert(1)">y</a>')
    sheet.recipient = ["Dupont & Fils <SARL>", "1 rue d'Orsay"]
    sheet.subject = 'Objet : <br/> "quoted"'
    pdf = typeset.letter_pdf(sheet)
    text = text_of(pdf)
    assert '<b>bold</b> & <font name="Mono">x</font> <a href="javascript:alert(1)">y</a>' in text
    assert "Dupont & Fils <SARL>" in text and 'Objet : <br/> "quoted"' in text
    assert not any("/Annots" in page for page in PdfReader(io.BytesIO(pdf)).pages)  # no link made from the text


def test_the_pdf_says_what_it_is_in_its_language_and_when_it_was_made():
    sheet = plain_sheet("Bonjour")
    sheet.title, sheet.company, sheet.language = "Relance : facture FA-1", "Atelier Durand SAS", "fr"
    reader = PdfReader(io.BytesIO(typeset.letter_pdf(sheet)))
    meta = reader.metadata
    assert (meta.title, meta.author, meta.creator) == ("Relance : facture FA-1", "Atelier Durand SAS", "Relance")
    assert reader.trailer["/Root"]["/Lang"] == "fr"
    assert meta.creation_date.year >= 2026  # the real moment, not a fixed one


def test_a_word_longer_than_its_column_wraps_and_nothing_is_lost():
    number = "FA-" + "0123456789" * 5  # 53 characters, no space: wider than the statement's first column
    sheet = plain_sheet("Statement")
    sheet.statement_title = "Unpaid invoices"
    sheet.statement = Table(["Invoice", "Date", "Due date", "Days late", "Remaining due"],
                            [[number, "01/02/2026", "03/03/2026", "12", "1 200,00 €"],
                             ["FA-2", "01/02/2026", "03/03/2026", "12", "123\u00a0456\u00a0789\u00a0012,00\u00a0€"]],
                            [False, False, False, True, True], (0.24, 0.18, 0.20, 0.17, 0.21))
    sheet.recipient = ["X" * 90]  # a name without a space, wider than the window
    sheet.sums_title, sheet.sums = "Summary", [("Total due", "1 200,00 €", "total")]
    pdf = typeset.letter_pdf(sheet)
    joined = "".join(text_of(pdf).split())
    assert number in joined and "X" * 90 in joined
    assert "123 456 789 012,00 €" in " ".join(text_of(pdf).replace("\u00a0", " ").split())  # an amount stays whole
    for word, left, right in words_of(pdf):
        assert left >= 22 - 0.6 and right <= 210 - 18 + 0.6, (word, left, right)
    pieces = [(word, right) for word, _left, right in words_of(pdf) if word.startswith("FA-0")]
    assert len(pieces) == 1 and pieces[0][1] <= 22 + 0.24 * 170, pieces  # in its column, the rest on the next lines


def test_characters_the_main_font_lacks_come_from_dejavu():
    sheet = plain_sheet("Appelez le \u260e 01 02 03 04 05 \u2014 total 1\u202f234,56\u00a0\u20ac")
    pdf = typeset.letter_pdf(sheet)
    fonts = {str(font.get_object()["/BaseFont"]) for page in PdfReader(io.BytesIO(pdf)).pages
             for font in page["/Resources"]["/Font"].values()}
    assert any("DejaVu" in name for name in fonts), fonts
    text = text_of(pdf)
    assert "\u260e" in text and "234,56" in text


def test_the_body_html_becomes_paragraphs_links_and_tables():
    blocks = body_blocks('<p>Bonjour,</p>\n<p>Voir <a href="https://pay.example/a?b=1&amp;c=2">'
                         'https://pay.example/a?b=1&amp;c=2</a><br>\nmerci &amp; &lt;à bientôt&gt;</p>'
                         '<table class="invoices"><thead><tr><th>Facture</th><th class=num>Reste dû</th></tr></thead>'
                         '<tbody><tr><td>FA-1</td><td class=num>10,00\u00a0€</td></tr></tbody></table><p>Fin</p>')
    assert blocks[0] == [("Bonjour,", "")]
    assert blocks[1] == [("Voir ", ""), ("https://pay.example/a?b=1&c=2", "https://pay.example/a?b=1&c=2"),
                         ("\n", ""), (" merci & <à bientôt>", "")]
    assert blocks[2] == Table(["Facture", "Reste dû"], [["FA-1", "10,00\u00a0€"]], [False, True])
    assert blocks[3] == [("Fin", "")]
