"""Schemathesis fuzzes the live API from its own OpenAPI document: no 5xx, every answer as documented.

All checks run except `positive_data_acceptance`: a request can match the schema and still be refused
(422) for a domain reason the schema can't express (an unknown customer code, an overpayment, a due date
before the issue date); the other checks still verify that those 422 answers have the documented shape.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

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
        "--max-examples", "15", "--seed", "20260115", "--workers", "2",
        "--generation-database", "none", "--request-timeout", "30", "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert "Tested: 17" in output, output[-3000:]  # every operation of the document was exercised
    print(output[-1500:])
    _big_and_deep_bodies(live_server.url, clear)


def _big_and_deep_bodies(url: str, clear: str) -> None:
    """What schemathesis does not generate, on every operation of the document that takes a JSON body, over HTTP:
    a body over the size limit (with and without Content-Length), nesting far past the depth limit, the largest
    body allowed made of many records, and long strings. Refused with the documented 400/413/422 error, never 5xx."""
    document = requests.get(f"{url}/api/v1/openapi.json", timeout=30).json()
    assert document["servers"][0]["url"].startswith(url), document["servers"]
    headers = {"Authorization": f"Bearer {clear}", "Content-Type": "application/json", "Accept-Language": "en"}
    limit = 1024 * 1024
    many = json.dumps({"items": [{"code": f"C{n:06d}", "name": "x" * 40} for n in range(limit // 60)]})[:limit - 10]
    bodies = {
        "over the size limit": b'{"items": [' + b'{"code": "C1"}, ' * (limit // 15) + b'{"code": "C1"}]}',
        "nested 200,000 deep": b"[" * 200_000 + b"]" * 200_000,
        "dicts nested 5,000 deep": b'{"a": ' * 5_000 + b"1" + b"}" * 5_000,
        "many records, cut short": many.encode(),
        "long strings": json.dumps({"items": [{"code": "C" * 100_000, "name": "n" * 500_000}],
                                    "number": "9" * 100_000}).encode(),
    }
    operations = [(method.upper(), path) for path, item in document["paths"].items()
                  for method, spec in item.items() if isinstance(spec, dict)
                  and "application/json" in spec.get("requestBody", {}).get("content", {})]  # a statement: a file
    assert len(operations) >= 3, operations
    seen = []
    with requests.Session() as http:
        for method, path in operations:
            target = document["servers"][0]["url"] + path.replace("{number}", "FA-1").replace("{code}", "C1")
            for name, body in bodies.items():
                response = http.request(method, target, data=body, headers=headers, timeout=60)
                seen.append((method, path, name, response.status_code))
                assert response.status_code in (400, 404, 413, 422), (method, path, name, response.text[:300])
                assert response.json()["error"]["status"] == response.status_code, (method, path, name)
            chunked = http.request(method, target, data=iter([bodies["over the size limit"]]), headers=headers,
                                   timeout=60)  # a generator: sent in chunks, no Content-Length
            assert chunked.status_code in (400, 413), (method, path, chunked.text[:300])
    print(f"big and deep bodies: {len(seen)} requests, statuses {sorted({s[-1] for s in seen})}")
