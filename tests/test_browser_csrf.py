"""In a real browser, htmx POSTs carry the CSRF token from <body>; without it the user reads why."""

from __future__ import annotations

import pytest
from flask import Blueprint, render_template_string

from relance.auth import role_required
from tests.conftest import start_live_server, stop_live_server

pytestmark = pytest.mark.browser

PAGE = """{% extends "base.html" %}{% block content %}
<div id="out">nothing yet</div>
<button id="go" hx-post="{{ url_for('probe.echo') }}" hx-target="#out">Go</button>
<button id="bad" hx-post="{{ url_for('probe.echo') }}" hx-target="#out"
        hx-headers='{"X-CSRFToken": "forged"}'>Bad</button>
{% endblock %}"""


def _probe(app):
    bp = Blueprint("probe", __name__)

    @bp.route("/_probe")
    @role_required("viewer")
    def page():
        return render_template_string(PAGE)

    @bp.route("/_probe/echo", methods=["POST"])
    @role_required("viewer")
    def echo():
        return "<strong id='ok'>posted with a valid token</strong>"

    app.register_blueprint(bp)


@pytest.fixture
def probe_server(tmp_path):
    live = start_live_server(tmp_path, setup=_probe)
    yield live
    stop_live_server(live)


def test_htmx_post_carries_the_csrf_token(probe_server, page):
    probe_server.login(page, "viewer")
    headers = []
    page.on("request", lambda r: headers.append(r.headers.get("x-csrftoken")) if r.method == "POST" else None)
    page.goto(probe_server.url + "/_probe")
    page.click("#go")
    page.wait_for_selector("#ok")
    assert headers and headers[-1] and headers[-1] != "forged"

    page.click("#bad")  # a wrong token: refused with a readable message, not a blank 400
    page.wait_for_function("document.querySelector('#out').innerText.includes('jeton')")
    assert "Formulaire expiré" in page.inner_text("#out")
    page.screenshot(path=str(probe_server.app.instance_path) + "/csrf.png")
