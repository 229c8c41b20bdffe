"""In Chromium, under the Content-Security-Policy (relance/security.py): the watch of the `page` fixture sees a
violation when there is one, and the pages that used inline code or frames work without any."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Blueprint, render_template_string
from sqlalchemy import select

from relance.auth import role_required
from relance.extensions import db
from relance.models import Reminder, ReminderLevel
from tests.conftest import browser_context, start_live_server, stop_live_server
from tests.factories import install_live_defaults, make_customer, make_invoice

pytestmark = pytest.mark.browser

PROBE = """{% extends "base.html" %}{% block content %}
<div id="out">nothing yet</div>
<button id="fail" hx-get="{{ url_for('probe.fail') }}" hx-target="#out">Go</button>
{% if bad %}<script>document.title = "inline";</script><p style="color: red" onclick="x()">inline</p>{% endif %}
{% endblock %}"""


def _probe(app):
    bp = Blueprint("probe", __name__)

    @bp.route("/_probe")
    @role_required("viewer")
    def page():
        from flask import request

        return render_template_string(PROBE, bad=request.args.get("bad") == "1")

    @bp.route("/_probe/fail")
    @role_required("viewer")
    def fail():
        return "no", 503

    app.register_blueprint(bp)


@pytest.fixture
def probe_server(tmp_path):
    live = start_live_server(tmp_path, setup=_probe)
    yield live
    stop_live_server(live)


def test_the_watch_sees_inline_code_blocked(probe_server, chromium):
    context = browser_context(chromium, locale="fr-FR")
    page = context.new_page()
    try:
        probe_server.login(page, "viewer")
        page.goto(probe_server.url + "/_probe?bad=1")
        page.wait_for_timeout(300)
        assert page.title() != "inline"  # the inline script did not run
    finally:
        context.close()
    violations = context.console_watch.csp_violations()
    assert any("script-src" in v for v in violations), context.console_watch.errors
    assert any("style-src" in v for v in violations), context.console_watch.errors


def test_a_failed_htmx_request_is_told_by_the_static_script(probe_server, page):
    probe_server.login(page, "viewer")
    page.goto(probe_server.url + "/_probe")
    page.click("#fail")
    page.wait_for_selector("#flashes .flash-error")
    assert page.inner_text("#flashes .flash-error") == "La requête a échoué (503). Rechargez la page et réessayez."


def _data(app):
    with app.app_context():
        install_live_defaults(db.session)
        invoice = make_invoice(make_customer(name="Boulangerie Petit"), number="FA-CSP-1", due=date(2026, 1, 15))
        db.session.add(Reminder(key="csp-1", invoice=invoice, level=1, channel="email", status="sent",
                                reminder_date=date(2026, 2, 1), subject="Relance FA-CSP-1",
                                body="Bonjour,\n\nMerci de régler la facture FA-CSP-1.", recipients=["a@b.example"]))
        db.session.commit()
        return (db.session.scalar(select(ReminderLevel.id).where(ReminderLevel.rank == 1)),
                db.session.scalar(select(Reminder.id).where(Reminder.key == "csp-1")))


def test_the_email_as_it_left_shows_with_its_style(live_server, page):
    """The sandboxed srcdoc frame inherits the policy: its <style> block is allowed by hash."""
    _level_id, reminder_id = _data(live_server.app)
    live_server.login(page, "viewer")
    page.goto(f"{live_server.url}/reminders/{reminder_id}")
    frame = page.frame_locator("iframe.email-frame")
    assert "Merci de régler" in frame.locator("body").inner_text()
    padding = frame.locator("body").evaluate("el => getComputedStyle(el).paddingTop")
    assert padding == "16px"  # the email's own stylesheet applied


def test_the_letter_preview_loads_in_the_editors_frame_and_reverting_asks_first(live_server, page):
    level_id, _reminder_id = _data(live_server.app)
    live_server.login(page, "manager")
    page.goto(f"{live_server.url}/admin/templates/{level_id}/letter/fr")
    with page.expect_response(lambda r: r.url.endswith("/letter.pdf")) as answer:
        page.click("button[formtarget=letter-frame]")
    response = answer.value
    assert response.status == 200 and response.headers["x-frame-options"] == "SAMEORIGIN"
    page.wait_for_timeout(500)  # a frame-ancestors refusal would be on the console by now (checked by the fixture)
    questions = []

    def answer_no(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", answer_no)
    page.click("text=Revenir au texte par défaut")
    assert questions and "texte par défaut" in questions[0]
    assert "/revert" not in page.url and not page.locator(".flash-success").count()
