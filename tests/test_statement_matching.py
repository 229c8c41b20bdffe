"""Acceptance 1 of issue 21: a generated camt.053 of 200 credits (and 5 debits) against 500 open invoices: invoice
numbers in odd forms (spaces, dashes, slashes, lower case, inside longer text), RF references (structured and in
the label in groups of four), amounts matching one invoice or the exact sum of several, ambiguous amounts, a
number paid by another known customer, paid claims, and unrelated lines. Each line is checked against its expected
answer (status, rule, invoices, payments): a wrong automatic match fails the test. Importing it again adds nothing."""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import Decimal
from itertools import combinations

import pytest
from sqlalchemy import func, select

from relance.extensions import db
from relance.models import Answer, BankLine, Invoice, Payment
from relance.services import settings as company_settings
from relance.services.data_in.bank_lines import import_statement
from relance.services.data_in.matching import rf_reference
from tests.factories import make_customer, make_invoice
from tests.statement_samples import Credit, camt053

NOW = datetime(2026, 6, 16, 7, 0)
CUSTOMERS, PER_CUSTOMER = 100, 5


def number(i: int) -> str:
    return f"FA-2026-{i + 1:05d}"


def odd_forms(n: str) -> list[str]:
    digits = n.rsplit("-", 1)[1]
    return [n, n.lower(), n.replace("-", " "), n.replace("-", ""), n.replace("-", "/"),
            f"Paiement facture {n.lower()} du 12/05/2026 merci", f"VIR SEPA {n.replace('-', '')} CLIENT",
            f"REF:{n}.", f"fa 2026 {digits}", f"Facture n° {n.replace('-', ' - ')} solde"]


def build(rng: random.Random):
    """The customers, 500 invoices, the paid claims; the credits with their expected answers:
    ref -> (status with the setting on, rule, [invoice numbers of the first proposal], [numbers paid])."""
    customers = [make_customer(name=f"Client {c:03d} Industries") for c in range(CUSTOMERS)]
    amounts: list[Decimal] = []
    used: set[Decimal] = set()
    for _i in range(CUSTOMERS * PER_CUSTOMER):
        while True:
            value = Decimal(rng.randint(10_000, 900_000)) / 100
            if value not in used:
                used.add(value)
                amounts.append(value)
                break
    for c in range(40, 50):  # two invoices of the same amount: a customer + amount match is ambiguous
        amounts[5 * c + 1] = amounts[5 * c]
    invoices = [make_invoice(customers[i // PER_CUSTOMER], amounts[i], number=number(i))
                for i in range(CUSTOMERS * PER_CUSTOMER)]
    for c in range(90, 100):  # paid claims from the customer's page
        invoice = invoices[5 * c]
        db.session.add(Answer(invoice_id=invoice.id, customer_id=invoice.customer_id, kind="paid", status="open",
                              amount=invoice.total_incl_tax, paid_on=date(2026, 6, 10),
                              hold_until=date(2026, 6, 17)))
    db.session.commit()

    credits: list[Credit] = []
    expected: dict[str, tuple[str, str, list[str], list[str]]] = {}

    def add(credit: Credit, status: str, rule: str, first: list[int], paid: list[int] | None = None) -> None:
        credit.ref = f"L{len(credits):04d}"
        credits.append(credit)
        expected[credit.ref] = (status, rule, [number(i) for i in first], [number(i) for i in (paid or [])])

    def who(c: int) -> str:
        return f"CLIENT {c:03d} INDUSTRIES SARL"

    for i in range(40):  # (a) the number in an odd form, the exact amount
        form = odd_forms(number(i))[i % 10]
        add(Credit(amounts[i], form, name=who(i // 5) if i % 2 else ""), "recorded", "invoice_number", [i], [i])
    for i in range(40, 60):  # (a) the number, a partial payment: proposed
        add(Credit(amounts[i] - Decimal("10.00"), f"acompte {number(i)}"), "matched", "invoice_number", [i])
    for i in range(60, 80):  # (b) an RF reference, structured or in the label in groups of four
        rf = rf_reference(number(i))
        if i % 2:
            add(Credit(amounts[i], "VIR SEPA RECU", reference=rf), "recorded", "rf_reference", [i], [i])
        else:
            grouped = " ".join(rf[k:k + 4] for k in range(0, len(rf), 4))
            add(Credit(amounts[i], f"VIR {grouped} MERCI"), "recorded", "rf_reference", [i], [i])
    for c in range(20, 40):  # (c) the customer by name + one invoice's exact amount
        i = 5 * c + 2
        add(Credit(amounts[i], "VIREMENT", name=who(c)), "recorded", "customer_amount", [i], [i])
    for c in range(40, 50):  # (c) two invoices of that amount: proposed, never recorded
        add(Credit(amounts[5 * c], "VIREMENT", name=who(c)), "matched", "customer_amount", [5 * c])
    for c in range(50, 70):  # (d) the customer + the exact sum of two or three invoices
        chosen = [5 * c + 1, 5 * c + 3] + ([5 * c + 4] if c % 2 else [])
        total = sum((amounts[i] for i in chosen), Decimal(0))
        own = [amounts[i] for i in range(5 * c, 5 * c + 5)]
        fits = [s for k in range(1, 6) for s in combinations(own, k) if sum(s, Decimal(0)) == total]
        assert len(fits) == 1, "the seed must give one set"
        add(Credit(total, "REGLEMENT FACTURES", name=who(c)), "recorded", "customer_sum", sorted(chosen),
            sorted(chosen))
    for c in range(70, 80):  # (a) two numbers named, the amount is their sum
        pair = [5 * c, 5 * c + 1]
        add(Credit(amounts[pair[0]] + amounts[pair[1]], f"Factures {number(pair[0])} et {number(pair[1])}"),
            "recorded", "invoice_number", pair, pair)
    for c in range(80, 90):  # (a) the number, but paid by another known customer: proposed
        add(Credit(amounts[5 * c], f"FACTURE {number(5 * c)}", name=who(c - 60)), "matched", "invoice_number",
            [5 * c])
    for c in range(90, 100):  # a paid claim of that amount, nothing else: proposed
        add(Credit(amounts[5 * c], "VIREMENT RECU"), "matched", "paid_claim", [5 * c])
    unrelated = ["LOYER JUIN", "VIR INTERNE EPARGNE", "REMBOURSEMENT SECU", "FACTURE FA-2026-99999",
                 "FA-2026-000012", "FA-2026-0001", "RF00FA202600045", "ref FA 2026", "INTERETS CREDITEURS",
                 "VIR DE MME DURAND"]
    for k in range(40):
        while True:
            value = Decimal(rng.randint(100, 2_000_000)) / 100
            if value not in used:
                used.add(value)
                break
        if k % 8 == 7:  # an invoice's exact amount, nobody named: nothing to go on
            value = amounts[40 + k // 8]
        add(Credit(value, unrelated[k % len(unrelated)], name="SOCIETE INCONNUE" if k % 3 == 0 else ""),
            "new", "", [])
    order = list(range(len(credits)))
    rng.shuffle(order)
    shuffled = [credits[k] for k in order]
    for k in range(5):  # debits: skipped and counted
        shuffled.insert(k * 40, Credit(Decimal("12.34") + k, "PRLV FOURNISSEUR", ref=f"D{k}", debit=True))
    return invoices, shuffled, expected


@pytest.mark.parametrize("auto", [True, False], ids=["auto", "proposals"])
def test_200_lines_against_500_invoices(app, auto):
    invoices, credits, expected = build(random.Random(21))
    company_settings.save(db.session, {"statement_auto_record": auto})
    db.session.commit()
    data = camt053(credits, version="05")
    result = import_statement(db.session, data, now=NOW, settings=company_settings.load(db.session),
                              filename="generated.xml")
    db.session.commit()
    assert (result.read, result.statement.debits, result.imported) == (200, 5, 200)
    if auto:
        assert (result.automatic, result.proposed, result.left) == (110, 50, 40)
    else:
        assert (result.automatic, result.proposed, result.left) == (0, 160, 40)

    by_id = {i.id: i.number for i in invoices}
    wrong = []
    for line in db.session.scalars(select(BankLine)):
        status, rule, first, paid = expected[line.entry_ref]
        if not auto:
            status, paid = ("matched" if status == "recorded" else status), []
        got = (line.status, line.rule, sorted(by_id[i] for i in line.candidates[0]["invoices"])
               if line.candidates else [], sorted(p.invoice.number for p in line.payments))
        if got != (status, rule, sorted(first), sorted(paid)):
            wrong.append((line.entry_ref, line.label, str(line.amount), got, (status, rule, first, paid)))
    assert not wrong, "\n".join(map(str, wrong))

    paid_numbers = {n for s, _r, _f, paid in expected.values() if s == "recorded" for n in paid} if auto else set()
    for invoice in invoices:
        db.session.refresh(invoice)
        assert (invoice.status == "paid") == (invoice.number in paid_numbers), invoice.number
    payments = db.session.scalar(select(func.count()).select_from(Payment))
    assert payments == (150 if auto else 0)

    again = import_statement(db.session, data, now=NOW, settings=company_settings.load(db.session))
    db.session.commit()
    assert (again.already, again.imported, again.automatic) == (200, 0, 0)
    assert db.session.scalar(select(func.count()).select_from(BankLine)) == 200
    assert db.session.scalar(select(func.count()).select_from(Payment)) == payments


def test_camt054_notification_read_too(app):
    customer = make_customer(name="Notified SA")
    invoice = make_invoice(customer, "80.00", number="NT-77")
    db.session.commit()
    data = camt053([Credit(Decimal("80.00"), "Rechnung NT 77", ref="N1")], version="04", message="054")
    result = import_statement(db.session, data, now=NOW, settings=company_settings.load(db.session))
    assert (result.statement.format, result.statement.version) == ("camt.054", "camt.054.001.04")
    assert result.proposed == 1
    line = db.session.scalar(select(BankLine))
    assert line.candidates[0]["invoices"] == [invoice.id]
    assert db.session.get(Invoice, invoice.id).status == "validated"
