"""The link to the customer's page in the reminders: __CUSTOMER_PAGE_URL__ (one new link per customer per run,
opening their page), __PROMISE_DATE__, nothing without a public address, the letter printed from the kept text."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import CustomerLink, Reminder, ReminderLevel, Template
from relance.services import answers
from relance.services import settings as settings_service
from relance.services.letters import content, printing
from relance.services.sending import autorun
from tests.conftest import need_service
from tests.factories import install_live_defaults, make_customer, make_invoice

ON = date(2026, 2, 2)  # level 1 (+15 days) of invoices due on 15 January
PAGE_LINE = "Answer or download your invoices: __CUSTOMER_PAGE_URL__"
KEPT_LINK = re.compile(r"https?://[^\s<>\"']+?/c/[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def url_in(text: str) -> str | None:
    """The link to the customer's page a text carries (a reminder's body, an email), or None."""
    match = KEPT_LINK.search(text or "")
    return match.group(0) if match else None
pytestmark = pytest.mark.clock(datetime(2026, 2, 2, 11, tzinfo=UTC))


@pytest.fixture
def company(app):
    install_live_defaults(db.session)
    settings_service.save(db.session, {"company_name": "Atelier Durand", "sender_email": "compta@durand.example",
                                       "go_live_date": "2026-01-01", "auto_start_date": "2026-01-01"})
    level = db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == 1)).one()
    for template in db.session.scalars(select(Template).where(Template.level_id == level.id)):
        template.body = f"{template.body}\n\n{PAGE_LINE}\n\nPromised: __PROMISE_DATE__"
    acme = make_customer("ACME", email="compta@acme.example", address="1 rue A", postcode="69001", city="Lyon")
    first = make_invoice(acme, number="FA-1", due=date(2026, 1, 15))
    make_invoice(acme, number="FA-2", due=date(2026, 1, 15))
    make_invoice(make_customer("BETA", email="compta@beta.example"), number="FB-1", due=date(2026, 1, 15))
    db.session.commit()
    return {"acme": acme, "first": first}


def test_a_run_gives_each_customer_one_link_to_their_page(app, client, company):
    app.config["PUBLIC_URL"] = "https://relance.durand.example"
    run = autorun.run_auto(db.session, ON, send=False)
    bodies = {r.invoice.number: r.body for r in db.session.scalars(select(Reminder).where(Reminder.run_id == run.id))}
    links = {number: url_in(body) for number, body in bodies.items()}
    assert all(link and link.startswith("https://relance.durand.example/c/") for link in links.values())
    # the default email's own paragraph carries it (and the line added here)
    assert all(body.count(link) == 2 and f"facture\u00a0: {link}" in body for body, link in
               ((bodies[number], links[number]) for number in bodies))
    assert links["FA-1"] == links["FA-2"] != links["FB-1"]  # one link per customer and run
    assert db.session.scalar(select(func.count(CustomerLink.id))) == 2
    page = client.get(links["FA-1"].removeprefix("https://relance.durand.example"))
    assert page.status_code == 200 and "FA-2" in page.get_data(as_text=True)
    assert "__PROMISE_DATE__" not in bodies["FA-1"]


def test_the_letter_prints_the_kept_text_and_its_link(app, company, tmp_path):
    app.config["PUBLIC_URL"] = "https://relance.durand.example"
    from relance.services.sending import dunning

    level = db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == 2)).one()
    for template in db.session.scalars(select(Template).where(Template.level_id == level.id)):
        template.body = f"{template.body}\n\n{PAGE_LINE}"
    db.session.commit()
    reminder = dunning.create_reminder(db.session, company["first"], level, "letter", ON, user=make_agent(),
                                       override="A letter at once")
    db.session.commit()
    link = url_in(reminder.body)
    assert link == reminder.page_url
    letter = content.letter_data(db.session, reminder)
    assert link and link in str(letter.body_html)
    assert 'class="invoices"' in str(letter.body_html)  # rendered again the same: the table is a real table
    pdf = printing.render_letter(letter)
    text = "".join("".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Vosfacturesenligne" in text  # the customer's language (fr)
    assert link.removeprefix("https://") in text
    assert scanned(pdf, tmp_path) == [link]  # the QR code, printed at 150 dpi, read by a real decoder


def scanned(pdf: bytes, folder) -> list[str]:
    """What a QR code reader finds on the letter's pages (poppler's pdftoppm, then zbar's zbarimg)."""
    need_service(shutil.which("pdftoppm"), "pdftoppm (poppler-utils)")
    need_service(shutil.which("zbarimg"), "zbarimg (apt-get install zbar-tools)")
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-", str(folder / "page")], input=pdf, check=True)
    pages = sorted(str(path) for path in folder.glob("page*.png"))
    found = subprocess.run(["zbarimg", "--raw", "-q", *pages], capture_output=True)
    return found.stdout.decode().split()


def test_a_promise_shows_its_date_and_no_public_address_means_no_link(app, company):
    settings = settings_service.load(db.session)
    answers.promise(db.session, company["first"], company["acme"].id, promise_date=date(2026, 2, 25), message="",
                    now=datetime(2026, 2, 1, 9), settings=settings)
    db.session.commit()
    from relance.services.sending import dunning

    level = db.session.scalars(select(ReminderLevel).where(ReminderLevel.rank == 1)).one()
    reminder = dunning.create_reminder(db.session, company["first"], level, "email", ON,
                                       override="The customer asked for a copy", user=make_agent())
    db.session.commit()
    assert "25 février 2026" in reminder.body.rsplit("Promised", 1)[1]
    assert "https://" not in reminder.body  # no public address: no link
    # and the paragraphs that hold it are left out whole: the default text's and the one added here
    assert "espace client" not in reminder.body and "Answer or download" not in reminder.body
    assert "\n\n\n" not in reminder.body and reminder.body.startswith("Madame, Monsieur,")
    assert db.session.scalar(select(func.count(CustomerLink.id))) == 0


def make_agent():
    from tests.factories import make_user

    return make_user(role="agent")
