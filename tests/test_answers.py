"""The customers' answers as a service: links (hashed, expiring, revocable), the three answers and their checks, and
what an agent does with them (both databases)."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import Answer, AuditLog, CustomerLink
from relance.services import answers
from relance.services import settings as settings_service
from tests.factories import make_customer, make_invoice, make_user

NOW = datetime(2026, 2, 10, 9, 30)


@pytest.fixture
def world(app):
    acme, beta = make_customer("ACME"), make_customer("BETA")
    invoice = make_invoice(acme, number="FA-1", total="1200.00", due=date(2026, 1, 15))
    other = make_invoice(beta, number="FA-2", due=date(2026, 1, 15))
    paid = make_invoice(acme, number="FA-3", total="100.00", paid="100.00", due=date(2026, 1, 15))
    db.session.commit()
    return {"acme": acme, "invoice": invoice, "other": other, "paid": paid, "agent": make_user(role="agent"),
            "settings": settings_service.load(db.session)}


def test_a_link_is_kept_hashed_expires_and_is_revoked(world):
    acme = world["acme"]
    token = answers.issue_link(db.session, acme.id, NOW, world["settings"])
    db.session.commit()
    assert len(token) >= 43  # 256 bits, base64url
    link = db.session.scalars(select(CustomerLink)).one()
    assert token not in link.token_hash and link.expires_at == NOW + timedelta(days=60)
    assert answers.find_link(db.session, token, NOW + timedelta(days=59)).customer_id == acme.id
    assert answers.find_link(db.session, token, NOW + timedelta(days=60)) is None  # expired
    for wrong in ("", token[:-1] + ("A" if token[-1] != "A" else "B"), "x" * 5000):
        assert answers.find_link(db.session, wrong, NOW) is None
    assert answers.revoke_links(db.session, acme.id, NOW, world["agent"]) == 1
    assert answers.find_link(db.session, token, NOW) is None


def test_the_three_answers_and_their_checks(world):
    invoice, acme, settings = world["invoice"], world["acme"], world["settings"]
    claim = answers.claim_paid(db.session, invoice, acme.id, paid_on=date(2026, 2, 9), amount="1 200,00",
                               reference="VIR 123", message="Paid yesterday.", now=NOW, settings=settings)
    assert (claim.amount, claim.hold_until, claim.status) == (Decimal("1200.00"), date(2026, 2, 17), "open")
    kept = answers.promise(db.session, invoice, acme.id, promise_date=date(2026, 2, 20), message="", now=NOW,
                           settings=settings)
    assert kept.hold_until == date(2026, 2, 23)
    again = answers.promise(db.session, invoice, acme.id, promise_date=date(2026, 2, 25), message="", now=NOW,
                            settings=settings)
    db.session.refresh(kept)
    assert (kept.status, again.status) == ("replaced", "open")  # the latest word counts
    fight = answers.dispute(db.session, invoice, acme.id, reason="wrong_amount", message="3, not 4", now=NOW)
    assert fight.hold_until is None
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.action == "answer_dispute")) == "answer_dispute"
    refusals = [
        (lambda: answers.claim_paid(db.session, invoice, acme.id, paid_on=date(2026, 2, 11), amount="10",
                                    reference="", message="", now=NOW, settings=settings), "paid_on"),
        (lambda: answers.claim_paid(db.session, invoice, acme.id, paid_on=None, amount="10", reference="",
                                    message="", now=NOW, settings=settings), "paid_on"),
        (lambda: answers.claim_paid(db.session, invoice, acme.id, paid_on=date(2026, 2, 9), amount="1200.01",
                                    reference="", message="", now=NOW, settings=settings), "amount"),
        (lambda: answers.claim_paid(db.session, invoice, acme.id, paid_on=date(2026, 2, 9), amount="abc",
                                    reference="", message="", now=NOW, settings=settings), "amount"),
        (lambda: answers.promise(db.session, invoice, acme.id, promise_date=date(2026, 2, 9), message="", now=NOW,
                                 settings=settings), "promise_date"),
        (lambda: answers.promise(db.session, invoice, acme.id, promise_date=date(2027, 3, 1), message="", now=NOW,
                                 settings=settings), "promise_date"),
        (lambda: answers.dispute(db.session, invoice, acme.id, reason="bored", message="", now=NOW), "reason"),
        (lambda: answers.dispute(db.session, invoice, acme.id, reason="other", message=" ", now=NOW), "message"),
        (lambda: answers.dispute(db.session, invoice, acme.id, reason="other", message="x" * 2001, now=NOW),
         "message"),
        # someone else's invoice, a paid one: nothing to answer
        (lambda: answers.dispute(db.session, world["other"], acme.id, reason="other", message="?", now=NOW), None),
        (lambda: answers.dispute(db.session, world["paid"], acme.id, reason="other", message="?", now=NOW), None),
    ]
    for attempt, field in refusals:
        with pytest.raises(answers.AnswerError) as caught:
            attempt()
        assert caught.value.field == field, caught.value.message
    assert db.session.scalar(select(db.func.count(Answer.id))) == 4


def test_an_agent_accepts_a_payment_rejects_resolves_and_settles(world):
    invoice, acme, settings, agent = world["invoice"], world["acme"], world["settings"], world["agent"]
    claim = answers.claim_paid(db.session, invoice, acme.id, paid_on=date(2026, 2, 9), amount="200.00",
                               reference="VIR 9", message="", now=NOW, settings=settings)
    payment = answers.accept_payment(db.session, claim, agent, NOW)
    assert (payment.amount, payment.date, payment.reference, claim.status) == (
        Decimal("200.00"), date(2026, 2, 9), "VIR 9", "accepted")
    assert invoice.remaining_due == Decimal("1000.00")
    with pytest.raises(answers.AnswerError):  # handled once
        answers.accept_payment(db.session, claim, agent, NOW)
    fight = answers.dispute(db.session, invoice, acme.id, reason="goods_or_service", message="Broken chairs", now=NOW)
    with pytest.raises(answers.AnswerError) as caught:
        answers.reject(db.session, fight, agent, NOW, "  ")
    assert caught.value.field == "resolution"
    answers.resolve_dispute(db.session, fight, agent, NOW, "AV-12", "Two chairs credited")
    assert (fight.status, fight.credit_note, fight.handled_by_id) == ("resolved", "AV-12", agent.id)
    word = answers.promise(db.session, invoice, acme.id, promise_date=date(2026, 2, 12), message="", now=NOW,
                           settings=settings)
    assert not answers.broken(word, date(2026, 2, 15)) and answers.broken(word, date(2026, 2, 16))
    answers.settle_promise(db.session, word, agent, NOW, kept=False)
    assert word.status == "broken"
    second = answers.claim_paid(db.session, invoice, acme.id, paid_on=date(2026, 2, 9), amount="50", reference="",
                                message="", now=NOW, settings=settings)
    answers.reject(db.session, second, agent, NOW, "Nothing arrived on our account.")
    assert (second.status, second.resolution) == ("rejected", "Nothing arrived on our account.")
    db.session.commit()
