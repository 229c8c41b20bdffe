"""`flask relance serve` brings up the web server and a worker together; SIGINT stops both."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_runs_web_and_worker_and_stops_cleanly(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
    env.update(RELANCE_INSTANCE_PATH=str(tmp_path), FLASK_APP="wsgi")
    flask = [sys.executable, "-m", "flask"]
    subprocess.run([*flask, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True, timeout=60)
    port = _free_port()
    proc = subprocess.Popen([*flask, "relance", "serve", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        health = None
        while True:  # 503 ("no worker has reported yet") until the worker's first heartbeat, then 200
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = json.load(response)
                break
            except urllib.error.HTTPError as exc:
                health = json.load(exc)
                assert exc.code == 503 and health["status"] == "fail", health
            except OSError:
                pass
            assert time.monotonic() < deadline, f"server or worker did not start: {health}"
            time.sleep(0.3)
        assert health["status"] == "ok" and health["checks"]["worker"]["pid"], health
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
            assert response.status == 200
        while not any("Huey consumer started" in line for line in lines):
            assert time.monotonic() < deadline, "worker did not start"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=10)
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert "Huey consumer started" in output and "Consumer exiting" in output and "Relance stopped." in output
