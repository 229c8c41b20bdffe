"""`flask relance due` and `flask relance explain`."""

import json
from datetime import date

from relance.extensions import db
from relance.services import settings as settings_service
from tests.factories import install_live_defaults, make_customer, make_invoice

KEYS = {"invoice", "customer", "level", "channels", "remaining_due", "days_late", "penalty", "interest",
        "indemnity", "total_claimed", "currency", "indemnity_currency", "to", "cc", "language"}


def setup_data():
    install_live_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example"})
    customer = make_customer(code="C-1", email="ap@one.example", language="en")
    make_invoice(customer, number="FA-1", total="1200.00", due=date(2026, 1, 15))
    make_invoice(make_customer(code="C-2", no_auto_reminders=True), number="FA-2", due=date(2026, 1, 15))
    db.session.commit()


def test_due_json_has_exactly_the_documented_keys(app, runner):
    setup_data()
    result = runner.invoke(args=["relance", "due", "--date", "2026-02-01", "--json"])
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.output)
    assert set(item) == KEYS
    assert item == {"invoice": "FA-1", "customer": "C-1", "level": 1, "channels": ["email"],
                    "remaining_due": "1200.00", "days_late": 17, "penalty": "0.00", "interest": "6.79",
                    "indemnity": "40.00", "total_claimed": "1246.79", "currency": "EUR", "indemnity_currency": "EUR",
                    "to": ["ap@one.example"],
                    "cc": [], "language": "en"}


def test_due_text_lists_due_and_skipped(app, runner):
    setup_data()
    result = runner.invoke(args=["relance", "due", "--date", "2026-02-01", "--language", "en"])
    assert result.exit_code == 0, result.output
    assert "FA-1" in result.output and "1 due, 1 skipped on 2026-02-01." in result.output
    assert "skipped FA-2 level 1: The customer is marked \"no automatic reminders\"." in result.output


def test_explain_and_bad_input(app, runner):
    setup_data()
    result = runner.invoke(args=["relance", "explain", "FA-1", "--date", "2026-01-20", "--language", "en"])
    assert result.exit_code == 0, result.output
    assert "Not due yet: the next reminder (level 1) will be on 2026-01-30." in result.output
    missing = runner.invoke(args=["relance", "explain", "NOPE", "--date", "2026-01-20"])
    assert missing.exit_code != 0 and "no invoice numbered 'NOPE'" in missing.output
    bad = runner.invoke(args=["relance", "due", "--date", "20/01/2026"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output
