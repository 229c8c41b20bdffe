"""Where a redirect may go when the target comes from the request (`next` after login, the language switch, the
page an action came from): a path of this site only, else the default.

Browsers drop tabs and line breaks from a URL and read a backslash as a slash, so `/\\t/evil.com` and `/\\evil.com`
become `//evil.com`, another site; some servers and proxies also decode `%09` or `%5C` first. A target is kept only
when it starts with one slash, holds no backslash, no whitespace and no control character (in its path, also once
percent-decoded) and names no scheme or host.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

MAX_LENGTH = 2048


def _plain(text: str) -> bool:
    return not any(ch == "\\" or ch.isspace() or not ch.isprintable() for ch in text)


def is_local(target: object) -> bool:
    """Is `target` a path of this site (relative: "/invoices/?q=x"), safe to send in a Location header?"""
    if not isinstance(target, str) or not target or len(target) > MAX_LENGTH:
        return False
    if not target.startswith("/") or target.startswith("//") or not _plain(target):
        return False
    path = target.split("?", 1)[0].split("#", 1)[0]
    for _ in range(3):  # %2509 -> %09 -> a tab
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
        if path.startswith("//") or not _plain(path):
            return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def local_target(target: object, default: str) -> str:
    """`target` when it is a path of this site (`is_local`), else `default`."""
    return target if is_local(target) else default  # type: ignore[return-value]
