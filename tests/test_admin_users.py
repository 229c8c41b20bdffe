"""Users and API tokens (admins): create, edit, deactivate, reset password; the last admin stays an admin."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import ApiToken, AuditLog, User
from relance.models.user import hash_token
from tests.factories import make_user


def new_user_form(**changes) -> dict:
    data = {"email": "Claire.Martin@Dupont.example", "name": "Claire Martin", "role": "agent", "language": "fr",
            "signature": "Claire Martin\nService comptabilité", "active": "y", "password": "un mot de passe"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_admin_creates_a_user_who_can_log_in(app, client, auth):
    auth.login("admin")
    response = client.post("/admin/users/new", data=new_user_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    user = db.session.scalar(select(User).where(User.email == "claire.martin@dupont.example"))
    assert user.role == "agent" and user.language == "fr" and user.active
    assert user.signature == "Claire Martin\nService comptabilité"
    row = db.session.scalar(select(AuditLog).where(AuditLog.entity == "user", AuditLog.action == "create"))
    assert row.entity_id == str(user.id) and row.after["email"] == user.email and "password" not in str(row.after)
    auth.logout()
    assert client.post("/login", data={"email": user.email, "password": "un mot de passe"}).status_code == 302


BAD_USER = [
    ("email", "claire", "&#34;claire&#34; is not a valid email address."),
    ("email", "claire@dupont.example, paul@dupont.example",
     "&#34;claire@dupont.example, paul@dupont.example&#34; is not a valid email address."),
    ("email", "admin@test.example", "A user with this email already exists."),
    ("name", "", "Enter the name."),
    ("role", "superuser", "Choose a role from the list."),
    ("language", "de", "Choose French or English."),
    ("password", "court", "Use at least 12 characters."),
    ("password", "motdepasse2024", "This password is too common or too easy to guess"),
    ("password", "", "Enter a password of at least 12 characters."),
]


def test_an_internationalised_user_address_is_valid(app, client, auth):
    auth.login("admin")
    response = client.post("/admin/users/new", data=new_user_form(email=" Jürgen@Hôtelduparc.example "))
    assert response.status_code == 302, response.get_data(as_text=True)
    # trimmed, then lower-cased like every login (the login page compares without case)
    assert db.session.scalar(select(User.email).where(User.name == "Claire Martin")) == "jürgen@hôtelduparc.example"


@pytest.mark.parametrize(("field", "value", "message"), BAD_USER, ids=[f"{f}={v!r}" for f, v, _m in BAD_USER])
def test_bad_user_input_is_refused(app, client, auth, field, value, message):
    auth.login("admin")
    before = count(User)
    response = client.post("/admin/users/new", data=new_user_form(**{field: value}))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count(User) == before and count(AuditLog) == 0


def test_edit_role_language_signature_and_deactivate(app, client, auth):
    auth.login("admin")
    user = make_user(email="paul@test.example", role="agent", name="Paul")
    db.session.commit()
    data = {"email": "paul@test.example", "name": "Paul Durand", "role": "manager", "language": "en",
            "signature": "Paul D."}  # "active" unchecked: deactivate
    assert client.post(f"/admin/users/{user.id}", data=data).status_code == 302
    db.session.refresh(user)
    assert (user.name, user.role, user.language, user.signature, user.active) == (
        "Paul Durand", "manager", "en", "Paul D.", False)
    row = db.session.scalar(select(AuditLog).where(AuditLog.entity == "user", AuditLog.action == "update"))
    assert row.before == {"name": "Paul", "role": "agent", "language": None, "signature": "", "active": True}
    assert row.after == {"name": "Paul Durand", "role": "manager", "language": "en", "signature": "Paul D.",
                         "active": False}
    # a deactivated user cannot log in
    auth.logout()
    assert client.post("/login", data={"email": "paul@test.example", "password": "correct horse 42"}).status_code == 401


def test_last_admin_cannot_demote_or_deactivate_themself(app, client, auth):
    auth.login("admin")
    me = db.session.scalar(select(User).where(User.email == "admin@test.example"))
    base = {"email": me.email, "name": me.name, "language": "", "signature": ""}
    response = client.post(f"/admin/users/{me.id}", data=dict(base, role="manager", active="y"))
    assert response.status_code == 422
    assert "is the last active admin" in response.get_data(as_text=True)
    response = client.post(f"/admin/users/{me.id}", data=dict(base, role="admin"))  # deactivate
    assert response.status_code == 422
    assert "is the last active admin" in response.get_data(as_text=True)
    db.session.refresh(me)
    assert me.role == "admin" and me.active and count(AuditLog) == 0
    # with a second active admin, the demotion is allowed
    make_user(email="second@test.example", role="admin")
    db.session.commit()
    assert client.post(f"/admin/users/{me.id}", data=dict(base, role="manager", active="y")).status_code == 302
    db.session.refresh(me)
    assert me.role == "manager"


def test_an_inactive_admin_does_not_count(app, client, auth):
    auth.login("admin")
    make_user(email="old@test.example", role="admin", active=False)
    db.session.commit()
    me = db.session.scalar(select(User).where(User.email == "admin@test.example"))
    data = {"email": me.email, "name": me.name, "role": "agent", "active": "y", "language": "", "signature": ""}
    assert client.post(f"/admin/users/{me.id}", data=data).status_code == 422


def test_reset_password_shows_a_new_one_once(app, client, auth):
    auth.login("admin")
    user = make_user(email="lea@test.example", role="viewer")
    db.session.commit()
    response = client.post(f"/admin/users/{user.id}/password")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = re.search(r'<code class="secret" id="secret">([^<]+)</code>', response.get_data(as_text=True))[1]
    db.session.refresh(user)
    assert user.check_password(password) and not user.check_password("correct horse 42")
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.entity == "user")) == "reset_password"


def test_tokens_create_shown_once_list_and_revoke(app, client, auth):
    auth.login("admin")
    me = db.session.scalar(select(User).where(User.email == "admin@test.example"))
    response = client.post("/admin/tokens", data={"name": "Logiciel compta", "user_id": str(me.id)})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    clear = re.search(r'<code class="secret" id="secret">([^<]+)</code>', response.get_data(as_text=True))[1]
    token = db.session.scalar(select(ApiToken))
    assert token.token_hash == hash_token(clear) and token.name == "Logiciel compta" and token.user_id == me.id
    listing = client.get("/admin/tokens").get_data(as_text=True)
    assert "Logiciel compta" in listing and token.prefix in listing and clear not in listing
    assert client.post(f"/admin/tokens/{token.id}/revoke").status_code == 302
    db.session.refresh(token)
    assert token.revoked_at is not None
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.entity == "token").order_by(AuditLog.id))
    assert list(actions) == ["create", "revoke"]


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "", "user_id": "1"}, "Give the token a name."),
    ({"name": "x", "user_id": "999"}, "Choose an active user from the list."),
    ({"name": "x", "user_id": "abc"}, "Choose an active user from the list."),
])
def test_bad_token_input_is_refused(app, client, auth, data, message):
    auth.login("admin")
    response = client.post("/admin/tokens", data=data)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert count(ApiToken) == 0


@pytest.mark.parametrize("url", ["/admin/users", "/admin/users/new", "/admin/tokens", "/admin/audit"])
def test_admin_pages_are_refused_to_managers(app, client, auth, url):
    auth.login("manager")
    assert client.get(url).status_code == 403


def test_manager_cannot_post_user_changes(app, client, auth):
    auth.login("manager")
    assert client.post("/admin/users/new", data=new_user_form()).status_code == 403
    assert client.post("/admin/tokens", data={"name": "x", "user_id": "1"}).status_code == 403
    assert count(ApiToken) == 0 and count(User) == 1


def test_admin_home_lists_the_sections_of_the_role(app, client, auth):
    auth.login("manager")
    html = client.get("/admin/").get_data(as_text=True)
    assert "/admin/settings" in html and "/admin/rates" in html
    assert "/admin/users" not in html and "/admin/tokens" not in html and "/admin/audit" not in html
    auth.logout()
    auth.login("admin")
    html = client.get("/admin/").get_data(as_text=True)
    assert "/admin/users" in html and "/admin/tokens" in html and "/admin/audit" in html
    auth.logout()
    auth.login("agent")
    assert client.get("/admin/").status_code == 403


def test_audit_log_pages_keep_the_filter(app, client, auth):
    from relance.services import audit

    auth.login("admin")
    for n in range(55):
        audit.record(db.session, None, "update", "settings", None, {"n": n}, {"n": n + 1})
    db.session.commit()
    html = client.get("/admin/audit?entity=settings").get_data(as_text=True)
    assert "Page 1 of 2" in html and 'href="/admin/audit?entity=settings&amp;page=2" rel="next">Older' in html
    html = client.get("/admin/audit?entity=settings&page=2").get_data(as_text=True)
    assert "Page 2 of 2" in html and 'rel="prev">Newer' in html and 'rel="next"' not in html
