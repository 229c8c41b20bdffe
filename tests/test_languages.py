"""Issue 17, customers in other languages: any language Babel knows, the six shipped languages' default texts, the
letters and emails in the customer's words with the formats of the customer's country, the fallback said with its
reason, and the screens still in French and English."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from flask_babel import force_locale
from pypdf import PdfReader
from sqlalchemy import select

from relance.extensions import db
from relance.models import Customer, ReminderLevel, Template
from relance.services import settings as settings_service
from relance.services.data_in import values
from relance.services.engine import readiness
from relance.services.sending import dunning, mailer
from relance.services.texts import languages, placeholders, wording
from relance.services.texts.formatting import format_locale
from tests.factories import install_live_defaults, make_customer, make_invoice, make_user
from tests.test_api import token_for

ON = date(2026, 3, 3)
EN = {"Accept-Language": "en"}


@pytest.fixture
def levels(app):
    install_live_defaults(db.session)
    settings_service.save(db.session, {
        "company_name": "Atelier Durand SAS", "company_address": "18 rue des Lilas", "company_postcode": "75011",
        "company_city": "Paris", "company_iban": "FR76 3000 6000 0112 3456 7890 189", "company_bic": "AGRIFRPP",
        "sender_email": "compta@atelier-durand.example",
    })
    db.session.commit()
    return {level.rank: level for level in db.session.scalars(select(ReminderLevel))}


def norm(text: str) -> str:
    """One line, no-break spaces as spaces (the PDF's text layer and Babel's formats)."""
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


def customer_in(language: str, country: str, **kw) -> Customer:
    return make_customer(language=language, country=country, address=kw.pop("address", "Hauptstraße 5"),
                         postcode=kw.pop("postcode", "10115"), city=kw.pop("city", "Berlin"), **kw)


def invoice_of(customer: Customer, **kw):
    return make_invoice(customer, total=kw.pop("total", "1234.56"), issue=date(2025, 11, 4), due=date(2025, 12, 4),
                        **kw)


def test_a_german_customer_gets_a_german_letter(app, levels):
    invoice = invoice_of(customer_in("de", "DE", name="Müller GmbH"))
    reminder = dunning.create_reminder(db.session, invoice, levels[2], "letter", ON, user=make_user(),
                                       override="Language test")
    db.session.commit()
    assert reminder.language == "de" and reminder.subject == f"Mahnung: Rechnung {invoice.number} ist weiterhin offen"
    dunning.send([reminder.id])
    db.session.refresh(reminder)
    assert reminder.status == "to_post", reminder.error
    reader = PdfReader(Path(app.config["FILES_PATH"]) / reminder.pdf_path)
    letter = norm(reader.pages[0].extract_text())
    # the letter's own words (summary box, payment box, labels, table headers), in German
    for words in ("Betreff:", "Unser Zeichen:", "Übersicht der geschuldeten Beträge", "Hauptforderung (offener Betrag)",
                  "Gesamtbetrag", "Zahlungsmöglichkeiten", "Überweisung", "Verwendungszweck:",
                  "Rechnung Datum Fälligkeit Verzugstage Offener Betrag", "DEUTSCHLAND", "1 / 1"):
        assert words in letter, words
    # German formats: amounts, the letter's date, the dates of the text and of the table
    assert "1.234,56 €" in letter and "Paris, 3. März 2026" in letter
    assert "vom 4. November 2025, fällig am 4. Dezember 2025" in letter and "04.12.25" in letter
    assert "Sehr geehrte Damen und Herren" in letter and "§ 288 Abs. 5 BGB" in letter
    for english in ("Summary of the amounts due", "Total due", "Our reference", "How to pay", "Days late"):
        assert english not in letter
    invoice_page = norm(reader.pages[1].extract_text())  # the generated invoice, in German too
    assert "Rechnung" in invoice_page and "Summe brutto" in invoice_page and "1.234,56 €" in invoice_page


def test_a_dutch_customer_in_belgium_gets_a_dutch_email_with_belgian_formats(app, levels):
    customer = customer_in("nl", "BE", name="De Smet BVBA", address="Kerkstraat 1", postcode="9000", city="Gent")
    invoice = invoice_of(customer)
    reminder = dunning.create_reminder(db.session, invoice, levels[1], "email", ON, user=make_user())
    db.session.commit()
    assert (reminder.language, reminder.channel, reminder.status) == ("nl", "email", "pending")
    assert format_locale("nl", "BE") == "nl_BE"
    assert reminder.subject == f"Betalingsherinnering: factuur {invoice.number}, vervallen op 4 december 2025"
    body = norm(reminder.body)
    assert body.startswith("Geachte heer, mevrouw,") and "Met vriendelijke groet" in body
    assert "€ 1.234,56" in body  # Belgian Dutch: the euro sign first (the Netherlands write it so too, nl_NL)
    assert "van 4 november 2025, vervallen op 4 december 2025 (89 dagen te laat)" in body
    assert "De factuur vindt u in de bijlage." in body
    html = mailer.text_to_html(reminder.body, reminder.language)
    assert '<html lang="nl">' in html and "€ 1.234,56" in norm(html)
    assert dunning.attachment_name(reminder) == f"Factuur-{invoice.number}.pdf"
    # the same customer in the Netherlands: the Dutch formats of the Netherlands
    assert format_locale("nl", "NL") == "nl_NL" and format_locale("de", "AT") == "de_AT"
    assert format_locale("de_CH", "DE") == "de_CH"  # a variant keeps its own formats


@pytest.mark.parametrize("language", wording.LANGUAGES)
def test_the_default_texts_of_the_six_languages_are_valid_and_render_everywhere(app, levels, language):
    settings = settings_service.load(db.session)
    customer = customer_in(language, {"fr": "FR", "en": "GB", "de": "DE", "es": "ES", "it": "IT", "nl": "NL"}[language])
    invoice = invoice_of(customer)
    make_invoice(customer, total="99.00", due=date(2026, 1, 10))
    db.session.commit()
    for level in levels.values():
        for channel in ("email", "letter"):
            subject, body = wording.default_text(level, channel, language)
            placeholders.validate_template(subject, body)  # known variables only, nothing empty
            assert "{attached}" not in body
            template = db.session.scalar(select(Template).where(
                Template.level_id == level.id, Template.channel == channel, Template.language == language))
            assert (template.subject, template.body) == (subject, body)  # installed by install_default_texts
            rendered = wording.render_for_invoice(db.session, invoice, level, channel, ON, settings)
            assert rendered.language == language and rendered.unknown == ()
            assert not any("text" in reason for reason in rendered.reasons), rendered.reasons
            assert "__" not in rendered.subject + rendered.text, (level.rank, channel)
            assert invoice.number in rendered.subject
            if level.formal_notice:
                assert "40" in rendered.text and "interest" not in rendered.text or language == "en"


def test_formal_notice_wording_per_country(app, levels):
    notice = {language: wording.default_text(levels[3], "letter", language) for language in wording.LANGUAGES}
    assert notice["de"][0].startswith("LETZTE MAHNUNG") and "Basiszinssatz" in notice["de"][1]
    assert "§ 288 Abs. 5 BGB" in notice["de"][1] and "Mahnbescheid" in notice["de"][1]
    assert notice["es"][0].startswith("REQUERIMIENTO FORMAL DE PAGO") and "Ley 3/2004" in notice["es"][1]
    assert "procedimiento monitorio" in notice["es"][1]
    assert notice["it"][0].startswith("DIFFIDA E MESSA IN MORA") and "D.Lgs. 9 ottobre 2002, n. 231" in notice["it"][1]
    assert "decreto ingiuntivo" in notice["it"][1]
    assert notice["nl"][0].startswith("INGEBREKESTELLING") and "6:119a BW" in notice["nl"][1]
    for _subject, body in notice.values():
        for name in ("__TOTAL_CLAIMED__", "__CLAIM_DETAIL__", "__DEADLINE__", "__INVOICES_TABLE__", "__COMPANY_IBAN__"):
            assert name in body


def test_languages_by_code_and_by_name():
    for raw, code in [("fr", "fr"), ("DE", "de"), ("de-ch", "de_CH"), ("de_CH", "de_CH"), ("allemand", "de"),
                      ("Deutsch", "de"), ("German", "de"), ("français", "fr"), ("anglais", "en"), ("español", "es"),
                      ("Espagnol", "es"), ("italiano", "it"), ("Nederlands", "nl"), ("néerlandais", "nl"),
                      ("Duits", "de"), ("portugais", "pt"), ("pt", "pt")]:
        assert languages.parse(raw) == code, raw
        assert values.parse_language(raw) == code
    for raw in ("klingon", "xx", "", "zh_Hant_HK", "fr;DROP"):
        with pytest.raises(languages.UnknownLanguage):
            languages.parse(raw)
    offered = [code for code, _name in languages.choices("en")]
    assert offered[:6] == ["fr", "en", "de", "es", "it", "nl"] and "pt" in offered and len(offered) > 100
    names = [name for _code, name in languages.choices("en")[6:]]
    assert names == sorted(names, key=languages._fold) and "German" not in names  # by name, the six not again
    assert languages.choices("fr")[2] == ("de", "Allemand")
    assert languages.choices("fr", keep="de_CH")[6] == ("de_CH", "Allemand (Suisse)")


def test_the_customers_csv_import_takes_names_and_names_the_bad_cell(app, runner, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("code;name;language;country\nA1;Alpha;Deutsch;DE\nA2;Beta;néerlandais;BE\nA3;Gamma;de-CH;CH\n"
                    "A4;Delta;português;PT\n", encoding="utf-8")
    result = runner.invoke(args=["relance", "import", "customers", str(path)], env={"LANG": "en_US.UTF-8"})
    assert result.exit_code == 0, result.output
    assert {code: language for code, language in db.session.execute(select(Customer.code, Customer.language))} == {
        "A1": "de", "A2": "nl", "A3": "de_CH", "A4": "pt"}
    path.write_text("code;name;language;country\nB1;Alpha;es;ES\nB2;Beta;Tlhingan;DE\n", encoding="utf-8")
    result = runner.invoke(args=["relance", "import", "customers", str(path)], env={"LANG": "en_US.UTF-8"})
    assert result.exit_code == 1
    assert 'line 3, column language: "Tlhingan" is not a language' in result.output
    assert db.session.scalar(select(Customer).where(Customer.code == "B1")) is None  # nothing half-saved


def test_the_api_takes_any_language(app, client):
    headers = {"Authorization": f"Bearer {token_for('agent')}", "Accept-Language": "en"}
    response = client.put("/api/v1/customers/API-1", json={"name": "Rossi Srl", "language": "italiano",
                                                            "country": "IT"}, headers=headers)
    assert response.status_code in (200, 201), response.get_json()
    assert db.session.scalar(select(Customer.language).where(Customer.code == "API-1")) == "it"
    response = client.put("/api/v1/customers/API-2", json={"name": "X", "language": "xx"}, headers=headers)
    assert response.status_code == 422 and "language" in str(response.get_json())


@pytest.mark.clock
def test_the_customer_form_offers_every_language_and_shows_its_name(app, client, auth):
    auth.login("agent")
    page = client.get("/customers/new", headers=EN).get_data(as_text=True)
    first = [page.index(f'value="{code}"') for code in ("fr", "en", "de", "es", "it", "nl", "pt")]
    assert first == sorted(first)  # the six shipped first, then the others
    assert ">Portuguese</option>" in page
    response = client.post("/customers/new", data={"code": "PT1", "name": "Lisboa Lda", "country": "PT",
                                                   "language": "pt", "kind": "business"}, headers=EN)
    assert response.status_code == 302, response.get_data(as_text=True)
    customer = db.session.scalar(select(Customer).where(Customer.code == "PT1"))
    assert customer.language == "pt"
    details = client.get(f"/customers/{customer.id}", headers=EN).get_data(as_text=True)
    assert '<option selected value="pt">Portuguese</option>' in details


@pytest.mark.clock
def test_a_portuguese_customer_falls_back_with_the_reason_shown(app, client, auth, runner, levels):
    customer = customer_in("pt", "PT", name="Lisboa Lda", address="Rua Augusta 1", postcode="1100-048",
                           city="Lisboa")
    invoice = make_invoice(customer, number="FA-PT", total="500.00", due=date(2026, 4, 1))
    db.session.commit()
    auth.login("agent")
    preview = client.get(f"/reminders/preview?invoice={invoice.id}&level=2", headers={**EN, "HX-Request": "true"})
    text = preview.get_data(as_text=True)
    assert "No Portuguese text for level 2 by letter: the French text is used." in text
    assert "Deuxième relance" in text or "Malgré notre précédente relance" in text  # the French text shown
    fr = client.get(f"/reminders/preview?invoice={invoice.id}&level=2&by_email=y",
                    headers={"Accept-Language": "fr", "HX-Request": "true"}).get_data(as_text=True)
    assert "Pas de texte portugais pour le niveau 2 par e-mail\xa0: le texte français est utilisé." in fr
    result = runner.invoke(args=["relance", "explain", "FA-PT", "--date", "2026-05-20", "--language", "en",
                                 "--manual"])
    assert result.exit_code == 0, result.output
    assert "No Portuguese text for level 1 by email: the French text is used." in result.output
    with force_locale("en"):
        assert readiness.fallback_message(3, "letter", "de_CH", "de") == \
            "No German (Switzerland) text for level 3 by letter: the German text is used."
    # a de_CH customer reads the German texts without any reason given
    swiss = invoice_of(customer_in("de_CH", "CH", city="Zürich", postcode="8001"))
    db.session.commit()
    rendered = wording.render_for_invoice(db.session, swiss, levels[1], "email", ON, settings_service.load(db.session))
    assert rendered.language == "de" and rendered.reasons == ()
    assert "EUR 1’234.56" in norm(rendered.text) or "EUR 1'234.56" in norm(rendered.text)  # Swiss formats


def test_the_screens_stay_in_french_and_english(app, client, auth):
    auth.login("agent")
    page = client.get("/", headers={"Accept-Language": "de, es;q=0.9, en;q=0.5"})
    assert '<html lang="en"' in page.get_data(as_text=True)
    default = app.config["BABEL_DEFAULT_LOCALE"]
    html = client.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert f'<html lang="{default}"' in html  # no German screens: the default locale
    assert 'value="de"' not in html.split('class="inline lang-switch"')[1].split("</form>")[0]
    client.post("/language", data={"language": "de", "next": "/"})
    assert f'<html lang="{default}"' in client.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    from relance.admin.user_forms import UserForm
    with app.test_request_context():
        assert [c.value for c in UserForm().language.choices] == ["", "fr", "en"]


def test_the_letter_catalogs_hold_the_letter_words(app):
    """The words of a German, Spanish, Italian and Dutch letter come from translations/<language>."""
    from flask_babel import gettext

    expected = {"de": "Übersicht der geschuldeten Beträge", "es": "Resumen de los importes adeudados",
                "it": "Riepilogo degli importi dovuti", "nl": "Overzicht van de verschuldigde bedragen"}
    for language, words in expected.items():
        with force_locale(language):
            assert gettext("Summary of the amounts due") == words
        with force_locale({"de": "de_AT", "es": "es_MX", "it": "it_CH", "nl": "nl_BE"}[language]):  # same words
            assert gettext("Summary of the amounts due") == words
