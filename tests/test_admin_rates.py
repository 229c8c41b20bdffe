"""Statutory rate table (managers): the French rates are seeded; add and delete rows, bad rows refused."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import AuditLog, StatutoryRate
from relance.services.defaults import install_defaults


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(StatutoryRate))


def test_seeded_french_rates_are_listed(app, client, auth):
    install_defaults(db.session)
    db.session.commit()
    auth.login("manager")
    html = client.get("/admin/rates", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "12,15" in html and "BCE + 10 points" in html and "2,62" in html


def test_add_a_rate_and_delete_it_with_audit(app, client, auth):
    auth.login("manager")
    data = {"country": "DE", "kind": "b2b", "valid_from": "2026-01-01", "rate": "10,27", "note": "Basiszins + 9"}
    assert client.post("/admin/rates", data=data).status_code == 302
    rate = db.session.scalar(select(StatutoryRate))
    assert (rate.country, rate.kind, rate.valid_from, rate.rate) == ("DE", "b2b", date(2026, 1, 1), Decimal("10.27"))
    assert client.post(f"/admin/rates/{rate.id}/delete").status_code == 302
    assert count() == 0
    rows = db.session.scalars(select(AuditLog).where(AuditLog.entity == "rate").order_by(AuditLog.id)).all()
    assert [r.action for r in rows] == ["create", "delete"]
    assert rows[0].after["rate"] == "10.270" or rows[0].after["rate"] == "10.27"
    assert rows[1].before["country"] == "DE" and rows[1].after is None


BAD = [
    ({"country": "XX"}, "Choose a country from the list."),
    ({"kind": "both"}, "Choose business or private customers."),
    ({"valid_from": "31/02/2026"}, "Enter a date like 2026-07-01."),
    ({"valid_from": ""}, "Enter the date the rate starts."),
    ({"rate": "douze"}, "Enter a number between 0 and 100"),
    ({"rate": "150"}, "Enter a number between 0 and 100"),
    ({"rate": "1,23456"}, "Use at most 3 decimals."),
    ({"valid_from": "2026-01-01", "country": "FR"}, "already exists"),
]


@pytest.mark.parametrize(("changes", "message"), BAD, ids=[str(c) for c, _m in BAD])
def test_bad_rate_is_refused(app, client, auth, changes, message):
    install_defaults(db.session)
    db.session.commit()
    before = count()
    auth.login("manager")
    data = {"country": "FR", "kind": "b2b", "valid_from": "2030-01-01", "rate": "11,5", "note": ""}
    data.update(changes)
    response = client.post("/admin/rates", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count() == before
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_rates_are_for_managers(app, client, auth):
    auth.login("agent")
    assert client.get("/admin/rates").status_code == 403
    data = {"country": "FR", "kind": "b2b", "valid_from": "2030-01-01", "rate": "11,5"}
    assert client.post("/admin/rates", data=data).status_code == 403
    assert count() == 0
