"""The batch renderer (`wording.Renderer`, used by the runs) gives exactly what the one-invoice
`render_for_invoice` gives: subject, plain body, HTML, language, version, claim and reasons, byte for byte,
over the demo data for every level x channel x language (and the customer's own language), with and without a
link to the customer's page (its paragraph left out without one)."""

from datetime import date
from decimal import Decimal

from sqlalchemy import select, update

from relance.extensions import db
from relance.models import Invoice, Reminder, ReminderLevel, Template, User
from relance.services import settings as settings_service
from relance.services.demo import create_demo
from relance.services.texts import placeholders
from relance.services.texts.wording import Renderer, render_for_invoice

ON = date(2026, 3, 3)
EVERY_VARIABLE = " / ".join(placeholders.VARIABLES)
LINK = "https://relance.example/c/" + "a" * 43


def sample(invoices: list[Invoice], size: int) -> list[Invoice]:
    """Spread over the list, plus the unusual ones (another currency, a consumer, partly paid, not yet due)."""
    picked = {i.id: i for i in invoices[::max(1, len(invoices) // size)]}
    for test in (lambda i: i.currency != "EUR", lambda i: i.customer.kind == "consumer",
                 lambda i: 0 < i.amount_paid < i.total_incl_tax, lambda i: i.due_date >= ON,
                 lambda i: i.customer.country != "FR"):
        found = next((i for i in invoices if test(i)), None)
        if found is not None:
            picked[found.id] = found
    return list(picked.values())


def same(old, new) -> None:
    assert (old is None) == (new is None)
    if old is None:
        return
    assert new.subject == old.subject
    assert new.text == old.text
    assert str(new.html) == str(old.html)
    assert (new.language, new.template_version, new.claim, new.reasons, new.unknown) == \
        (old.language, old.template_version, old.claim, old.reasons, old.unknown)


def test_batch_rendering_equals_the_one_invoice_function_over_the_demo(app):
    create_demo(db.session, ON)
    levels = list(db.session.scalars(select(ReminderLevel).order_by(ReminderLevel.rank)))
    # penalties of both kinds, and one text with every variable (and an unknown name left as written)
    db.session.execute(update(ReminderLevel).where(ReminderLevel.rank == 1).values(penalty_kind="percent",
                                                                                   penalty_value=Decimal("7.5")))
    db.session.execute(update(ReminderLevel).where(ReminderLevel.rank == 2).values(penalty_kind="fixed",
                                                                                   penalty_value=Decimal("25")))
    db.session.execute(update(Template).where(Template.level_id == levels[1].id, Template.channel == "email")
                       .values(subject="__REF_FACTURE__ : __TOTAL_CLAIMED__ ! __X_UNKNOWN__",
                               body=f"Bonjour : « {EVERY_VARIABLE} » ?\n\n__INVOICES_TABLE__\n\nFin ; __X_UNKNOWN__"))
    db.session.commit()
    db.session.expire_all()
    levels = list(db.session.scalars(select(ReminderLevel).order_by(ReminderLevel.rank)))
    user = db.session.scalar(select(User).where(User.role == "agent"))
    invoices = list(db.session.scalars(select(Invoice).where(Invoice.due_date.is_not(None), Invoice.kind == "invoice",
                                                             Invoice.status == "validated").order_by(Invoice.id)))
    chosen = sample(invoices, 10)
    for invoice in chosen[:3]:  # a formal notice already made (it starts a consumer's interest)
        db.session.add(Reminder(key=f"notice-{invoice.id}", invoice_id=invoice.id, level=3, channel="letter",
                                reminder_date=date(2026, 2, 20), status="posted", formal_notice=True))
    db.session.commit()
    settings = settings_service.load(db.session)
    renderer = Renderer(db.session, ON, settings)
    renderer.prefetch(chosen)
    compared = 0
    for level in levels:
        for channel in ("email", "letter"):
            for language in ("fr", "en", None):
                for k, invoice in enumerate(chosen):
                    who = user if k % 2 else None
                    link = LINK if k % 3 else ""  # the default emails' paragraph about the page, kept or left out
                    old = render_for_invoice(db.session, invoice, level, channel, ON, settings, user=who,
                                             language=language, page_url=link)
                    same(old, renderer.render(invoice, level, channel, user=who, language=language, page_url=link))
                    compared += old is not None
                    shown = bool(link) and channel == "email"  # a letter prints it in a box of its own
                    assert old is None or (LINK in old.text) == shown == (LINK in old.html)
    assert compared >= 4 * 2 * 3 * 10
    # the whole book at one level, with a fresh renderer that reads as it goes (no prefetch)
    fresh = Renderer(db.session, ON, settings)
    for invoice in invoices:
        same(render_for_invoice(db.session, invoice, levels[2], "letter", ON, settings),
             fresh.render(invoice, levels[2], "letter"))


# texts whose paragraphs with the link go when it is empty: first, last, alone, two in a row, beside the table,
# blank lines of spaces, a text that ends with blank lines, a name that only looks like the link's
LINKED = [
    "Bonjour :\n\nVotre espace : __CUSTOMER_PAGE_URL__\n\nFin ; __CUSTOMER_NAME__",
    "__CUSTOMER_PAGE_URL__ !\n\n__INVOICES_TABLE__\n\nMerci",
    "Avant\n \t\n« __CUSTOMER_PAGE_URL__ »\nsur deux lignes\n\n__CUSTOMER_PAGE_URL__ (encore)",
    "__CUSTOMER_PAGE_URL__",
    "A ?\n\n__INVOICES_TABLE__\n\nLien : __CUSTOMER_PAGE_URL__ __REF_FACTURE__\n\n\n",
    "\n\nLien __CUSTOMER_PAGE_URL__\n\nB\n\n",
    "__X__CUSTOMER_PAGE_URL__ reste\n\n__NOPE__",
]


def test_resolve_gives_the_values_of_both_readings():
    from tests.test_engine_texts import context

    for language in ("fr", "en"):
        ctx = context(language)
        text, html = placeholders.resolve(ctx)
        assert text == placeholders.values(ctx)
        assert html == {k: str(v) for k, v in placeholders.values(ctx, html=True).items()}
        body = "Objet : __REF_FACTURE__ !\n\n__INVOICES_TABLE__\n\n« __CUSTOMER_NAME__ » __NOPE__"
        compiled = placeholders.compile_text(body, language)
        assert compiled.text(text) == placeholders.render_text(body, ctx)
        assert str(compiled.html(html)) == str(placeholders.render_html(body, ctx))


def test_the_three_renderings_leave_out_the_same_paragraphs_of_the_link():
    from tests.test_engine_texts import context

    for language in ("fr", "en"):
        for link in ("", LINK):
            ctx = context(language, customer_page_url=link)
            text, html = placeholders.resolve(ctx)
            for body in LINKED:
                compiled = placeholders.compile_text(body, language)
                plain, markup = placeholders.render_text(body, ctx), str(placeholders.render_html(body, ctx))
                assert compiled.text(text) == plain, (language, link, body)
                assert str(compiled.html(html)) == markup, (language, link, body)
                assert (LINK in plain) == (LINK in markup) == (bool(link) and "__X__" not in body)
    # without the link: the paragraph is gone whole, with the blank line before it (after it, for the first)
    ctx = context("en")
    assert [placeholders.render_text(body, ctx) for body in LINKED] == [
        "Bonjour :\n\nFin ; Garage <Dubois> & Fils",
        placeholders.render_text("__INVOICES_TABLE__\n\nMerci", ctx),
        "Avant",
        "",
        placeholders.render_text("A ?\n\n__INVOICES_TABLE__\n\n\n", ctx),
        "\n\nB\n\n",  # the empty paragraph before it stays, as written
        "__X__CUSTOMER_PAGE_URL__ reste\n\n__NOPE__",  # not the link's name: nothing to leave out
    ]
    assert str(placeholders.render_html(LINKED[2], ctx)) == "<p>Avant</p>"
    assert str(placeholders.render_html(LINKED[3], ctx)) == ""
    with_link = placeholders.render_text(LINKED[0], context("fr", customer_page_url=LINK))
    assert with_link == f"Bonjour\u00a0:\n\nVotre espace\u00a0: {LINK}\n\nFin\u202f; Garage <Dubois> & Fils"
