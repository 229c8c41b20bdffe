"""Big imports: a file larger than IMPORT_BACKGROUND_BYTES is checked by the worker while its page shows the
progress; the file is read and checked once (the confirmation applies the plan kept by the check) unless the rows
the plan relies on changed since; a row cap; the progress and the plan belong to their uploader."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from relance import tasks
from relance.extensions import db
from relance.models import Customer, Payment, User
from relance.services.data_in import reading, staging
from tests.factories import make_customer, make_invoice, make_payment

EN = {"Accept-Language": "en"}
HTMX = {"Accept-Language": "en", "HX-Request": "true"}


def customers_csv(count: int, start: int = 0) -> bytes:
    lines = ["code;name;city"] + [f"C{i:06d};Customer {i};Paris" for i in range(start, start + count)]
    return ("\n".join(lines) + "\n").encode()


def upload(client, kind: str, content: bytes, name: str = "big.csv"):
    return client.post("/imports/", data={"kind": kind, "file": (io.BytesIO(content), name)}, headers=EN)


def confirm(client, kind: str, token: str):
    return client.post("/imports/confirm", data={"kind": kind, "token": token}, headers=EN)


def customer_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Customer))


def pending_files(app) -> list[Path]:
    folder = Path(app.instance_path) / "imports"
    return sorted(folder.iterdir()) if folder.exists() else []


def token_of(response) -> str:
    match = re.search(r"/imports/pending/([A-Za-z0-9_-]+)$", response.headers["Location"])
    assert match, response.headers.get("Location")
    return match.group(1)


def hidden_token(html: str) -> str:
    return re.search(r'name="token" type="hidden" value="([^"]+)"', html).group(1)


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """Every reading of a file: a wrapper around reading.plan_csv (and plan_records, where each cell is read)."""
    calls: list[str] = []
    plan_csv, plan_records = reading.plan_csv, reading.plan_records

    def counted_plan_csv(*args, **kwargs):
        calls.append("plan_csv")
        return plan_csv(*args, **kwargs)

    def counted_plan_records(*args, **kwargs):
        calls.append("plan_records")
        return plan_records(*args, **kwargs)

    monkeypatch.setattr(reading, "plan_csv", counted_plan_csv)
    monkeypatch.setattr(reading, "plan_records", counted_plan_records)
    return calls


@pytest.fixture
def background(app):
    """Every upload of more than 10 bytes is checked by the worker (the tests' Huey runs it at once)."""
    app.config["IMPORT_BACKGROUND_BYTES"] = 10
    return app


@pytest.mark.slow
def test_100000_customers_checked_in_the_background_and_read_once(app, client, auth, parses):
    auth.login("agent")
    data = customers_csv(100_000)
    assert len(data) > app.config["IMPORT_BACKGROUND_BYTES"]
    started = time.monotonic()
    response = upload(client, "customers", data)
    # the request answers with the check's page (the worker checks the file: in the tests' immediate mode, inline)
    assert response.status_code == 303
    token = token_of(response)
    status = client.get(f"/imports/pending/{token}/status", headers=HTMX)
    assert status.status_code == 200
    html = status.get_data(as_text=True)
    assert 'data-state="done"' in html and "100,000 to create, 0 to update, 0 unchanged" in html
    assert "hx-trigger" not in html  # finished: no more polling; htmx goes to the page
    assert status.headers["HX-Redirect"] == f"/imports/pending/{token}"
    meta = json.loads((Path(app.instance_path) / "imports" / f"{token}.json").read_text())
    assert (meta["state"], meta["read"], meta["total"]) == ("done", 100_000, 100_000)
    page = client.get(f"/imports/pending/{token}", headers=EN)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(r"<strong>100000</strong> to create", html) and "Only the first 200 rows are shown." in html
    assert hidden_token(html) == token and customer_count() == 0
    assert parses == ["plan_csv", "plan_records"]
    response = confirm(client, "customers", token)
    assert response.status_code == 303
    assert parses == ["plan_csv", "plan_records"], "the confirmation read the file again"
    assert customer_count() == 100_000 and pending_files(app) == []
    done = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Import done: 100000 created, 0 updated, 0 unchanged." in done
    print(f"100,000 customers: preview + confirm in {time.monotonic() - started:.1f} s")


def test_the_upload_answers_before_the_check_and_the_page_follows_it(app, client, auth, background, parses,
                                                                     monkeypatch):
    """With a real worker the request only stages the file and queues its check: the page polls the progress."""
    auth.login("agent")
    check_import, queued = tasks.check_import, []
    monkeypatch.setattr(tasks, "check_import", queued.append)  # a queue whose worker has not started yet
    response = upload(client, "customers", customers_csv(300))
    assert response.status_code == 303 and parses == []
    token = token_of(response)
    assert queued == [token]
    page = client.get(f"/imports/pending/{token}", headers=EN)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Refresh"] == "2"
    assert "Waiting for the background worker…" in html and "Confirm the import" not in html
    assert f'hx-get="/imports/pending/{token}/status" hx-trigger="every 1s" hx-swap="outerHTML"' in html
    fragment = client.get(f"/imports/pending/{token}/status", headers=HTMX)
    assert fragment.status_code == 200 and "HX-Redirect" not in fragment.headers
    assert "<html" not in fragment.get_data(as_text=True) and 'data-state="queued"' in fragment.get_data(as_text=True)
    # the worker takes it
    check_import(token)
    assert parses == ["plan_csv", "plan_records"]
    fragment = client.get(f"/imports/pending/{token}/status", headers=HTMX)
    assert "300 to create, 0 to update, 0 unchanged" in fragment.get_data(as_text=True)
    page = client.get(f"/imports/pending/{token}", headers=EN)
    assert "Refresh" not in page.headers and hidden_token(page.get_data(as_text=True)) == token
    assert confirm(client, "customers", token).status_code == 303
    assert parses == ["plan_csv", "plan_records"] and customer_count() == 300


def test_a_status_fragment_answers_while_the_check_runs(app, client, auth):
    """A check in progress, as the worker writes it (no task run): the fragment shows rows read / total."""
    auth.login("agent")
    user_id = db.session.scalar(select(User.id).where(User.email == "agent@test.example"))
    folder = staging.folder(app.instance_path)
    pending = staging.stage(folder, customers_csv(1000), kind="customers", filename="clients.csv", size=0,
                            user_id=user_id)
    pending.meta.update(state="checking", read=500, total=1000, beat=time.time())
    staging._save_meta(pending)
    response = client.get(f"/imports/pending/{pending.token}/status", headers=HTMX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-state="checking"' in html and '<progress max="1000" value="500"' in html
    assert "500 / 1,000 rows read" in html and "Checking the rows…" in html and 'hx-trigger="every 1s"' in html
    page = client.get(f"/imports/pending/{pending.token}", headers=EN)
    assert page.status_code == 200 and "500 / 1,000 rows read" in page.get_data(as_text=True)
    # a worker that stopped writing (killed) is not a spinner forever
    pending.meta.update(beat=time.time() - staging.STALE_SECONDS - 5)
    staging._save_meta(pending)
    html = client.get(f"/imports/pending/{pending.token}/status", headers=HTMX).get_data(as_text=True)
    assert "The check stopped before its end" in html and "hx-trigger" not in html
    # a check still queued after a while says the worker may be down, and keeps polling
    pending.meta.update(state="queued", read=0, total=0, beat=time.time() - staging.SLOW_QUEUE_SECONDS - 5)
    staging._save_meta(pending)
    html = client.get(f"/imports/pending/{pending.token}/status", headers=HTMX).get_data(as_text=True)
    assert "is the worker running?" in html and 'hx-trigger="every 1s"' in html
    # past PENDING_HOURS it has expired
    pending.meta.update(at=time.time() - staging.PENDING_HOURS * 3600 - 5)
    staging._save_meta(pending)
    response = client.get(f"/imports/pending/{pending.token}/status", headers=HTMX)
    assert response.status_code == 404 and "This preview has expired" in response.get_data(as_text=True)
    response = client.get(f"/imports/pending/{pending.token}", headers=EN)
    assert response.status_code == 303


def test_a_failed_check_says_so(app, client, auth, background, monkeypatch):
    auth.login("agent")

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(reading, "plan_csv", broken)
    response = upload(client, "customers", customers_csv(50))
    token = token_of(response)
    fragment = client.get(f"/imports/pending/{token}/status", headers=HTMX)
    html = fragment.get_data(as_text=True)
    assert 'data-state="failed"' in html and "The file could not be checked because of an unexpected error" in html
    assert "hx-trigger" not in html
    page = client.get(f"/imports/pending/{token}", headers=EN)
    assert page.status_code == 422 and "The check of the file failed" in page.get_data(as_text=True)
    assert "Refresh" not in page.headers
    assert [f.suffix for f in pending_files(app)] == [".json"]  # the data is not kept
    assert confirm(client, "customers", token).status_code == 303 and customer_count() == 0


def test_the_queue_down_keeps_nothing(app, client, auth, background, monkeypatch):
    auth.login("agent")

    def down(token):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks, "check_import", down)
    response = upload(client, "customers", customers_csv(50))
    assert response.status_code == 303 and response.headers["Location"].endswith("/imports/")
    page = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "The background worker&#39;s queue cannot be reached" in page
    assert pending_files(app) == []


@pytest.mark.parametrize("in_background", [False, True])
def test_the_data_changed_between_preview_and_confirmation(app, client, auth, parses, in_background):
    if in_background:
        app.config["IMPORT_BACKGROUND_BYTES"] = 10
    auth.login("agent")
    make_customer("C000099", name="Elsewhere")  # not in the file
    make_customer("C000001", name="Old name")
    db.session.commit()
    response = upload(client, "customers", customers_csv(5))
    if in_background:
        token = token_of(response)
        response = client.get(response.headers["Location"], headers=EN)
    html = response.get_data(as_text=True)
    token = hidden_token(html)
    assert re.search(r"<strong>4</strong> to create", html) and re.search(r"<strong>1</strong> to update", html)
    # a change elsewhere does not matter: the rows the plan relies on are the file's keys
    db.session.scalar(select(Customer).where(Customer.code == "C000099")).name = "Renamed"
    db.session.commit()
    # one of the file's customers is created meanwhile: the file is checked again, for a new preview
    make_customer("C000003", name="Made meanwhile")
    db.session.commit()
    response = confirm(client, "customers", token)
    assert customer_count() == 3 and parses.count("plan_csv") == 2
    if in_background:
        assert response.status_code == 303 and token_of(response) == token
        response = client.get(response.headers["Location"], headers=EN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "The data changed since the preview: the file was checked again." in html
    assert re.search(r"<strong>3</strong> to create", html) and re.search(r"<strong>2</strong> to update", html)
    # confirmed again: applied as checked, without a third reading
    response = confirm(client, "customers", hidden_token(html))
    assert response.status_code == 303 and parses.count("plan_csv") == 2
    assert customer_count() == 6 and pending_files(app) == []
    db.session.expire_all()
    assert db.session.scalar(select(Customer.name).where(Customer.code == "C000003")) == "Customer 3"


def test_a_payment_recorded_meanwhile_is_not_recorded_twice(app, client, auth, background, parses):
    auth.login("agent")
    invoice = make_invoice(make_customer("C1"), number="F1", total="1200.00")
    db.session.commit()
    content = b"invoice_number;date;amount;reference\nF1;01/02/2026;100,00;VIR 1\nF1;02/02/2026;200,00;VIR 2\n"
    response = client.get(upload(client, "payments", content).headers["Location"], headers=EN)
    token = hidden_token(response.get_data(as_text=True))
    make_payment(invoice, "100.00", date(2026, 2, 1)).reference = "VIR 1"  # entered by hand meanwhile
    db.session.commit()
    response = client.get(confirm(client, "payments", token).headers["Location"], headers=EN)
    html = response.get_data(as_text=True)
    assert "The data changed since the preview" in html
    assert re.search(r"<strong>1</strong> to create", html) and re.search(r"<strong>1</strong> unchanged", html)
    assert confirm(client, "payments", hidden_token(html)).status_code == 303
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Payment.reference))) == ["VIR 1", "VIR 2"]


def test_a_failed_write_gives_the_plan_back(app, client, auth, monkeypatch):
    auth.login("agent")
    token = hidden_token(upload(client, "customers", customers_csv(3)).get_data(as_text=True))

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(staging, "apply_plan", broken)
    with pytest.raises(RuntimeError):
        confirm(client, "customers", token)
    monkeypatch.undo()
    assert customer_count() == 0
    assert confirm(client, "customers", token).status_code == 303 and customer_count() == 3


@pytest.mark.parametrize("in_background", [False, True])
def test_more_rows_than_the_cap_are_refused(app, client, auth, in_background):
    app.config["IMPORT_MAX_ROWS"] = 1000
    if in_background:
        app.config["IMPORT_BACKGROUND_BYTES"] = 10
    auth.login("agent")
    response = upload(client, "customers", customers_csv(1001))
    if in_background:
        response = client.get(response.headers["Location"], headers=EN)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The file has 1,001 rows; the limit is 1,000 rows per import. Split it into several files." in html
    assert "Confirm the import" not in html and customer_count() == 0
    assert [f.suffix for f in pending_files(app)] == ([".json", ".plan"] if in_background else [])
    if in_background:  # the message is in the reader's language, numbers too
        french = client.get(response.request.path, headers={"Accept-Language": "fr"}).get_data(as_text=True)
        assert "1\u202f001" in french and "1\u202f000" in french
    response = upload(client, "customers", customers_csv(1000))  # at the limit: accepted
    assert response.status_code in (200, 303) and customer_count() == 0


def test_only_the_uploader_sees_the_check_and_its_plan(app, client, auth, background):
    auth.login("agent")
    response = upload(client, "customers", customers_csv(20))
    token = token_of(response)
    assert "20 to create" in client.get(f"/imports/pending/{token}/status", headers=HTMX).get_data(as_text=True)
    auth.logout()
    auth.login("agent", email="other@test.example")
    response = client.get(f"/imports/pending/{token}/status", headers=HTMX)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "This preview has expired" in html and "to create" not in html and "hx-trigger" not in html
    response = client.get(f"/imports/pending/{token}", headers=EN)
    assert response.status_code == 303
    page = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "This preview has expired" in page and "C000001" not in page
    assert confirm(client, "customers", token).status_code == 303 and customer_count() == 0
    client.post("/imports/cancel", data={"kind": "customers", "token": token})
    assert len(pending_files(app)) == 3  # someone else's cancel forgets nothing
    for bad in ("../../secret_key", "x" * 30):
        assert client.get(f"/imports/pending/{bad}/status", headers=HTMX).status_code == 404
    auth.logout()
    auth.login("viewer")
    assert client.get(f"/imports/pending/{token}/status").status_code == 403
    auth.logout()
    auth.login("agent")
    assert confirm(client, "customers", token).status_code == 303 and customer_count() == 20


@pytest.mark.browser
def test_the_progress_page_follows_the_check_in_chromium(live_server, page, tmp_path, monkeypatch):
    """htmx polls the status fragment (no inline script: the CSP holds) and goes to the preview once checked."""
    live_server.app.config["IMPORT_BACKGROUND_BYTES"] = 10
    queued: list[str] = []
    monkeypatch.setattr(tasks, "check_import", queued.append)  # the worker takes it later
    live_server.login(page, "agent")
    page.goto(live_server.url + "/imports/")
    page.select_option("select[name=kind]", "customers")
    big = tmp_path / "clients.csv"
    big.write_bytes(customers_csv(2000))
    page.set_input_files("input[type=file]", str(big))
    page.click("form.import-upload button[type=submit]")
    page.wait_for_selector("#import-status[data-state=queued]")
    assert "/imports/pending/" in page.url and len(queued) == 1
    with live_server.app.app_context():
        staging.prepare(db.session, staging.folder(live_server.app.instance_path), queued[0], date.today(),
                        max_rows=200_000)
        db.session.remove()
    page.wait_for_selector("form[action$='/imports/confirm'] button[type=submit]")
    assert "2000" in page.locator(".import-summary").inner_text()
    page.click("form[action$='/imports/confirm'] button[type=submit]")
    page.wait_for_selector(".flash-success")
    with live_server.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 2000
