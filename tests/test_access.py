"""Every URL rule: login required, CSRF on POST, and each role reaches exactly what its level allows.

ACCESS is the table of the minimum role per endpoint; a new view must be added here.
"""

from __future__ import annotations

import pytest
from flask import url_for
from werkzeug.routing import IntegerConverter

from relance.models import ROLES, role_rank

PUBLIC = {"static", "auth.login", "main.healthz", "main.set_language"}
API_PREFIX = "api."  # bearer tokens, tested in the API tests (401 without a token)
PORTAL_PREFIX = "portal."  # the customer's page: its link's token, tested in tests/test_portal.py (404 without one)

ACCESS = {
    "main.dashboard": "viewer",
    "auth.logout": "viewer", "auth.account": "viewer", "auth.change_password": "viewer",
    "auth.end_other_sessions": "viewer",
    "customers.index": "viewer", "customers.show": "viewer", "customers.invoices": "viewer",
    "customers.reminders": "viewer", "customers.new": "agent", "customers.update": "agent",
    "customers.add_contact": "agent", "customers.edit_contact": "agent", "customers.delete_contact": "agent",
    "invoices.index": "viewer", "invoices.show": "viewer", "invoices.reminders": "viewer", "invoices.files": "viewer",
    "invoices.pdf": "viewer", "invoices.reminder_file": "viewer", "invoices.new": "agent", "invoices.edit": "agent",
    "invoices.add_payment": "agent", "invoices.remove_payment": "agent", "invoices.set_no_auto": "agent",
    "invoices.upload_pdf": "agent", "invoices.credit": "agent",
    # administration
    "admin.index": "manager", "admin.settings": "manager", "admin.logo": "manager", "admin.rates": "manager",
    "admin.delete_rate": "manager", "admin.users": "admin", "admin.new_user": "admin", "admin.edit_user": "admin",
    "admin.reset_password": "admin", "admin.tokens": "admin", "admin.revoke_token": "admin", "admin.audit": "admin",
    "admin.levels": "manager", "admin.update_level": "manager", "admin.new_level": "manager",
    "admin.move_level": "manager",
    "admin.new_policy": "manager", "admin.rename_policy": "manager", "admin.default_policy": "manager",
    "admin.delete_policy": "manager",
    "admin.templates": "manager", "admin.edit_template": "manager", "admin.preview_template": "manager",
    "admin.letter_preview": "manager", "admin.revert_template": "manager", "admin.invoice_search": "manager",
    # CSV import
    "imports.index": "agent", "imports.preview": "agent", "imports.confirm": "agent", "imports.cancel": "agent",
    "imports.example": "agent", "imports.pending": "agent", "imports.status": "agent", "imports.einvoices": "agent",
    "imports.pdfs": "agent",
    # reminder screens
    "reminders.index": "viewer", "reminders.export": "viewer", "reminders.new": "agent", "reminders.preview": "agent",
    "reminders.mass_page": "agent", "reminders.mass_count": "agent", "reminders.mass_row": "agent",
    "reminders.mass_save": "agent", "reminders.mass_bulk": "agent", "reminders.mass_run": "agent",
    "reminders.run": "agent", "reminders.run_letters": "agent", "reminders.run_posted": "agent",
    "reminders.cancel": "agent", "reminders.posted": "agent", "reminders.letter": "viewer",
    "reminders.show": "viewer", "reminders.mark_sent": "agent",
    # automatic run
    "autorun.index": "manager", "autorun.run": "manager", "autorun.letters": "agent", "autorun.test": "manager",
    "autorun.send_now": "manager", "autorun.dry_run": "manager", "autorun.posted": "agent",
    "golive.step": "manager", "golive.overdue": "agent", "golive.adopt": "agent",
    # the customers' answers
    "answers.index": "viewer", "answers.act": "agent", "customers.revoke_links": "agent",
    # bank statements
    "bank.index": "viewer", "bank.upload": "agent", "bank.accept": "agent", "bank.record": "agent",
    "bank.ignore": "agent", "bank.restore": "agent",
    # the phone calls to make
    "calls.index": "agent", "calls.record": "agent",
}


def _rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC or rule.endpoint.startswith((API_PREFIX, PORTAL_PREFIX)):
            continue
        yield rule


def _url(app, rule) -> str:
    values = {}
    for arg in rule.arguments:
        values[arg] = 999999 if isinstance(rule._converters[arg], IntegerConverter) else "x"  # params.IdConverter
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


def test_every_endpoint_is_in_the_access_table(app):
    endpoints = {rule.endpoint for rule in _rules(app)}
    assert endpoints - set(ACCESS) == set(), "add these endpoints to ACCESS"
    for endpoint in endpoints:
        view = app.view_functions[endpoint]
        declared = getattr(view, "required_role", "viewer" if endpoint == "auth.logout" else None)
        assert declared == ACCESS[endpoint], f"{endpoint}: role_required({declared!r}), table: {ACCESS[endpoint]}"


def test_anonymous_get_redirects_to_login(app, client):
    for rule in _rules(app):
        if "GET" not in rule.methods:
            continue
        response = client.get(_url(app, rule))
        assert response.status_code == 302, rule.endpoint
        assert "/login" in response.headers["Location"], rule.endpoint


def test_anonymous_post_redirects_to_login(app, client):
    for rule in _rules(app):
        if "POST" in rule.methods:
            response = client.post(_url(app, rule))
            assert response.status_code == 302 and "/login" in response.headers["Location"], rule.endpoint


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_level(app, client, auth, role):
    auth.login(role)
    for rule in _rules(app):
        if rule.endpoint == "auth.logout":
            continue
        allowed = role_rank(role) >= role_rank(ACCESS[rule.endpoint])
        url = _url(app, rule)
        if "GET" in rule.methods:
            status = client.get(url).status_code
            assert (status != 403) if allowed else (status == 403), f"{role} GET {rule.endpoint}: {status}"
        if "POST" in rule.methods and not allowed:
            status = client.post(url).status_code
            assert status == 403, f"{role} POST {rule.endpoint}: {status}"


@pytest.mark.csrf
def test_post_without_csrf_token_is_refused(app, client, auth):
    from relance.extensions import db
    from tests.factories import make_user

    make_user(email="admin@csrf.example", role="admin", password="correct horse 42")
    db.session.commit()
    # even the login form needs its token
    credentials = {"email": "admin@csrf.example", "password": "correct horse 42"}
    assert client.post("/login", data=credentials).status_code == 400
    page = client.get("/login").get_data(as_text=True)
    from tests.conftest import csrf_token_from

    token = csrf_token_from(page)
    response = client.post("/login", data={"email": "admin@csrf.example", "password": "correct horse 42",
                                           "csrf_token": token})
    assert response.status_code == 302
    for rule in list(_rules(app)) + [r for r in app.url_map.iter_rules() if r.endpoint == "main.set_language"]:
        if "POST" in rule.methods:
            response = client.post(_url(app, rule), data={"anything": "1"})
            assert response.status_code == 400, f"{rule.endpoint}: {response.status_code}"
            assert "security token" in response.get_data(as_text=True) or "jeton" in response.get_data(as_text=True)
