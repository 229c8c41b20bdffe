"""JSON API /api/v1: tokens and roles, upserts, payments, reminders, errors with field paths, OpenAPI."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import ApiToken, AuditLog, Customer, Invoice, Payment, Reminder
from tests.factories import make_customer, make_invoice, make_user

API = "/api/v1"


def token_for(role: str, **kw) -> str:
    user = make_user(role=role, **kw)
    token, clear = ApiToken.issue(user, f"{role} token")
    db.session.add(token)
    db.session.commit()
    return clear


@pytest.fixture
def agent(app):
    return {"Authorization": f"Bearer {token_for('agent')}", "Accept-Language": "en"}


@pytest.fixture
def viewer(app):
    return {"Authorization": f"Bearer {token_for('viewer')}", "Accept-Language": "en"}


def counts() -> dict[str, int]:
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m))
            for m in (Customer, Invoice, Payment, AuditLog)}


def operations(client):
    """(method, url) of every operation in the OpenAPI document, with "X" as path values."""
    doc = client.get(f"{API}/openapi.json").get_json()
    for path, methods in doc["paths"].items():
        for method in methods:
            yield method.upper(), API + path.replace("{code}", "X").replace("{number}", "X")


INVOICE = {"customer_code": "C1", "issue_date": "2026-01-10", "due_date": "2026-02-09", "currency": "EUR",
           "total_excl_tax": "1000.00", "total_incl_tax": 1200, "status": "validated", "kind": "invoice"}


def test_without_a_valid_token_every_operation_answers_401(app, client):
    tokens = [None, "Bearer", "Bearer rl_wrong", "Basic dXNlcjpwYXNz"]
    user = make_user(role="admin")
    revoked, clear = ApiToken.issue(user, "old")
    revoked.revoked_at = datetime(2026, 1, 1)
    db.session.add(revoked)
    inactive_clear = token_for("agent", active=False)
    db.session.commit()
    tokens += [f"Bearer {clear}", f"Bearer {inactive_clear}"]
    ops = list(operations(client))
    assert len(ops) == 17
    for method, url in ops:
        for value in tokens:
            headers = {"Authorization": value} if value else {}
            response = client.open(url, method=method, headers=headers, json={})
            assert response.status_code == 401, (method, url, value)
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="relance"'
            assert response.get_json()["error"]["status"] == 401


def test_viewer_token_reads_but_every_write_is_403(app, client, viewer):
    make_invoice(make_customer("X"), number="X")
    db.session.commit()
    before = counts()
    for method, url in operations(client):
        response = client.open(url, method=method, headers=viewer, json={"items": [{"code": "N", "name": "N"}]})
        if method == "GET":
            assert response.status_code == 200, (method, url, response.get_json())
        else:
            assert response.status_code == 403, (method, url)
            assert response.get_json()["error"]["message"] == (
                "This token's role (viewer) does not allow this request.")
    assert counts() == before


def test_customer_put_creates_then_updates(app, client, agent):
    body = {"name": "Dupont SA", "email": "compta@dupont.example", "language": "fr", "country": "BE",
            "kind": "business", "address": "1 rue X", "postcode": "1000", "city": "Bruxelles", "phone": "02"}
    response = client.put(f"{API}/customers/C%2F1", headers=agent, json=body)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert {k: created[k] for k in body} == body and created["code"] == "C/1"
    response = client.put(f"{API}/customers/C%2F1", headers=agent, json={"name": "Dupont SARL"})
    assert response.status_code == 200
    assert response.get_json()["name"] == "Dupont SARL" and response.get_json()["city"] == "Bruxelles"
    assert client.get(f"{API}/customers/C%2F1", headers=agent).get_json()["name"] == "Dupont SARL"
    assert counts()["Customer"] == 1
    assert client.get(f"{API}/customers/nope", headers=agent).status_code == 404


def test_lists_are_paginated_and_filtered(app, client, viewer):
    for n in range(5):
        customer = make_customer(f"C{n}", name=f"Name {n}")
        make_invoice(customer, number=f"F{n}", status="paid" if n % 2 else "validated")
    db.session.commit()
    page = client.get(f"{API}/customers?per_page=2&page=2", headers=viewer).get_json()
    assert [c["code"] for c in page["items"]] == ["C2", "C3"]
    assert (page["page"], page["per_page"], page["total"], page["pages"]) == (2, 2, 5, 3)
    assert [c["code"] for c in client.get(f"{API}/customers?q=name 4", headers=viewer).get_json()["items"]] == ["C4"]
    paid = client.get(f"{API}/invoices?status=paid", headers=viewer).get_json()
    assert [i["number"] for i in paid["items"]] == ["F1", "F3"]
    open_ = client.get(f"{API}/invoices?open=true&customer_code=C2", headers=viewer).get_json()
    assert [i["number"] for i in open_["items"]] == ["F2"]
    response = client.get(f"{API}/invoices?page=0&per_page=500&open=maybe", headers=viewer)
    assert response.status_code == 422
    assert [f["path"] for f in response.get_json()["error"]["fields"]] == ["page", "per_page", "open"]


def test_invoice_upsert_and_batch_with_field_paths(app, client, agent):
    make_customer("C1")
    db.session.commit()
    response = client.put(f"{API}/invoices/FA-1", headers=agent, json=INVOICE)
    assert response.status_code == 201, response.get_json()
    invoice = response.get_json()
    assert (invoice["number"], invoice["total_incl_tax"], invoice["remaining_due"], invoice["open"]) == (
        "FA-1", "1200.00", "1200.00", True)
    before = counts()
    items = [{**INVOICE, "number": "FA-2"},
             {**INVOICE, "number": "FA-3", "due_date": "2026-01-01"},
             {**INVOICE, "number": "FA-4", "customer_code": "NOPE", "currency": "EUX"},
             {**INVOICE, "number": "FA-5", "total_incl_tax": "12.345", "status": "payée", "extra": 1}]
    response = client.post(f"{API}/invoices", headers=agent, json={"items": items})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["message"] == "The request has errors."
    assert error["fields"] == [
        {"path": "items[3].total_incl_tax",
         "message": "Must be an amount like 1234.50 (at most two decimals, no sign)."},
        {"path": "items[3].status", "message": "Must be one of: draft, validated, paid, cancelled."},
        {"path": "items[3].extra", "message": "Unknown field."}]
    response = client.post(f"{API}/invoices", headers=agent, json={"items": items[:3]})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["message"] == "The request has errors; nothing was saved."
    assert error["fields"] == [
        {"path": "items[1].due_date", "message": "The due date Jan 1, 2026 is before the issue date Jan 10, 2026."},
        {"path": "items[2].currency", "message": '"EUX" is not an ISO 4217 currency code (like EUR, USD, CHF).'},
        {"path": "items[2].customer_code", "message": 'Unknown customer code "NOPE": import the customers first.'}]
    assert counts() == before
    response = client.post(f"{API}/invoices", headers=agent, json={"items": [items[0], {**INVOICE, "number": "FA-1",
                                                                                        "total_incl_tax": 1300}]})
    assert response.status_code == 200
    result = response.get_json()
    assert (result["created"], result["updated"], result["unchanged"]) == (1, 1, 0)
    assert [i["total_incl_tax"] for i in result["items"]] == ["1200.00", "1300.00"]


def test_bad_bodies(app, client, agent):
    response = client.put(f"{API}/customers/C1", headers={**agent, "Content-Type": "application/json"},
                          data="{not json")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == (
        "The request body must be JSON (Content-Type: application/json).")
    response = client.put(f"{API}/customers/C1", headers=agent, json=[1, 2])
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == [{"path": "", "message": "Must be an object."}]
    response = client.put(f"{API}/customers/C1", headers=agent, json={"name": "", "country": "fr", "kind": True})
    assert [(f["path"], f["message"]) for f in response.get_json()["error"]["fields"]] == [
        ("name", "A value is required."),
        ("country", "Must be two capital letters (ISO country code, e.g. FR)."),
        ("kind", "Must be a string.")]
    response = client.post(f"{API}/customers", headers=agent, json={"items": []})
    assert response.get_json()["error"]["fields"] == [{"path": "items", "message": "At least 1 item is needed."}]
    response = client.delete(f"{API}/customers/C1", headers=agent)
    assert response.status_code == 405 and set(response.headers["Allow"].split(", ")) == {
        "GET", "HEAD", "OPTIONS", "PUT"}
    # /invoices/X/payments is the payments of X, never an invoice numbered "X/payments"
    for method in ("PUT", "DELETE"):
        response = client.open(f"{API}/invoices/X/payments", method=method, headers=agent, json={})
        assert response.status_code == 405
        assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    response = client.options(f"{API}/invoices/X/reminders", headers=agent)
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    response = client.options(f"{API}/invoices/X/eligibility", headers=agent)
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert counts()["Customer"] == 0


def test_payments_partial_full_and_refused(app, client, agent):
    customer = make_customer("C1")
    make_invoice(customer, total="1200.00", number="FA/1")
    make_invoice(customer, total="50.00", number="FX", status="cancelled")
    db.session.commit()
    url = f"{API}/invoices/FA%2F1/payments"
    response = client.post(url, headers=agent, json={"date": "2026-02-01", "amount": "200.50", "reference": "VIR"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["payment"]["amount"] == "200.50" and body["payment"]["invoice_number"] == "FA/1"
    assert (body["invoice"]["amount_paid"], body["invoice"]["remaining_due"], body["invoice"]["status"]) == (
        "200.50", "999.50", "validated")
    before = counts()
    refused = [
        (url, {"date": "2026-02-01", "amount": "200.50", "reference": "VIR"}, "amount",
         "This payment (same date, amount and reference) is already recorded."),
        (url, {"date": "2026-02-02", "amount": 999.51}, "amount", "Overpayment: invoice FA/1 totals €1,200.00, "
         "€200.50 is already paid, this payment of €999.51 would exceed it by €0.01."),
        (url, {"date": "2099-01-01", "amount": 1}, "date", "The payment date Jan 1, 2099 is in the future."),
        (url, {"date": "2026-02-02", "amount": 0}, "amount", "A payment amount must be more than zero."),
        (f"{API}/invoices/FX/payments", {"date": "2026-02-02", "amount": 1}, "",
         'Invoice "FX" is cancelled: no payment can be recorded on it.'),
    ]
    for target, body, path, message in refused:
        response = client.post(target, headers=agent, json=body)
        assert response.status_code == 422, body
        fields = response.get_json()["error"]["fields"]
        assert any(f["path"] == path for f in fields), fields
        assert message in [f["message"] for f in fields] + [response.get_json()["error"]["message"]], fields
    assert counts() == before
    response = client.post(url, headers=agent, json={"date": "2026-02-02", "amount": 999.5})
    assert response.get_json()["invoice"]["status"] == "paid"
    listed = client.get(url, headers=agent).get_json()["items"]
    assert [(p["date"], p["amount"], p["reference"]) for p in listed] == [
        ("2026-02-01", "200.50", "VIR"), ("2026-02-02", "999.50", "")]


def test_batch_payments_are_idempotent(app, client, agent):
    customer = make_customer("C1")
    make_invoice(customer, total="100.00", number="A")
    make_invoice(customer, total="100.00", number="B")
    db.session.commit()
    items = [{"invoice_number": "A", "date": "2026-02-01", "amount": 40},
             {"invoice_number": "B", "date": "2026-02-01", "amount": "100.00", "reference": "R"}]
    first = client.post(f"{API}/payments", headers=agent, json={"items": items}).get_json()
    assert (first["created"], first["unchanged"]) == (2, 0)
    assert [(i["number"], i["status"], i["remaining_due"]) for i in first["items"]] == [
        ("A", "validated", "60.00"), ("B", "paid", "0.00")]
    again = client.post(f"{API}/payments", headers=agent, json={"items": items}).get_json()
    assert (again["created"], again["unchanged"]) == (0, 2)
    assert counts()["Payment"] == 2
    response = client.post(f"{API}/payments", headers=agent, json={"items": [
        {"invoice_number": "A", "date": "2026-02-02", "amount": 10}, {"invoice_number": "Z", "date": "2026-02-02",
                                                                      "amount": 10}]})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == [
        {"path": "items[1].invoice_number", "message": 'Unknown invoice number "Z": import the invoices first.'}]
    assert counts()["Payment"] == 2


def test_reminders_of_an_invoice(app, client, viewer):
    invoice = make_invoice(make_customer("C1"), number="FA-9")
    db.session.add(Reminder(key="k1", invoice=invoice, level=1, channel="email", reminder_date=date(2026, 2, 20),
                            next_date=date(2026, 3, 7), status="sent", recipients=["a@b.example"],
                            subject="Reminder", total_claimed=Decimal("1258.77"), sent_at=datetime(2026, 2, 20, 8)))
    db.session.commit()
    items = client.get(f"{API}/invoices/FA-9/reminders", headers=viewer).get_json()["items"]
    assert items == [{"id": items[0]["id"], "level": 1, "level_name": "1", "formal_notice": False,
                      "override_reason": "", "channel": "email", "status": "sent",
                      "reminder_date": "2026-02-20", "next_date": "2026-03-07", "automatic": True,
                      "recipients": ["a@b.example"], "subject": "Reminder", "total_claimed": "1258.77",
                      "sent_at": "2026-02-20T08:00:00Z", "error": ""}]


def test_openapi_document_matches_the_routes(app, client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"] == "3.1.0"
    documented = {(path, method.upper()) for path, methods in doc["paths"].items() for method in methods}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi":
            path = re.sub(r"<\w+:(\w+)>", r"{\1}", rule.rule.removeprefix(API))
            routed |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi":
            assert app.view_functions[rule.endpoint].required_role in ("viewer", "agent"), rule.endpoint


def test_reminder_by_api_asks_the_rulebook_and_an_idempotency_key_makes_one(app, client, agent, viewer):
    from relance import clock
    from tests.factories import install_live_defaults

    install_live_defaults(db.session)
    today = clock.today()
    make_invoice(make_customer("C1", email="compta@c1.example"), number="FA/7", total="500.00",
                 due=today - timedelta(days=20))
    db.session.commit()
    verdict = client.get(f"{API}/invoices/FA%2F7/eligibility", headers=viewer).get_json()
    assert verdict["may_send"] and verdict["level"] == verdict["next_level"] == 1 and verdict["refusals"] == []
    skipped = client.get(f"{API}/invoices/FA%2F7/eligibility?level=3&channel=letter", headers=viewer).get_json()
    assert not skipped["may_send"] and [r["code"] for r in skipped["refusals"]] == ["level_skipped"]
    headers = {**agent, "Idempotency-Key": "erp-42"}
    made = client.post(f"{API}/invoices/FA%2F7/reminders", headers=headers, json={"level": 1, "channel": "letter"})
    assert made.status_code == 201, made.get_json()
    first = made.get_json()["reminder"]
    assert first["level_name"] == "Première relance" and first["status"] == "to_post"
    again = client.post(f"{API}/invoices/FA%2F7/reminders", headers=headers, json={"level": 1, "channel": "letter"})
    assert again.status_code == 200 and again.get_json()["reminder"]["id"] == first["id"]
    # without the key, the same level and channel again: refused with the reason, nothing made
    refused = client.post(f"{API}/invoices/FA%2F7/reminders", headers=agent, json={"level": 1, "channel": "letter"})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"][0]["path"] == "override_reason"
    assert "already sent by letter" in refused.get_json()["error"]["fields"][0]["message"]
    assert db.session.scalar(select(func.count()).select_from(Reminder)) == 1
    anyway = client.post(f"{API}/invoices/FA%2F7/reminders", headers=agent, json={
        "level": 1, "channel": "letter", "override_reason": "Lost in the post, sent again"})
    assert anyway.status_code == 201 and anyway.get_json()["reminder"]["override_reason"] == (
        "Lost in the post, sent again")
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "override")) == 1
    paid = make_invoice(make_customer("C2"), number="FA-PAID", total="10.00", paid="10.00", status="paid")
    db.session.commit()
    response = client.post(f"{API}/invoices/FA-PAID/reminders", headers=agent, json={
        "level": 1, "channel": "letter", "override_reason": "try"})
    assert response.status_code == 422 and "is paid" in response.get_json()["error"]["fields"][0]["message"]
    assert paid.id and db.session.scalar(select(func.count()).select_from(Reminder)) == 2


def test_customer_email_addresses_are_checked_one_by_one(app, client, agent):
    """The web forms' and the CSV import's rule: each address valid, internationalised ones too, kept as typed."""
    body = {"name": "Hôtel du Parc", "email": " Hugo.Garnier@hôtelduparc.example; jürgen@mueller.example "}
    response = client.put(f"{API}/customers/HDP", headers=agent, json=body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["email"] == "Hugo.Garnier@hôtelduparc.example, jürgen@mueller.example"
    before = counts()
    response = client.put(f"{API}/customers/HDP", headers=agent,
                          json={"name": "Renamed", "email": "compta@hotel.example, hugo@@hotel.example"})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == [
        {"path": "email", "message": '"hugo@@hotel.example" is not a valid email address.'}]
    items = [{"code": "N1", "name": "New", "email": "ok@new.example"},
             {"code": "N2", "name": "Other", "email": "jean dupont@other.example"}]
    response = client.post(f"{API}/customers", headers=agent, json={"items": items})
    assert response.status_code == 422
    assert response.get_json()["error"] == {
        "status": 422, "message": "The request has errors; nothing was saved.",
        "fields": [{"path": "items[1].email",
                    "message": '"jean dupont@other.example" is not a valid email address.'}]}
    assert counts() == before
    assert client.get(f"{API}/customers/HDP", headers=agent).get_json()["name"] == "Hôtel du Parc"
