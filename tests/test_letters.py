"""Letters read back with pypdf: text, amounts per language, address in the envelope window, page counts,
the streamed mass PDF (every letter on an odd page) and a run with its progress."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from weasyprint import HTML

from relance import tasks
from relance.extensions import db
from relance.models import Payment, Reminder, ReminderLevel, Run
from relance.services import settings as settings_service
from relance.services.letters import content, printing
from relance.services.letters.sheet import plain_sheet
from relance.services.sending import dunning
from relance.services.texts.formatting import format_money
from tests.factories import install_live_defaults, make_customer, make_invoice, make_user
from tests.smtp import smtp_certificate, smtp_factory, smtp_server  # noqa: F401

ON = date(2026, 3, 3)
MM = 72 / 25.4
LONG_STREET = "40 avenue du Général Maréchal de Lattre T"  # 41 characters


@pytest.fixture
def levels(app):
    install_live_defaults(db.session)
    settings_service.save(db.session, {
        "company_name": "Atelier Durand SAS", "company_address": "18 rue des Lilas", "company_postcode": "75011",
        "company_city": "Paris", "company_iban": "FR76 3000 6000 0112 3456 7890 189", "company_bic": "AGRIFRPP",
        "sender_email": "compta@atelier-durand.example",
        "payment_url_pattern": "https://pay.atelier-durand.example/{number}",
        "company_legal": "SAS au capital de 50 000 € — RCS Paris 123 456 789",
    })
    db.session.commit()
    return {level.rank: level for level in db.session.scalars(select(ReminderLevel))}


def letter_for(levels, rank=1, language="fr", street="12 rue de la République", extra_invoices=0, country=None,
               **kw):
    customer = make_customer(name=kw.pop("name", "Garage Dubois"), address=street, postcode="69002", city="Lyon",
                             language=language, country=country or ("FR" if language == "fr" else "GB"), **kw)
    invoice = make_invoice(customer, total="1200.00", due=date(2026, 1, 15),
                           currency="EUR" if language == "fr" else "GBP")
    for n in range(extra_invoices):
        make_invoice(customer, total=Decimal("100.50") + n, due=date(2025, 12, 1 + n % 28))
    user = make_user(signature="Claire Agent\nService comptabilité")
    # a higher level on its own (the levels below never sent) needs a person's "send anyway"
    reminder = dunning.create_reminder(db.session, invoice, levels[rank], "letter", ON, user=user,
                                       override="Layout test" if rank > 1 else "")
    db.session.commit()
    return reminder


def norm(text: str) -> str:
    """No-break spaces as spaces (the PDF's text layer maps them to the font's space glyph)."""
    return text.replace("\u202f", " ").replace("\xa0", " ")


def pdf_of(app, reminder) -> PdfReader:
    db.session.refresh(reminder)
    assert reminder.status == "to_post", reminder.error  # made and printed: posted when a person says so
    return PdfReader(Path(app.config["FILES_PATH"]) / reminder.pdf_path)


def text_positions(page) -> list[tuple[str, float, float]]:
    """(text, x mm from the left, y mm from the top) of every text run on the page."""
    height = float(page.mediabox.height)
    runs = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            runs.append((text.strip(), x / MM, (height - y) / MM))

    page.extract_text(visitor_text=visit)
    return runs


def test_french_first_reminder(app, levels):
    reminder = letter_for(levels)
    dunning.send([reminder.id])
    reader = pdf_of(app, reminder)
    invoice = reminder.invoice
    letter_text = norm(reader.pages[0].extract_text())
    assert len(reader.pages) == 2  # one-page letter + the invoice
    assert "Garage Dubois" in letter_text and "12 rue de la République" in letter_text and "69002 Lyon" in letter_text
    assert invoice.number in letter_text and "3 mars 2026" in letter_text
    assert norm(format_money(Decimal("1200.00"), "EUR", "fr")) == "1 200,00 €"
    assert "1 200,00 €" in letter_text and norm(format_money(reminder.total_claimed, "EUR", "fr")) in letter_text
    assert "FR76 3000 6000 0112 3456 7890 189" in letter_text
    assert f"https://pay.atelier-durand.example/{invoice.number}" in letter_text.replace("\n", "")
    assert "1 / 1" in letter_text  # "page n / N" on every page, one-page letters too
    assert invoice.number in reader.pages[1].extract_text()  # the invoice follows


def test_english_letter_amounts(app, levels):
    reminder = letter_for(levels, language="en", name="Harper & Sons Ltd", street="14 King Street")
    dunning.send([reminder.id])
    text = norm(pdf_of(app, reminder).pages[0].extract_text())
    # a customer in the United Kingdom reads British formats: 3 March 2026; short dates with the month's name
    assert "£1,200.00" in text and "3 March 2026" in text and "UNITED KINGDOM" in text
    assert "15 Jan 2026" in text and "1/15/26" not in text and "15 January 2026" in reminder.body
    assert format_money(reminder.total_claimed, "GBP", "en_GB") in text


def test_english_letter_to_a_us_customer_uses_us_formats(app, levels):
    reminder = letter_for(levels, language="en", name="Acme Corp", street="1 Main Street", country="US")
    assert "January 15, 2026" in reminder.body  # the text's variables too
    dunning.send([reminder.id])
    text = norm(pdf_of(app, reminder).pages[0].extract_text())
    assert "March 3, 2026" in text and "15 Jan 2026" in text and "1/15/26" not in text  # never misread


def test_formal_notice_long_address_and_thirty_invoices(app, levels):
    reminder = letter_for(levels, rank=3, street=LONG_STREET, extra_invoices=30)
    dunning.send([reminder.id])
    reader = pdf_of(app, reminder)
    first = reader.pages[0].extract_text()
    assert "MISE EN DEMEURE" in first
    all_text = "".join(p.extract_text() for p in reader.pages)
    numbers = [i.number for i in reminder.invoice.customer.invoices]
    assert len(numbers) == 31 and all(n in all_text for n in numbers)
    # the letter runs over several pages, numbered "n / total"; then the invoice page
    letter_pages = len(reader.pages) - 1
    assert letter_pages >= 2 and f"1 / {letter_pages}" in first
    # the address block sits in the window of a DL envelope: from 110 mm, between 45 and 95 mm from the top
    runs = text_positions(reader.pages[0])
    address = [r for r in runs if r[0].startswith(("Garage Dubois", "40 avenue", "69002"))]
    assert len(address) >= 3
    for _text, x, y in address:
        assert 108 <= x <= 200 and 45 <= y <= 92, (_text, x, y)
    assert all(x + 0.0 < 200 for _t, x, _y in runs)  # nothing starts past the right margin


def test_copy_setting_off(app, levels):
    settings_service.save(db.session, {"save_letter_copy": False})
    db.session.commit()
    reminder = letter_for(levels)
    dunning.send([reminder.id])
    db.session.refresh(reminder)
    assert reminder.status == "to_post" and reminder.pdf_path is None
    pdf = content.letter_pdf(db.session, reminder)  # built again from the row
    assert reminder.invoice.number in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_copy_setting_off_the_history_still_offers_the_letter(app, client, auth, levels):
    settings_service.save(db.session, {"save_letter_copy": False})
    db.session.commit()
    reminder = letter_for(levels)
    dunning.send([reminder.id])
    auth.login("viewer")
    history = client.get(f"/invoices/{reminder.invoice_id}/reminders").get_data(as_text=True)
    assert f"/reminders/{reminder.id}/letter.pdf" in history
    response = client.get(f"/reminders/{reminder.id}/letter.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert reminder.invoice.number in text


def pdf_pages(count: int, label: str) -> bytes:
    html = "".join(f'<p style="page-break-after: always">{label} page {n + 1}</p>' for n in range(count))
    return HTML(string=html).write_pdf()


def test_streaming_pdf_starts_every_document_on_an_odd_page(tmp_path):
    docs = [pdf_pages(1, "A"), pdf_pages(2, "B"), pdf_pages(3, "C"), pdf_pages(1, "D")]
    with printing.StreamingPdf(tmp_path / "all.pdf") as out:
        counts = [out.add(doc) for doc in docs]
    assert counts == [1, 2, 3, 1] and out.page_count == 2 + 2 + 4 + 2
    reader = PdfReader(tmp_path / "all.pdf")
    texts = [page.extract_text().strip() for page in reader.pages]
    assert texts == ["A page 1", "", "B page 1", "B page 2", "C page 1", "C page 2", "C page 3", "", "D page 1", ""]
    assert all(float(p.mediabox.width) == pytest.approx(595.28, abs=0.5) for p in reader.pages)


def test_process_pool_keeps_the_order(app, levels):
    jobs = [printing.LetterJob(n, plain_sheet(f"Letter {n}"), pdf_pages(1, f"Invoice {n}"))
            for n in range(5)]
    results = list(printing.render_many(jobs, processes=2))
    assert [key for key, _pdf, _error in results] == list(range(5))
    for key, pdf, error in results:
        reader = PdfReader(io.BytesIO(pdf.data))
        assert not error and len(reader.pages) == 2
        assert f"Letter {key}" in reader.pages[0].extract_text()
        assert f"Invoice {key}" in reader.pages[1].extract_text()


def test_letter_workers_come_from_a_fork_server_never_from_the_threaded_caller():
    """A fork of a threaded consumer can inherit a lock held by another thread (fontconfig) and hang."""
    context = printing._pool_context()
    assert context.get_start_method() == "forkserver"


def test_mass_run_task(app, levels, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    user = make_user(role="agent")
    run = Run(kind="mass", run_date=ON, user=user)
    db.session.add(run)
    db.session.flush()
    made = []
    for n, (channel, extra) in enumerate([("letter", 0), ("letter", 30), ("email", 0), ("letter", 0)]):
        customer = make_customer(name=f"Client {n}", email=f"c{n}@customer.example")
        invoice = make_invoice(customer, total="500.00", due=date(2026, 1, 10))
        for k in range(extra):
            make_invoice(customer, total="10.00", due=date(2025, 12, 1 + k % 28))
        reminder = dunning.create_reminder(db.session, invoice, levels[1], channel, ON, user=user)
        reminder.run_id = run.id
        made.append(reminder)
    db.session.commit()

    result = tasks.send_mass_run(run.id).get()
    assert result == {"sent": 4, "failed": 0, "retry": 0, "skipped": 0}
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert (run.status, run.total, run.done, run.sent, run.failed) == ("done", 4, 4, 4, 0)
    assert len(smtp_server.received) == 1
    merged = PdfReader(Path(app.config["FILES_PATH"]) / run.letters_pdf_path)
    expected = 0
    starts = []
    for reminder in made:
        if reminder.channel != "letter":
            continue
        pages = len(PdfReader(Path(app.config["FILES_PATH"]) / reminder.pdf_path).pages)
        starts.append(expected)
        expected += pages + pages % 2
    assert len(merged.pages) == expected
    for start, reminder in zip(starts, [r for r in made if r.channel == "letter"], strict=True):
        assert start % 2 == 0 and reminder.invoice.customer.name in norm(merged.pages[start].extract_text())


def test_a_run_of_letters_reads_what_they_need_at_once_and_writes_each_outcome_alone(app, levels):
    """What the letters read (invoice, customer and contacts, payments, answers, user, level) is read for all of them
    at once, not letter by letter: four letters cost the statements of two, plus one UPDATE of the claim, one of the
    outcome and one of the run's counters per letter (each outcome its own transaction); the counters, the saved
    copies and the outcomes are in the database."""
    from sqlalchemy import event

    def run_of(count: int) -> tuple[Run, dict[str, int]]:
        run = Run(kind="mass", run_date=ON)
        db.session.add(run)
        db.session.flush()
        for n in range(count):
            reminder = letter_for(levels, name=f"Client {count}-{n}", extra_invoices=n % 2)
            db.session.add(Payment(invoice_id=reminder.invoice_id, date=date(2026, 2, 1), amount=Decimal("100.00")))
            reminder.run_id = run.id
        db.session.commit()
        seen: dict[str, int] = {}

        def count_statement(conn, cursor, statement, *args):
            kind = statement.split()[0].upper()
            seen[kind] = seen.get(kind, 0) + 1

        event.listen(db.engine, "before_cursor_execute", count_statement)
        try:
            dunning.send_run(run.id, dunning.SendingConfig.from_config(app.config), processes=1)
        finally:
            event.remove(db.engine, "before_cursor_execute", count_statement)
        return run, seen

    _, two = run_of(2)
    run, four = run_of(4)
    assert four.get("SELECT") == two.get("SELECT")
    assert four["UPDATE"] - two["UPDATE"] == 2 * 3
    db.session.expire_all()
    run = db.session.get_one(Run, run.id)
    assert (run.status, run.done, run.sent, run.failed) == ("done", 4, 4, 0)
    letters = db.session.scalars(select(Reminder).where(Reminder.run_id == run.id)).all()
    assert all(r.status == "to_post" and r.pdf_path and not r.claimed_by for r in letters)


def test_send_task_schedules_the_retry(app, levels, smtp_server):  # noqa: F811
    smtp_server.configure(app)
    smtp_server.handler.answers = ["421 4.7.0 Try again later"]
    customer = make_customer(email="client@customer.example")
    invoice = make_invoice(customer, due=date(2026, 1, 10))
    reminder = dunning.create_reminder(db.session, invoice, levels[1], "email", ON)
    db.session.commit()
    tasks.huey.flush()  # the in-memory queue of immediate mode: nothing left by earlier tests
    before = len(tasks.huey.scheduled())
    assert tasks.send_reminders([reminder.id]).get() == {"sent": 0, "failed": 0, "retry": 1, "skipped": 0}
    scheduled = tasks.huey.scheduled()  # in order of their time: earlier tests may have left later ones
    ours = [task for task in scheduled if task.args == ([reminder.id],)]
    assert len(scheduled) == before + 1 and len(ours) == 1
    # the retry, run now, sends it once
    assert tasks.send_reminders(*ours[0].args).get()["sent"] == 1
    assert len(smtp_server.received) == 1
    assert db.session.get(Reminder, reminder.id).status == "sent"


def test_a_letter_is_read_once_and_an_invoice_once_for_all_the_letters_that_enclose_it(monkeypatch, tmp_path):
    """The saved copy and the run's merged PDF are written from the same parts: no PDF is read twice, and the
    copy's pages are the merged document's."""
    printing.cached_part.cache_clear()
    reads = []
    real = printing.read_part
    monkeypatch.setattr(printing, "read_part", lambda pdf: reads.append(pdf) or real(pdf))
    invoice = pdf_pages(1, "Invoice")
    letters = [printing.build_job(printing.LetterJob(n, plain_sheet(f"Letter {n}"), bytes(invoice)))[1]
               for n in range(3)]
    assert len(reads) == 3 + 1  # each letter, the invoice once
    with printing.StreamingPdf(tmp_path / "run.pdf") as merged:
        for letter in letters:
            assert merged.add(letter) == 2
    assert len(reads) == 4
    run = [page.extract_text().strip() for page in PdfReader(tmp_path / "run.pdf").pages]
    copies = [page.extract_text().strip() for letter in letters for page in PdfReader(io.BytesIO(letter.data)).pages]
    assert run == copies
    assert [text.split("\n")[0] for text in run] == ["Letter 0", "Invoice page 1", "Letter 1", "Invoice page 1",
                                                      "Letter 2", "Invoice page 1"]


def test_the_letter_workers_are_kept_for_the_next_call_and_a_broken_pool_is_replaced():
    """The automatic run prints its letters in chunks and a worker process makes run after run: the same warm
    workers serve every call; one killed, that call fails and the next one gets new workers."""
    import os
    import signal
    from concurrent.futures.process import BrokenProcessPool

    pool = printing.letter_pool(2)
    assert printing.letter_pool(2) is pool
    jobs = [printing.LetterJob(n, plain_sheet(f"Letter {n}")) for n in range(3)]
    assert [key for key, _pdf, _error in printing.render_many(jobs, processes=2)] == [0, 1, 2]
    assert printing.letter_pool(2) is pool
    os.kill(pool.submit(os.getpid).result(), signal.SIGKILL)
    with pytest.raises(BrokenProcessPool):
        list(printing.render_many(jobs * 4, processes=2))
    results = list(printing.render_many(jobs, processes=2))
    assert printing.letter_pool(2) is not pool and [key for key, pdf, _e in results if pdf] == [0, 1, 2]
