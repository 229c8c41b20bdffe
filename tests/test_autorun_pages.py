"""Automatic run pages: runs list and detail, the test page with "send now" (CSRF), the dry run, the letters PDF,
the dashboard include's data and /healthz. SQLite and PostgreSQL, real SMTP server."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import render_template
from pypdf import PdfReader
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import Reminder, Run
from relance.models.base import utcnow
from relance.services import dashboard
from relance.services import settings as settings_service
from relance.services.sending import autorun
from tests.conftest import csrf_token_from
from tests.factories import install_live_defaults, make_customer, make_invoice, make_user
from tests.smtp import smtp_certificate, smtp_factory, smtp_server  # noqa: F401

ON = date(2026, 2, 2)


@pytest.fixture
def setup(app, smtp_server):  # noqa: F811
    install_live_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example", "company_name": "Vendor SAS"})
    customer = make_customer(name="Garage <b>Dubois</b>", email="compta@garage.example")
    invoice = make_invoice(customer, due=date(2026, 1, 15), number="FA-<7>")
    db.session.commit()
    smtp_server.configure(app)
    return invoice, smtp_server


def test_runs_list_and_detail(client, auth, setup):
    invoice, smtp = setup
    run = autorun.run_auto(db.session, ON)
    auth.login("agent")
    assert client.get("/auto/").status_code == 403
    auth.logout()
    auth.login("manager")
    page = client.get("/auto/").get_data(as_text=True)
    assert f'/auto/runs/{run.id}' in page and "catch-up" not in page
    detail = client.get(f"/auto/runs/{run.id}").get_data(as_text=True)
    assert "FA-&lt;7&gt;" in detail and "compta@garage.example" in detail and "<7>" not in detail
    assert client.get(f"/auto/runs/{run.id}?status=failed").get_data(as_text=True).count("FA-&lt;7&gt;") == 0
    assert client.get("/auto/runs/999999").status_code == 404


def test_test_page_explains_and_sends_once(app, client, auth, setup):
    invoice, smtp = setup
    auth.login("manager")
    missing = client.get("/auto/test?invoice=NOPE&date=2026-02-02")
    assert missing.status_code == 422 and "NOPE" in missing.get_data(as_text=True)
    bad_date = client.get("/auto/test?invoice=1&date=2-2-2026")
    assert bad_date.status_code == 422 and "YYYY-MM-DD" in bad_date.get_data(as_text=True)
    today = autorun.local_today(settings_service.load(db.session))
    page = client.get(f"/auto/test?invoice={invoice.id}&date={today.isoformat()}").get_data(as_text=True)
    assert 'data-status="due"' in page and 'action="/auto/test/send"' in page and "<b>Dubois</b>" not in page
    response = client.post("/auto/test/send", data={"invoice": str(invoice.id), "date": today.isoformat()})
    assert response.status_code == 302
    assert len(smtp.messages) == 1
    again = client.post("/auto/test/send", data={"invoice": invoice.number, "date": today.isoformat()},
                        follow_redirects=True)
    assert again.status_code == 200 and len(smtp.messages) == 1
    rows = db.session.scalars(select(Reminder)).all()
    assert len(rows) == 1 and rows[0].user_id is None and rows[0].status == "sent"
    future = client.post("/auto/test/send", data={"invoice": invoice.number,
                                                  "date": (today + timedelta(days=3)).isoformat()})
    assert future.status_code == 302 and len(smtp.messages) == 1


@pytest.mark.csrf
def test_send_now_needs_the_csrf_token(app, client, setup):
    invoice, smtp = setup
    make_user(email="csrf-manager@test.example", role="manager")
    db.session.commit()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": "csrf-manager@test.example", "password": "correct horse 42",
                                "csrf_token": token})
    today = autorun.local_today(settings_service.load(db.session))
    assert client.post("/auto/test/send", data={"invoice": invoice.number, "date": today.isoformat()}
                       ).status_code == 400
    page = client.get(f"/auto/test?invoice={invoice.number}&date={today.isoformat()}").get_data(as_text=True)
    token = csrf_token_from(page)
    client.post("/auto/test/send", data={"invoice": invoice.number, "date": today.isoformat(), "csrf_token": token})
    assert len(smtp.messages) == 1


def test_dry_run_page_shows_previews_and_sends_nothing(client, auth, setup):
    invoice, smtp = setup
    auth.login("manager")
    page = client.get("/auto/dry-run?date=2026-02-02").get_data(as_text=True)
    assert "FA-&lt;7&gt;" in page and 'class="card preview"' in page
    assert not smtp.messages and not db.session.scalar(select(func.count()).select_from(Reminder))
    assert client.get("/auto/dry-run?date=nope").status_code == 422


def test_letters_pdf_and_dashboard_data(app, client, auth, setup):
    invoice, smtp = setup
    settings_service.save(db.session, {"auto_letters": True})
    db.session.add(Reminder(key="k1", invoice_id=invoice.id, level=1, channel="email",
                            reminder_date=date(2026, 1, 30), status="sent"))
    db.session.commit()
    run = autorun.run_auto(db.session, date(2026, 2, 14))  # level 2: email + letter
    assert run.letters_pdf_path
    auth.login("agent")
    response = client.get(f"/auto/runs/{run.id}/letters.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "Dubois" in PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    data = dashboard.automatic_runs(db.session, datetime(2026, 2, 14, 12, tzinfo=UTC))
    assert data.letters_run.id == run.id and data.last_run.id == run.id
    assert data.next_at.isoformat().startswith("2026-02-15T10:00")
    with app.test_request_context():
        html = render_template("autorun/_dashboard.html", auto=data)
    assert f"/auto/runs/{run.id}/letters.pdf" in html


def test_healthz_says_late_when_no_run_finished_for_a_day(client, setup):
    assert client.get("/healthz").get_json()["status"] == "ok"
    db.session.add(Run(kind="auto", run_date=ON, status="done", finished_at=utcnow() - timedelta(hours=30),
                       created_at=utcnow() - timedelta(hours=31)))
    db.session.commit()
    response = client.get("/healthz")
    body = response.get_json()
    assert response.status_code == 503 and body["status"] == "fail"
    assert body["checks"]["auto_run"]["detail"] == "no automatic run finished in the last 26 hours"
    assert body["checks"]["auto_run"]["finished_at"]
    db.session.add(Run(kind="auto", run_date=ON + timedelta(days=1), status="done", finished_at=utcnow()))
    db.session.commit()
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_runs_list_pages(client, auth, setup):
    for n in range(51):
        db.session.add(Run(kind="auto", run_date=ON - timedelta(days=n), status="done", finished_at=utcnow()))
    db.session.commit()
    auth.login("manager")
    html = client.get("/auto/").get_data(as_text=True)
    assert "Page 1 of 2" in html and 'href="/auto/?page=2" rel="next"' in html
    html = client.get("/auto/?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in html and 'href="/auto/?page=1" rel="prev"' in html
