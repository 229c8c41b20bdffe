from __future__ import annotations

from relance.extensions import db
from tests.factories import make_user


def test_wrong_password_and_unknown_user_get_the_same_message(client):
    make_user(email="known@example.com", password="right password")
    db.session.commit()
    french = {"Accept-Language": "fr-FR,fr;q=0.9"}
    wrong = client.post("/login", data={"email": "known@example.com", "password": "nope"}, headers=french)
    unknown = client.post("/login", data={"email": "nobody@example.com", "password": "nope"}, headers=french)
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert "E-mail inconnu ou mot de passe incorrect." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_inactive_user_cannot_log_in(client):
    make_user(email="gone@example.com", password="right password", active=False)
    db.session.commit()
    assert client.post("/login", data={"email": "gone@example.com", "password": "right password"}).status_code == 401


def test_login_redirects_only_inside_the_site(client):
    make_user(email="u@example.com", password="right password")
    db.session.commit()
    response = client.post("/login?next=https://evil.example/x", data={"email": "u@example.com",
                                                                        "password": "right password"})
    assert response.headers["Location"] == "/"


def test_logout_is_a_post(client, auth):
    auth.login("viewer")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_session_cookie_flags(client):
    make_user(email="c@example.com", password="right password")
    db.session.commit()
    response = client.post("/login", data={"email": "c@example.com", "password": "right password"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_language_from_browser_then_user_then_switch(app, client, auth):
    french = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).get_data(as_text=True)
    assert 'lang="fr"' in french and "Connexion à Relance" in french
    english = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert 'lang="en"' in english and "Log in to Relance" in english
    other = client.get("/login", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert f'lang="{app.config["BABEL_DEFAULT_LOCALE"]}"' in other  # neither: the configured default (fr)
    auth.login("viewer")
    assert "Tableau de bord" in client.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    client.post("/language", data={"language": "en", "next": "/"})
    page = client.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Dashboard" in page and "Tableau de bord" not in page
    from relance.models import User

    assert db.session.query(User).filter_by(email="viewer@test.example").one().language == "en"


def test_error_pages(client, auth):
    auth.login("viewer")
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "Page not found" in response.get_data(as_text=True)
    fragment = client.get("/no-such-page", headers={"HX-Request": "true", "Accept-Language": "fr"}).get_data(
        as_text=True)
    assert "<html" not in fragment and "Page introuvable" in fragment


def test_deactivation_ends_an_open_session(client, auth):
    from relance.models import User

    auth.login("agent")
    assert client.get("/").status_code == 200
    db.session.query(User).filter_by(email="agent@test.example").one().active = False
    db.session.commit()
    assert client.get("/").status_code == 302


def test_lazy_messages_with_user_data_are_escaped(app):
    from flask import render_template_string
    from flask_babel import lazy_gettext

    with app.test_request_context():
        html = render_template_string("{{ m }}", m=lazy_gettext("Unknown channel %(channel)s.", channel="<b>x</b>"))
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>" not in html


def test_the_please_log_in_message_is_in_the_reader_language(client):
    for language, words in (("fr", "Connectez-vous pour accéder à cette page."),
                            ("en", "Please log in to access this page.")):
        response = client.get("/invoices/", headers={"Accept-Language": language}, follow_redirects=True)
        assert words in response.get_data(as_text=True)


def test_production_hashes_passwords_with_scrypt_the_tests_cheaply(tmp_path, app):
    """The suite's cheap hash (conftest's PASSWORD_HASH_METHOD) is a test setting only: the app's own
    config keeps scrypt, and both kinds of hash are checked the same way."""
    from relance import create_app
    from relance.models import User

    production = create_app({"INSTANCE_PATH": str(tmp_path / "prod"), "SECRET_KEY": "x",
                             "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.db'}"})
    assert production.config["PASSWORD_HASH_METHOD"] == "scrypt"
    with production.app_context():
        user = User(email="p@example.com")
        user.set_password("right password")
        assert user.password_hash.startswith("scrypt:")
        assert user.check_password("right password") and not user.check_password("wrong")
    cheap = make_user(email="t@example.com", password="right password")
    assert cheap.password_hash.startswith("pbkdf2:sha256:1$")
    assert cheap.check_password("right password") and not cheap.check_password("wrong")
