"""Variables of reminder texts, their validation, escaping and the default texts of every level."""

from datetime import date
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import Contact, ReminderLevel, Template, TemplateVersion
from relance.services import settings as settings_service
from relance.services.engine.penalties import Claim
from relance.services.texts import placeholders
from relance.services.texts.wording import (
    ATTACHED,
    DEFAULTS,
    default_text,
    install_default_texts,
    render_for_invoice,
    save_template,
)
from tests.factories import install_live_defaults, make_customer, make_invoice, make_user

D = Decimal
LEGACY = ["__REF_FACTURE__", "__DATE_FACTURE__", "__TOTAL_TTC__", "__MONEY__", "__DATE_ECHEANCE__", "__DETTE__",
          "__MAJORATION__", "__MAJORATIONTYPE__", "__MAJORATION_TOTAL__", "__RETARD__", "__FRAISSUP__",
          "__USER_SIGNATURE__", "__ONLINE_PAYMENT_URL__", "__NAME__", "__FIRSTNAME__"]


def context(language="fr", **kw):
    claim = Claim(remaining_due=D("1000.00"), days_late=47, penalty=D("120.00"), interest=D("18.77"),
                  indemnity=D("40.00"), total_claimed=D("1178.77"))
    values = dict(language=language, on=date(2026, 3, 3), invoice_number="FA-2026-0001",
                  invoice_date=date(2025, 12, 16), due_date=date(2026, 1, 15), currency="EUR",
                  total_incl_tax=D("1200.00"), claim=claim, penalty_kind="percent", penalty_value=D("10"),
                  customer_name="Garage <Dubois> & Fils", customer_code="C0001", contact_name="Durand",
                  contact_first_name="Claire", signature="Luc Petit\nComptabilité",
                  payment_url="https://pay.example/{number}?c={customer}", deadline=date(2026, 3, 11),
                  company={"name": "Atelier Durand SAS", "iban": "FR76 3000", "bic": "AGRIFRPP"},
                  overdue=(placeholders.OverdueLine("FA-2026-0001", date(2025, 12, 16), date(2026, 1, 15),
                                                    D("1000.00"), "EUR", 47),))
    values.update(kw)
    return placeholders.Context(**values)


def test_registry_keeps_every_legacy_name_and_describes_each():
    assert set(LEGACY) <= set(placeholders.VARIABLES)
    for name, description in placeholders.catalogue():
        assert name.startswith("__") and name.endswith("__") and description


def test_legacy_values_in_french_and_english():
    text = " | ".join(LEGACY)
    fr = placeholders.render_text(text, context("fr")).split(" | ")
    assert fr[:4] == ["FA-2026-0001", "16 décembre 2025", "1\u202f200,00", "€"]
    # __MAJORATION_TOTAL__: what is to pay now, remaining due 1,000 + penalty 120 (not the total of a part-paid
    # invoice)
    assert fr[4:] == ["15 janvier 2026", "1\u202f000,00", "10", "%", "1\u202f120,00", "47", "120,00",
                      "Luc Petit\nComptabilité", "https://pay.example/FA-2026-0001?c=C0001", "Durand", "Claire"]
    en = placeholders.render_text(text, context("en")).split(" | ")
    assert en[:6] == ["FA-2026-0001", "December 16, 2025", "1,200.00", "€", "January 15, 2026", "1,000.00"]


def test_our_variables_with_currency_and_interest_detail():
    ctx = context("fr", claim=Claim(D("1200.00"), 47, D("0.00"), D("18.77"), D("40.00"), D("1258.77"),
                                    interest_periods=()))
    text = placeholders.render_text("__INTEREST__ / __INDEMNITY__ / __TOTAL_CLAIMED__ / __DEADLINE__", ctx)
    assert text == "18,77\xa0€ / 40,00\xa0€ / 1\u202f258,77\xa0€ / 11 mars 2026"


def test_unknown_variables_are_refused_with_the_valid_list():
    assert placeholders.unknown_variables("Hello __NAME__ __NOM__ __total_ttc__ __NOM__") == [
        "__NOM__", "__total_ttc__"]
    with pytest.raises(placeholders.TemplateError) as info:
        placeholders.validate_template("Relance __REF_FACTURE__", "Bonjour __NOM__")
    message = info.value.errors["body"]
    assert "__NOM__" in message and "__REF_FACTURE__" in message and "__INVOICES_TABLE__" in message
    assert "subject" not in info.value.errors


@pytest.mark.parametrize("subject, body, field", [("", "Body", "subject"), ("Subject", "  \n", "body")])
def test_empty_subject_or_body_is_refused(subject, body, field):
    with pytest.raises(placeholders.TemplateError) as info:
        placeholders.validate_template(subject, body)
    assert "empty" in info.value.errors[field]


def test_values_are_escaped_in_html_and_texts_are_never_evaluated():
    body = "Dear <b>__CUSTOMER_NAME__</b> {{ 7*7 }} {% if %}\n__ONLINE_PAYMENT_URL__\n\n__INVOICES_TABLE__"
    html = placeholders.render_html(body, context("en", customer_name="<script>alert(1)</script>"))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;" in html and "{{ 7*7 }}" in html and "{% if %}" in html
    assert '<table class="invoices">' in html and "<td>FA-2026-0001</td>" in html
    text = placeholders.render_text("__CUSTOMER_NAME__ __X__", context(customer_name="__REF_FACTURE__"))
    assert text == "__REF_FACTURE__ __X__"  # a value is never substituted again


def test_default_texts_cover_every_level_channel_and_language_with_valid_variables():
    for by_language in DEFAULTS.values():
        assert set(by_language) == {"fr", "en", "de", "es", "it", "nl"}
        for subject, body in by_language.values():
            placeholders.validate_template(subject, body)
    assert "MISE EN DEMEURE" in DEFAULTS["notice"]["fr"][0] and "FORMAL NOTICE" in DEFAULTS["notice"]["en"][0]
    notice = DEFAULTS["notice"]["fr"][1]
    for name in ("__TOTAL_CLAIMED__", "__CLAIM_DETAIL__", "__DEADLINE__", "__INVOICES_TABLE__", "__COMPANY_IBAN__",
                 "injonction de payer"):
        assert name in notice


def test_every_default_text_invites_to_the_page_in_a_paragraph_that_goes_without_a_link():
    """One paragraph of its own per level and language, holding nothing but its words and the link (so leaving it out
    loses nothing else), different at each level; without a link the text is the text without that paragraph. The
    emails have it; the letters print the link in a box of their own and go without it."""
    link = "https://relance.example/c/" + "b" * 43
    for language in ("fr", "en", "de", "es", "it", "nl"):
        pages = set()
        for key, by_language in DEFAULTS.items():
            body = by_language[language][1].replace("{attached}", ATTACHED[("letter", language)])
            [page] = [p for p in body.split("\n\n") if "__CUSTOMER_PAGE_URL__" in p]
            assert placeholders.VARIABLE_RE.findall(page) == ["__CUSTOMER_PAGE_URL__"], (key, language)
            assert page.endswith(": __CUSTOMER_PAGE_URL__") and "\n" not in page, (key, language)
            pages.add(page)
            without = "\n\n".join(p for p in body.split("\n\n") if p != page)
            ctx = context(language)
            assert placeholders.render_text(body, ctx) == placeholders.render_text(without, ctx)
            assert placeholders.render_html(body, ctx) == placeholders.render_html(without, ctx)
            linked = context(language, customer_page_url=link)
            text, html = placeholders.render_text(body, linked), str(placeholders.render_html(body, linked))
            assert text.count(link) == 1 and html.count(link) == 1 and text.endswith("__USER_SIGNATURE__") is False
            assert text.replace(placeholders.render_text(f"\n\n{page}", linked), "") == \
                placeholders.render_text(without, linked), (key, language)
        assert len(pages) == 4, language  # each level in its own tone
        for rank, notice in ((0, False), (1, False), (2, False), (3, True)):
            level = ReminderLevel(rank=rank, formal_notice=notice)
            email, letter = default_text(level, "email", language)[1], default_text(level, "letter", language)[1]
            assert email.count("__CUSTOMER_PAGE_URL__") == 1 and "__CUSTOMER_PAGE_URL__" not in letter
            # a letter prints the link in its own box: its text is the email's but for the paragraph and {attached}
            assert letter.replace(ATTACHED[("letter", language)], ATTACHED[("email", language)]) == "\n\n".join(
                p for p in email.split("\n\n") if "__CUSTOMER_PAGE_URL__" not in p)


def test_install_default_texts_is_idempotent_and_fills_only_gaps(app):
    install_live_defaults(db.session)  # levels, rates, texts
    count = db.session.scalar(select(func.count()).select_from(Template))
    assert count == 4 * 2 * 6  # levels x channels x languages (fr en de es it nl)
    level = db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == 3)).one()
    letter_fr = db.session.scalars(select(Template).filter_by(level_id=level.id, channel="letter", language="fr")).one()
    assert letter_fr.subject.startswith("MISE EN DEMEURE") and "ci-joint" in letter_fr.body
    db.session.delete(letter_fr)
    db.session.flush()
    assert install_default_texts(db.session) == 1
    assert install_default_texts(db.session) == 0


def test_save_template_validates_versions_and_saves_nothing_on_error(app):
    install_live_defaults(db.session)
    db.session.commit()
    user = make_user(role="manager")
    level = db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == 1)).one()
    with pytest.raises(placeholders.TemplateError):
        save_template(db.session, level, "email", "fr", "Relance __REF__", "Bonjour", user)
    db.session.commit()
    before = db.session.scalars(select(Template).filter_by(level_id=level.id, channel="email", language="fr")).one()
    assert (before.version, before.subject) == (1, DEFAULTS["first"]["fr"][0])
    template = save_template(db.session, level, "email", "fr", "Relance __REF_FACTURE__", "Bonjour __NAME__", user)
    db.session.commit()
    assert (template.version, template.updated_by_id) == (2, user.id)
    assert db.session.scalar(select(func.count()).select_from(TemplateVersion)) == 1


def test_render_for_invoice_in_the_customer_language_with_fallback(app):
    install_live_defaults(db.session)
    settings_service.save(db.session, {"company_name": "Atelier Durand SAS", "company_iban": "FR76 1234"})
    settings = settings_service.load(db.session)
    level = db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == 3)).one()
    customer = make_customer(name="Garage Dubois", language="fr",
                             contacts=[Contact(name="Martin", first_name="Léa", role="billing")])
    invoice = make_invoice(customer, total="1200.00", due=date(2026, 1, 15), number="FA-0001")
    make_invoice(customer, total="300.00", due=date(2026, 2, 1), number="FA-0002")
    rendered = render_for_invoice(db.session, invoice, level, "letter", date(2026, 3, 3), settings)
    assert rendered.language == "fr" and rendered.reasons == ()
    assert rendered.subject == "MISE EN DEMEURE DE PAYER\xa0: facture FA-0001"
    assert "1\u202f258,77\xa0€" in rendered.text  # principal + 18.77 interest + 40 indemnity
    assert "12,15" in rendered.text and "FA-0002" in rendered.text and "FR76 1234" in rendered.html
    assert rendered.claim.interest == D("18.77")

    portuguese = make_customer(language="pt")  # Relance ships no Portuguese text
    other = make_invoice(portuguese, total="100.00", due=date(2026, 1, 15))
    with force_locale("en"):
        rendered = render_for_invoice(db.session, other, level, "email", date(2026, 3, 3), settings)
    assert rendered.language == "fr"
    assert rendered.reasons[0] == "No Portuguese text for level 3 by email: the French text is used."


@pytest.mark.parametrize("language, country, expected, day, money", [
    # English short dates name the month (12/16/25 and 16/12/2025 are misread across the Atlantic)
    ("en", "GB", "en_GB", "16 Dec 2025", "£1,200.50"), ("en", "US", "en_US", "16 Dec 2025", "£1,200.50"),
    ("en", "FR", "en_FR", "16 Dec 2025", "1\u202f200,50\xa0£"),
    ("fr", "BE", "fr_BE", "16/12/25", "1\u202f200,50\xa0£GB"),
    ("fr", None, "fr", "16/12/2025", "1\u202f200,50\xa0£GB"), ("en", "XX", "en", "16 Dec 2025", "£1,200.50"),
    ("en", "", "en", "16 Dec 2025", "£1,200.50"),
])
def test_money_and_dates_follow_the_reader_country(language, country, expected, day, money):
    from relance.services.texts.formatting import format_day, format_locale, format_money

    locale = format_locale(language, country)
    assert locale == expected
    assert format_day(date(2025, 12, 16), locale, "short") == day
    assert format_money(D("1200.50"), "GBP", locale) == money


def test_a_text_uses_the_formats_of_the_customer_country():
    ctx = context("en", locale="en_GB")
    assert placeholders.render_text("__DATE_ECHEANCE__ __DETTE__", ctx) == "15 January 2026 1,000.00"


def test_one_payment_link_builder_quotes_every_part():
    from relance.services.texts.placeholders import payment_url

    url = payment_url("https://pay.example/{customer}/{number}?amount={amount}", "FA 2026/01", "A/B&C", "12.50")
    assert url == "https://pay.example/A%2FB%26C/FA%202026%2F01?amount=12.50"
    assert payment_url("", "FA1", "C1", "1.00") == ""
