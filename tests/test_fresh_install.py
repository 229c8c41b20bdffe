"""Issue 17: a fresh install is ready to chase without the demo (DESIGN.md invariant 8).

The real migrations (`flask db upgrade`, through the CLI) on an empty SQLite file and on an empty PostgreSQL schema
give the default levels, their texts and the statutory rates, once: an upgrade again, or a downgrade and upgrade of
the data revision, neither duplicates nor overwrites what a manager changed, and a database that already has levels
is left as it is. Then the acceptance path: create a user, import customers, invoices and payments from CSV files
with the CLI, and `flask relance due --json` lists the due reminders with their amounts.
"""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text, update

from relance.extensions import db
from relance.models import Policy, ReminderLevel, StatutoryRate, Template, TemplateVersion, User
from relance.services.texts import wording
from relance.services.texts.placeholders import validate_template
from tests.conftest import PG_URL, _build_app, need_service
from tests.factories import NOW
from tests.pgschema import drop_pg_schema, pg_url_with_schema, reset_pg_schema

DEFAULTS_REVISION = "38a89e63422d"  # migrations/versions/38a89e63422d_fresh_install_defaults_levels_texts_rates.py
LANGUAGES_REVISION = "5e1d7a2c9b40"  # migrations/versions/5e1d7a2c9b40_default_texts_de_es_it_nl.py
PAGE_REVISION = "b2350d852e39"  # migrations/versions/b2350d852e39_default_texts_invite_to_the_customer_page.py
LANGUAGES = ("de", "en", "es", "fr", "it", "nl")
TEXTS = 4 * 2 * len(LANGUAGES)  # levels x channels x languages = 48
FRESH_SCHEMA = f"relance_fresh_{os.getpid()}"  # one per test process (xdist workers, two suites at once)
DAY = "2026-03-03"


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request, tmp_path):
    """An app on an empty database (no table at all), inside an app context, and its CLI runner."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        base = need_service(PG_URL, "PostgreSQL (RELANCE_TEST_DATABASE_URL)")
        reset_pg_schema(base, FRESH_SCHEMA)
        url = pg_url_with_schema(base, FRESH_SCHEMA)
    app = _build_app(url, tmp_path, CLOCK=lambda: NOW)
    with app.app_context():
        yield app.test_cli_runner()
        db.session.remove()
        db.engine.dispose()
    if request.param == "postgresql":
        drop_pg_schema(need_service(PG_URL, "PostgreSQL"), FRESH_SCHEMA)


def flask(runner, *args: str, ok: bool = True):
    # end the test's own transaction first: on PostgreSQL what it read stays locked until then, and a migration that
    # alters those tables (a column added to reminder_levels or reminders) would wait for it forever
    db.session.commit()
    result = runner.invoke(args=list(args), env={"LANG": "en_US.UTF-8"})
    if ok:
        assert result.exit_code == 0, f"{args}: {result.output}"
    return result


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def levels() -> list[tuple]:
    db.session.expire_all()
    return [(lvl.rank, lvl.delay, lvl.channels, lvl.automatic, lvl.formal_notice, lvl.active, lvl.names["en"])
            for lvl in db.session.scalars(select(ReminderLevel).order_by(ReminderLevel.rank))]


# none automatic: the go-live step chooses them (b7e41c0d9a25 turns off what 38a89e63422d made automatic on a
# database that never sent anything automatically)
DEFAULT_LEVELS = [
    (0, "-5 days", "email", False, False, True, "Reminder before due date"),
    (1, "+15 days", "email", False, False, True, "First reminder"),
    (2, "+30 days", "both", False, False, True, "Second reminder"),
    (3, "+45 days", "letter", False, True, True, "Formal notice"),
]


def test_upgrade_installs_the_defaults_once_and_never_overwrites_them(fresh):
    flask(fresh, "db", "upgrade")
    assert levels() == DEFAULT_LEVELS
    texts = db.session.scalars(select(Template).join(ReminderLevel)).all()
    assert sorted((t.level.rank, t.channel, t.language) for t in texts) == [
        (rank, channel, language) for rank in range(4) for channel in ("email", "letter") for language in LANGUAGES]
    assert len(texts) == TEXTS == 48
    for t in texts:
        validate_template(t.subject, t.body)  # no unknown __VARIABLE__, nothing empty
        assert "{attached}" not in t.body
        # written by 38a89e63422d / 5e1d7a2c9b40, the emails then given the paragraph about the customer's page by
        # b2350d852e39 (their second version): today's default texts
        version = 2 if t.channel == "email" else 1
        assert (t.subject, t.body, t.version) == (*wording.default_text(t.level, t.channel, t.language), version)
    notice = {t.language: t for t in texts if t.level.rank == 3 and t.channel == "letter"}
    assert notice["fr"].subject.startswith("MISE EN DEMEURE") and "__CLAIM_DETAIL__" in notice["fr"].body
    assert "Please find the invoice attached." in next(
        t.body for t in texts if (t.level.rank, t.channel, t.language) == (1, "email", "en"))
    assert notice["de"].subject.startswith("LETZTE MAHNUNG") and "§ 288" in notice["de"].body
    assert notice["es"].subject.startswith("REQUERIMIENTO FORMAL") and "Ley 3/2004" in notice["es"].body
    assert notice["it"].subject.startswith("DIFFIDA") and "231" in notice["it"].body
    assert notice["nl"].subject.startswith("INGEBREKESTELLING") and "6:119a BW" in notice["nl"].body
    assert "Eine Kopie der Rechnung liegt diesem Schreiben bei." in notice["de"].body
    assert db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 3)).names["de"] == "Letzte Mahnung"
    rates = {(r.country, r.kind, r.valid_from): r.rate for r in db.session.scalars(select(StatutoryRate))}
    assert rates[("FR", "b2b", date(2026, 1, 1))] == Decimal("12.150")
    assert rates[("FR", "consumer", date(2026, 1, 1))] == Decimal("2.620")
    assert len(rates) == 6

    # a manager changes a level, a text and a rate
    first = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    first.delay, first.names = "+20 days", {"fr": "Relance", "en": "Nudge"}
    text_row = db.session.scalar(select(Template).where(Template.level_id == first.id, Template.channel == "email",
                                                        Template.language == "fr"))
    text_row.subject = "Notre relance"
    db.session.scalar(select(StatutoryRate).where(StatutoryRate.kind == "consumer")).rate = Decimal("3.000")
    db.session.commit()

    flask(fresh, "db", "upgrade")  # at the head already: nothing runs
    flask(fresh, "db", "downgrade", f"{DEFAULTS_REVISION}-1")  # the data revision's downgrade deletes nothing
    assert count(ReminderLevel) == 4 and count(Template) == TEXTS and count(StatutoryRate) == 6
    flask(fresh, "db", "upgrade")  # and its upgrade again adds nothing where rows are
    assert count(ReminderLevel) == 4 and count(Template) == TEXTS and count(StatutoryRate) == 6
    db.session.expire_all()
    first = db.session.scalar(select(ReminderLevel).where(ReminderLevel.rank == 1))
    assert (first.delay, first.names) == ("+20 days", {"fr": "Relance", "en": "Nudge"})
    assert db.session.scalar(select(Template.subject).where(Template.level_id == first.id,
                                                            Template.channel == "email",
                                                            Template.language == "fr")) == "Notre relance"
    assert db.session.scalar(select(StatutoryRate.rate).where(StatutoryRate.kind == "consumer")) == Decimal("3.000")

    # the demo still installs on top (install_defaults is idempotent): nothing doubled, nothing overwritten; it adds
    # its second policy, a copy of the default one
    flask(fresh, "relance", "demo")
    standard = select(ReminderLevel).join(Policy).where(Policy.is_default)
    assert len(db.session.scalars(standard).all()) == 4 and count(Policy) == 2 and count(StatutoryRate) == 6
    assert count(ReminderLevel) == 8 and count(Template) == 2 * TEXTS
    db.session.expire_all()
    assert db.session.scalar(standard.where(ReminderLevel.rank == 1)).delay == "+20 days"


def test_the_languages_revision_adds_only_what_is_missing_and_never_overwrites(fresh):
    """An install made before 5e1d7a2c9b40 (French and English texts): the upgrade adds the German, Spanish, Italian
    and Dutch texts of its default levels, keeps a German text a manager wrote meanwhile, gives nothing to a level
    the company renamed; running it again (downgrade, upgrade) adds nothing and changes nothing."""
    flask(fresh, "db", "upgrade", f"{LANGUAGES_REVISION}-1")
    assert count(Template) == 16
    # (the levels as columns: at an earlier revision the table lacks the columns added since, the model has them)
    first_id = db.session.scalar(select(ReminderLevel.id).where(ReminderLevel.rank == 1))
    db.session.execute(update(ReminderLevel).where(ReminderLevel.rank == 2).values(
        names={"fr": "Relance ferme", "en": "Firm reminder"}))  # the company's own now
    db.session.add(Template(level_id=first_id, channel="email", language="de", subject="Unsere Erinnerung",
                            body="Bitte zahlen Sie __AMOUNT_DUE__.", version=3))
    db.session.commit()
    flask(fresh, "db", "upgrade")
    db.session.expire_all()
    languages = _texts()
    assert languages[(1, "email", "de")].subject == "Unsere Erinnerung" and languages[(1, "email", "de")].version == 3
    assert languages[(1, "letter", "de")].subject.startswith("Zahlungserinnerung")
    assert not any(rank == 2 and language in ("de", "es", "it", "nl") for rank, _c, language in languages)
    assert count(Template) == 16 + 1 + (4 * 2 - 2) * 4 - 1  # rank 2 (email, letter) skipped; one German written
    assert db.session.scalar(select(ReminderLevel.names).where(ReminderLevel.rank == 2)) == {
        "fr": "Relance ferme", "en": "Firm reminder"}
    assert db.session.scalar(select(ReminderLevel.names).where(ReminderLevel.rank == 0))["nl"] == \
        "Herinnering vóór vervaldatum"
    # the manager edits a Spanish text; the revision again adds nothing and keeps it
    spanish = languages[(3, "letter", "es")]
    spanish.body = spanish.body + "\n\nP. D.: llámenos."
    db.session.commit()
    before = count(Template)
    flask(fresh, "db", "downgrade", f"{LANGUAGES_REVISION}-1")  # deletes nothing
    assert count(Template) == before
    flask(fresh, "db", "upgrade")
    assert count(Template) == before
    assert db.session.scalar(select(Template.body).where(Template.id == spanish.id)).endswith("P. D.: llámenos.")


def _texts() -> dict[tuple[int, str, str], Template]:
    """The texts by (level rank, channel, language); the levels' rank as a column (at an earlier revision the table
    lacks the columns added since)."""
    db.session.expire_all()
    return {(rank, t.channel, t.language): t
            for t, rank in db.session.execute(select(Template, ReminderLevel.rank).join(ReminderLevel))}


def test_the_page_revision_changes_only_the_default_texts_as_written_and_versions_them(fresh):
    """b2350d852e39 adds the paragraph about the customer's page to the email texts still exactly as the earlier
    revisions wrote them (a changed subject does not count, a changed body does), each as a new version with its
    template_versions row, and leaves the letters' texts alone; its downgrade takes the paragraph out again of the
    texts as it wrote them; it carries its own texts (imports nothing from the application)."""
    from pathlib import Path

    source = next((Path(__file__).resolve().parent.parent / "migrations" / "versions").glob(f"{PAGE_REVISION}_*.py"))
    assert "relance" not in [line.split()[1].split(".")[0] for line in source.read_text().splitlines()
                             if line.startswith(("import ", "from "))]
    emails = TEXTS // 2
    flask(fresh, "db", "upgrade", f"{PAGE_REVISION}-1")
    before = _texts()
    assert len(before) == TEXTS and not any("__CUSTOMER_PAGE_URL__" in t.body for t in before.values())
    written = {key: t.body for key, t in before.items()}
    edited, renamed, saved = (1, "email", "fr"), (2, "email", "en"), (0, "email", "de")
    before[edited].body += "\n\nP.-S. : appelez-nous."
    before[edited].version = 2
    before[renamed].subject = "Our second reminder"
    before[saved].version = 5  # saved a few times, the body back as it was
    db.session.commit()

    flask(fresh, "db", "upgrade")
    after = _texts()
    for key, t in after.items():
        assert t.body == (written[key] + "\n\nP.-S. : appelez-nous." if key == edited
                          else wording.default_text(t.level, t.channel, t.language)[1]), key
        if key == edited or t.channel == "letter":
            assert t.version == before[key].version and t.versions == [], key
            assert "__CUSTOMER_PAGE_URL__" not in t.body
            continue
        assert t.body.count("__CUSTOMER_PAGE_URL__") == 1 and t.updated_by_id is None
        assert t.version == (6 if key == saved else 2), key
        [version] = t.versions
        assert (version.version, version.subject, version.body, version.user_id) == (t.version, t.subject, t.body,
                                                                                      None)
    assert after[renamed].subject == "Our second reminder"
    assert after[(3, "email", "fr")].body.endswith("contester une facture : __CUSTOMER_PAGE_URL__\n\n"
                                                   "À défaut de paiement intégral dans ce délai, nous saisirons sans "
                                                   "autre avis la juridiction compétente, notamment par voie "
                                                   "d'injonction de payer, afin d'obtenir le recouvrement de ces "
                                                   "sommes ; les frais de procédure seront alors à votre charge.\n\n"
                                                   "Nous vous prions d'agréer, Madame, Monsieur, l'expression de nos "
                                                   "salutations distinguées.\n\n__USER_SIGNATURE__")
    assert count(TemplateVersion) == emails - 1

    # a manager edits one of the new texts: the downgrade leaves it, takes the paragraph out of the others
    after[saved].body = after[saved].body.replace("Auf Ihrer persönlichen Seite", "Auf Ihrer Seite")
    db.session.commit()
    flask(fresh, "db", "downgrade", f"{PAGE_REVISION}-1")
    down = _texts()
    assert (down[edited].body, down[edited].version) == (after[edited].body, 2)
    assert (down[saved].body, down[saved].version) == (after[saved].body, 6) and "Auf Ihrer Seite" in down[saved].body
    for key, t in down.items():
        if key in (edited, saved):
            continue
        assert t.body == written[key], key
        if t.channel == "email":
            assert t.version == 3 and [v.version for v in t.versions] == [2, 3] and t.versions[-1].body == t.body
        else:
            assert t.version == 1 and t.versions == []
    flask(fresh, "db", "upgrade")  # and up again: the paragraph again, a fourth version
    again = _texts()
    assert again[renamed].body == wording.default_text(again[renamed].level, "email", "en")[1]
    assert again[renamed].version == 4 and again[saved].body == down[saved].body
    assert count(TemplateVersion) == (emails - 1) + (emails - 2) * 2


def test_an_installed_database_with_levels_keeps_its_levels_and_texts(fresh):
    """An existing install upgraded: its own levels stay alone, no default level or text is added; only the empty
    rates table is filled."""
    flask(fresh, "db", "upgrade", f"{DEFAULTS_REVISION}-1")
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO reminder_levels (rank, names, delay, basis, automatic, channels, penalty_kind, penalty_value, "
            "formal_notice, active) VALUES (1, '{\"fr\": \"Ma relance\"}', '+10 days', 'due_date', true, 'email', "
            "'none', 0, false, true)"))
    flask(fresh, "db", "upgrade")
    assert count(ReminderLevel) == 1 and count(Template) == 0
    assert db.session.execute(select(ReminderLevel.rank, ReminderLevel.delay, ReminderLevel.names)).one() == (
        1, "+10 days", {"fr": "Ma relance"})
    assert count(StatutoryRate) == 6


def test_fresh_install_chases_without_the_demo(fresh, tmp_path):
    """Issue 17, acceptance 1: migrations, a user, three CSV imports through the CLI, then the due reminders with
    their amounts. No demo and no install_defaults anywhere."""
    flask(fresh, "db", "upgrade")
    flask(fresh, "relance", "create-user", "anne@company.example", "--role", "manager", "--password", "long enough 1")
    files = {
        "customers": "code,name,email,language,country,kind\n"
                     "C-1,Acme SARL,compta@acme.example,fr,FR,business\n"
                     "C-2,Brown Ltd,ap@brown.example,en,GB,business\n",
        "invoices": "number,customer_code,issue_date,due_date,currency,total_excl_tax,total_incl_tax,status,kind\n"
                    "FA-1,C-1,2026-01-01,2026-01-15,EUR,1000.00,1200.00,validated,invoice\n"
                    "FA-2,C-2,2026-01-10,2026-02-09,EUR,500.00,600.00,validated,invoice\n"
                    "FA-3,C-1,2026-02-01,2026-03-08,EUR,100.00,120.00,validated,invoice\n"
                    "FA-4,C-1,2026-01-05,2026-01-20,EUR,100.00,120.00,validated,invoice\n"
                    "FA-5,C-2,2026-02-20,2026-04-30,EUR,100.00,120.00,validated,invoice\n",
        "payments": "invoice_number,date,amount,reference\n"
                    "FA-1,2026-02-10,200.00,VIR 1\n"
                    "FA-4,2026-02-01,120.00,VIR 2\n",
    }
    for kind, content in files.items():
        path = tmp_path / f"{kind}.csv"
        path.write_text(content, encoding="utf-8")
        assert "Saved." in flask(fresh, "relance", "import", kind, str(path)).output
    assert count(User) == 1

    # before the go-live step nothing is sent automatically, and the automatic view says why
    result = flask(fresh, "relance", "due", "--date", DAY, "--json")
    assert json.loads(result.stdout) == [] and "The go-live step is not done" in result.stderr
    # a person may chase at once: what they may send
    result = flask(fresh, "relance", "due", "--date", DAY, "--json", "--manual")
    assert result.stderr == ""  # nothing is missing: no warning
    due = {item["invoice"]: item for item in json.loads(result.stdout)}
    assert set(due) == {"FA-1", "FA-2", "FA-3"}  # FA-4 is paid, FA-5 not due before 2026-04-25
    assert {k: due["FA-1"][k] for k in ("level", "channels", "remaining_due", "days_late", "indemnity", "to",
                                        "language")} == {
        "level": 1, "channels": ["email"], "remaining_due": "1000.00", "days_late": 47, "indemnity": "40.00",
        "to": ["compta@acme.example"], "language": "fr"}
    # interest at 12.15 % (H1 2026): 1,200.00 x 26 days (to the payment) + 1,000.00 x 21 days, over 365
    assert due["FA-1"]["interest"] == "17.38" and due["FA-1"]["total_claimed"] == "1057.38"
    assert {k: due["FA-2"][k] for k in ("level", "remaining_due", "days_late", "to", "language")} == {
        "level": 1, "remaining_due": "600.00", "days_late": 22, "to": ["ap@brown.example"], "language": "en"}
    assert due["FA-3"]["level"] == 0 and due["FA-3"]["remaining_due"] == "120.00"
    assert due["FA-3"]["total_claimed"] == "120.00"  # before the due date: nothing but the amount

    explained = flask(fresh, "relance", "explain", "FA-1", "--date", DAY, "--language", "en", "--manual").output
    assert "Due: level 1 today (email)." in explained and "None" not in explained
    explained = flask(fresh, "relance", "explain", "FA-1", "--date", DAY, "--language", "en").output
    assert "The go-live step is not done: nothing is sent automatically." in explained
