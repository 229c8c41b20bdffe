"""Invoices in other currencies than the euro (Relance issue 15): every amount in the invoice's currency, rounded
half-up to that currency's precision (whole yen for JPY), and the recovery indemnity in its rule's currency: a
French company claims 40 EUR whatever the invoice's currency, on its own line, never added to a USD, GBP or JPY
total. Unit tests of the one claim computation, the texts, real letters (PDFs read back with pypdf)
and a real email (aiosmtpd)."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from sqlalchemy import select

from relance.extensions import db
from relance.models import Reminder, ReminderLevel
from relance.services import settings as settings_service
from relance.services.defaults import FRENCH_B2B_RATES
from relance.services.engine.penalties import (
    Claim,
    RateTable,
    compute_claim,
    indemnity_rule,
    level_penalty,
    money_step,
    parse_indemnity,
    recovery_indemnity,
    rounded,
)
from relance.services.letters import content
from relance.services.sending import dunning
from relance.services.texts import placeholders
from tests.factories import install_live_defaults, make_customer, make_invoice, make_user
from tests.smtp import smtp_certificate, smtp_factory, smtp_server  # noqa: F401

D = Decimal
ON = date(2026, 3, 3)
DUE = date(2026, 1, 15)  # 47 days late on ON at 12.15 % (the published example A: 1,200.00 -> 18.77)
FR = {"b2b": RateTable([(start, D(rate)) for start, rate in FRENCH_B2B_RATES])}
SPACES = re.compile(r"[\s\u00a0\u202f]+")


class Rules:
    """Plain values standing for settings.load() in pure computations."""

    def __init__(self, country="FR", table=None, interest=True):
        self.statutory_interest = interest
        self.indemnity_by_country = {"FR": "40.00", "GB": "40.00"} if table is None else table
        self.company_country = country


def claim(total="1200.00", currency="EUR", country="FR", table=None, kind="business", penalty=("none", "0"),
          paid="0", payments=()):
    return compute_claim(total=D(total), amount_paid=D(paid), payments=payments, due_date=DUE, on=ON,
                         customer_kind=kind, penalty_kind=penalty[0], penalty_value=D(penalty[1]),
                         settings=Rules(country, table), rates=FR, currency=currency)


def norm(text: str) -> str:
    return SPACES.sub(" ", text).strip()


# --- the one claim computation ----------------------------------------------------------------------------


def test_euro_invoices_are_claimed_as_before():
    c = claim()
    assert (c.remaining_due, c.interest, c.indemnity, c.total_claimed) == (D("1200.00"), D("18.77"), D("40.00"),
                                                                          D("1258.77"))
    assert c.indemnity_currency == "EUR" and not c.indemnity_apart


@pytest.mark.parametrize("currency", ["USD", "GBP", "CHF"])
def test_a_french_creditor_claims_40_euros_apart_from_a_foreign_currency_total(currency):
    c = claim(currency=currency)
    assert (c.remaining_due, c.interest, c.indemnity) == (D("1200.00"), D("18.77"), D("40.00"))
    assert c.currency == currency and c.indemnity_currency == "EUR" and c.indemnity_apart
    assert c.total_claimed == D("1218.77")  # the indemnity is its own line, in euros, never added in dollars


def test_yen_amounts_are_whole_yen_rounded_half_up():
    c = claim(total="150000", currency="JPY")  # 150,000 x 12.15 % x 47 / 365 = 2,346.78...
    assert c.interest == D("2347") and c.total_claimed == D("152347") and c.remaining_due == D("150000")
    assert all(amount == amount.to_integral_value() for amount in (c.interest, c.total_claimed, c.penalty))
    assert c.indemnity == D("40.00") and c.indemnity_currency == "EUR" and c.indemnity_apart
    # what the tester saw: 151,038.63 JPY stored (a principal with "sen") is now claimed as 151,039 JPY
    odd = claim(total="151038.63", currency="JPY")
    assert odd.remaining_due == D("151039") and odd.total_claimed == odd.remaining_due + odd.interest
    # a percent penalty in yen: 1.5 % of 150,123 = 2,251.845 -> 2,252 (half-up, once)
    assert level_penalty("percent", D("1.5"), D("150123"), "JPY") == D("2252")
    assert level_penalty("percent", D("1.5"), D("150123"), "EUR") == D("2251.85")


def test_money_steps_follow_iso_4217_and_never_go_below_a_cent():
    assert (money_step("EUR"), money_step("usd"), money_step("JPY"), money_step("BHD")) == (
        D("0.01"), D("0.01"), D("1"), D("0.01"))  # BHD has 3 decimals; money columns keep 2
    assert rounded(D("0.5"), "JPY") == D("1") and rounded(D("2.5"), "JPY") == D("3")  # half-up, not half-even
    assert rounded(D("18.765"), "EUR") == D("18.77")


def test_the_creditor_countrys_rule_decides_the_amount_and_currency():
    # stored values without a currency are in the country's own (older settings keep working)
    assert parse_indemnity("40.00", "FR").currency == "EUR"
    assert parse_indemnity("40.00", "GB").currency == "GBP"
    assert parse_indemnity("40 eur", "GB") == parse_indemnity("40.00 EUR", "GB")
    assert parse_indemnity("forty", "FR") is None and parse_indemnity("", "FR") is None
    assert indemnity_rule({"FR": "0.00"}, "FR") is None and indemnity_rule({}, "FR") is None
    assert recovery_indemnity({"GB": "70.00"}, "GB", "business", 3) == D("70.00")
    # a British creditor claims pounds: part of a GBP total, apart from a EUR one
    gbp = claim(currency="GBP", country="GB")
    assert (gbp.indemnity, gbp.indemnity_currency, gbp.indemnity_apart, gbp.total_claimed) == (
        D("40.00"), "GBP", False, D("1258.77"))
    eur = claim(currency="EUR", country="GB")
    assert eur.indemnity_currency == "GBP" and eur.indemnity_apart and eur.total_claimed == D("1218.77")
    # a creditor whose country has no rule claims none; consumers never
    assert claim(currency="USD", country="US").indemnity == 0
    assert claim(currency="USD", kind="consumer").indemnity == 0


@settings(max_examples=200, derandomize=True, deadline=None)
@given(total=st.decimals(min_value=D("1"), max_value=D("9999999.99"), places=2),
       currency=st.sampled_from(["EUR", "USD", "GBP", "JPY", "CHF", "BHD"]),
       creditor=st.sampled_from(["FR", "GB", "US"]),
       penalty=st.sampled_from([("none", "0"), ("percent", "7.5"), ("fixed", "15.55")]))
def test_each_amount_in_its_currency_and_the_total_adds_up(total, currency, creditor, penalty):
    c = claim(total=str(total), currency=currency, country=creditor, penalty=penalty)
    step = money_step(currency)
    for amount in (c.remaining_due, c.penalty, c.interest, c.total_claimed):
        assert amount % step == 0, (amount, currency)
    in_total = D(0) if c.indemnity_apart else c.indemnity
    assert c.total_claimed == c.remaining_due + c.penalty + c.interest + in_total
    assert c.indemnity_apart == (bool(c.indemnity) and c.indemnity_currency != currency)


# --- texts -------------------------------------------------------------------------------------------------


def context(currency: str, c: Claim, language="en", locale="en_US", total="1200.00"):
    return placeholders.Context(
        language=language, on=ON, invoice_number="INV-7", invoice_date=date(2025, 12, 16), due_date=DUE,
        currency=currency, total_incl_tax=D(total), claim=c, penalty_kind="fixed", penalty_value=D("1000"),
        locale=locale, deadline=date(2026, 3, 11))


def test_text_variables_of_a_usd_invoice_say_the_indemnity_in_euros():
    values = placeholders.values(context("USD", claim(currency="USD")))
    assert values["__INDEMNITY__"] == "€40.00" and values["__AMOUNT_DUE__"] == "$1,200.00"
    assert values["__TOTAL_CLAIMED__"] == "$1,218.77 plus €40.00 fixed compensation for recovery costs"
    assert "fixed compensation for recovery costs (business customers): €40.00" in values["__CLAIM_DETAIL__"]
    assert "$1,218.77" not in values["__CLAIM_DETAIL__"] and "$40.00" not in values["__CLAIM_DETAIL__"]
    # a euro invoice is written exactly as before
    euro = placeholders.values(context("EUR", claim(), language="fr", locale="fr_FR"))
    assert euro["__TOTAL_CLAIMED__"] == "1\u202f258,77\xa0€" and euro["__INDEMNITY__"] == "40,00\xa0€"


def test_text_variables_of_a_yen_invoice_have_no_decimals():
    c = claim(total="150000", currency="JPY")
    values = placeholders.values(context("JPY", c, locale="en", total="150000"))
    assert values["__AMOUNT_DUE__"] == "¥150,000" and values["__INTEREST__"] == "¥2,347"
    assert values["__TOTAL_TTC__"] == "150,000" and values["__DETTE__"] == "150,000"  # numbers without currency
    assert values["__MAJORATION__"] == "1,000" and values["__TOTAL_CLAIMED__"].startswith("¥152,347 plus €40.00")
    assert not re.search(r"\d\.\d", values["__TOTAL_CLAIMED__"].replace("€40.00", ""))


# --- real letters and a real email -------------------------------------------------------------------------


@pytest.fixture
def levels(app):
    install_live_defaults(db.session)
    settings_service.save(db.session, {
        "company_name": "Atelier Durand SAS", "company_address": "18 rue des Lilas", "company_postcode": "75011",
        "company_city": "Paris", "company_iban": "FR76 3000 6000 0112 3456 7890 189", "company_bic": "AGRIFRPP",
        "sender_email": "compta@atelier-durand.example", "company_country": "FR",
    })
    db.session.commit()
    return {level.rank: level for level in db.session.scalars(select(ReminderLevel))}


def formal_notice(levels, currency: str, total: str, country: str, channel="letter", language="en") -> Reminder:
    customer = make_customer(name=f"Customer {currency}", address="1 Main Street", postcode="10001",
                             city="New York", country=country, language=language, email="ap@customer.example")
    invoice = make_invoice(customer, total=total, due=DUE, currency=currency)
    reminder = dunning.create_reminder(db.session, invoice, levels[3], channel, ON, user=make_user(),
                                       override="Currency test")
    db.session.commit()
    return reminder


def letter_text(app, reminder: Reminder) -> tuple[str, list[str]]:
    """The letter's page (the invoice follows it) as text and as lines, no-break spaces read as spaces."""
    db.session.refresh(reminder)
    assert reminder.status == "to_post", reminder.error
    reader = PdfReader(Path(app.config["FILES_PATH"]) / reminder.pdf_path)
    text = "\n".join(page.extract_text() for page in reader.pages[:-1])
    return norm(text), [norm(line) for line in text.splitlines()]


CASES = [  # currency, total, customer's country, principal, interest, total without the indemnity
    ("USD", "1200.00", "US", "$1,200.00", "$18.77", "$1,218.77"),
    ("GBP", "1200.00", "GB", "£1,200.00", "£18.77", "£1,218.77"),
    ("JPY", "150000", "JP", "¥150,000", "¥2,347", "¥152,347"),
]


@pytest.mark.parametrize(("currency", "total", "country", "principal", "interest", "claimed"), CASES,
                         ids=[c[0] for c in CASES])
def test_letters_in_usd_gbp_and_jpy(app, levels, currency, total, country, principal, interest, claimed):
    reminder = formal_notice(levels, currency, total, country)
    assert reminder.indemnity == D("40.00") and reminder.indemnity_currency == "EUR" and reminder.indemnity_apart
    assert reminder.total_claimed == D(claimed.strip("$£¥").replace(",", ""))
    dunning.send([reminder.id])
    text, lines = letter_text(app, reminder)
    # the summary box: each amount on its label's line, the total says it leaves the indemnity out, and the
    # indemnity follows it in euros
    assert f"Principal (remaining due) {principal}" in lines
    assert f"Statutory late interest {interest}" in lines
    assert f"Total due, excluding the indemnity {claimed}" in lines
    assert "Fixed recovery indemnity €40.00" in lines
    assert not any(line.startswith("Total due ") and "€" in line for line in lines)
    # the text: the sum claimed in both currencies, the indemnity's line in euros, never in the invoice's
    assert f"the sum of {claimed} plus €40.00 fixed compensation for recovery costs" in text
    assert "fixed compensation for recovery costs (business customers): €40.00" in text
    symbol = principal[0]
    assert f"{symbol}40.00" not in text and f"{symbol}40 " not in text and "€1," not in text
    if currency == "JPY":  # whole yen everywhere: no ¥2,346.78, no ¥152,347.00
        assert not re.search(r"¥[\d,]*\.\d", text), re.findall(r"¥[\d,.]+", text)


def test_a_euro_letter_is_unchanged(app, levels):
    reminder = formal_notice(levels, "EUR", "1200.00", "FR", language="fr")
    assert (reminder.total_claimed, reminder.indemnity, reminder.indemnity_currency) == (
        D("1258.77"), D("40.00"), "EUR")
    assert not reminder.indemnity_apart
    dunning.send([reminder.id])
    _text, lines = letter_text(app, reminder)
    assert "Indemnité forfaitaire de recouvrement 40,00 €" in lines and "Total dû 1 258,77 €" in lines
    assert "Principal (reste dû) 1 200,00 €" in lines


def test_a_reminder_made_before_keeps_its_indemnity_in_the_total(app, levels):
    """Rows written before the column ('' = the invoice's currency) read as they were made: 40 in the total."""
    reminder = formal_notice(levels, "USD", "1200.00", "US")
    reminder.indemnity_currency, reminder.total_claimed = "", D("1258.77")
    db.session.commit()
    assert not reminder.indemnity_apart
    data = content.letter_data(db.session, reminder)
    assert (data.principal, data.total, data.indemnity_apart) == (D("1200.00"), D("1258.77"), False)


def test_email_of_a_usd_invoice(app, levels, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    reminder = formal_notice(levels, "USD", "1200.00", "US", channel="email")
    assert dunning.send([reminder.id]).sent == [reminder.id]
    (received,) = smtp_server.received
    plain = norm(received.message.get_body(("plain",)).get_content())
    html = norm(received.message.get_body(("html",)).get_content())
    for part in (plain, html):
        assert "the sum of $1,218.77 plus €40.00 fixed compensation for recovery costs, made up as follows" in part
        assert "- principal outstanding: $1,200.00;" in part
        assert "late-payment interest: $18.77" in part
        assert "fixed compensation for recovery costs (business customers): €40.00." in part
        assert "$40.00" not in part and "$1,258.77" not in part


def test_mass_page_and_reminder_page_show_the_indemnity_apart(app, client, auth, levels):
    auth.login("agent")
    reminder = formal_notice(levels, "USD", "1200.00", "US")
    page = norm(client.get(f"/reminders/{reminder.id}").get_data(as_text=True))
    assert "Total claimed, excluding the indemnity" in page and "$1,218.77" in page and "€40.00" in page
    invoice = make_invoice(make_customer(country="US", language="en"), total="500.00", due=date(2025, 11, 1),
                           currency="USD")
    db.session.commit()
    mass = norm(client.get("/reminders/mass?status=all").get_data(as_text=True))
    assert invoice.number in mass
    assert "plus €40.00 recovery indemnity" in mass


def test_settings_accept_a_currency_per_country(app, client, auth):
    auth.login("manager")
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "FR: 40.00 EUR" in page and "GB: 40.00 GBP" in page  # the stored rules show their currency
    settings_service.save(db.session, {"indemnity_by_country": {"FR": "40.00 EUR", "CH": "50.00"}})
    db.session.commit()
    assert "CH: 50.00 CHF" in client.get("/admin/settings").get_data(as_text=True)
    from relance.admin.settings_form import parse_indemnities

    assert parse_indemnities("FR: 40 EUR\nGB: 70\nUS = 55,5 usd") == (
        {"FR": "40.00 EUR", "GB": "70.00", "US": "55.50 USD"}, [])
    assert parse_indemnities("FR: 40 XYZ")[1] == ['Line 1: "XYZ" is not a currency code (like EUR or GBP).']


def test_letter_pdf_of_a_yen_invoice_prints_on_one_page(app, levels):
    """The JPY letter's summary box, whole yen, with the indemnity line in euros (pdftoppm checks by eye)."""
    reminder = formal_notice(levels, "JPY", "150000", "JP")
    data = content.letter_data(db.session, reminder)
    from relance.services.letters import printing

    pdf = printing.render_letter(data)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    lines = [norm(line) for line in reader.pages[0].extract_text().splitlines()]
    assert "Total due, excluding the indemnity ¥152,347" in lines and "Fixed recovery indemnity €40.00" in lines


def test_a_french_letter_of_a_usd_invoice(app, levels):
    """French formats and words: the indemnity "40,00 €" on its own line, the total in US dollars without it."""
    reminder = formal_notice(levels, "USD", "1200.00", "US", language="fr")
    dunning.send([reminder.id])
    text, lines = letter_text(app, reminder)
    assert "Principal (reste dû) 1 200,00 $US" in lines and "Intérêts de retard légaux 18,77 $US" in lines
    assert "Indemnité forfaitaire de recouvrement 40,00 €" in lines
    [total] = [line for line in lines if line.startswith("Total")]
    assert total.endswith(" 1 218,77 $US") and "€" not in total
    assert "clients professionnels) : 40,00 €." in text and "40,00 $US" not in text
    assert "la somme de 1 218,77 $US plus 40,00 €" in text
