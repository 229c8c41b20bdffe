"""A real Huey consumer process runs a task enqueued by another process (Redis and SQLite storage), and writes
its heartbeat (row "worker" of service_states, read by /healthz) when it starts."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, need_service

ROOT = Path(__file__).resolve().parent.parent

CLIENT = """
import json
from relance import create_app, tasks
create_app()  # the queue of the app's configuration (tasks.init_app)
result = tasks.ping(21)
print(json.dumps(result.get(blocking=True, timeout=60)))
"""


@pytest.fixture(params=["sqlite", "redis"])
def worker_env(request, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
    env["RELANCE_INSTANCE_PATH"] = str(tmp_path / "instance")
    env["RELANCE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'worker.db'}"
    if request.param == "redis":
        url = need_service(REDIS_URL, "Redis (RELANCE_TEST_REDIS_URL)")
        import redis

        redis.Redis.from_url(url).flushdb()
        env["RELANCE_REDIS_URL"] = url
    env["RELANCE_TEST_RUN"] = uuid.uuid4().hex
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True, timeout=120)
    return env


@pytest.mark.slow
def test_real_consumer_returns_a_task_result_and_beats(worker_env, tmp_path):
    consumer = subprocess.Popen(
        [sys.executable, "relance/worker.py", "-w", "2"], env=worker_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        client = subprocess.run([sys.executable, "-c", CLIENT], env=worker_env, capture_output=True, text=True,
                                timeout=90)
        assert client.returncode == 0, client.stderr
        assert json.loads(client.stdout.strip().splitlines()[-1]) == {"value": 42, "database": "sqlite"}
    finally:
        consumer.terminate()
        output, _ = consumer.communicate(timeout=30)
    assert "relance.tasks.ping" in output
    with sqlite3.connect(tmp_path / "worker.db") as conn:
        ok, data = conn.execute("SELECT ok, data FROM service_states WHERE name = 'worker'").fetchone()
    assert ok and json.loads(data)["pid"] == consumer.pid  # written by the consumer as it started
