"""Imports waiting between their upload and their confirmation: the file checked once, its plan kept.

An upload waits in a folder (the instance's `imports/`) under a generated token (`stage`), with a small JSON file
(`<token>.json`) saying who uploaded it, what it holds, where its check stands (state, rows read / total) and,
once checked, what it will do (`summary`). `check` has it read and checked once (`reading.plan_csv`): at once for
a small file, by the worker for a larger one (the `enqueue` given: `tasks.check_import`, which calls `prepare`)
while the page polls its progress. The plan is kept (`<token>.plan`, pickled) with the digest of the database
rows it relies on (`plan.basis`); `confirm` applies it without reading the file again, unless one of those rows
changed since: then nothing is written and the file is checked again (`restage`, then `check`) for a new preview.

Files, private (0600, written whole through a temporary file): `<token>.csv` (the upload, kept for a new check
until the import is done, cancelled or expired; removed as soon as a check finds errors), `<token>.json`,
`<token>.plan` (written by this module only: the folder is the instance's, 0700). Only the uploader finds them
(`find`), for PENDING_HOURS after the upload. The caller commits; nothing here reads the request.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pickle
import re
import secrets
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from relance.services.data_in import plan as planning
from relance.services.data_in import reading
from relance.services.data_in.apply import apply_plan
from relance.services.data_in.plan import ImportPlan

log = logging.getLogger(__name__)

PENDING_HOURS = 24
STALE_SECONDS = 120  # a check that wrote no progress for this long stopped (its worker was killed)
SLOW_QUEUE_SECONDS = 30  # a check still queued after this long: the page says the worker may be down
PROGRESS_SECONDS = 0.5  # the progress is written at most this often
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")

QUEUED, READING, CHECKING, DONE, FAILED = "queued", "reading", "checking", "done", "failed"
RUNNING = (QUEUED, READING, CHECKING)


class QueueDown(Exception):
    """The background worker's queue could not take the check: nothing was kept."""


class Gone(LookupError):
    """The preview expired, was cancelled, imported, or is being imported by another request."""


@dataclass
class Pending:
    """An upload waiting for its confirmation: its token, folder and what its JSON file says."""

    token: str
    folder: Path
    meta: dict

    def path(self, suffix: str) -> Path:
        return self.folder / f"{self.token}{suffix}"

    @property
    def state(self) -> str:
        return self.meta.get("state", FAILED)

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "")

    @property
    def filename(self) -> str:
        return self.meta.get("filename", "")

    @property
    def size(self) -> int:
        return int(self.meta.get("size") or 0)

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED)

    @property
    def ok(self) -> bool:
        """Checked without error: it may be confirmed."""
        return self.state == DONE and bool(self.summary.get("ok"))

    @property
    def summary(self) -> dict:
        """Once checked: ok, rows, created, updated, unchanged, errors."""
        return self.meta.get("summary") or {}

    @property
    def read(self) -> int:
        return int(self.meta.get("read") or 0)

    @property
    def total(self) -> int:
        return int(self.meta.get("total") or 0)

    @property
    def percent(self) -> int:
        return min(100, self.read * 100 // self.total) if self.total else 0

    @property
    def error(self) -> str:
        """Why a check failed: "crashed" (an unexpected error, logged), "stalled" (its worker stopped)."""
        return self.meta.get("error") or ""

    @property
    def changed_since(self) -> bool:
        """Checked again at the confirmation because the data it relied on changed."""
        return bool(self.meta.get("changed_since"))

    @property
    def slow_queue(self) -> bool:
        """Still waiting for a worker after SLOW_QUEUE_SECONDS (is the worker running?)."""
        return self.state == QUEUED and bool(self.meta.get("waiting_long"))

    def plan(self) -> ImportPlan | None:
        """The checked plan (None before the check ends, or when its file is gone)."""
        try:
            data = self.path(".plan").read_bytes()
        except FileNotFoundError:
            return None
        plan = pickle.loads(data)  # noqa: S301 (written by `prepare` only, in the private instance folder)
        return plan if isinstance(plan, ImportPlan) else None


def folder(instance_path: str | Path) -> Path:
    """The folder of the pending imports under the instance folder (made private when missing)."""
    path = Path(instance_path) / "imports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _write(path: Path, data: bytes) -> None:
    """`data` into `path`, mode 0600, through a temporary file renamed when complete."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _save_meta(pending: Pending) -> None:
    _write(pending.path(".json"), json.dumps(pending.meta).encode())


def _read(folder_path: Path, token: str) -> Pending | None:
    if not TOKEN.match(token or ""):
        return None
    try:
        meta = json.loads((folder_path / f"{token}.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return Pending(token, folder_path, meta) if isinstance(meta, dict) else None


def purge(folder_path: Path, now: float | None = None) -> None:
    """Forget the abandoned uploads: every file not written for PENDING_HOURS."""
    limit = (now or time.time()) - PENDING_HOURS * 3600
    for path in folder_path.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            continue


def stage(folder_path: Path, data: bytes, *, kind: str, filename: str, size: int, user_id: int,
          now: float | None = None) -> Pending:
    """Keep an upload for its check (`check`); returns it queued."""
    now = now or time.time()
    purge(folder_path, now)
    pending = Pending(secrets.token_urlsafe(24), folder_path, {
        "user_id": user_id, "kind": kind, "filename": filename, "size": max(size, len(data)), "at": now,
        "state": QUEUED, "read": 0, "total": 0, "beat": now})
    _write(pending.path(".csv"), data)
    _save_meta(pending)
    return pending


def find(folder_path: Path, token: str, user_id: int, kind: str | None = None,
         now: float | None = None) -> Pending | None:
    """The upload of this token if `user_id` made it (of this kind, when given) and it has not expired."""
    pending = _read(folder_path, token)
    if pending is None or pending.meta.get("user_id") != user_id or (kind is not None and pending.kind != kind):
        return None
    now = now or time.time()
    if float(pending.meta.get("at") or 0) < now - PENDING_HOURS * 3600:
        return None
    if pending.state in (READING, CHECKING) and float(pending.meta.get("beat") or 0) < now - STALE_SECONDS:
        pending.meta.update(state=FAILED, error="stalled")  # its worker stopped: said, not written
    elif pending.state == QUEUED and float(pending.meta.get("beat") or 0) < now - SLOW_QUEUE_SECONDS:
        pending.meta["waiting_long"] = True
    return pending


def check(session: Session, pending: Pending, today: date, *, max_rows: int, background_bytes: int,
          enqueue: Callable[[str], object]) -> Pending:
    """Have a staged upload checked: by the worker (`enqueue(token)`) when it is larger than `background_bytes`
    (and not larger than the largest file read), else here and now. Returns its state after that (checked
    already when the queue runs its tasks at once). `QueueDown` when the queue can't take it (the upload is
    forgotten)."""
    if in_background(pending, background_bytes):
        try:
            enqueue(pending.token)
        except Exception as exc:  # noqa: BLE001 (the queue's storage is unreachable: redis, the SQLite file)
            drop(pending.folder, pending.token)
            raise QueueDown() from exc
        return _read(pending.folder, pending.token) or pending
    return prepare(session, pending.folder, pending.token, today, max_rows=max_rows) or pending


def in_background(pending: Pending, background_bytes: int) -> bool:
    """Whether `check` has the worker check this upload (larger than `background_bytes`; a file too large to be
    read is refused at once)."""
    return background_bytes < pending.size <= reading.MAX_BYTES


class _Progress:
    """plan_records' progress callback: rows read / total into the JSON file, at most every PROGRESS_SECONDS."""

    def __init__(self, pending: Pending):
        self.pending, self.written = pending, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.time()
        if done < total and now - self.written < PROGRESS_SECONDS:
            return
        self.pending.meta.update(state=CHECKING, read=done, total=total, beat=now)
        if self.pending.path(".json").exists():  # not cancelled meanwhile
            _save_meta(self.pending)
        self.written = now


def prepare(session: Session, folder_path: Path, token: str, today: date, *, max_rows: int) -> Pending | None:
    """Read and check a queued upload once (`reading.plan_csv`) and keep its plan; the task's work (also called
    by `check` for a small file). Its progress and its end (done, or failed with the reason, never left
    "running") are written to its JSON file. Nothing is written to the database. None when it is gone
    (cancelled, expired); an upload that is not queued is left alone (another worker has it)."""
    pending = _read(folder_path, token)
    if pending is None or pending.state != QUEUED:
        return pending
    try:
        data = pending.path(".csv").read_bytes()
    except FileNotFoundError:
        drop(folder_path, token)
        return None
    pending.meta.update(state=READING, read=0, total=0, beat=time.time())
    pending.meta.pop("waiting_long", None)
    _save_meta(pending)
    try:
        plan = reading.plan_csv(session, pending.kind, data, today, filename=pending.filename, size=pending.size,
                                max_rows=max_rows, progress=_Progress(pending))
        plan.raw = {}  # the cells as written served the messages; the preview and the confirmation don't need them
        if not pending.path(".json").exists():  # cancelled while it was being checked
            drop(folder_path, token)
            return None
        _write(pending.path(".plan"), pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
        if not plan.ok:
            pending.path(".csv").unlink(missing_ok=True)  # nothing to confirm: the data is not kept
        pending.meta.update(state=DONE, read=plan.rows, total=plan.rows, beat=time.time(), summary={
            "ok": plan.ok, "rows": plan.rows, "created": plan.created, "updated": plan.updated,
            "unchanged": plan.unchanged, "errors": plan.error_count})
    except Exception:  # noqa: BLE001 (any failure ends the check visibly; the reason goes to the log)
        log.exception("import %s: the check failed", token)
        for suffix in (".csv", ".plan"):
            pending.path(suffix).unlink(missing_ok=True)
        pending.meta.update(state=FAILED, error="crashed", beat=time.time())
    _save_meta(pending)
    return pending


def restage(pending: Pending, changed_since: bool = False, now: float | None = None) -> Pending:
    """Queue a checked upload for a new check (its plan forgotten, its expiry counted again)."""
    now = now or time.time()
    for suffix in (".plan", ".claimed"):
        pending.path(suffix).unlink(missing_ok=True)
    os.utime(pending.path(".csv"), (now, now))
    pending.meta.update(state=QUEUED, read=0, total=0, beat=now, at=now, changed_since=changed_since,
                        summary=None, error=None)
    _save_meta(pending)
    return pending


def confirm(session: Session, pending: Pending, user=None) -> ImportPlan | None:
    """Apply the checked plan of an upload (the caller commits and then `drop`s it, or rolls back and
    `release`s it) and return it. The file is not read again: the rows the plan relies on are read by key and
    compared with what the check saw (`plan.basis`); when one changed, nothing is written, the upload is queued
    for a new check (`restage`: the caller calls `check`) and None is returned. `Gone` when there is no checked
    plan, or another request is applying it (the plan is claimed by renaming its file: one request wins)."""
    if not pending.ok:
        raise Gone(pending.token)
    try:
        pending.path(".plan").rename(pending.path(".claimed"))
    except FileNotFoundError:
        raise Gone(pending.token) from None
    try:
        plan = pickle.loads(pending.path(".claimed").read_bytes())  # noqa: S301 (see Pending.plan)
        if planning.basis(session, plan) != plan.basis:
            restage(pending, changed_since=True)
            return None
        apply_plan(session, plan, user)
    except Exception:
        release(pending)
        raise
    return plan


def release(pending: Pending) -> None:
    """Give back a plan `confirm` claimed (its write was rolled back): it may be confirmed again."""
    with contextlib.suppress(FileNotFoundError):
        pending.path(".claimed").rename(pending.path(".plan"))


def drop(folder_path: Path, token: str) -> None:
    """Forget an upload: its data, its plan and its JSON file."""
    if not TOKEN.match(token or ""):
        return
    for suffix in (".csv", ".plan", ".claimed", ".files", ".files-claimed", ".json"):
        (folder_path / f"{token}{suffix}").unlink(missing_ok=True)


# --- e-invoice uploads: several files kept as they came, planned again at the confirmation ---------------------


def stage_files(folder_path: Path, uploads: list[tuple[str, bytes]], *, kind: str, user_id: int, summary: dict,
                now: float | None = None) -> Pending:
    """Keep uploaded files (name, bytes), checked already (`summary`: ok and what the check said), for their
    confirmation: `<token>.files` (a ZIP without compression: every file byte for byte), private like the rest."""
    now = now or time.time()
    purge(folder_path, now)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index, (name, data) in enumerate(uploads):
            archive.writestr(f"{index:05d}/{name}", data)
    pending = Pending(secrets.token_urlsafe(24), folder_path, {
        "user_id": user_id, "kind": kind, "filename": "", "size": sum(len(d) for _, d in uploads), "at": now,
        "state": DONE, "read": len(uploads), "total": len(uploads), "beat": now, "summary": summary})
    _write(pending.path(".files"), buffer.getvalue())
    _save_meta(pending)
    return pending


def claim_files(pending: Pending) -> list[tuple[str, bytes]]:
    """The staged files of an upload, claimed for its confirmation (renamed: one request wins); `Gone` when they
    are not there (confirmed, cancelled, expired, or being confirmed by another request)."""
    if not pending.ok:
        raise Gone(pending.token)
    try:
        pending.path(".files").rename(pending.path(".files-claimed"))
    except FileNotFoundError:
        raise Gone(pending.token) from None
    with zipfile.ZipFile(pending.path(".files-claimed")) as archive:
        return [(info.filename.split("/", 1)[1], archive.read(info)) for info in archive.infolist()]


def release_files(pending: Pending, summary: dict | None = None) -> None:
    """Give back claimed files (their write was rolled back, or a new preview is shown: `summary`)."""
    if summary is not None:
        pending.meta.update(summary=summary, at=time.time())
        _save_meta(pending)
    with contextlib.suppress(FileNotFoundError):
        pending.path(".files-claimed").rename(pending.path(".files"))
