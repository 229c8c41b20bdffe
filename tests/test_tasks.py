"""The task queue is built from the app's configuration (`tasks.init_app`), not from the environment at import:
its storage (Redis, the SQLite file, memory in immediate mode) and the app whose context its tasks run in."""

from __future__ import annotations

import pytest
from flask import Flask
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

from relance import tasks


def probe_app(tmp_path, **config) -> Flask:
    app = Flask("probe")
    app.config.update({"REDIS_URL": None, "HUEY_SQLITE_PATH": str(tmp_path / "queue" / "huey.db"),
                       "HUEY_IMMEDIATE": False, **config})
    return app


def test_a_queue_has_no_storage_before_init_app():
    queue = tasks.AppHuey("probe")
    noop = queue.task()(lambda: None)
    with pytest.raises(RuntimeError, match="init_app"):
        noop()


def test_the_storage_comes_from_the_app_config(tmp_path):
    queue = tasks.AppHuey("probe")
    app = probe_app(tmp_path)
    queue.init_app(app)
    assert isinstance(queue.storage, SqliteStorage) and queue.storage.filename == str(tmp_path / "queue" / "huey.db")
    assert app.extensions["huey"] is queue and queue.app is app and not queue.immediate
    queue.init_app(probe_app(tmp_path, REDIS_URL="redis://127.0.0.1:1/0"))  # nothing connects yet
    assert isinstance(queue.storage, RedisStorage)
    queue.init_app(probe_app(tmp_path, REDIS_URL="redis://127.0.0.1:1/0", HUEY_IMMEDIATE=True))
    assert isinstance(queue.storage, MemoryStorage) and queue.immediate


def test_the_app_keeps_the_queue_its_tasks_are_declared_on(app):
    assert app.extensions["huey"] is tasks.huey and tasks.huey.app is app
    assert tasks.ping.huey is tasks.huey
    assert tasks.ping(21)() == {"value": 42, "database": app.extensions["sqlalchemy"].engine.dialect.name}
