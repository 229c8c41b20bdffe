"""A real Huey consumer process runs a task enqueued by another process (Redis and SQLite storage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.conftest import REDIS_URL, need_service

CLIENT = """
import json
from relance import tasks
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
    return env


def test_real_consumer_returns_a_task_result(worker_env):
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
