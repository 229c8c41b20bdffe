"""Reminder levels: the strict delay language and level validation (nothing saved on bad input)."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import ReminderLevel
from relance.services.engine.levels import (
    ACCEPTED_DELAYS,
    Delay,
    DelayError,
    LevelError,
    add_months,
    channels_of,
    parse_delay,
    save_level,
    validate_level,
)


@pytest.mark.parametrize("text, count, unit", [
    ("+15 days", 15, "day"), ("-5 days", -5, "day"), ("+2 weeks", 2, "week"), ("+1 month", 1, "month"),
    ("+1 day", 1, "day"), ("+0 days", 0, "day"), ("+ 15 days", 15, "day"), (" +3 Months ", 3, "month"),
    ("+15 jours", 15, "day"), ("-1 jour", -1, "day"), ("+2 semaines", 2, "week"), ("+1 mois", 1, "month"),
    ("+6 Mois", 6, "month"),
])
def test_parse_delay_accepts_the_documented_forms(text, count, unit):
    assert parse_delay(text) == Delay(count, unit)


@pytest.mark.parametrize("text", ["15 days", "+15", "+15 jrs", "+2 fortnights", "+1.5 days", "15d", "",
                                  "+15 days later", "--5 days", "+ 15  days", "+99999 days", None])
def test_parse_delay_refuses_anything_else_with_the_accepted_forms(text):
    with pytest.raises(DelayError) as info:
        parse_delay(text)
    assert str(ACCEPTED_DELAYS) in str(info.value)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("stored, english, french", [
    ("+15 days", "+15 days", "+15 jours"), ("-1 day", "-1 day", "-1 jour"), ("+2 weeks", "+2 weeks", "+2 semaines"),
    ("+1 month", "+1 month", "+1 mois"), ("+0 days", "+0 days", "+0 jour"), ("odd", "odd", "odd"),
])
def test_delays_are_shown_in_the_reader_language(app, stored, english, french):
    from flask_babel import force_locale

    from relance.services.engine.levels import delay_text

    with force_locale("en"):
        assert delay_text(stored) == english
    with force_locale("fr"):
        assert delay_text(stored) == french
    if stored != "odd":
        assert str(parse_delay(french)) == stored  # what is shown can be typed back


def test_delay_apply_days_weeks_and_clamped_months():
    start = date(2026, 1, 31)
    assert parse_delay("-5 days").apply(start) == date(2026, 1, 26)
    assert parse_delay("+2 weeks").apply(start) == date(2026, 2, 14)
    assert parse_delay("+1 month").apply(start) == date(2026, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 12, 15), 1) == date(2026, 1, 15)
    assert str(parse_delay("+ 1 months")) == "+1 month"


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
       st.integers(-24, 24), st.sampled_from(["day", "week", "month"]))
def test_latest_start_is_the_last_start_whose_date_has_come(on, count, unit):
    delay = Delay(count, unit)
    start = delay.latest_start(on)
    assert delay.apply(start) <= on
    assert delay.apply(date.fromordinal(start.toordinal() + 1)) > on


GOOD = {"rank": 2, "names": {"fr": "Deuxième relance", "en": "Second reminder"}, "delay": "+30 days",
        "basis": "due_date", "channels": "both", "penalty_kind": "percent", "penalty_value": "10"}


def test_validate_level_cleans_values():
    cleaned = validate_level(GOOD)
    assert cleaned["penalty_value"] == Decimal("10.00")
    assert cleaned["delay"] == "+30 days"


@pytest.mark.parametrize("change, field, words", [
    ({"delay": "30 jours"}, "delay", "+15 days"),
    ({"delay": "+30 dias"}, "delay", "+15 days"),
    ({"penalty_value": "150"}, "penalty_value", "100"),
    ({"penalty_kind": "fixed", "penalty_value": "-40"}, "penalty_value", "negative"),
    ({"penalty_value": "ten"}, "penalty_value", "number"),
    ({"penalty_kind": "weird"}, "penalty_kind", "none, fixed, percent"),
    ({"channels": "fax"}, "channels", "email, letter, both"),
    ({"basis": "moon"}, "basis", "due_date, previous"),
    ({"names": {"fr": "  "}}, "names", "name"),
    ({"rank": -1}, "rank", "0 to 99"),
    ({"rank": 0, "delay": "+5 days"}, "delay", "0 or less"),
])
def test_validate_level_names_the_bad_field(change, field, words):
    with pytest.raises(LevelError) as info:
        validate_level({**GOOD, **change})
    assert field in info.value.errors
    assert words in info.value.errors[field]


def test_save_level_saves_nothing_on_bad_input(app):
    with pytest.raises(LevelError):
        save_level(db.session, {**GOOD, "penalty_value": "101"})
    with pytest.raises(LevelError):
        save_level(db.session, {**GOOD, "delay": "+1 fortnight"})
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(ReminderLevel)) == 0
    level = save_level(db.session, {**GOOD, "automatic": True})
    db.session.commit()
    assert (level.rank, level.penalty_value, level.automatic, channels_of(level)) == (
        2, Decimal("10.00"), True, ("email", "letter"))
    with pytest.raises(LevelError) as info:
        save_level(db.session, {**GOOD, "delay": "+45 days"})
    assert "already exists" in info.value.errors["rank"]
