"""Acceptance 2 of issue 21: after a bank statement import that records payments (`flask relance import statement`,
setting `statement_auto_record` on), the next automatic run (`autorun.run_auto`) sends nothing to the customers whose
invoices were paid, and still reminds the one who did not pay. A real aiosmtpd server receives the emails. SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from relance.extensions import db
from relance.models import BankLine, Invoice
from relance.services import settings as settings_service
from relance.services.data_in.matching import rf_reference
from relance.services.sending import autorun
from tests.factories import install_live_defaults, make_customer, make_invoice
from tests.smtp import smtp_factory, smtp_server  # noqa: F401
from tests.statement_samples import Credit, camt053

ON = date(2026, 2, 2)  # level 1 (+15 days) of the invoices due on 10 January is due


@pytest.fixture
def company(app, smtp_server):  # noqa: F811
    install_live_defaults(db.session)
    settings_service.save(db.session, {"sender_email": "compta@vendor.example", "company_name": "Vendor SAS",
                                       "default_language": "en", "statement_auto_record": True})
    db.session.commit()
    smtp_server.configure(app)
    return smtp_server


def recipients(server) -> list[str]:
    return sorted(r for received in server.handler.received for r in received.rcpt_tos)


def test_customers_paid_by_the_statement_get_nothing_from_the_next_run(company, runner, tmp_path):
    paid_by_number = make_customer(name="Alpha SARL", email="ap@alpha.example", language="en")
    paid_by_rf = make_customer(name="Beta GmbH", email="ap@beta.example", language="en")
    unpaid = make_customer(name="Gamma SA", email="ap@gamma.example", language="en")
    alpha = make_invoice(paid_by_number, "1200.00", due=date(2026, 1, 10), number="FA-2026-0042")
    beta = make_invoice(paid_by_rf, "480.50", due=date(2026, 1, 10), number="FA-2026-0043")
    gamma = make_invoice(unpaid, "99.00", due=date(2026, 1, 10), number="FA-2026-0044")
    db.session.commit()
    statement = tmp_path / "releve.xml"
    statement.write_bytes(camt053([
        Credit(Decimal("1200.00"), "VIR SEPA ALPHA REGLEMENT FACTURE fa 2026 0042", name="ALPHA", ref="A1",
               booked=date(2026, 2, 1)),
        Credit(Decimal("480.50"), "", reference=rf_reference("FA-2026-0043"), name="BETA", ref="B1",
               booked=date(2026, 2, 1)),
        Credit(Decimal("99.00"), "VIR SANS REFERENCE", name="PARTICULIER", ref="C1", booked=date(2026, 2, 1)),
    ], version="02"))

    imported = runner.invoke(args=["relance", "import", "statement", str(statement)], env={"LANG": "en_US.UTF-8"})
    assert imported.exit_code == 0, imported.output
    assert "2 matched automatically, 0 proposed, 1 left." in imported.output
    db.session.expire_all()
    assert [db.session.get(Invoice, i.id).status for i in (alpha, beta, gamma)] == ["paid", "paid", "validated"]
    assert {line.status for line in db.session.scalars(select(BankLine))} == {"recorded", "new"}

    run = autorun.run_auto(db.session, ON)

    assert run.status == "done" and (run.sent, run.failed) == (1, 0)
    assert recipients(company) == ["ap@gamma.example"]
    assert b"FA-2026-0044" in company.handler.received[0].raw
    assert not any(b"FA-2026-0042" in r.raw or b"FA-2026-0043" in r.raw for r in company.handler.received)
