"""Who hears of an answer, through a real aiosmtpd server: the agent following the invoice up when the customer
answers from their page, the customer when their dispute is rejected; a refusal by the server stays visible."""

from datetime import date, datetime

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import Answer
from relance.services import answers
from relance.services import settings as settings_service
from tests.factories import make_customer, make_invoice, make_user
from tests.smtp import smtp_certificate, smtp_factory, smtp_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.clock(datetime(2026, 2, 10, 9))


@pytest.fixture
def world(app, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    app.config["PUBLIC_URL"] = "https://relance.durand.example"
    settings_service.save(db.session, {"company_name": "Atelier Durand", "sender_email": "compta@durand.example"})
    claire = make_user(email="claire@durand.example", role="agent", language="en")
    acme = make_customer("ACME", name="ACME Industries", email="billing@acme.example", language="en")
    invoice = make_invoice(acme, number="FA-1", total="1200.00", due=date(2026, 1, 15), followup_user=claire)
    db.session.commit()
    token = answers.issue_link(db.session, acme.id, datetime(2026, 2, 9), settings_service.load(db.session))
    db.session.commit()
    return {"token": token, "invoice": invoice}


def post_answer(client, world, kind, **values):
    html = client.get(f"/c/{world['token']}").get_data(as_text=True)
    key = html.split('name="form_token" value="')[1].split('"')[0]
    return client.post(f"/c/{world['token']}/invoices/{world['invoice'].id}/{kind}", data={"form_token": key,
                                                                                            **values})


def test_the_agent_hears_of_an_answer_and_the_customer_of_a_rejected_dispute(client, auth, world, smtp_server):  # noqa: F811
    assert post_answer(client, world, "promise", promise_date="2026-02-20",
                       message="Payday is the 20th.").status_code == 303
    [told] = smtp_server.messages
    assert told["To"] == "claire@durand.example" and told["Subject"] == "ACME Industries answered about invoice FA-1"
    body = told.get_body(("plain",)).get_content()
    assert "Promises to pay on February 20, 2026." in body and "Payday is the 20th." in body
    assert f"https://relance.durand.example/invoices/{world['invoice'].id}" in body
    assert db.session.scalars(select(Answer)).one().notified_at is not None

    post_answer(client, world, "dispute", reason="wrong_amount", message="3, not 4")
    dispute = db.session.scalars(select(Answer).where(Answer.kind == "dispute")).one()
    auth.login("agent")
    client.post(f"/answers/{dispute.id}/reject", data={"resolution": "The delivery note shows 4 chairs."})
    customer_mail = smtp_server.messages[-1]
    assert customer_mail["To"] == "billing@acme.example"
    assert customer_mail["Subject"] == "Your dispute of invoice FA-1"
    assert "The delivery note shows 4 chairs." in customer_mail.get_body(("plain",)).get_content()


def test_a_refused_notice_stays_visible(client, auth, world, smtp_server):  # noqa: F811
    smtp_server.handler.refuse_rcpt["claire@durand.example"] = "550 5.1.1 no such user"
    post_answer(client, world, "paid", paid_on="2026-02-09", amount="1200.00")
    answer = db.session.scalars(select(Answer)).one()
    assert answer.notified_at is None and "no such user" in answer.notify_error
    auth.login("agent")
    assert "Email about it not sent" in client.get("/answers/").get_data(as_text=True)
