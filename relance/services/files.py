"""Stored files: everything under FILES_PATH (uploaded invoice PDFs, saved letters, run PDFs), reached only by a
path relative to it; `resolve` never returns a path outside it."""

from __future__ import annotations

import base64
from pathlib import Path

from flask import current_app


def root() -> Path:
    return Path(current_app.config["FILES_PATH"])


def resolve(relative: str | None) -> Path | None:
    """An existing file under FILES_PATH, or None (never a path outside it)."""
    if not relative:
        return None
    base = root().resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def write_atomic(relative: str, data: bytes) -> str:
    """Write the bytes under FILES_PATH through a temporary file renamed when complete (a full disk leaves no
    partial file); returns `relative`."""
    path = root() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return relative


def logo_data_url(logo: Path | None) -> str | None:
    """An image file as a data: URL (PDFs fetch nothing else)."""
    if logo is None:
        return None
    kind = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
    mime = kind.get(logo.suffix.lower())
    if mime is None:
        return None
    return f"data:{mime};base64," + base64.b64encode(logo.read_bytes()).decode()


def remove(relative: str | None) -> None:
    """Delete a stored file (a file kept for something that was then refused); nothing when absent."""
    path = resolve(relative)
    if path is not None:
        path.unlink(missing_ok=True)
