"""CSV import: the example files in tests/data are read field by field; bad files save nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import AuditLog, Customer, Invoice, Payment
from relance.services.data_in.apply import apply_plan
from relance.services.data_in.reading import plan_csv
from relance.services.data_in.values import InvalidValue, parse_amount, parse_date
from tests.factories import make_customer, make_invoice

DATA = Path(__file__).parent / "data"
TODAY = date(2026, 3, 15)


@pytest.fixture
def en(app):
    """Messages in English (they are translated when shown)."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def counts() -> dict[str, int]:
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Customer, Invoice, Payment, AuditLog)}


def run_import(kind: str, data: bytes, filename: str = "test.csv"):
    plan = plan_csv(db.session, kind, data, TODAY, filename=filename)
    if plan.ok:
        apply_plan(db.session, plan)
        db.session.commit()
    return plan


def import_file(name: str, kind: str):
    plan = run_import(kind, (DATA / name).read_bytes(), name)
    assert plan.ok, [str(e) for e in plan.errors]
    return plan


def customer(code: str) -> Customer:
    db.session.expire_all()
    return db.session.scalar(select(Customer).where(Customer.code == code))


def invoice(number: str) -> Invoice:
    db.session.expire_all()
    return db.session.scalar(select(Invoice).where(Invoice.number == number))


def fields(obj, names: str) -> tuple:
    return tuple(getattr(obj, name) for name in names.split())


def test_french_accounting_export_windows_1252(app, en):
    plan = import_file("customers_fr_cp1252.csv", "customers")
    assert (plan.encoding, plan.separator, plan.created) == ("cp1252", ";", 3)
    c = customer("411DUPONT")
    assert fields(c, "name email language country kind address postcode city phone") == (
        "Société Dupont & Fils", "compta@dupont-fils.fr", "fr", "FR", "business",
        "12, rue de l'Église\nBâtiment B", "69002", "Lyon", "04 78 00 00 01")
    assert fields(customer("411MULLER"), "name email language country kind address postcode city phone") == (
        "Müller Gärtnerei GmbH", "buchhaltung@mueller.example", "en", "DE", "business", "Hauptstraße 5", "10115",
        "Berlin", "+49 30 000000")
    assert fields(customer("411MARTIN"), "name email language country kind address postcode city phone") == (
        "Martin Hélène", "helene.martin@example.fr", "fr", "FR", "consumer", "3 allée des Cèdres", "44000",
        "Nantes", "")

    plan = import_file("invoices_fr_cp1252.csv", "invoices")
    assert plan.created == 6 and plan.ignored_columns == ["Libellé"]
    names = "issue_date due_date currency total_excl_tax total_incl_tax status kind amount_paid"
    expected = {
        "FA2026-0001": ("411DUPONT", date(2026, 1, 5), date(2026, 2, 4), "EUR", Decimal("1000.00"),
                        Decimal("1200.00"), "validated", "invoice", Decimal("0")),
        "FA2026-0002": ("411DUPONT", date(2026, 1, 12), date(2026, 2, 11), "EUR", Decimal("12345.67"),
                        Decimal("14814.80"), "validated", "invoice", Decimal("0")),
        "FA2026-0003": ("411MULLER", date(2026, 1, 15), None, "EUR", Decimal("250.50"), Decimal("300.60"), "paid",
                        "invoice", Decimal("0")),
        "AV2026-0001": ("411DUPONT", date(2026, 1, 20), date(2026, 1, 20), "EUR", Decimal("100.00"),
                        Decimal("120.00"), "validated", "credit_note", Decimal("0")),
        "FA2026-0004": ("411MARTIN", date(2026, 1, 31), date(2026, 3, 2), "EUR", Decimal("83.33"), Decimal("100.00"),
                        "draft", "invoice", Decimal("0")),
        "FA2026-0005": ("411MARTIN", date(2026, 2, 1), date(2026, 3, 3), "EUR", Decimal("0.83"), Decimal("1.00"),
                        "cancelled", "invoice", Decimal("0")),
    }
    for number, values in expected.items():
        row = invoice(number)
        assert (row.customer.code, *fields(row, names)) == values, number

    plan = import_file("payments_fr.csv", "payments")
    assert plan.created == 3
    first, second = invoice("FA2026-0001"), invoice("FA2026-0002")
    assert [(p.date, p.amount, p.reference) for p in first.payments] == [
        (date(2026, 2, 10), Decimal("200.00"), "VIR 0001"), (date(2026, 2, 15), Decimal("1000.00"), "VIR 0002")]
    assert (first.amount_paid, first.status, first.remaining_due) == (Decimal("1200.00"), "paid", Decimal("0.00"))
    assert (second.amount_paid, second.status) == (Decimal("4814.80"), "validated")
    assert second.remaining_due == Decimal("10000.00")


def test_utf8_bom_comma_and_tab_files(app, en):
    plan = import_file("customers_utf8_bom.csv", "customers")
    assert (plan.encoding, plan.separator) == ("utf-8-sig", ",")
    assert fields(customer("C-100"), "name email language country kind address postcode city phone") == (
        "Acme, Inc.", "ap@acme.example, billing@acme.example", "en", "GB", "business", "1 King's Road", "SW3 4NB",
        "London", "+44 20 0000 0000")
    assert fields(customer("C-101"), "name email language country kind address postcode city phone") == (
        "Émile Zola", "", "fr", "FR", "consumer", "", "", "", "")

    import_file("invoices_iso_utf8.csv", "invoices")
    names = "issue_date due_date currency total_excl_tax total_incl_tax status kind"
    assert fields(invoice("INV-1"), names) == (date(2026, 1, 10), date(2026, 2, 9), "GBP", Decimal("1000.00"),
                                               Decimal("1200.00"), "validated", "invoice")
    assert fields(invoice("INV-2"), names) == (date(2026, 1, 20), date(2026, 2, 19), "USD", Decimal("99.90"),
                                               Decimal("119.88"), "paid", "invoice")
    assert fields(invoice("INV-3"), names) == (date(2026, 1, 25), date(2026, 2, 24), "EUR", Decimal("10.00"),
                                               Decimal("12.00"), "cancelled", "credit_note")
    assert invoice("INV-3").customer.code == "C-101"

    plan = import_file("invoices_tab.csv", "invoices")
    assert plan.separator == "\t"
    assert fields(invoice("T-1"), names) == (date(2026, 3, 1), date(2026, 3, 31), "EUR", Decimal("500.00"),
                                             Decimal("600.00"), "validated", "invoice")
    assert fields(invoice("T-2"), names) == (date(2026, 3, 2), None, "EUR", Decimal("1234.50"), Decimal("1481.40"),
                                             "validated", "invoice")


def test_utf16_excel_unicode_text(app, en):
    text = "code\tname\tcountry\nU1\tŁódź Sp. z o.o.\tPL\n"
    plan = run_import("customers", b"\xff\xfe" + text.encode("utf-16-le"))
    assert plan.ok and plan.encoding == "utf-16"
    assert fields(customer("U1"), "name country") == ("Łódź Sp. z o.o.", "PL")


def test_reimport_updates_never_duplicates(app, en):
    import_file("customers_fr_cp1252.csv", "customers")
    import_file("invoices_fr_cp1252.csv", "invoices")
    import_file("payments_fr.csv", "payments")
    before = counts()
    for name, kind in (("customers_fr_cp1252.csv", "customers"), ("invoices_fr_cp1252.csv", "invoices"),
                       ("payments_fr.csv", "payments")):
        plan = plan_csv(db.session, kind, (DATA / name).read_bytes(), TODAY)
        assert (plan.ok, plan.created, plan.updated) == (True, 0, 0), name
    changed = (DATA / "invoices_fr_cp1252.csv").read_bytes().replace(b"1\xa0200,00", b"1\xa0300,00")
    plan = run_import("invoices", changed)
    assert (plan.created, plan.updated, plan.unchanged) == (0, 1, 5)
    # The new total is above the 1,200.00 paid: the invoice is open again for the 100.00 left.
    assert plan.changes[0].changes == {"total_incl_tax": (Decimal("1200.00"), Decimal("1300.00")),
                                       "status": ("paid", "validated")}
    assert fields(invoice("FA2026-0001"), "total_incl_tax status remaining_due") == (
        Decimal("1300.00"), "validated", Decimal("100.00"))
    after = counts()
    assert after == {**before, "AuditLog": before["AuditLog"] + 1}


def test_absent_columns_keep_values_and_empty_cells_take_defaults(app, en):
    make_customer("K1", name="Keep", email="keep@example.com", city="Lyon", language="en")
    db.session.commit()
    run_import("customers", b"code;name;city\nK1;Kept name;\n")
    assert fields(customer("K1"), "name email city language") == ("Kept name", "keep@example.com", "", "en")


def test_formula_text_is_stored_as_text_and_shown_escaped(app, en, client, auth):
    formula = "=cmd|' /C calc'!A0"
    data = f'code;name;city\nF1;"{formula}";<script>alert(1)</script>\n'.encode()
    plan = run_import("customers", data)
    assert plan.ok
    assert fields(customer("F1"), "name city") == (formula, "<script>alert(1)</script>")
    auth.login("agent")
    page = client.get(f"/customers/{customer('F1').id}").get_data(as_text=True)  # later shown as text
    assert "=cmd|&#39; /C calc&#39;!A0" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    response = client.post("/imports/", data={"kind": "customers", "file": (__import__("io").BytesIO(
        b"code;name;city\nF1;\"=HYPERLINK(\"\"http://x\"\")\";<b>x</b>\n"), "f.csv")})
    html = response.get_data(as_text=True)
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "=HYPERLINK(&#34;http://x&#34;)" in html


def test_cli_dry_run_then_import(app, runner, en):
    make_customer("411DUPONT"), make_customer("411MULLER"), make_customer("411MARTIN")
    db.session.commit()
    path = str(DATA / "invoices_fr_cp1252.csv")
    result = runner.invoke(args=["relance", "import", "invoices", path, "--dry-run"], env={"LANG": "en_US.UTF-8"})
    assert result.exit_code == 0, result.output
    assert "invoices: 6 to create, 0 to update, 0 unchanged. Dry run: nothing was saved." in result.output
    assert "Ignored columns: Libellé" in result.output
    assert counts()["Invoice"] == 0
    result = runner.invoke(args=["relance", "import", "invoices", path], env={"LANG": "en_US.UTF-8"})
    assert result.exit_code == 0, result.output
    assert "6 to create" in result.output and "Saved." in result.output
    assert counts()["Invoice"] == 6
    result = runner.invoke(args=["relance", "import", "invoices", path], env={"LANG": "en_US.UTF-8"})
    assert "invoices: 0 to create, 0 to update, 6 unchanged. Saved." in result.output
    assert counts()["Invoice"] == 6


def test_more_than_100_errors_are_counted(app, runner, tmp_path):
    rows = "".join(f"N{i};C1;bad;;1;1\n" for i in range(150))
    path = tmp_path / "many.csv"
    path.write_text("number;customer_code;issue_date;due_date;total_excl_tax;total_incl_tax\n" + rows)
    result = runner.invoke(args=["relance", "import", "invoices", str(path)], env={"LANG": "C"})
    assert result.exit_code == 1
    lines = result.output.splitlines()
    located = [line for line in lines if line.startswith("line ")]
    assert len(located) == 100
    assert located[0].startswith("line 2, column issue_date: ")
    assert "… and 200 more errors." in result.output  # 150 bad dates + 150 unknown customers = 300
    assert "Error: 300 errors: nothing was imported." in result.output


# --- bad input: each case gives its message with line and column, and saves nothing ----------------------

CUSTOMERS = "code;name;email;language;country;kind\n"
INVOICES = "number;customer_code;issue_date;due_date;currency;total_excl_tax;total_incl_tax;status;kind\n"
GOOD_INVOICE = "NEW-1;C1;10/01/2026;09/02/2026;EUR;100,00;120,00;validée;facture\n"
PAYMENTS = "invoice_number;date;amount\n"
GOOD_PAYMENT = "FA1;01/03/2026;100,00\n"

BAD_CASES = [
    # id, kind, file content, line, column, expected message
    ("missing column", "invoices",
     "number;customer_code;issue_date;total_excl_tax;total_incl_tax\nX;C1;01/01/2026;1;1\n",
     1, "due_date", 'Missing column "due_date". Expected columns: number;customer_code;issue_date;due_date;currency;'
     "total_excl_tax;total_incl_tax;status;kind;no_auto_reminders;credits_invoice."),
    ("unknown customer code", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;NOPE;10/01/2026;;EUR;1;1;;\n",
     3, "customer_code", 'Unknown customer code "NOPE": import the customers first.'),
    ("impossible date", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;31/02/2026;;EUR;1;1;;\n",
     3, "issue_date", '"31/02/2026" is not a real date (dates are read day/month/year).'),
    ("text as date", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;10/01/2026;demain;EUR;1;1;;\n",
     3, "due_date", '"demain" is not a date: write dd/mm/yyyy or yyyy-mm-dd.'),
    ("due before issue", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;10/01/2026;09/01/2026;EUR;1;1;;\n",
     3, "due_date", "The due date Jan 9, 2026 is before the issue date Jan 10, 2026."),
    ("negative amount", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;10/01/2026;;EUR;-10;-12;;facture\n",
     3, "total_excl_tax", '"-10" is negative: only a credit note may have negative totals.'),
    ("non-numeric amount", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;10/01/2026;;EUR;10;12 euros;;\n",
     3, "total_incl_tax", '"12 euros" is not an amount.'),
    ("excl greater than incl", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;10/01/2026;;EUR;150;120;;\n",
     3, "total_excl_tax", "The total excluding tax (€150.00) is larger than the total including tax (€120.00)."),
    ("unknown currency", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;10/01/2026;;EUX;1;1;;\n",
     3, "currency", '"EUX" is not an ISO 4217 currency code (like EUR, USD, CHF).'),
    ("duplicate number in file", "invoices", INVOICES + GOOD_INVOICE + GOOD_INVOICE,
     3, "number", '"NEW-1" is already on line 2 of this file.'),
    ("formula in an amount", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;10/01/2026;;EUR;=SUM(A1:A9);1;;\n",
     3, "total_excl_tax", '"=SUM(A1:A9)" is not an amount.'),
    ("ambiguous amount", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;10/01/2026;;EUR;1,234;1500;;\n",
     3, "total_excl_tax", '"1,234" is ambiguous (thousands or decimals?): write it with two decimals, '
     "like 1234,00 or 1234.00."),
    ("three decimals", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;10/01/2026;;EUR;0,125;1;;\n",
     3, "total_excl_tax", '"0,125" has more than two decimals.'),
    ("unknown status", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;10/01/2026;;EUR;1;1;en retard;\n",
     3, "status", '"en retard" is not accepted: use one of draft, validated, paid, cancelled, brouillon, validée, '
     "payée, abandonnée."),
    ("unknown invoice kind", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;10/01/2026;;EUR;1;1;;proforma\n",
     3, "kind", '"proforma" is not accepted: use one of invoice, credit_note, facture, avoir.'),
    ("total below payments", "invoices", INVOICES + GOOD_INVOICE + "FA1;C1;01/01/2026;;EUR;50;60;;\n",
     3, "total_incl_tax", "The total including tax (€60.00) is less than the payments already recorded (€200.00)."),
    ("required value empty", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;;10/01/2026;;EUR;1;1;;\n",
     3, "customer_code", "A value is required."),
    ("too many values", "invoices", INVOICES + GOOD_INVOICE + "NEW-2;C1;10/01/2026;;EUR;1;1;;;oops\n",
     3, None, "This row has 10 values but the header has 9 columns (check the separator and the quotes)."),
    ("overpayment", "payments", PAYMENTS + GOOD_PAYMENT + "FA1;02/03/2026;900,01\n",
     3, "amount", "Overpayment: invoice FA1 totals €1,200.00, €300.00 is already paid, this payment of €900.01 "
     "would exceed it by €0.01."),
    ("payment on a cancelled invoice", "payments", PAYMENTS + GOOD_PAYMENT + "FX;02/03/2026;10\n",
     3, "invoice_number", 'Invoice "FX" is cancelled: no payment can be recorded on it.'),
    ("payment on a credit note", "payments", PAYMENTS + GOOD_PAYMENT + "AV1;02/03/2026;10\n",
     3, "invoice_number", '"AV1" is a credit note: no payment can be recorded on it.'),
    ("payment on an unknown invoice", "payments", PAYMENTS + GOOD_PAYMENT + "FA404;02/03/2026;10\n",
     3, "invoice_number", 'Unknown invoice number "FA404": import the invoices first.'),
    ("zero payment", "payments", PAYMENTS + GOOD_PAYMENT + "FA1;02/03/2026;0,00\n",
     3, "amount", "A payment amount must be more than zero."),
    ("negative payment", "payments", PAYMENTS + GOOD_PAYMENT + "FA1;02/03/2026;-5\n",
     3, "amount", '"-5" is negative: amounts must be positive or zero.'),
    ("payment in the future", "payments", PAYMENTS + GOOD_PAYMENT + "FA1;16/03/2099;5\n",
     3, "date", "The payment date Mar 16, 2099 is in the future."),
    ("invalid email", "customers", CUSTOMERS + "N1;New;;fr;FR;\nN2;Other;not-an-email;fr;FR;\n",
     3, "email", '"not-an-email" is not a valid email address.'),
    ("one bad address among several", "customers",
     CUSTOMERS + 'N1;New;"ok@new.example, jürgen@müller.example";fr;FR;\nN2;Other;"ok@other.example; compta@";fr;FR;\n',
     3, "email", '"compta@" is not a valid email address.'),
    ("unknown country", "customers", CUSTOMERS + "N1;New;;fr;FR;\nN2;Other;;fr;Atlantide;\n",
     3, "country", '"Atlantide" is not a country: write an ISO code like FR, BE or CH.'),
    ("unsupported language", "customers", CUSTOMERS + "N1;New;;fr;FR;\nN2;Other;;klingon;FR;\n",
     3, "language", '"klingon" is not a language: write its code (fr, en, de, es, it, nl, de_CH) or its name '
                    '(Deutsch, español, Nederlands).'),
    ("unknown customer kind", "customers", CUSTOMERS + "N1;New;;fr;FR;\nN2;Other;;fr;FR;grossiste\n",
     3, "kind", '"grossiste" is not accepted: use one of business, consumer, entreprise, particulier.'),
    ("code too long", "customers", CUSTOMERS + "N1;New;;fr;FR;\n" + "X" * 65 + ";Other;;fr;FR;\n",
     3, "code", "Too long: 65 characters, at most 64."),
    ("line break in a name", "customers", CUSTOMERS + 'N1;New;;fr;FR;\nN2;"Two\nlines";;fr;FR;\n',
     3, "name", "Line breaks are not allowed in this column."),
    ("duplicate column", "customers", "code;name;nom\nN1;A;B\n",
     1, "nom", 'Column "name" appears twice (columns 2 and 3).'),
    ("unclosed quote", "customers", 'code;name\nN1;New\nN2;"Unclosed\n',
     3, None, "The CSV is malformed here (unexpected end of data): a quote is probably not closed."),
    ("header only", "customers", "code;name\n", 1, None, "The file has a header line but no rows."),
]


@pytest.fixture
def existing(app):
    c1 = make_customer("C1")
    make_invoice(c1, total="1200.00", paid="200.00", number="FA1")
    make_invoice(c1, total="50.00", number="FX", status="cancelled")
    make_invoice(c1, total="30.00", number="AV1", kind="credit_note")
    db.session.commit()


def cli(runner, kind: str, path: Path):
    return runner.invoke(args=["relance", "import", kind, str(path)], env={"LANG": "en_US.UTF-8"})


@pytest.mark.parametrize("case", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_saves_nothing(app, runner, existing, tmp_path, case):
    _name, kind, content, line, column, message = case
    path = tmp_path / "bad.csv"
    path.write_bytes(content.encode("cp1252"))
    before = counts()
    result = cli(runner, kind, path)
    assert result.exit_code == 1, result.output
    where = f"line {line}, column {column}" if column else f"line {line}"
    assert f"{where}: {message}" in result.output.splitlines(), result.output
    assert "nothing was imported" in result.output
    assert counts() == before
    assert invoice("FA1").amount_paid == Decimal("200.00")


@pytest.mark.parametrize("name, content, line, message", [
    ("empty file", b"", 1, "The file is empty: it needs a header line and at least one row."),
    ("blank lines and a BOM", b"\xef\xbb\xbf\r\n  \r\n", 1,
     "The file is empty: it needs a header line and at least one row."),
    ("binary file", b"code;name\nA;B\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 5,
     "The file contains binary data (byte 0x00): it is not a CSV text file."),
    ("PDF file", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", 1,
     "This file is a PDF document, not CSV text. Save it as CSV (separator ; or ,) first."),
    ("Excel workbook", b"PK\x03\x04\x14\x00\x06\x00", 1,
     "This file is an Excel workbook (.xlsx) or a ZIP, not CSV text. Save it as CSV (separator ; or ,) first."),
    ("neither UTF-8 nor Windows-1252", b"code;name\nA;B\nC;\x81\x8d\n", 3,
     "Byte 0x81 can't be read as UTF-8 or Windows-1252: save the file as UTF-8 CSV."),
])
def test_bad_files_save_nothing(app, runner, existing, tmp_path, name, content, line, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    before = counts()
    result = cli(runner, "customers", path)
    assert result.exit_code == 1
    assert f"line {line}: {message}" in result.output.splitlines(), result.output
    assert counts() == before


def test_50_mb_file_is_refused_without_reading_it(app, runner, existing, tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.write(b"code;name\n")
        handle.write(b"C9;" + b"x" * (50 * 1024 * 1024) + b"\n")
    before = counts()
    result = cli(runner, "customers", path)
    assert result.exit_code == 1
    # A file-level limit: no line or column applies, the message gives the size and the limit.
    assert "The file is 50.0 MB; the limit is 10 MB. Split it into several files." in result.output
    assert counts() == before


def test_email_addresses_are_kept_as_typed_internationalised_ones_too(app, en):
    """The rule of the web forms and the API (`recipients.entered_addresses`): each address checked, trimmed, several
    joined by ", "; case and accents as typed (the mailer writes the domain in IDNA form when it sends)."""
    plan = run_import("customers", (CUSTOMERS + 'H1;Hôtel du Parc;" Hugo.Garnier@hôtelduparc.example ; '
                                                'Jürgen@Example.DE";fr;FR;\nH2;Sans;;fr;FR;\n').encode())
    assert plan.ok, [str(e) for e in plan.errors]
    assert customer("H1").email == "Hugo.Garnier@hôtelduparc.example, Jürgen@Example.DE"
    assert customer("H2").email == ""


def test_plan_with_errors_cannot_be_applied(app, en, existing):
    plan = plan_csv(db.session, "invoices", (INVOICES + "X;NOPE;01/01/2026;;;1;1;;\n").encode(), TODAY)
    assert plan.error_count == 1 and plan.changes == []
    with pytest.raises(ValueError):
        apply_plan(db.session, plan)


@pytest.mark.parametrize("raw, expected", [
    ("1 234,56", "1234.56"), ("1\u00a0234,56", "1234.56"), ("1\u202f234,56", "1234.56"), ("1.234,56", "1234.56"),
    ("1,234.56", "1234.56"), ("1234.5", "1234.50"), ("1234,5", "1234.50"), ("12", "12.00"), ("1 234 567", "1234567.00"),
    ("1.234.567,89", "1234567.89"), ("1'234.50", "1234.50"), ("12,00 €", "12.00"), ("0,999", None), ("1.234", None),
    ("", None), ("12,3,4", None), ("1e5", None), ("NaN", None),
])
def test_amount_formats(raw, expected):
    if expected is None:
        with pytest.raises(InvalidValue):
            parse_amount(raw)
    else:
        assert parse_amount(raw) == Decimal(expected)


@pytest.mark.parametrize("raw, expected", [
    ("15/01/2026", date(2026, 1, 15)), ("5/1/2026", date(2026, 1, 5)), ("15-01-2026", date(2026, 1, 15)),
    ("15.01.26", date(2026, 1, 15)), ("2026-01-15", date(2026, 1, 15)), ("2026-01-15 00:00:00", date(2026, 1, 15)),
    ("2026-01-15T10:00:00+01:00", date(2026, 1, 15)), ("20260115", date(2026, 1, 15)),
    ("01/15/2026", None), ("15 janvier 2026", None), ("2026-02-30", None), ("15/01/1800", None),
])
def test_date_formats(raw, expected):
    if expected is None:
        with pytest.raises(InvalidValue):
            parse_date(raw)
    else:
        assert parse_date(raw) == expected
