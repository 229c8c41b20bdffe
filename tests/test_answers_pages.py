"""The agents' side of the customers' answers: the dashboard count, the list and its filters, the invoice page, and
each action (both databases)."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from relance import clock
from relance.extensions import db
from relance.models import Answer, AuditLog, Payment
from relance.services import answers
from relance.services import settings as settings_service
from tests.factories import make_customer, make_invoice, make_user

NOW = datetime(2026, 2, 10, 9)


@pytest.fixture
def given(app, auth):
    settings = settings_service.load(db.session)
    agent = make_user(email="agent@test.example", role="agent", password="correct horse 42")
    acme = make_customer("ACME", name="ACME Industries")
    mine = make_invoice(acme, number="FA-1", total="1200.00", due=date(2026, 1, 15), followup_user=agent)
    other = make_invoice(acme, number="FA-2", total="300.00", due=date(2026, 1, 15))
    db.session.commit()
    made = {
        "paid": answers.claim_paid(db.session, mine, acme.id, paid_on=date(2026, 2, 9), amount="1200.00",
                                   reference="VIR 12", message="Paid by transfer.", now=NOW, settings=settings),
        "promise": answers.promise(db.session, other, acme.id, promise_date=date(2026, 2, 20), message="",
                                   now=NOW, settings=settings),
        "dispute": answers.dispute(db.session, other, acme.id, reason="wrong_amount", message="3, not 4", now=NOW),
    }
    db.session.commit()
    auth.login("agent")
    return {"mine": mine, "other": other, **made}


def test_the_dashboard_and_the_list_show_what_waits(client, given):
    page = client.get("/").get_data(as_text=True)
    assert "3 answers from customers wait for you." in page and "1 disputes" in page
    listing = client.get("/answers/").get_data(as_text=True)
    assert all(f'data-answer="{given[k].id}"' in listing for k in ("paid", "promise", "dispute"))
    assert "Paid by transfer." in listing and "The amount is wrong" in listing
    only = client.get("/answers/?kind=dispute").get_data(as_text=True)
    assert f'data-answer="{given["dispute"].id}"' in only and f'data-answer="{given["paid"].id}"' not in only
    mine = client.get("/answers/?mine=1").get_data(as_text=True)
    assert f'data-answer="{given["paid"].id}"' in mine and f'data-answer="{given["promise"].id}"' not in mine
    assert "No answer here." in client.get("/answers/?state=handled").get_data(as_text=True)
    invoice_page = client.get(f"/invoices/{given['mine'].id}").get_data(as_text=True)
    assert "The customer's answers" in invoice_page and "Payment received: record it" in invoice_page


def test_an_agent_records_the_payment_resolves_and_rejects(client, given):
    back = f"/invoices/{given['mine'].id}"
    response = client.post(f"/answers/{given['paid'].id}/accept", data={"next": back})
    assert response.status_code == 303 and response.headers["Location"].endswith(back)
    payment = db.session.scalars(select(Payment)).one()
    assert (payment.amount, payment.date, payment.reference) == (Decimal("1200.00"), date(2026, 2, 9), "VIR 12")
    db.session.expire_all()
    assert db.session.get(Answer, given["paid"].id).status == "accepted"
    assert db.session.get(type(given["mine"]), given["mine"].id).status == "paid"
    # a reason is needed to reject; nothing changes without one
    client.post(f"/answers/{given['dispute'].id}/reject", data={"resolution": " "})
    assert "Say why." in client.get("/answers/").get_data(as_text=True)
    assert db.session.get(Answer, given["dispute"].id).status == "open"
    client.post(f"/answers/{given['dispute'].id}/resolve", data={"credit_note": "AV-7", "resolution": "One credited"})
    client.post(f"/answers/{given['promise'].id}/kept", data={"next": "https://evil.example/"})
    db.session.expire_all()
    assert db.session.get(Answer, given["dispute"].id).credit_note == "AV-7"
    assert db.session.get(Answer, given["promise"].id).status == "kept"
    assert {a for (a,) in db.session.execute(select(AuditLog.action))} >= {"answer_accepted", "answer_resolved",
                                                                          "answer_kept"}
    assert "No customer" in client.get("/").get_data(as_text=True)


def test_a_handled_answer_cannot_be_handled_again(client, given):
    client.post(f"/answers/{given['promise'].id}/broken")
    response = client.post(f"/answers/{given['promise'].id}/kept")
    assert response.status_code == 303
    assert "This answer was already handled." in client.get("/answers/").get_data(as_text=True)
    assert client.post(f"/answers/{given['promise'].id}/explode").status_code == 404
    assert client.post("/answers/999999/accept").status_code == 404


def test_the_customer_page_shows_their_answers_and_revokes_their_links(client, given):
    from relance.models import CustomerLink

    customer_id = given["mine"].customer_id
    settings = settings_service.load(db.session)
    token = answers.issue_link(db.session, customer_id, clock.utcnow(), settings)
    db.session.commit()
    page = client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert "The customer's answers" in page and "Paid by transfer." in page
    assert "1 valid link to the customer's page" in page
    assert client.get(f"/c/{token}").status_code == 200
    response = client.post(f"/customers/{customer_id}/links/revoke")
    assert response.status_code == 303
    assert "1 link to the customer" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert client.get(f"/c/{token}").status_code == 404
    assert db.session.scalars(select(CustomerLink)).one().revoked_at is not None
