"""Bank statements in: the camt.053 (.001.02 and .001.08), OFX (1.x SGML, 2.x XML) and CSV files of
tests/data/statements read back and imported into the real databases, each line against its expected answer; a bad
file saves nothing; the same file twice adds nothing; a recorded line's payment undone frees it; the CLI."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import Answer, BankLine, Payment
from relance.services import settings as company_settings
from relance.services.data_in.bank_lines import BankLineError, accept, ignore_line, import_statement, record_line
from relance.services.data_in.matching import rf_reference
from relance.services.data_in.statements import StatementError, read_statement
from relance.services.payments import delete_payment
from tests.factories import make_customer, make_invoice
from tests.statement_samples import book

DATA = Path(__file__).parent / "data" / "statements"
NOW = datetime(2026, 6, 16, 7, 0)


def auto_on() -> None:
    company_settings.save(db.session, {"statement_auto_record": True})
    db.session.commit()


def run(name: str, **kw):
    result = import_statement(db.session, (DATA / name).read_bytes(), now=NOW,
                              settings=company_settings.load(db.session), filename=name, **kw)
    db.session.commit()
    return result


def answers(numbers: dict[int, str]) -> list[tuple]:
    """(amount, status, rule, first proposal's invoice numbers, paid invoice numbers) per line, by amount."""
    rows = []
    for line in db.session.scalars(select(BankLine).order_by(BankLine.amount)):
        first = [numbers[i] for i in line.candidates[0]["invoices"]] if line.candidates else []
        rows.append((str(line.amount), line.status, line.rule, first,
                     sorted(p.invoice.number for p in line.payments)))
    return rows


def test_rf_reference_is_valid_iso11649():
    from stdnum import iso11649

    assert rf_reference("FA-2026-0103") == "RF85FA20260103"
    assert iso11649.is_valid(rf_reference("fa 2026/0103"))


def test_camt053_v02_read_back_matched_and_recorded(app):
    invoices = book()
    auto_on()
    result = run("camt053_v02.xml")
    assert (result.statement.format, result.statement.version) == ("camt.053", "camt.053.001.02")
    assert (result.read, result.imported, result.statement.debits, result.statement.other) == (4, 4, 1, 1)
    assert (result.automatic, result.proposed, result.left) == (3, 0, 1)
    numbers = {i.id: n for n, i in invoices.items()}
    assert answers(numbers) == [
        ("75.00", "new", "", [], []),
        ("149.90", "recorded", "rf_reference", ["FA-2026-0103"], ["FA-2026-0103"]),
        ("1000.00", "recorded", "customer_sum", ["FA-2026-0201", "FA-2026-0202"], ["FA-2026-0201", "FA-2026-0202"]),
        ("1200.00", "recorded", "invoice_number", ["FA-2026-0101"], ["FA-2026-0101"]),
    ]
    for number in ("FA-2026-0101", "FA-2026-0103", "FA-2026-0201", "FA-2026-0202"):
        db.session.refresh(invoices[number])
        assert invoices[number].status == "paid", number
    line = db.session.scalar(select(BankLine).where(BankLine.amount == Decimal("1200.00")))
    assert (line.entry_ref, line.counterparty_name, line.counterparty_iban, line.source_file, line.automatic) == (
        "2026061500001", "BOULANGERIE MARTIN SARL", "FR1420041010050500013M02606", "camt053_v02.xml", True)
    assert line.booking_date == date(2026, 6, 15) and line.payments[0].date == date(2026, 6, 15)

    again = run("camt053_v02.xml")  # the same file twice adds nothing
    assert (again.already, again.imported, again.automatic) == (4, 0, 0)
    assert db.session.scalar(select(func.count()).select_from(BankLine)) == 4
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 4


def test_camt053_v08_batch_entry_and_lowercase_number(app):
    invoices = book()
    auto_on()
    result = run("camt053_v08.xml")
    assert result.statement.version == "camt.053.001.08"
    assert (result.read, result.statement.debits, result.automatic, result.proposed, result.left) == (3, 1, 3, 0, 0)
    numbers = {i.id: n for n, i in invoices.items()}
    assert answers(numbers) == [
        ("350.00", "recorded", "invoice_number", ["FA-2026-0102"], ["FA-2026-0102"]),
        ("540.00", "recorded", "invoice_number", ["FA-2026-0201"], ["FA-2026-0201"]),
        ("2400.00", "recorded", "invoice_number", ["FA-2026-0301"], ["FA-2026-0301"]),
    ]
    refs = set(db.session.scalars(select(BankLine.entry_ref)))
    assert refs == {"2026061505300012", "2026061505300013-1", "2026061505300013-2"}
    assert run("camt053_v08.xml").imported == 0


def test_setting_off_everything_waits_for_a_person(app):
    invoices = book()
    result = run("camt053_v02.xml")
    assert (result.automatic, result.proposed, result.left) == (0, 3, 1)
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 0
    assert all(i.status == "validated" for i in invoices.values())


def test_ofx_sgml_and_xml(app):
    invoices = book()
    auto_on()
    first = run("statement_v1.ofx")
    assert (first.statement.version, first.read, first.statement.debits) == ("1.x SGML", 2, 1)
    assert (first.automatic, first.proposed, first.left) == (1, 1, 0)
    second = run("statement_v2.ofx")
    assert (second.statement.version, second.read, second.statement.debits, second.automatic) == ("2.x XML", 1, 1, 1)
    numbers = {i.id: n for n, i in invoices.items()}
    assert answers(numbers) == [
        # a deposit of 100.00 on an invoice of 1,200.00: proposed, the amount differs
        ("100.00", "matched", "invoice_number", ["FA-2026-0101"], []),
        ("460.00", "recorded", "invoice_number", ["FA-2026-0202"], ["FA-2026-0202"]),
        ("2400.00", "recorded", "invoice_number", ["FA-2026-0301"], ["FA-2026-0301"]),
    ]
    assert run("statement_v1.ofx").imported == 0 and run("statement_v2.ofx").imported == 0


def test_csv_cp1252_semicolons_decimal_comma_debit_credit_columns(app):
    invoices = book()
    auto_on()
    result = run("statement_fr.csv")
    assert (result.read, result.statement.debits, result.automatic, result.left) == (3, 1, 2, 1)
    numbers = {i.id: n for n, i in invoices.items()}
    assert answers(numbers) == [
        ("33.33", "new", "", [], []),
        ("149.90", "recorded", "rf_reference", ["FA-2026-0103"], ["FA-2026-0103"]),
        ("1200.00", "recorded", "invoice_number", ["FA-2026-0101"], ["FA-2026-0101"]),
    ]
    assert run("statement_fr.csv").imported == 0  # no bank reference: the lines' hashes keep them once


def test_csv_columns_given_by_name(app):
    book()
    data = "Jour,Texte,Somme reçue,Ref\n2026-06-15,\"Facture FA-2026-0301, merci\",2400.00,\n".encode()
    columns = {"date": "Jour", "label": "Texte", "amount": "Somme reçue", "reference": "Ref"}
    result = import_statement(db.session, data, now=NOW, settings=company_settings.load(db.session), fmt="csv",
                              columns=columns)
    assert (result.read, result.proposed) == (1, 1)
    with pytest.raises(StatementError) as error:
        read_statement(data, "csv", {"date": "Jour", "label": "Texte", "amount": "Montant"})
    assert "Montant" in str(error.value) and "line 1" in str(error.value)


def test_two_identical_lines_without_reference_are_two_lines(app):
    book()
    data = b"Date;Libelle;Montant\n15/06/2026;VIR SEPA;50,00\n15/06/2026;VIR SEPA;50,00\n"
    settings = company_settings.load(db.session)
    assert import_statement(db.session, data, now=NOW, settings=settings).imported == 2
    assert import_statement(db.session, data, now=NOW, settings=settings).imported == 0
    bigger = data + b"15/06/2026;VIR SEPA;50,00\n"
    assert import_statement(db.session, bigger, now=NOW, settings=settings).imported == 1


@pytest.mark.parametrize("data, where", [
    (b"<?xml version='1.0'?><Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.04'><BkToCstmrStmt><Stmt>"
     b"<Ntry><Amt Ccy='EUR'>12.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-06-15</Dt>"
     b"</BookgDt></Ntry>\n<Ntry><Amt Ccy='EUR'>12,00</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry></Stmt>"
     b"</BkToCstmrStmt></Document>", "line 2, element Amt"),
    (b"<?xml version='1.0'?>\n<Document><BkToCstmrStmt><Stmt>", "line 2"),
    (b"<?xml version='1.0'?><Document><pain.001/></Document>", "element Document"),
    (b"Date;Libelle;Montant\n15/06/2026;VIR;50,00\n31/02/2026;VIR;12,00\n", "line 3"),
    (b"OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><BANKMSGSRSV1><STMTTRNRS>", ""),
])
def test_a_bad_file_names_where_and_saves_nothing(app, data, where):
    book()
    with pytest.raises(StatementError) as error:
        import_statement(db.session, data, now=NOW, settings=company_settings.load(db.session))
    assert where in str(error.value)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(BankLine)) == 0


def test_deleting_the_payment_frees_the_line_and_a_person_records_a_split(app):
    invoices = book()
    auto_on()
    run("camt053_v02.xml")
    line = db.session.scalar(select(BankLine).where(BankLine.amount == Decimal("1000.00")))
    assert line.status == "recorded" and len(line.payments) == 2
    for payment in list(line.payments):
        delete_payment(db.session, payment)
    db.session.commit()
    assert line.status == "matched" and not line.automatic
    assert invoices["FA-2026-0201"].status == "validated"
    # a person splits it differently: 540 on one invoice, 400 on the other, 60 left unexplained
    record_line(db.session, line, [(invoices["FA-2026-0201"], Decimal("540.00")),
                                   (invoices["FA-2026-0202"], Decimal("400.00"))], None, NOW)
    db.session.commit()
    assert line.status == "recorded"
    assert invoices["FA-2026-0202"].remaining_due == Decimal("60.00")
    with pytest.raises(BankLineError):
        record_line(db.session, line, [(invoices["FA-2026-0101"], Decimal("1.00"))], None, NOW)
    other = db.session.scalar(select(BankLine).where(BankLine.amount == Decimal("75.00")))
    with pytest.raises(BankLineError):
        record_line(db.session, other, [(invoices["FA-2026-0101"], Decimal("75.01")),
                                        (invoices["FA-2026-0102"], Decimal("0.00"))], None, NOW)
    ignore_line(db.session, other, None)
    db.session.commit()
    assert other.status == "ignored"


def test_a_paid_claim_is_a_candidate_never_recorded(app):
    invoices = book()
    auto_on()
    invoice = invoices["FA-2026-0301"]
    db.session.add(Answer(invoice_id=invoice.id, customer_id=invoice.customer_id, kind="paid", status="open",
                          amount=Decimal("2400.00"), paid_on=date(2026, 6, 12), hold_until=date(2026, 6, 19)))
    db.session.commit()
    data = b"Date;Libelle;Montant\n15/06/2026;VIREMENT RECU;2400,00\n"
    result = import_statement(db.session, data, now=NOW, settings=company_settings.load(db.session))
    db.session.commit()
    assert (result.automatic, result.proposed) == (0, 1)
    line = db.session.scalar(select(BankLine))
    assert line.rule == "paid_claim" and line.candidates[0]["invoices"] == [invoice.id]
    assert line.candidates[0]["answer"] is not None and not line.payments


def test_the_bank_payment_answers_the_customer_s_paid_claim(app):
    """Recording the line (a person accepting it, or the import recording an exact match) accepts the open "I have
    paid" claim it answers: the agent has nothing left to confirm."""
    invoices = book()
    invoice = invoices["FA-2026-0301"]
    claim = Answer(invoice_id=invoice.id, customer_id=invoice.customer_id, kind="paid", status="open",
                   amount=Decimal("2400.00"), paid_on=date(2026, 6, 12), hold_until=date(2026, 6, 19))
    db.session.add(claim)
    db.session.commit()
    data = b"Date;Libelle;Montant\n15/06/2026;VIREMENT RECU;2400,00\n"
    import_statement(db.session, data, now=NOW, settings=company_settings.load(db.session))
    db.session.commit()
    line = db.session.scalar(select(BankLine))
    accept(db.session, line, 0, None, NOW)
    db.session.commit()
    db.session.refresh(claim)
    assert line.status == "recorded" and claim.status == "accepted" and claim.handled_at == NOW
    assert invoice.remaining_due == Decimal("0.00")

    auto_on()  # the import itself records an exact match: the claim on that invoice is answered as well
    other = invoices["FA-2026-0101"]
    second = Answer(invoice_id=other.id, customer_id=other.customer_id, kind="paid", status="open",
                    amount=other.remaining_due, paid_on=date(2026, 6, 12), hold_until=date(2026, 6, 19))
    db.session.add(second)
    db.session.commit()
    data = f"Date;Libelle;Montant\n16/06/2026;FACTURE {other.number};{other.remaining_due}\n".encode()
    result = import_statement(db.session, data, now=NOW, settings=company_settings.load(db.session))
    db.session.commit()
    db.session.refresh(second)
    assert result.automatic == 1 and second.status == "accepted"


def test_two_invoices_that_could_match_are_proposed(app):
    customer = make_customer(name="Acme Industries")
    first = make_invoice(customer, "300.00", number="AC-1")
    second = make_invoice(customer, "300.00", number="AC-2")
    db.session.commit()
    auto_on()
    data = b"Date;Libelle;Montant;Tiers\n15/06/2026;VIREMENT;300,00;ACME INDUSTRIES SAS\n"
    result = import_statement(db.session, data, now=NOW, settings=company_settings.load(db.session))
    db.session.commit()
    assert (result.automatic, result.proposed) == (0, 1)
    line = db.session.scalar(select(BankLine))
    assert line.rule == "customer_amount"
    assert sorted(i for p in line.candidates for i in p["invoices"]) == sorted([first.id, second.id])


def test_cli_import_statement(app, runner):
    book()
    path = str(DATA / "camt053_v02.xml")
    result = runner.invoke(args=["relance", "import", "statement", path], env={"LANG": "en_US.UTF-8"})
    assert result.exit_code == 0, result.output
    assert "4 credits read, 4 imported, 2 skipped (0 already imported, 1 debits, 1 pending or reversed), " \
           "0 matched automatically, 3 proposed, 1 left." in result.output
    again = runner.invoke(args=["relance", "import", "statement", path, "--format", "camt"],
                          env={"LANG": "en_US.UTF-8"})
    assert "0 imported, 6 skipped (4 already imported" in again.output
    bad = runner.invoke(args=["relance", "import", "statement", str(DATA / "statement_fr.csv"), "--format", "csv",
                              "--columns", "date=Jour"], env={"LANG": "en_US.UTF-8"})
    assert bad.exit_code == 1 and "Jour" in bad.output and "Nothing was imported" in bad.output
    wrong = runner.invoke(args=["relance", "import", "invoices", path, "--format", "camt"])
    assert wrong.exit_code == 2


def test_the_api_imports_a_statement_once_and_refuses_a_bad_one_whole(app, client):
    from tests.test_api import token_for

    book()
    agent = {"Authorization": f"Bearer {token_for('agent')}", "Accept-Language": "en"}
    body = (DATA / "camt053_v02.xml").read_bytes()
    response = client.post("/api/v1/statements?filename=june.xml", data=body, headers=agent,
                           content_type="application/xml")
    assert response.status_code == 200, response.get_json()
    first = response.get_json()
    assert first["imported"] > 0 and first["already"] == 0
    assert first["imported"] == first["automatic"] + first["proposed"] + first["left"]
    assert {line.source_file for line in db.session.scalars(select(BankLine))} == {"june.xml"}
    again = client.post("/api/v1/statements", data=body, headers=agent, content_type="application/xml").get_json()
    assert (again["imported"], again["already"]) == (0, first["imported"])  # the same file adds nothing
    bad = client.post("/api/v1/statements", data=b"<Document><nothing/></Document>", headers=agent,
                      content_type="application/xml")
    assert bad.status_code == 422 and bad.get_json()["error"]["fields"][0]["path"] == "body"
    odd = client.post("/api/v1/statements?format=mt940", data=body, headers=agent, content_type="application/xml")
    assert odd.status_code == 422 and odd.get_json()["error"]["fields"][0]["path"] == "format"
    viewer = {"Authorization": f"Bearer {token_for('viewer')}"}
    assert client.post("/api/v1/statements", data=body, headers=viewer).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(BankLine)) == first["imported"]


def test_a_file_that_is_no_statement_is_refused_with_a_message_never_a_crash(app):
    for data in (b'{"items": [' + b'{"code": "C1"}, ' * 70_000 + b"]}", b"[" * 200_000 + b"]" * 200_000, b"x" * 300_000,
                 b"\x00\xff" * 1000):
        with pytest.raises(StatementError):
            read_statement(data, None, None, "upload")


def test_an_ofx_line_is_dated_the_day_the_bank_wrote():
    """A transaction posted at 00:30 in Paris ("20261204003000[+1:CET]") is the 4th on the customer's statement;
    ofxtools converts it to 3 December 23:30 UTC. The line keeps the day as written, in SGML and in XML."""
    xml = (DATA / "statement_v2.ofx").read_bytes().replace(b"20260615120000.000[+2:CEST]", b"20261204003000[+1:CET]")
    assert {line.booking_date for line in read_statement(xml, "ofx").lines} == {date(2026, 12, 4)}
    sgml = (DATA / "statement_v1.ofx").read_bytes().replace(b"<DTPOSTED>20260615", b"<DTPOSTED>20260616001500[+2:CEST]")
    assert {line.booking_date for line in read_statement(sgml, "ofx").lines} == {date(2026, 6, 16)}
