"""Mass reminder page: rows, the server-side selection (pages, filters, bulk toggles, inline rows), the run (emails
over a real SMTP server, letters merged into one PDF) and its progress component; bad input."""

import os
from datetime import timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import MassSelection, Reminder, ReminderLevel, Run
from relance.services import settings as settings_service
from relance.services.engine.penalties import claim_for_invoice
from relance.services.sending import mass
from tests.factories import TODAY, install_live_defaults, make_customer, make_invoice, make_payment
from tests.smtp import smtp_certificate, smtp_factory  # noqa: F401 (fixtures)

pytestmark = pytest.mark.clock  # the app runs at tests.factories.NOW: TODAY is its today
HX = {"HX-Request": "true"}


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def smtp(app, smtp_factory):  # noqa: F811
    return smtp_factory().configure(app)


@pytest.fixture
def data(app):
    """55 invoices 11 to 65 days late (level 1 is due at +15 days: FA-005 and later); FA-001 had its first reminder
    3 days ago (nothing due), FA-050 20 days ago (level 2 due, with a 10 % penalty)."""
    install_live_defaults(db.session)
    level2 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 2))
    level2.penalty_kind, level2.penalty_value = "percent", Decimal("10")
    acme = make_customer(code="ACME", name="Acme Industries", email="billing@acme.example")
    nomail = make_customer(code="NOMAIL", name="Sans Email SARL", email="")
    invoices = [make_invoice(acme, number=f"FA-{n:03d}", total="1000.00", due=TODAY - timedelta(days=10 + n))
                for n in range(1, 56)]  # 55 invoices: two pages
    lonely = make_invoice(nomail, number="FA-NOMAIL", total="800.00", due=TODAY - timedelta(days=5))
    paid = make_invoice(acme, number="FA-PAID", total="300.00", paid="300.00", due=TODAY - timedelta(days=30),
                        status="paid")
    db.session.add(Reminder(key="r1", invoice=invoices[0], level=1, channel="email", status="sent",
                            reminder_date=TODAY - timedelta(days=3), next_date=TODAY + timedelta(days=12),
                            note="Called, no answer"))
    db.session.add(Reminder(key="r50", invoice=invoices[49], level=1, channel="email", status="sent",
                            reminder_date=TODAY - timedelta(days=20)))
    db.session.commit()
    return {"acme": acme, "nomail": nomail, "invoices": invoices, "lonely": lonely, "paid": paid}


def selection():
    return {s.invoice_id: (s.level, s.letter, s.email) for s in db.session.scalars(select(MassSelection))}


def row_of(html: str, invoice) -> str:
    return html.split(f'id="mass-row-{invoice.id}"')[1].split("</tr>")[0]


def test_page_shows_what_is_due_today_by_default_with_the_engines_level(client, auth, data):
    auth.login("agent")
    html = text(client.get("/reminders/mass?sort=number"))
    assert "FA-005" in html and "FA-001" not in html and "FA-004" not in html and "FA-PAID" not in html
    assert "51 results" in html or "Page 1 of 2" in html
    fifty = data["invoices"][49]
    row = row_of(html, fifty)  # FA-050: level 1 sent 20 days ago, level 2 today
    assert '<option value="2" selected>' in row
    # the total claimed comes from the one claim computation (as in the letter and the email): 10 % penalty,
    # statutory interest and the 40 € indemnity
    level2 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 2))
    claim = claim_for_invoice(db.session, fifty, level2, TODAY, settings_service.load(db.session))
    assert claim.penalty == Decimal("100.00") and claim.indemnity == Decimal("40.00") and claim.interest > 0
    assert f"€{claim.total_claimed:,.2f}" in row
    assert f"incl. €{claim.total_claimed - claim.remaining_due:,.2f} penalty, interest and indemnity" in row
    assert '<option value="1" selected>' in row_of(html, data["invoices"][9])


@pytest.mark.parametrize("probe", [200, 0])  # 0: the first page is never found among the first open invoices
def test_pager_says_the_same_count_on_every_page_and_a_page_past_the_end_shows_the_last(client, auth, data, probe,
                                                                                       monkeypatch):
    from relance.reminders import routes

    monkeypatch.setattr(routes, "PROBE", probe)
    auth.login("agent")  # 51 due today, 56 unpaid
    for due, total in (("today", 51), ("all", 56)):
        first = text(client.get(f"/reminders/mass?sort=number&due={due}"))
        last = text(client.get(f"/reminders/mass?sort=number&due={due}&page=2"))
        beyond = text(client.get(f"/reminders/mass?sort=number&due={due}&page=9"))
        for html in (first, last, beyond):
            assert f"Page {'2' if html is not first else '1'} of 2 · {total} results" in html
        assert first.count('<tr id="mass-row-') == 50 and last.count('<tr id="mass-row-') == total - 50
        assert beyond.split("<tbody>")[1] == last.split("<tbody>")[1]
    nothing = text(client.get("/reminders/mass?q=no-such-invoice"))
    assert "0 results" in nothing and "Nothing is due today among these invoices" in nothing
    assert "0 results" in text(client.get("/reminders/mass?q=no-such-invoice&page=3"))


def test_claim_of_a_partly_paid_invoice_counts_its_payments_as_the_letter_does(client, auth, data):
    auth.login("agent")
    fifty = data["invoices"][49]  # level 2 due: 10 % penalty and interest, which the payments lower
    make_payment(fifty, "400.00", TODAY - timedelta(days=30))
    make_payment(fifty, "100.00", TODAY - timedelta(days=2))
    db.session.commit()
    html = text(client.get("/reminders/mass?sort=number"))
    level2 = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 2))
    claim = claim_for_invoice(db.session, fifty, level2, TODAY, settings_service.load(db.session))
    assert claim.remaining_due == Decimal("500.00") and claim.interest > 0
    assert f"€{claim.total_claimed:,.2f}" in row_of(html, fifty)
    assert f"€{claim.total_claimed:,.2f}" in text(client.post(
        f"/reminders/mass/rows/{fifty.id}", headers=HX, data={f"level-{fifty.id}": "2"}))


def test_currency_filter_offers_the_currencies_of_unpaid_invoices(client, auth, data):
    auth.login("agent")
    make_invoice(data["acme"], number="FA-USD", total="50.00", currency="USD", due=TODAY - timedelta(days=40))
    make_invoice(data["acme"], number="FA-GBP", total="50.00", paid="50.00", currency="GBP", status="paid",
                 due=TODAY - timedelta(days=40))
    db.session.commit()
    for _ in range(2):  # the statement is built once: a second page asks it again
        choices = text(client.get("/reminders/mass")).split('name="currency">')[1].split("</select>")[0]
        assert [c.split('"')[0] for c in choices.split('<option value="')[2:]] == ["EUR", "USD"]


def test_rows_not_due_are_greyed_with_the_engines_reason(client, auth, data):
    auth.login("agent")
    html = text(client.get("/reminders/mass?sort=number&due=all"))
    assert "Page 1 of 2" in html
    classes = html.split(f'id="mass-row-{data["invoices"][0].id}" class="')[1].split('"')[0]
    assert "not-due" in classes
    row = row_of(html, data["invoices"][0])  # first reminder 3 days ago: nothing preselected, and why
    assert "Called, no answer" in row and "level 1" in row
    assert '<option value="" selected>— not due —' in row and row.split("</select>")[0].count("selected>") == 1
    assert "Not due today:" in row and "at least 7 days between two reminders" in row
    early = row_of(html, data["invoices"][1])  # 12 days late: level 1 comes at +15 days
    assert "Level 1 is due on" in early


def test_customer_without_email_has_the_email_box_disabled(client, auth, data):
    auth.login("agent")
    html = text(client.get("/reminders/mass?customer=NOMAIL&due=all"))
    row = row_of(html, data["lonely"])
    email_box = row.split(f'name="email-{data["lonely"].id}"')[1].split(">")[0]
    assert "disabled" in email_box and "No email address for this customer" in row


def test_inline_row_change_keeps_the_choice_and_answers_the_row(client, auth, data):
    auth.login("agent")
    invoice = data["invoices"][9]  # FA-010: level 1 due
    response = client.post(f"/reminders/mass/rows/{invoice.id}", headers=HX,
                           data={f"level-{invoice.id}": "1", f"letter-{invoice.id}": "1"})
    assert response.status_code == 200
    html = text(response)
    assert html.lstrip().startswith(f'<tr id="mass-row-{invoice.id}" class="selected"') and "€1,000.00" in html
    assert "refused" not in html.split(">")[0]
    assert '"selectionChanged"' in response.headers["HX-Trigger"]
    assert selection() == {invoice.id: (1, True, False)}
    assert "1 invoice selected" in text(client.get("/reminders/mass/count", headers=HX))
    # a level the rules refuse: the row says why and offers "send anyway" with a reason
    response = client.post(f"/reminders/mass/rows/{invoice.id}", headers=HX,
                           data={f"level-{invoice.id}": "3", f"letter-{invoice.id}": "1"})
    html = text(response)
    assert 'class="selected refused"' in html and "Level 1 comes first" in html
    assert f'name="override-{invoice.id}"' in html and f'name="reason-{invoice.id}"' not in html
    response = client.post(f"/reminders/mass/rows/{invoice.id}", headers=HX, data={
        f"level-{invoice.id}": "3", f"letter-{invoice.id}": "1", f"override-{invoice.id}": "1"})
    assert f'name="reason-{invoice.id}"' in text(response)
    # an email for a customer without address is refused (a tampered request), nothing kept
    lonely = data["lonely"]
    response = client.post(f"/reminders/mass/rows/{lonely.id}", headers=HX,
                           data={f"level-{lonely.id}": "1", f"email-{lonely.id}": "1"})
    assert response.status_code == 422 and "has no email address" in text(response)
    response = client.post(f"/reminders/mass/rows/{invoice.id}", headers=HX,
                           data={f"level-{invoice.id}": "9", f"letter-{invoice.id}": "1"})
    assert response.status_code == 422 and "Level 9 does not exist." in text(response)
    assert selection() == {invoice.id: (3, True, False)}


def test_inline_row_of_an_invoice_without_due_date(client, auth, data):
    """A tampered request for an open invoice without a due date (never listed): the row answers, with no claim."""
    auth.login("agent")
    undated = make_invoice(data["acme"], number="FA-UNDATED", total="500.00", due=None)
    db.session.commit()
    response = client.post(f"/reminders/mass/rows/{undated.id}", headers=HX,
                           data={f"level-{undated.id}": "1", f"letter-{undated.id}": "1"})
    assert response.status_code == 200
    assert text(response).lstrip().startswith(f'<tr id="mass-row-{undated.id}"')


def test_selection_survives_pages_and_filters_and_bulk_ticks_only_what_is_due(client, auth, data):
    auth.login("agent")
    first, fifty, last = data["invoices"][0], data["invoices"][49], data["invoices"][-1]
    response = client.post("/reminders/mass/bulk", data={"action": "emails", "customer": "ACME", "due": "all"})
    assert response.status_code == 303
    assert len(selection()) == 51 and all(v[2] for v in selection().values())  # both pages, due ones only
    assert first.id not in selection() and selection()[fifty.id] == (2, False, True)
    page = text(client.get("/reminders/mass?customer=ACME&due=all"))
    assert "By email: 51 invoices ticked. 4 not due today were left out." in page
    client.post("/reminders/mass/bulk", data={"action": "letters", "due": "all"})
    assert data["lonely"].id not in selection()  # not due: never ticked by a bulk action
    assert selection()[fifty.id] == (2, True, True)
    # no JavaScript: the page's rows are posted with the form (untick the last invoice on page 2)
    page2 = text(client.get("/reminders/mass?sort=number&page=2"))
    assert f'name="letter-{last.id}" value="1" checked' in page2
    client.post("/reminders/mass/save", data={"sort": "number", "page": "2", "rows": [last.id],
                                              f"level-{last.id}": "3"})
    assert selection()[last.id] == (3, False, False)
    counts = mass.counts(db.session, db.session.scalar(select(MassSelection.user_id).limit(1)))
    assert counts == {"invoices": 50, "letters": 50, "emails": 50}
    html = text(client.get("/reminders/mass"))
    assert "50 invoices selected" in html
    client.post("/reminders/mass/bulk", data={"action": "none", "q": "FA-00"})  # FA-005 .. FA-009
    assert mass.counts(db.session, db.session.scalar(select(MassSelection.user_id).limit(1)))["invoices"] == 45


def test_empty_selection_is_refused_and_nothing_is_sent(client, auth, data):
    auth.login("agent")
    response = client.post("/reminders/mass/run", data={}, headers=HX)
    assert response.status_code == 422 and "Nothing is selected" in text(response)
    assert db.session.scalar(select(func.count()).select_from(Run)) == 0
    assert db.session.scalar(select(func.count()).select_from(Reminder)) == 2


def test_run_sends_emails_merges_letters_and_reports(app, client, auth, data, smtp):
    auth.login("agent")
    a, b, c = data["invoices"][49], data["invoices"][9], data["invoices"][10]
    client.post(f"/reminders/mass/rows/{a.id}", headers=HX, data={f"level-{a.id}": "2", f"email-{a.id}": "1"})
    client.post(f"/reminders/mass/rows/{b.id}", headers=HX, data={f"level-{b.id}": "1", f"letter-{b.id}": "1"})
    client.post(f"/reminders/mass/rows/{c.id}", headers=HX,
                data={f"level-{c.id}": "1", f"letter-{c.id}": "1", f"email-{c.id}": "1"})
    # paid in the meantime: left out with a note, not sent
    d = data["invoices"][11]
    client.post(f"/reminders/mass/rows/{d.id}", headers=HX, data={f"level-{d.id}": "1", f"letter-{d.id}": "1"})
    make_payment(d, "1000.00", TODAY)
    d.status = "paid"
    db.session.commit()
    response = client.post("/reminders/mass/run", data={}, headers=HX)
    assert response.status_code == 200
    run = db.session.scalar(select(Run))
    assert response.headers["HX-Push-Url"] == f"/reminders/runs/{run.id}"
    html = text(response)
    assert (run.status, run.total, run.done, run.sent, run.failed) == ("done", 4, 4, 4, 0)
    assert "4 / 4 done" in html and "2 emails sent" in html and "2 letters" in html
    assert "every 1s" not in html  # finished: the component stops polling
    assert sorted(m["Subject"].split(":")[0].strip() for m in smtp.messages) == ["Deuxième relance", "Relance"]
    made = db.session.scalars(select(Reminder).where(Reminder.run_id == run.id)).all()
    assert sorted((r.invoice.number, r.level, r.channel) for r in made) == [
        ("FA-010", 1, "letter"), ("FA-011", 1, "email"), ("FA-011", 1, "letter"), ("FA-050", 2, "email")]
    assert next(r for r in made if r.level == 2).penalty == Decimal("100.00")
    pdf = client.get(f"/reminders/runs/{run.id}/letters.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    reader = PdfReader(BytesIO(pdf.data))
    content = "".join(page.extract_text() for page in reader.pages)
    assert "FA-010" in content and "FA-011" in content and len(reader.pages) % 2 == 0
    assert selection() == {}  # the selection is emptied once the run is made
    # the status URL (what the component polls) answers the same summary
    assert "4 / 4 done" in text(client.get(f"/reminders/runs/{run.id}", headers=HX))


def test_run_status_polls_while_running_and_without_javascript_refreshes(client, auth, data):
    auth.login("agent")
    run = Run(kind="mass", run_date=TODAY, status="running", total=10, done=3)
    db.session.add(run)
    db.session.commit()
    fragment = text(client.get(f"/reminders/runs/{run.id}", headers=HX))
    assert 'hx-trigger="every 1s"' in fragment and "3 / 10 done" in fragment
    page = client.get(f"/reminders/runs/{run.id}")
    assert page.headers["Refresh"] == "2"
    run.status, run.done = "done", 10
    db.session.commit()
    fragment = text(client.get(f"/reminders/runs/{run.id}", headers=HX))
    assert "every 1s" not in fragment and "Run finished" in fragment
    assert "Refresh" not in client.get(f"/reminders/runs/{run.id}").headers
    assert client.get(f"/reminders/runs/{run.id}/letters.pdf").status_code == 404  # no letters in this run


@pytest.mark.slow
def test_one_invoice_with_a_line_break_in_its_number_fails_alone(app, client, auth, data, smtp):
    """Input refuses control characters now; one written by SQL fails alone with its reason, the rest goes."""
    from sqlalchemy import update

    from relance.models import Invoice
    from relance.services.sending import autorun

    auth.login("agent")
    bad = data["invoices"][20]
    db.session.execute(update(Invoice).where(Invoice.id == bad.id).values(number="HDR-1\rBcc: x@evil.example"))
    db.session.commit()
    client.post("/reminders/mass/bulk", data={"action": "emails"})
    db.session.execute(update(MassSelection).where(MassSelection.invoice_id.not_in(  # keep FA-020 .. FA-029
        [i.id for i in data["invoices"][19:29]])).values(email=False))
    db.session.commit()
    assert sum(email for _level, _letter, email in selection().values()) == 10
    response = client.post("/reminders/mass/run", data={"token": "run-with-a-bad-one"})
    assert response.status_code == 303
    run = db.session.scalar(select(Run))
    db.session.refresh(run)
    made = db.session.scalars(select(Reminder).where(Reminder.run_id == run.id)).all()
    assert (run.status, run.total, run.sent, run.failed) == ("done", 10, 9, 1)
    [failed] = [r for r in made if r.status == "failed"]
    assert failed.invoice_id == bad.id and "control character" in failed.error
    # headers and text parts (a base64 attachment may spell anything)
    readable = [str(m.items()) + "".join(p.get_content() for p in m.walk() if p.get_content_maintype() == "text")
                for m in smtp.messages]
    assert len(smtp.messages) == 9 and all("evil" not in text for text in readable)
    assert not [r for r in made if r.status == "pending"]  # nothing left in doubt
    # the automatic run of the day, meeting the same invoice, finishes too
    db.session.execute(update(Reminder).where(Reminder.id == failed.id).values(status="cancelled"))
    db.session.commit()
    auto = autorun.run_auto(db.session, TODAY)
    assert auto.status == "done" and auto.failed == 1 and auto.sent >= 1


def test_forms_refuse_control_characters_in_single_line_fields(client, auth, data):
    auth.login("agent")
    invoice = data["invoices"][0]
    response = client.post(f"/invoices/{invoice.id}/edit", data={
        "number": "HDR-1\rBcc: x@evil.example", "customer_code": "ACME", "issue_date": "2026-01-01",
        "due_date": "2026-02-01", "currency": "EUR", "total_excl_tax": "100.00", "total_incl_tax": "120.00",
        "status": "validated", "kind": "invoice"})
    assert response.status_code == 422 and "Control characters" in text(response)
    db.session.expire_all()
    assert db.session.get(type(invoice), invoice.id).number == "FA-001"


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own (so it can be stopped and started again), and Huey queued into it."""
    import shutil
    import subprocess
    import time

    import redis
    from huey.storage import RedisStorage

    from relance import tasks
    from tests.smtp import free_port

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed") if not os.environ.get("CI") else pytest.fail("no redis-server")
    port = free_port()

    class Server:
        proc = None

        def start(self):
            self.proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                          "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
            for _ in range(100):
                try:
                    redis.Redis(port=port).ping()
                    return
                except redis.ConnectionError:
                    time.sleep(0.05)
            raise RuntimeError("redis-server did not start")

        def stop(self):
            self.proc.terminate()
            self.proc.wait(timeout=10)

    server = Server()
    server.start()
    immediate, storage = tasks.huey.immediate, tasks.huey.storage
    tasks.huey.immediate = False
    tasks.huey.storage = RedisStorage("relance-test", url=f"redis://127.0.0.1:{port}/0")
    try:
        yield server
    finally:
        tasks.huey.storage = storage
        tasks.huey.immediate = immediate
        if server.proc.poll() is None:
            server.stop()


def test_queue_down_when_a_run_starts_saves_nothing_and_says_so(client, auth, data, own_redis):
    """Redis stopped while an agent starts a mass run: nothing committed (no run, no reminder, the selection
    kept), the agent told; Redis back: the same selection starts, its task is in the queue."""
    from relance import tasks

    auth.login("agent")
    a = data["invoices"][9]
    client.post(f"/reminders/mass/rows/{a.id}", headers=HX, data={f"level-{a.id}": "1", f"email-{a.id}": "1"})
    own_redis.stop()
    response = client.post("/reminders/mass/run", data={"token": "queue-down"})
    assert response.status_code == 503
    assert "queue cannot be reached: nothing was sent and nothing was saved" in text(response)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Run)) == 0
    assert db.session.scalar(select(func.count()).select_from(Reminder).where(Reminder.invoice_id == a.id)) == 0
    assert selection() == {a.id: (1, False, True)}
    own_redis.start()
    response = client.post("/reminders/mass/run", data={"token": "queue-back"})
    assert response.status_code == 303
    run = db.session.scalar(select(Run))
    assert response.headers["Location"].endswith(f"/reminders/runs/{run.id}")
    assert run.status == "queued" and run.selection["items"] == [[a.id, 1, "email", ""]] and selection() == {}
    assert tasks.huey.pending_count() == 1  # the worker's task is queued


def test_a_customer_on_another_policy_gets_its_policys_levels_on_the_page_and_in_the_run(client, auth, data, smtp):
    from relance.models import Policy

    short = Policy(name="Short")
    for rank, delay in ((1, "+3 days"), (3, "+5 days")):
        db.session.add(ReminderLevel(policy=short, rank=rank, names={"en": f"Short {rank}", "fr": f"Court {rank}"},
                                     delay=delay, channels="email"))
    db.session.flush()
    from relance.services.texts.wording import install_default_texts

    install_default_texts(db.session)
    data["nomail"].policy_id = short.id
    data["nomail"].email = "ap@sans-email.example"
    db.session.commit()
    auth.login("agent")
    lonely = data["lonely"]  # 5 days late: not due on the default policy (+15 days), due on the short one (+3)
    row = row_of(text(client.get("/reminders/mass?q=FA-NOMAIL")), lonely)
    assert '<option value="1" selected>1 · Short 1</option>' in row and '<option value="3">3 · Short 3</option>' in row
    assert 'value="2"' not in row  # the short policy has no level 2
    response = client.post(f"/reminders/mass/rows/{lonely.id}", headers=HX,
                           data={f"level-{lonely.id}": "2", f"email-{lonely.id}": "1"})
    assert response.status_code == 422 and "Level 2 does not exist." in text(response)
    client.post(f"/reminders/mass/rows/{lonely.id}", headers=HX,
                data={f"level-{lonely.id}": "1", f"email-{lonely.id}": "1"})
    client.post("/reminders/mass/run", data={}, headers=HX)
    [made] = db.session.scalars(select(Reminder).where(Reminder.invoice_id == lonely.id)).all()
    assert made.status == "sent" and made.level_ref.policy_id == short.id and made.level_names["en"] == "Short 1"
