"""Settings page: good input saved at once, each bad input refused with its message and nothing saved."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import AuditLog, Setting
from relance.services import settings as settings_service

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


def good_form(**changes) -> dict:
    data = {
        "company_name": "Dupont & Fils SARL", "company_address": "12 rue des Lilas", "company_postcode": "69003",
        "company_city": "Lyon", "company_country": "FR", "company_email": "compta@dupont.example",
        "company_phone": "04 78 00 00 00", "company_iban": "fr76 3000 6000 0112 3456 7890 189",
        "company_bic": "bnpafrpp", "company_legal": "SARL au capital de 10 000 €, RCS Lyon 123 456 789",
        "sender_email": "relances@dupont.example", "copy_to_sales": "y", "save_letter_copy": "y",
        "next_reminder_delay": "+10 days", "payment_url_pattern": "https://pay.dupont.example/f/{number}",
        "default_language": "en", "notice_deadline_days": "15", "auto_hour": "8", "auto_timezone": "Europe/Brussels",
        "customer_link_days": "90", "promise_grace_days": "5", "paid_claim_days": "10",
        "business_days": "y", "business_country": "BE", "min_days_between": "10", "manual_cancels_hours": "48",
        "min_amount": "15,50", "skip_direct_debit": "y", "statutory_interest": "y",
        "indemnity_by_country": "FR: 40\nDE: 40,00\nGB=70",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_settings_page_shows_every_group(app, client, auth):
    auth.login("manager")
    html = client.get("/admin/settings").get_data(as_text=True)
    for name in settings_service.SPECS:
        if name not in ("company_logo", "go_live_date", "auto_start_date"):  # the last two: the go-live step's
            assert f'name="{name}"' in html, name
    assert 'name="logo"' in html and 'enctype="multipart/form-data"' in html
    french = client.get("/admin/settings", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert 'name="next_reminder_delay" required type="text" value="+15 jours"' in french


def test_good_settings_are_saved_all_at_once_and_audited(app, client, auth):
    auth.login("manager")
    response = client.post("/admin/settings", data=good_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    s = settings_service.load(db.session)
    assert s.company_name == "Dupont & Fils SARL"
    assert s.company_iban == "FR76 3000 6000 0112 3456 7890 189"
    assert s.company_bic == "BNPAFRPP"
    assert s.next_reminder_delay == "+10 days"
    assert s.default_language == "en" and s.auto_hour == 8 and s.auto_timezone == "Europe/Brussels"
    assert s.business_days is True and s.business_country == "BE"
    assert s.min_days_between == 10 and s.manual_cancels_hours == 48
    assert s.min_amount == Decimal("15.50")
    assert s.skip_consumer_penalties is False  # unchecked box
    assert s.auto_letters is False
    assert s.indemnity_by_country == {"FR": "40.00", "DE": "40.00", "GB": "70.00"}
    row = db.session.scalar(select(AuditLog).where(AuditLog.entity == "settings"))
    assert row.action == "update" and row.user.email == "manager@test.example"
    assert row.after["company_name"] == "Dupont & Fils SARL" and row.before["company_name"] == "Ma Société SAS"
    assert row.after["min_amount"] == "15.50"
    assert "statutory_interest" not in row.after  # unchanged values are not logged
    # the page shows the stored values back
    html = client.get("/admin/settings").get_data(as_text=True)
    assert "Dupont &amp; Fils SARL" in html and "15,50" in html and "GB: 70.00" in html


BAD = [
    ("company_name", "  ", "Enter the company name."),
    ("company_country", "ZZ", "Choose a country from the list."),
    ("company_email", "compta-at-dupont", '"compta-at-dupont" is not a valid email address.'),
    ("company_email", "compta@dupont.example; direction@dupont.example", "is not a valid email address."),
    ("company_iban", "FR76 3000 6000 0112 3456 7890 188", "This IBAN is not valid"),
    ("company_bic", "BNP", "A BIC has 8 or 11"),
    ("sender_email", "relances@", '"relances@" is not a valid email address.'),
    ("next_reminder_delay", "15 jours", 'Write the delay like "+15 days"'),
    ("next_reminder_delay", "-5 days", "The next reminder must be after today"),
    ("payment_url_pattern", "https://pay.example/f/", "must contain {number}"),
    ("payment_url_pattern", "javascript:alert(1)//{number}", "must start with https://"),
    ("payment_url_pattern", "https://pay.example/{number}/{secret}", "Between braces only"),
    ("default_language", "de", "Choose French or English."),
    ("notice_deadline_days", "0", "Enter a whole number between 1 and 60."),
    ("auto_hour", "24", "Choose an hour between 00:00 and 23:00."),
    ("auto_timezone", "Mars/Olympus", "Choose a time zone from the list"),
    ("business_country", "XX", "Choose a country from the list."),
    ("min_days_between", "sept", "Enter a whole number between 0 and 365."),
    ("manual_cancels_hours", "-1", "Enter a whole number between 0 and 720."),
    ("customer_link_days", "0", "Enter a whole number between 1 and 365."),
    ("promise_grace_days", "trois", "Enter a whole number between 0 and 60."),
    ("min_amount", "-5", "Enter a number between 0 and 1000000"),
    ("min_amount", "1,234", "Use at most 2 decimals."),
    ("indemnity_by_country", "FR: 40\nXX: 10", 'Line 2: "XX" is not a country code.'),
    ("indemnity_by_country", "France quarante", "Line 1: write a country code"),
    ("indemnity_by_country", "FR: 40\nFR: 50", "Line 2: FR is given twice."),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD, ids=[f"{f}={v!r}" for f, v, _m in BAD])
def test_each_bad_value_is_refused_with_its_message_and_nothing_saved(app, client, auth, field, value, message):
    auth.login("manager")
    response = client.post("/admin/settings", data=good_form(**{field: value}))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Nothing was saved" in html
    assert message.replace("&", "&amp;").replace('"', "&#34;") in html or message in html, html[:200]
    assert f'href="#field-{field}"' in html  # the summary names the field
    assert db.session.scalar(select(func.count()).select_from(Setting)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_internationalised_addresses_are_valid_and_kept_as_typed(app, client, auth):
    auth.login("manager")
    response = client.post("/admin/settings", data=good_form(company_email=" Compta@Hôtelduparc.example ",
                                                             sender_email="relançes@dupont.example"))
    assert response.status_code == 302, response.get_data(as_text=True)
    s = settings_service.load(db.session)
    assert (s.company_email, s.sender_email) == ("Compta@Hôtelduparc.example", "relançes@dupont.example")


def test_logo_upload_is_stored_under_files_path(app, client, auth):
    auth.login("manager")
    data = good_form(logo=(io.BytesIO(PNG), "logo.png"))
    response = client.post("/admin/settings", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    name = settings_service.load(db.session).company_logo
    assert name.startswith("company/logo-") and name.endswith(".png")
    assert (Path(app.config["FILES_PATH"]) / name).read_bytes() == PNG
    served = client.get("/admin/settings/logo")
    assert served.status_code == 200 and served.data == PNG
    # remove it again
    client.post("/admin/settings", data=good_form(remove_logo="y"))
    assert settings_service.load(db.session).company_logo == ""


def test_bad_logo_is_refused_and_no_file_is_written(app, client, auth):
    auth.login("manager")
    data = good_form(logo=(io.BytesIO(b"<svg onload=alert(1)></svg>"), "logo.svg"), company_name="Other")
    response = client.post("/admin/settings", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "The logo must be a PNG or JPEG image." in response.get_data(as_text=True)
    assert not (Path(app.config["FILES_PATH"]) / "company").exists()
    assert settings_service.load(db.session).company_name == "Ma Société SAS"


def test_settings_are_for_managers(app, client, auth):
    auth.login("agent")
    assert client.get("/admin/settings").status_code == 403
    assert client.post("/admin/settings", data=good_form()).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Setting)) == 0
