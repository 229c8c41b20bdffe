"""bench/office.py in a reduced form: web server + worker on SQLite (the embedded default), a mass letter run while
an office client records payments and edits customers over HTTP: no answer is a 500 (issue 15)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_office_writes_during_a_mass_letter_run_never_answer_500():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "bench/office.py", "--letters", "20", "--clients", "1"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=540)
    summary = [line for line in result.stdout.splitlines() if line.startswith("office ")]
    assert result.returncode == 0 and len(summary) == 1, result.stdout + result.stderr[-5000:]
    values = dict(re.findall(r"(\w+)=(\S+)", summary[0]))
    assert values["letters"] == "20" and values["errors"] == "0" and values["http4xx"] == "0", summary[0]
    assert int(values["writes"]) >= 2, summary[0]  # the client wrote while the run went on
