"""Hardening: safe redirects (relance/redirects.py), security headers and the Content-Security-Policy
(relance/security.py), templates the policy allows, the API's JSON limits, LIKE searches taken literally
(relance/search.py), form values within bounds (relance/params.py, relance/forms.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from datetime import date
from pathlib import Path

import pytest
from flask import Flask

from relance import redirects, security
from relance.extensions import db
from relance.models import ApiToken, Invoice, Reminder
from relance.services.sending.mailer import text_to_html
from tests.factories import install_live_defaults, make_customer, make_invoice, make_user

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse 42"

ESCAPES = ["/\t/evil.com", "/%09/evil.com", "\\\\evil.com", "\\evil.com", "/\\evil.com", "/%5Cevil.com",
           "http:evil.com", "https://evil.com/x", "//evil.com", "///evil.com", "/%2F/evil.com", "/%252F%252Fevil.com",
           " //evil.com", "/\n/evil.com", "/\u2028/evil.com", "javascript:alert(1)", "evil.com", ""]


def _login(client, role: str = "agent") -> str:
    email = f"{role}@sec.example"
    from relance.models import User

    if db.session.query(User).filter_by(email=email).first() is None:
        make_user(email=email, role=role, password=PASSWORD)
        db.session.commit()
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302
    return email


# --- redirects ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ESCAPES)
def test_the_helper_refuses_every_way_out(target):
    assert not redirects.is_local(target)
    assert redirects.local_target(target, "/home") == "/home"


@pytest.mark.parametrize("target", ["/", "/invoices/?q=a%20b&sort=-due", "/customers/12#contacts", "/a/é"])
def test_the_helper_keeps_paths_of_the_site(target):
    assert redirects.local_target(target, "/home") == target


@pytest.mark.parametrize("target", ESCAPES)
def test_login_next_stays_on_the_site(sqlite_app, target):
    client = sqlite_app.test_client()
    make_user(email="next@sec.example", password=PASSWORD)
    db.session.commit()
    response = client.post("/login", query_string={"next": target},
                           data={"email": "next@sec.example", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_login_next_keeps_a_page_of_the_site(sqlite_app):
    client = sqlite_app.test_client()
    make_user(email="next@sec.example", password=PASSWORD)
    db.session.commit()
    response = client.post("/login?next=/invoices/%3Fq%3Dx", data={"email": "next@sec.example", "password": PASSWORD})
    assert response.headers["Location"] == "/invoices/?q=x"


@pytest.mark.parametrize("target", ESCAPES)
def test_language_switch_stays_on_the_site(sqlite_app, target):
    client = sqlite_app.test_client()
    response = client.post("/language", data={"language": "en", "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.post("/language", data={"language": "fr", "next": "/login?x=1"}).headers["Location"] == \
        "/login?x=1"


@pytest.fixture
def reminders(sqlite_app):
    """A pending email and a printed letter of one invoice, and an agent logged in."""
    install_live_defaults(db.session)
    invoice = make_invoice(make_customer(), number="FA-SEC")
    rows = [Reminder(key=f"sec-{channel}", invoice=invoice, level=1, channel=channel, status=status,
                     reminder_date=date(2026, 2, 1)) for channel, status in (("email", "pending"),
                                                                             ("letter", "to_post"))]
    db.session.add_all(rows)
    db.session.commit()
    client = sqlite_app.test_client()
    _login(client)
    return client, invoice, rows


@pytest.mark.parametrize("target", ESCAPES)
def test_reminder_actions_go_back_inside_the_site(reminders, target):
    client, invoice, (email, letter) = reminders
    default = f"/invoices/{invoice.id}/reminders"
    response = client.post(f"/reminders/{letter.id}/posted", data={"next": target})
    assert response.status_code == 303 and response.headers["Location"] == default
    response = client.post(f"/reminders/{email.id}/cancel", data={"next": target, "reason": "wrong address"})
    assert response.status_code == 303 and response.headers["Location"] == default


def test_reminder_actions_go_back_to_the_page_they_came_from(reminders):
    client, invoice, (_email, letter) = reminders
    response = client.post(f"/reminders/{letter.id}/posted", data={"next": "/reminders/?status=to_post"})
    assert response.headers["Location"] == "/reminders/?status=to_post"


@pytest.mark.parametrize("back", [*ESCAPES, "/invoices/"])
def test_the_template_editors_search_links_back_only_to_an_editor(sqlite_app, back):
    client = sqlite_app.test_client()
    make_invoice(make_customer(name="Dupont"), number="FA-LINK")
    db.session.commit()
    _login(client, "manager")
    html = client.get("/admin/templates/invoices", query_string={"q": "FA-LINK", "back": back}).get_data(as_text=True)
    links = re.findall(r'href="([^"]*)\?invoice=', html)
    assert links == ["/admin/templates"]


# --- headers ------------------------------------------------------------------------------------------------------

HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def _assert_secured(response, framed_by: str = "'none'") -> None:
    for name, value in HEADERS.items():
        if name == "X-Frame-Options" and framed_by == "'self'":
            value = "SAMEORIGIN"
        assert response.headers.get(name) == value, (name, response.status_code, response.request.path)
    csp = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["script-src"] == "'self'"
    assert csp["frame-ancestors"] == framed_by
    assert csp["base-uri"] == "'self'" and csp["form-action"] == "'self'"
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in response.headers


def test_headers_on_pages_fragments_errors_api_and_static_files(sqlite_app):
    client = sqlite_app.test_client()
    _assert_secured(client.get("/login"))
    _assert_secured(client.get("/"))  # a redirect to the login page
    _assert_secured(client.get("/static/css/relance.css"))
    _assert_secured(client.get("/static/js/relance.js"))
    _assert_secured(client.get("/static/vendor/htmx.min.js"))
    _assert_secured(client.get("/api/v1/customers"))  # 401, JSON
    _assert_secured(client.get("/api/v1/openapi.json"))
    _assert_secured(client.get("/healthz"))
    _login(client, "manager")
    _assert_secured(client.get("/invoices/"))
    _assert_secured(client.get("/invoices/", headers={"HX-Request": "true"}))  # a fragment
    _assert_secured(client.get("/no/such/page"))  # 404
    _assert_secured(client.get("/no/such/page", headers={"HX-Request": "true"}))
    bad = client.get("/reminders/new?invoice=abc")  # 400 from relance/params.py
    assert bad.status_code == 400 and "invoice: abc is not a whole number." in bad.get_data(as_text=True)
    _assert_secured(bad)
    _assert_secured(client.get("/admin/users"))  # 403 for a manager
    _assert_secured(client.post("/reminders/mass/bulk", data={"action": "nothing"}))  # abort(400)


def test_headers_on_the_500_page(tmp_path, sqlite_template):
    from tests.conftest import _build_app, sqlite_url_from_template

    app: Flask = _build_app(sqlite_url_from_template(sqlite_template, tmp_path / "t.db"), tmp_path)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/_boom")
    def boom():
        raise RuntimeError("boom")

    with app.app_context():
        response = app.test_client().get("/_boom")
        assert response.status_code == 500
        _assert_secured(response)
        api = app.test_client().get("/api/v1/_none")
        _assert_secured(api)
        db.session.remove()
        db.engine.dispose()


def test_hsts_only_with_secure_cookies(tmp_path, sqlite_template):
    from tests.conftest import _build_app, sqlite_url_from_template

    url = sqlite_url_from_template(sqlite_template, tmp_path / "t.db")
    secure = _build_app(url, tmp_path, SESSION_COOKIE_SECURE=True)
    assert secure.test_client().get("/login").headers["Strict-Transport-Security"] == "max-age=31536000"
    off = _build_app(url, tmp_path, SESSION_COOKIE_SECURE=True, HSTS_MAX_AGE=0)
    assert "Strict-Transport-Security" not in off.test_client().get("/login").headers


def test_the_letter_preview_may_be_framed_by_this_site_only(sqlite_app):
    client = sqlite_app.test_client()
    install_live_defaults(db.session)
    make_invoice(make_customer(), number="FA-PREVIEW")
    db.session.commit()
    _login(client, "manager")
    from relance.models import ReminderLevel

    level = db.session.scalars(db.select(ReminderLevel).order_by(ReminderLevel.rank)).first()
    response = client.post(f"/admin/templates/{level.id}/letter/fr/letter.pdf",
                           data={"subject": "Relance", "body": "Bonjour"})
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    _assert_secured(response, framed_by="'self'")
    _assert_secured(client.get(f"/admin/templates/{level.id}/letter/fr"))  # the editor itself: not framable


def test_the_email_style_is_allowed_by_its_hash():
    """The reminder page shows the email as it left in a sandboxed srcdoc frame: its <style> block is allowed by
    its hash, and nothing else inline."""
    style = re.search(r"<style>(.*?)</style>", text_to_html("Bonjour"), re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = security.content_security_policy()
    assert f"style-src 'self' 'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


# --- templates the policy allows ----------------------------------------------------------------------------------

PAGE_TEMPLATES = [p for p in (ROOT / "relance" / "templates").rglob("*.html")
                  if p.parent.name not in ("pdf", "email")]  # PDFs (WeasyPrint) and emails never reach a browser


@pytest.mark.parametrize("path", PAGE_TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "relance" / "templates")))
def test_templates_hold_no_inline_script_style_or_eval(path):
    html = path.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script>: move it to static/js/relance.js"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler: use data-* and static/js/relance.js"
    assert not re.search(r"<style|\sstyle\s*=", html), "inline style: use static/css/relance.css"
    assert not re.search(r"\shx-on", html), "hx-on is evaluated with Function(): needs 'unsafe-eval'"
    assert not re.search(r"""hx-[a-z:-]+\s*=\s*["'][^"']*\b(js|javascript):""", html), "js: values need eval"
    assert not re.search(r"""hx-trigger\s*=\s*["'][^"']*\w\[""", html), "trigger filters [..] are evaluated"
    assert "javascript:" not in html


def test_python_markup_holds_no_inline_style_or_script():
    for path in (ROOT / "relance").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"Markup\([^)]*(style=|<script|\son[a-z]+=)", text), path


# --- the API's JSON bodies ----------------------------------------------------------------------------------------

@pytest.fixture
def api(app):
    user = make_user(role="agent")
    token, clear = ApiToken.issue(user, "sec")
    db.session.add(token)
    db.session.commit()
    return {"Authorization": f"Bearer {clear}", "Accept-Language": "en"}


def test_deeply_nested_json_answers_400(client, api):
    just_too_deep = json.dumps({"items": [{"code": "C1", "name": json.loads("[" * 32 + "]" * 32)}]})  # 34 levels
    for body in ("[" * 200_000, "[" * 200_000 + "]" * 200_000, just_too_deep):
        response = client.post("/api/v1/customers", data=body, headers={**api, "Content-Type": "application/json"})
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
        assert response.is_json and response.json["error"]["status"] == 400
        assert "nested too deeply" in response.json["error"]["message"]
        _assert_secured(response)


def test_a_too_big_json_body_answers_400(app, client, api):
    app.config["API_MAX_BODY_BYTES"] = 1000
    body = json.dumps({"items": [{"code": f"C{n}", "name": "x" * 40} for n in range(50)]})
    response = client.post("/api/v1/customers", data=body, headers={**api, "Content-Type": "application/json"})
    assert response.status_code == 400 and "too large" in response.json["error"]["message"]
    # without Content-Length (sent in chunks, the server says where the body ends): stopped at the limit all the same
    response = client.post("/api/v1/customers", input_stream=io.BytesIO(body.encode()),
                           headers={**api, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 400 and "too large" in response.json["error"]["message"]
    small = json.dumps({"items": [{"code": "C1", "name": "Dupont"}]})
    assert client.post("/api/v1/customers", data=small, headers={**api, "Content-Type": "application/json"}
                       ).status_code == 200


def test_the_default_api_body_limit_is_one_megabyte(app):
    assert app.config["API_MAX_BODY_BYTES"] == 1024 * 1024 and app.config["API_MAX_JSON_DEPTH"] == 32


def test_api_next_date_far_away_answers_422(client, api):
    install_live_defaults(db.session)
    make_invoice(make_customer(), number="FA-FAR", due=date(2026, 1, 15))
    db.session.commit()
    response = client.post("/api/v1/invoices/FA-FAR/reminders", headers=api,
                           json={"level": 1, "channel": "letter", "next_date": "9999-12-31"})
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["path"] == "next_date"


# --- searches take the text literally -----------------------------------------------------------------------------

def test_percent_and_underscore_are_literal_in_every_search(app, client, api):
    plain = make_customer("C-PLAIN", name="Dupont SA")
    odd = make_customer("C_100%", name="Cent pour 100% SA")
    make_invoice(plain, number="FA-0001")
    make_invoice(odd, number="FA_0002")
    db.session.commit()
    codes = lambda q: [c["code"] for c in client.get("/api/v1/customers", query_string={"q": q},  # noqa: E731
                                                       headers=api).json["items"]]
    assert codes("%") == ["C_100%"]
    assert codes("_") == ["C_100%"]
    assert codes("\\") == []
    assert codes("dupont") == ["C-PLAIN"]
    _login(client, "manager")
    customers = client.get("/customers/", query_string={"q": "%"}).get_data(as_text=True)
    assert "Cent pour 100% SA" in customers and "Dupont SA" not in customers
    invoices = client.get("/invoices/", query_string={"q": "_"}).get_data(as_text=True)
    assert "FA_0002" in invoices and "FA-0001" not in invoices
    found = client.get("/admin/templates/invoices", query_string={"q": "_"}).get_data(as_text=True)
    assert "FA_0002" in found and "FA-0001" not in found
    chosen = client.get("/reminders/new", query_string={"q": "%"}).get_data(as_text=True)
    assert "FA_0002" in chosen and "FA-0001" not in chosen


def test_like_is_written_in_one_place():
    """Every LIKE of relance/ goes through relance/search.py (escaped, with escape=)."""
    offenders = []
    for path in (ROOT / "relance").rglob("*.py"):
        if path.name == "search.py" and path.parent.name == "relance":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\.i?like\(|\blike_pattern\(|\bnot_i?like\(", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# --- forms: values within bounds ----------------------------------------------------------------------------------

def test_reminder_form_with_ids_and_ranks_out_of_range_answers_422(client, auth):
    install_live_defaults(db.session)
    invoice = make_invoice(make_customer(), number="FA-FORM")
    db.session.commit()
    auth.login("agent")
    for field, value in (("invoice", "99999999999999999999"), ("customer", "99999999999999999999"),
                         ("level", "99999999999999999999"), ("invoice", str(2**31)), ("next_date", "9999-12-31")):
        data = {"invoice": invoice.id, "level": 1, "token": f"t-{field}-{value}", field: value}
        response = client.post("/reminders/new", data=data)
        assert response.status_code == 422, (field, value)
        data["action"] = "preview"
        assert client.post("/reminders/new", data=data).status_code in (200, 422)
    assert db.session.scalar(db.select(db.func.count()).select_from(Reminder)) == 0


def test_dates_of_the_forms_stay_in_the_imports_years(client, auth):
    customer = make_customer("C-DATES")
    invoice = make_invoice(customer, number="FA-DATES")
    db.session.commit()
    auth.login("agent")
    form = {"number": "FA-NEW", "customer_code": "C-DATES", "issue_date": "2026-01-01", "due_date": "9999-12-31",
            "currency": "EUR", "total_excl_tax": "100", "total_incl_tax": "120", "status": "validated",
            "kind": "invoice", "billing_contact_id": 0, "followup_contact_id": 0, "followup_user_id": 0}
    response = client.post("/invoices/new", data=form)
    assert response.status_code == 422 and "2199-12-31" in response.get_data(as_text=True)
    response = client.post(f"/invoices/{invoice.id}/payments", data={"amount": "10", "date": "0001-01-01"})
    assert response.status_code == 422
    assert db.session.scalar(db.select(db.func.count()).select_from(Invoice)) == 1


def test_rows_of_the_mass_page_past_the_database_range_are_ignored(client, auth):
    install_live_defaults(db.session)
    db.session.commit()
    auth.login("agent")
    response = client.post("/reminders/mass/save", data={"rows": ["99999999999999999999", "-3", "x", str(2**31)]})
    assert response.status_code == 303
