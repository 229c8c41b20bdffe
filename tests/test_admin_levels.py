"""Levels editor: inline changes validated by the engine's rules, add, reorder, disable; all audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import AuditLog, ReminderLevel, Template
from relance.services.defaults import install_defaults

HTMX = {"HX-Request": "true"}


@pytest.fixture
def levels(app):
    install_defaults(db.session)
    db.session.commit()
    return {lv.rank: lv for lv in db.session.scalars(select(ReminderLevel))}


def form_of(level, **changes) -> dict:
    data = {"name_fr": level.names["fr"], "name_en": level.names["en"], "delay": level.delay, "basis": level.basis,
            "channels": level.channels, "penalty_kind": level.penalty_kind, "penalty_value": str(level.penalty_value),
            "automatic": "y" if level.automatic else None, "formal_notice": "y" if level.formal_notice else None,
            "active": "y" if level.active else None}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_levels_page_lists_the_default_levels(client, auth, levels):
    auth.login("manager")
    html = client.get("/admin/levels").get_data(as_text=True)
    for level in levels.values():
        assert level.names["en"] in html or level.names["fr"] in html
    assert 'hx-trigger="change"' in html


def test_inline_change_is_saved_and_audited(client, auth, levels):
    auth.login("manager")
    first = levels[1]
    data = form_of(first, delay="+20 days", penalty_kind="percent", penalty_value="1,5", channels="both",
                   automatic=None)
    response = client.post(f"/admin/levels/{first.id}", data=data, headers=HTMX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith("<article") and "Saved" in html and 'value="+20 days"' in html
    db.session.refresh(first)
    assert (first.delay, first.penalty_kind, first.penalty_value, first.channels, first.automatic) == (
        "+20 days", "percent", Decimal("1.50"), "both", False)
    row = db.session.scalar(select(AuditLog).where(AuditLog.entity == "level"))
    assert row.action == "update" and row.entity_id == str(first.id)
    assert row.before["delay"] == "+15 days" and row.after["delay"] == "+20 days"


BAD = [
    ({"delay": "15 jours"}, "delay", "is not a delay"),
    ({"delay": "+15 dias"}, "delay", "is not a delay"),
    ({"delay": "+3 days"}, "delay", "The level before the due date needs a delay of 0 or less"),  # on level 0
    ({"name_fr": "", "name_en": " "}, "names", "Give the level a name"),
    ({"basis": "weekly"}, "basis", "The basis must be one of"),
    ({"channels": "fax"}, "channels", "The channels must be one of"),
    ({"penalty_kind": "double"}, "penalty_kind", "The penalty must be one of"),
    ({"penalty_kind": "percent", "penalty_value": "150"}, "penalty_value", "cannot exceed 100"),
    ({"penalty_kind": "fixed", "penalty_value": "beaucoup"}, "penalty_value", "must be a number"),
    ({"penalty_kind": "fixed", "penalty_value": "-5"}, "penalty_value", "cannot be negative"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD, ids=[str(c) for c, _f, _m in BAD])
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_bad_level_values_are_refused_and_nothing_saved(client, auth, levels, changes, field, message, htmx):
    auth.login("manager")
    level = levels[0]
    before = {k: getattr(level, k) for k in ("names", "delay", "basis", "channels", "penalty_kind", "penalty_value")}
    response = client.post(f"/admin/levels/{level.id}", data=form_of(level, **changes), headers=HTMX if htmx else {})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html.replace("&#39;", "'")
    db.session.expire_all()
    level = db.session.get(ReminderLevel, level.id)
    assert {k: getattr(level, k) for k in before} == before
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_disable_a_level(client, auth, levels):
    auth.login("manager")
    level = levels[2]
    assert client.post(f"/admin/levels/{level.id}", data=form_of(level, active=None)).status_code == 302
    db.session.refresh(level)
    assert level.active is False


def test_add_a_level_gets_default_texts(client, auth, levels):
    auth.login("manager")
    data = {"name_fr": "Dernier avis", "name_en": "Last notice", "delay": "+15 days", "basis": "previous",
            "channels": "letter", "penalty_kind": "fixed", "penalty_value": "25", "automatic": "y", "active": "y"}
    assert client.post("/admin/levels/new", data=data).status_code == 302
    level = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 4))
    assert level.names == {"fr": "Dernier avis", "en": "Last notice"} and level.penalty_value == Decimal("25.00")
    texts = select(func.count()).select_from(Template).where(Template.level_id == level.id)
    assert db.session.scalar(texts) == 2 * 6  # email and letter x the six shipped languages
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.entity == "level")) == "create"


def test_add_a_bad_level_is_refused(client, auth, levels):
    auth.login("manager")
    data = {"name_fr": "", "name_en": "", "delay": "bientôt", "basis": "previous", "channels": "letter",
            "penalty_kind": "none", "penalty_value": "0", "active": "y"}
    response = client.post("/admin/levels/new", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Give the level a name" in html and "is not a delay" in html
    assert db.session.scalar(select(func.count()).select_from(ReminderLevel)) == 4


def test_reorder_swaps_ranks_and_refuses_what_the_engine_refuses(client, auth, levels):
    auth.login("manager")
    second, third = levels[2], levels[3]
    response = client.post(f"/admin/levels/{third.id}/move/up", headers=HTMX)
    assert response.status_code == 200 and 'id="levels"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ReminderLevel, third.id).rank == 2 and db.session.get(ReminderLevel, second.id).rank == 3
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "reorder")) == 2
    # level 1 (+15 days) cannot become the level before the due date
    first = levels[1]
    response = client.post(f"/admin/levels/{first.id}/move/up", headers=HTMX)
    assert response.status_code == 422
    assert "This order is not possible" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ReminderLevel, first.id).rank == 1


def test_levels_are_for_managers(client, auth, levels):
    auth.login("agent")
    assert client.get("/admin/levels").status_code == 403
    assert client.post(f"/admin/levels/{levels[1].id}", data=form_of(levels[1], delay="+1 days")).status_code == 403


def test_saving_a_level_keeps_its_names_in_the_other_languages(client, auth, levels):
    """The form edits the French and English names; the German, Spanish, Italian and Dutch ones stay."""
    auth.login("manager")
    level = levels[1]
    assert level.names["de"] == "Zahlungserinnerung"
    assert client.post(f"/admin/levels/{level.id}", data=form_of(level, name_fr="Relance amiable")).status_code in (
        200, 302)
    db.session.expire_all()
    level = db.session.get(ReminderLevel, level.id)
    assert level.names["fr"] == "Relance amiable" and level.names["de"] == "Zahlungserinnerung"
    assert level.names["nl"] == "Eerste herinnering"


def test_a_level_asks_for_a_phone_call_or_is_a_call_only(client, auth, levels):
    auth.login("manager")
    html = client.get("/admin/levels").get_data(as_text=True)
    assert "Also a phone call to make" in html and '<option value="phone"' in html and "Phone call only" in html
    second = levels[2]
    response = client.post(f"/admin/levels/{second.id}", data=form_of(second, phone_call="y"), headers=HTMX)
    assert response.status_code == 200 and 'name="phone_call" value="y" checked' in response.get_data(as_text=True)
    db.session.refresh(second)
    assert (second.channels, second.phone_call) == ("both", True)
    row = db.session.scalar(select(AuditLog).where(AuditLog.entity == "level"))
    assert (row.before["phone_call"], row.after["phone_call"]) == (False, True)
    client.post(f"/admin/levels/{second.id}", data=form_of(second, channels="phone", phone_call="y"), headers=HTMX)
    db.session.refresh(second)
    assert (second.channels, second.phone_call) == ("phone", False)  # a call only: no second call
