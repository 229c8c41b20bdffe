"""The instance folder and what Relance writes in it are private to the user it runs as (relance/instance.py), and
the secret key is made once even when several processes start together on a fresh install."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from relance import create_app, instance
from relance.extensions import db

ROOT = Path(__file__).resolve().parent.parent

# A process that imports Relance, says it is ready, waits for `go` to exist, then starts like a gunicorn worker
# does (create_app -> load_config) and prints the key it got.
STARTER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from relance.config import load_config
    Path(sys.argv[3]).touch()
    go = Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.0005)
    print(load_config({"INSTANCE_PATH": sys.argv[1], "SQLALCHEMY_DATABASE_URI": "sqlite://"})["SECRET_KEY"])
""")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.slow
def test_processes_starting_together_share_one_key(tmp_path):
    folder = tmp_path / "fresh"  # an empty instance: no folder, no key yet
    env = {k: v for k, v in os.environ.items() if k != "RELANCE_SECRET_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    for attempt in range(2):
        go = tmp_path / f"go-{attempt}"
        ready = [tmp_path / f"ready-{attempt}-{n}" for n in range(4)]
        starters = [subprocess.Popen([sys.executable, "-c", STARTER, str(folder), str(go), str(flag)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for flag in ready]
        deadline = time.monotonic() + 120
        while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()  # every process is at the gate: they start together
        results = [p.communicate(timeout=60) for p in starters]
        assert all(p.returncode == 0 for p in starters), [err[-1500:] for _out, err in results]
        keys = {out.strip() for out, _err in results}
        assert len(keys) == 1 and len(keys.pop()) == 64
        key_file = folder / "secret_key"
        assert _mode(key_file) == 0o600 and _mode(folder) == 0o700
        assert {out.strip() for out, _err in results} == {key_file.read_text()}
        key_file.unlink()  # the next attempt races on a fresh install again


def test_starts_racing_in_threads_share_one_key(tmp_path):
    """The same race in one process (the fast suite's version of the test above)."""
    import threading

    for attempt in range(5):
        folder = tmp_path / f"i{attempt}"
        instance.prepare(folder)
        gate, keys = threading.Barrier(8), []

        def start(folder=folder, gate=gate, keys=keys):
            gate.wait()
            keys.append(instance.secret_key(folder))

        threads = [threading.Thread(target=start) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(keys) == 8 and len(set(keys)) == 1 and keys[0] == (folder / "secret_key").read_text()
        assert _mode(folder / "secret_key") == 0o600


def test_a_process_that_loses_the_race_waits_for_the_key(tmp_path, monkeypatch):
    key_file = tmp_path / "secret_key"
    key_file.touch(mode=0o600)  # the winner created the file and is about to write the key
    monkeypatch.setattr(instance, "KEY_WAIT_SECONDS", 0.5)
    import threading

    threading.Timer(0.1, lambda: key_file.write_text("k" * 64)).start()
    assert instance.secret_key(tmp_path) == "k" * 64


def test_an_empty_key_file_is_reported(tmp_path, monkeypatch):
    (tmp_path / "secret_key").touch()
    monkeypatch.setattr(instance, "KEY_WAIT_SECONDS", 0.05)
    from relance.config import ConfigError, load_config

    try:
        load_config({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    except ConfigError as exc:
        assert "secret_key is empty" in str(exc)
    else:
        raise AssertionError("no ConfigError")


def test_files_relance_creates_are_private(tmp_path):
    folder = tmp_path / "instance"
    app = create_app({"INSTANCE_PATH": str(folder), "TESTING": True, "BABEL_DEFAULT_LOCALE": "en",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'relance.db'}"})
    assert _mode(folder) == 0o700
    with app.app_context():
        db.create_all()
        db.session.remove()
        db.engine.dispose()
    assert _mode(folder / "relance.db") == 0o600
    assert _mode(folder / "secret_key") == 0o600
    assert _mode(folder / "huey.db") == 0o600  # Huey's SQLite queue, opened by tasks.init_app
    from relance.services import files
    from relance.services.sending.mailer import FileOutbox, Outgoing

    with app.app_context():
        files.write_atomic("letters/2026/x.pdf", b"%PDF-1.4")
        outcome, = FileOutbox(app.config["OUTBOX_PATH"]).send_batch(
            [Outgoing(ref=1, sender="a@example.com", to=["b@example.com"], subject="s", text="t")])
    for made in (folder / "files", folder / "files" / "letters" / "2026", folder / "outbox"):
        assert _mode(made) == 0o700, made
    for made in (folder / "files" / "letters" / "2026" / "x.pdf", Path(outcome.path)):
        assert _mode(made) == 0o600, made


def test_an_existing_instance_folder_is_made_private(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "secret_key").write_text("k" * 64)
    instance.prepare(folder)
    assert _mode(folder) == 0o700
    assert instance.secret_key(folder) == "k" * 64


def test_a_shared_folder_is_left_alone(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: sticky, for everyone
    instance.prepare(shared)
    assert _mode(shared) == 0o1777
