"""The instance folder and the secret key: private to the user Relance runs as.

`prepare(folder)` is the one place that sets the process's file mode mask to 0o077, so everything Relance creates
(the SQLite database and its -wal/-shm files, Huey's SQLite queue, the outbox, files/, pending imports, the secret
key) is created 0o600 (files) / 0o700 (folders), whoever writes it later; it creates the instance folder 0o700 and
takes group and other access away from an existing one that the current user owns (an install made before this
rule). It runs before anything is written: from `config.load_config` (web server, CLI, worker; Huey's queue is
opened later, by `tasks.init_app`). Consequence for an install: the web
server, the worker and the CLI run as the same user (README "Instance files").

`secret_key(folder)`: RELANCE_SECRET_KEY, else the key in `<instance>/secret_key`, made on first start: created with
O_CREAT|O_EXCL and mode 0o600 in one step, so of two processes starting at once (two gunicorn workers on a fresh
install) one writes the key and the other reads the same key, never one of its own.
"""

from __future__ import annotations

import os
import secrets
import stat
import time
from pathlib import Path

UMASK = 0o077
KEY_FILE = "secret_key"
KEY_WAIT_SECONDS = 5.0


class KeyFileError(Exception):
    """The secret key file exists but holds no key (a start was killed while writing it)."""


def prepare(folder: Path) -> Path:
    """Private files from now on (umask 0o077) and the instance folder `folder`, private; returns it."""
    os.umask(UMASK)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid == os.geteuid() and info.st_mode & 0o077 and not info.st_mode & stat.S_ISVTX:
        folder.chmod(stat.S_IMODE(info.st_mode) & 0o700)
    return folder


def secret_key(folder: Path) -> str:
    """The key kept in `<folder>/secret_key`, written by the first process that starts (see the module)."""
    path = folder / KEY_FILE
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return _read_key(path)
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def _read_key(path: Path) -> str:
    """The winner's key: the file exists from its creation on, the key a moment later."""
    deadline = time.monotonic() + KEY_WAIT_SECONDS
    while True:
        key = path.read_text().strip()
        if key:
            return key
        if time.monotonic() > deadline:
            raise KeyFileError(f"{path} is empty: delete it (a new key is made at the next start, open sessions "
                               "end) or set RELANCE_SECRET_KEY")
        time.sleep(0.02)
