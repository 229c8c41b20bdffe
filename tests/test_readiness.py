"""Issue 17: when nothing can be chased (no active level) or a level lacks a text, the CLI, `explain`, the dashboard
and the mass page say so, in words, and which level, channel and language (services/engine/readiness.py)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from flask_babel import force_locale
from sqlalchemy import delete, select, update

from relance.extensions import db
from relance.models import ReminderLevel, Template
from relance.services.defaults import install_defaults
from relance.services.engine import readiness
from tests.factories import TODAY, go_live, make_customer, make_invoice

NO_LEVEL = "No reminder level is active: create or activate levels under Administration > Reminder levels."
NO_LEVEL_FR = ("Aucun niveau de relance n’est actif\u00a0: créez ou activez des niveaux dans Administration > "
               "Niveaux de relance.")


def level_id(rank: int) -> int:
    return db.session.scalar(select(ReminderLevel.id).where(ReminderLevel.rank == rank))


def drop_texts(rank: int, channel: str, language: str | None = None) -> None:
    query = delete(Template).where(Template.level_id == level_id(rank), Template.channel == channel)
    if language:
        query = query.where(Template.language == language)
    db.session.execute(query)
    db.session.commit()


def test_check_names_what_is_missing(app):
    state = readiness.check(db.session)
    assert state.no_level and not state.ready
    with force_locale("en"):
        assert state.messages() == [NO_LEVEL]
    with force_locale("fr"):
        assert state.messages() == [NO_LEVEL_FR]

    install_defaults(db.session)
    make_customer(code="EN", language="en")
    db.session.commit()
    assert readiness.check(db.session).ready

    drop_texts(3, "letter")  # the formal notice has no letter text in any language
    drop_texts(1, "email", "en")  # the first reminder has no English email (an English customer exists)
    drop_texts(2, "letter", "en")
    state = readiness.check(db.session)
    assert [(m.rank, m.channel, m.language, m.used) for m in state.missing] == [
        (1, "email", "en", "fr"), (2, "letter", "en", "fr"), (3, "letter", "fr", None)]
    with force_locale("en"):
        assert state.messages() == [
            "Level 1 (First reminder) has no email text in English: customers who read English get the French "
            "text. Write it under Administration > Reminder texts.",
            "Level 2 (Second reminder) has no letter text in English: customers who read English get the French "
            "text. Write it under Administration > Reminder texts.",
            "Level 3 (Formal notice) has no letter text in any language: its letter reminders fail. Write it under "
            "Administration > Reminder texts.",
        ]
    with force_locale("fr"):
        assert "Le niveau 1 (Première relance) n’a pas de texte e-mail en anglais" in state.messages()[0]

    db.session.execute(update(ReminderLevel).values(active=False))  # every level switched off
    db.session.commit()
    assert readiness.check(db.session).no_level


def test_a_language_nobody_wrote_is_named(app):
    install_defaults(db.session)
    make_customer(code="PT", language="pt")  # Relance ships no Portuguese text
    make_customer(code="DE-CH", language="de_CH")  # reads the German texts
    db.session.commit()
    state = readiness.check(db.session)
    assert {(m.rank, m.channel, m.language, m.used) for m in state.missing} == {
        (0, "email", "pt", "fr"), (1, "email", "pt", "fr"), (2, "email", "pt", "fr"), (2, "letter", "pt", "fr"),
        (3, "letter", "pt", "fr")}
    with force_locale("en"):
        assert "customers who read Portuguese get the French text" in state.messages()[0]


def test_due_says_nothing_can_be_chased_and_keeps_its_json_clean(app, runner):
    make_invoice(make_customer(code="C-1"), number="FA-1", due=date(2026, 1, 15))
    db.session.commit()
    result = runner.invoke(args=["relance", "due", "--date", "2026-03-01", "--json", "--language", "en"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [] and result.stderr.splitlines()[0] == NO_LEVEL
    assert result.stderr.splitlines()[1:] == [  # and the automatic view's own note: not live yet
        "The go-live step is not done: nothing is sent automatically. A manager completes it under Administration > "
        "Go-live."]
    result = runner.invoke(args=["relance", "due", "--date", "2026-03-01", "--language", "fr"])
    assert result.exit_code == 0 and f"! {NO_LEVEL_FR}" in result.stdout
    assert "0 due, 0 skipped on 2026-03-01." in result.stdout


def test_due_names_a_missing_text(app, runner):
    install_defaults(db.session)
    go_live(db.session)  # a company that went live: the automatic view sends
    make_invoice(make_customer(code="C-1", email="ap@one.example"), number="FA-1", due=date(2026, 1, 15))
    db.session.commit()
    drop_texts(1, "email")
    result = runner.invoke(args=["relance", "due", "--date", "2026-02-01", "--json", "--language", "en"])
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.stdout)
    assert item["invoice"] == "FA-1" and item["level"] == 1
    assert "Level 1 (First reminder) has no email text in any language: its email reminders fail." in result.stderr


def test_explain_never_says_level_none(app, runner):
    make_invoice(make_customer(code="C-1", language="en"), number="FA-1", due=date(2026, 1, 15))
    db.session.commit()

    def explain(day: str = "2026-02-01") -> str:
        result = runner.invoke(args=["relance", "explain", "FA-1", "--date", day, "--language", "en"])
        assert result.exit_code == 0, result.output
        assert "None" not in result.output
        return result.output

    assert NO_LEVEL in explain()
    install_defaults(db.session)
    go_live(db.session)  # a company that went live: the automatic view sends
    db.session.execute(update(ReminderLevel).where(ReminderLevel.rank > 0).values(active=False))
    db.session.commit()
    assert "No active level comes after the due date (2026-01-15): nothing will be sent." in explain()
    db.session.execute(update(ReminderLevel).values(active=True))
    db.session.commit()
    drop_texts(1, "email", "en")
    output = explain()
    assert "No English text for level 1 by email: the French text is used." in output
    assert "Due: level 1 today (email)." in output
    drop_texts(1, "email")
    assert "Level 1 has no email text in any language: the reminder will fail." in explain()


@pytest.mark.clock
def test_dashboard_and_mass_page_say_it(app, client, auth):
    make_invoice(make_customer(code="C-1"), number="FA-1", due=TODAY)
    db.session.commit()
    auth.login("manager")
    for url in ("/", "/reminders/mass"):
        html = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert "Nothing can be chased." in html and NO_LEVEL.replace(">", "&gt;") in html, url
        assert 'href="/admin/levels"' in html
        html = client.get(url, headers={"Accept-Language": "fr"}).get_data(as_text=True)
        assert NO_LEVEL_FR.replace(">", "&gt;") in html, url
    install_defaults(db.session)
    db.session.commit()
    for url in ("/", "/reminders/mass"):
        assert 'id="readiness"' not in client.get(url).get_data(as_text=True), url
    drop_texts(2, "letter")
    html = client.get("/reminders/mass", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Some reminders cannot be written as they should." in html
    assert "Level 2 (Second reminder) has no letter text in any language" in html
    assert 'href="/admin/templates"' in html
    htmx = client.get("/reminders/mass", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="readiness"' not in htmx  # the list's fragment alone


def test_viewers_see_the_words_without_the_settings_links(app, client, auth):
    auth.login("viewer")
    html = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Nothing can be chased." in html and 'href="/admin/levels"' not in html
