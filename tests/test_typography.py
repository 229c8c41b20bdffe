"""French typography of what leaves: the default texts of every level rendered for a sample invoice (subject,
text and HTML), French spacing before `: ; ! ?`, no "de" before a vowel, no raw amounts, zero lines left out,
plurals of days; English dates that cannot be misread."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from relance.services.engine.penalties import Claim
from relance.services.texts import placeholders
from relance.services.texts.typography import NBSP, NNBSP, french
from relance.services.texts.wording import ATTACHED, DEFAULTS
from tests.test_engine_texts import context

D = Decimal
NO_SPACE_BEFORE = re.compile(r"[^\u00a0\u202f](?<![;:!?])[;!?](?=\s|$)|[^\u00a0]:(?=\s|$)")
NO_ELISION = re.compile(r"\b(?:de|que|le|la) [AEIOUYÉÈÊÂaeiouyéèêâ]")
RAW_AMOUNT = re.compile(r"\d+\.\d\d")


def rendered(key: str, claim: Claim | None = None, **kw) -> list[str]:
    ctx = context("fr", company={"name": "Atelier Éole", "iban": "FR76 3000", "bic": "AGRIFRPP"},
                  **({"claim": claim} if claim else {}), **kw)
    subject, body = DEFAULTS[key]["fr"]
    body = body.replace("{attached}", ATTACHED[("email", "fr")])
    html = re.sub(r"<[^>]+>", " ", str(placeholders.render_html(body, ctx)))
    return [placeholders.render_text(subject, ctx), placeholders.render_text(body, ctx), html]


@pytest.mark.parametrize("link", ["", "https://relance.example/c/abc?x=1"], ids=["no-link", "link"])
@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_french_default_texts_are_typeset(sqlite_app, key, link):
    texts = rendered(key, customer_page_url=link)
    assert ("espace client" in texts[1]) == bool(link) == (f"facture{NBSP}: {link}" in texts[1])
    for text in texts:
        assert not NO_SPACE_BEFORE.search(text), NO_SPACE_BEFORE.search(text).group(0)
        assert not NO_ELISION.search(text), NO_ELISION.search(text).group(0)
        assert not RAW_AMOUNT.search(text), RAW_AMOUNT.search(text).group(0)
    assert key != "notice" or "(bénéficiaire\u00a0: Atelier Éole)" in texts[1]  # a vowel: no "de Atelier"


def test_the_formal_notice_leaves_out_lines_at_zero_and_says_one_day(sqlite_app):
    claim = Claim(remaining_due=D("1000.00"), days_late=1, penalty=D("0.00"), interest=D("0.00"),
                  indemnity=D("40.00"), total_claimed=D("1040.00"))
    subject, text, html = rendered("notice", claim)
    assert "pénalité" not in text and "intérêts de retard" not in text
    assert f"principal restant dû{NBSP}: 1{NNBSP}000,00{NBSP}€{NNBSP};" in text
    assert "indemnité forfaitaire pour frais de recouvrement" in text and "40,00" in html
    assert "(1 jour de retard)" in text and "jours" not in text.split("Relevé")[0]
    many = rendered("notice")[1]  # the sample claims all four
    assert "47 jours de retard" in many and "pénalité forfaitaire" in many and "intérêts de retard" in many


def test_french_leaves_urls_times_and_entities_alone():
    assert french("https://pay.example/x?c=1 à 10:30") == "https://pay.example/x?c=1 à 10:30"
    assert french("Dupont &amp; Fils ; Objet: x !") == f"Dupont &amp; Fils{NNBSP}; Objet{NBSP}: x{NNBSP}!"
    assert french("« oui »") == f"«{NBSP}oui{NBSP}»"


def test_english_short_dates_cannot_be_misread(app):
    from flask_babel import force_locale

    from relance.templating import short_date

    with app.test_request_context(), force_locale("en"):
        assert short_date(date(2026, 12, 3)) == "3 Dec 2026"
    with app.test_request_context(), force_locale("fr"):
        assert short_date(date(2026, 12, 3)) == "03/12/2026"


def test_english_invoice_tables_and_french_messages_write_dates_and_amounts_for_the_reader(sqlite_app):
    from flask_babel import force_locale

    from relance.services.payments import PaymentError, check_payment
    from tests.factories import make_invoice

    table = placeholders.render_text("__INVOICES_TABLE__", context("en"))
    assert "15 Jan 2026" in table and "1/15/26" not in table
    invoice = make_invoice(total="1200.00")
    with force_locale("fr"), pytest.raises(PaymentError) as refused:
        check_payment(invoice, D("1200.01"))
    message = str(refused.value.message)
    assert f"1{NNBSP}200,01{NBSP}€" in message and not RAW_AMOUNT.search(message), message
