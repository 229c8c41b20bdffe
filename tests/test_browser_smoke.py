import pytest

pytestmark = pytest.mark.browser


def test_login_page_and_dashboard_in_browser(live_server, page):
    live_server.login(page, "viewer")
    assert page.locator("h1").first.inner_text() in ("Tableau de bord", "Dashboard")
