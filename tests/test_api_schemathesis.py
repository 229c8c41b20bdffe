"""Schemathesis fuzzes the live API from its own OpenAPI document: no 5xx, every answer as documented.

All checks run except `positive_data_acceptance`: a request can match the schema and still be refused
(422) for a domain reason the schema can't express (an unknown customer code, an overpayment, a due date
before the issue date); the other checks still verify that those 422 answers have the documented shape.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from relance.extensions import db
from relance.models import ApiToken
from tests.factories import make_customer, make_invoice, make_user

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.mark.slow
def test_schemathesis_finds_nothing(live_server, tmp_path):
    with live_server.app.app_context():
        token, clear = ApiToken.issue(make_user(role="agent"), "schemathesis")
        db.session.add(token)
        customer = make_customer("C1")
        make_invoice(customer, number="FA-1", total="1000.00")
        db.session.commit()
    command = [
        str(SCHEMATHESIS), "run", f"{live_server.url}/api/v1/openapi.json",
        "--header", f"Authorization: Bearer {clear}",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--max-examples", "25", "--seed", "20260115", "--workers", "2",
        "--generation-database", "none", "--request-timeout", "30", "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert "Tested: 14" in output, output[-3000:]  # every operation of the document was exercised
    print(output[-1500:])
