"""One pager for every list: `?page=` is read safely (nonsense is page 1, a page past the end is the last page,
a number too big for SQL never reaches it) and every list shows the same pager."""

from __future__ import annotations

import re
from datetime import date

import pytest
from werkzeug.datastructures import MultiDict

from relance.extensions import db
from relance.models import AuditLog, Reminder, Run
from relance.pagination import MAX_PAGE, Page, page_number
from tests.factories import make_customer, make_invoice

HUGE = "99999999999999999999"  # past 64 bits: an OFFSET computed from it fails in SQL
BAD_PAGES = (HUGE, "-3", "abc")


@pytest.mark.parametrize(("raw", "number"), [
    ("3", 3), (" 7 ", 7), ("+2", 2), ("", 1), (None, 1), ("abc", 1), ("0", 1), ("-3", 1), ("1.5", 1), ("3e2", 1),
    (HUGE, MAX_PAGE), ("9" * 5000, MAX_PAGE), ("-" + HUGE, 1), ("000004", 4), (4, 4), (-4, 1), (10**30, MAX_PAGE),
    (True, 1),
])
def test_page_number_reads_what_a_url_or_a_form_sends(raw, number):
    assert page_number(raw) == number


def test_a_page_past_the_end_is_the_last_one():
    assert Page(page=MAX_PAGE, per_page=50, total=120).page == 3
    page = Page(page=2, per_page=50, total=120, args={"q": "acme"})
    assert (page.pages, page.offset, page.has_prev, page.has_next) == (3, 50, True, True)
    assert page.url_args(3) == {"q": "acme", "page": 3}
    empty = Page(page=4, per_page=50, total=0)
    assert (empty.page, empty.pages, empty.has_prev, empty.has_next) == (1, 1, False, False)


@pytest.fixture
def lists(app):
    """One row in every list (none due today on the mass page: no levels), and the URLs of the lists."""
    customer = make_customer("C-PAGES", name="Pages & Co")
    invoice = make_invoice(customer, number="FA-PAGES", due=date(2026, 1, 15))
    run = Run(kind="auto", run_date=date(2026, 2, 2), status="done")
    db.session.add(run)
    db.session.flush()
    db.session.add(Reminder(key="pages-1", invoice=invoice, level=1, channel="email", reminder_date=date(2026, 2, 2),
                            status="sent", run_id=run.id))
    db.session.add(AuditLog(user_id=None, action="update", entity="settings", entity_id=None, before={}, after={}))
    db.session.commit()
    return ["/customers/", "/invoices/", "/reminders/", "/reminders/mass", "/reminders/mass?due=all", "/auto/",
            f"/auto/runs/{run.id}", "/admin/audit", f"/customers/{customer.id}/reminders"]


def test_every_list_answers_any_page_number(client, auth, lists):
    auth.login("admin")
    for url in lists:
        for raw in BAD_PAGES:
            asked = f"{url}{'&' if '?' in url else '?'}page={raw}"
            for headers in ({}, {"HX-Request": "true"}):  # the page and its htmx fragment
                response = client.get(asked, headers=headers)
                assert response.status_code == 200, (asked, headers, response.status_code)
                assert re.search(r"\b[01] results?\b", response.get_data(as_text=True)), (asked, headers)


def test_the_mass_page_s_pager_buttons_go_to_a_clamped_page(client, auth, lists):
    auth.login("agent")
    for raw in BAD_PAGES:
        response = client.post("/reminders/mass/save", data=MultiDict({"goto": raw, "due": "all"}))
        assert response.status_code == 303
        assert client.get(response.headers["Location"]).status_code == 200


def test_a_huge_page_shows_the_last_page_with_links_that_keep_the_filters(client, auth):
    for n in range(51):
        make_customer(f"P{n:03d}", name=f"Paged {n:03d}")
    db.session.commit()
    auth.login("viewer")
    html = client.get(f"/customers/?q=Paged&sort=name&page={HUGE}").get_data(as_text=True)
    assert "Page 2 of 2 · 51 results" in html and "Paged 050" in html and "Paged 049" not in html
    assert 'href="/customers/?q=Paged&amp;sort=name&amp;page=1" rel="prev"' in html and 'rel="next"' not in html


@pytest.mark.browser
def test_in_a_browser_the_pager_follows_an_htmx_search_and_keeps_the_filters(live_server, page):
    with live_server.app.app_context():
        paged = make_customer("PAGED", name="Paged Ltd")
        for n in range(51):
            make_invoice(paged, number=f"PG-{n:03d}", due=date(2026, 1, 15))
        make_invoice(make_customer("ALONE", name="Alone SA"), number="AL-001", due=date(2026, 1, 15))
        db.session.commit()
    live_server.login(page, "agent")
    page.click("button[name=language][value=en]")
    page.wait_for_load_state()
    page.goto(live_server.url + "/invoices/?sort=number")
    pager = page.locator("#invoice-rows tr.pager-row")
    assert "Page 1 of 2 · 52 results" in pager.inner_text()
    page.fill("#invoice-q", "alone")  # htmx swaps the table body, the pager row with it
    page.wait_for_function("document.querySelector('#invoice-rows tr.pager-row').innerText.includes('1 result')")
    page.fill("#invoice-q", "PG-")
    page.wait_for_function("document.querySelector('#invoice-rows tr.pager-row').innerText.includes('51 results')")
    page.click("#invoice-rows a[rel=next]")
    page.wait_for_url("**page=2**")
    assert "q=PG-" in page.url and "sort=number" in page.url
    assert "Page 2 of 2 · 51 results" in pager.inner_text() and "PG-050" in page.locator("#invoice-rows").inner_text()
    # the mass page's pager buttons post the form (the rows' choices are kept) and land on the next page
    page.goto(live_server.url + "/reminders/mass?due=all&sort=number")
    page.click("#mass-list button[rel=next]")
    page.wait_for_url("**page=2**")
    assert "Page 2 of 2 · 52 results" in page.locator("#mass-list nav.pager").inner_text()
    page.click("#mass-list button[rel=prev]")
    page.wait_for_url("**page=1**")
    assert "Page 1 of 2" in page.locator("#mass-list nav.pager").inner_text()
