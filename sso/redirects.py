"""Where a user may be sent after signing in: same-host relative paths only (no open redirects)."""
from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(value: str | None, default: str = "/") -> str:
    """`/path?query` passes; absolute URLs, scheme-relative `//host`, `/\\host`, control characters do not."""
    if not value or len(value) > 2000:
        return default
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
