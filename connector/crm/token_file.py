"""The access-token cache file shared by the Zoho and Fxiaoke clients: one lock, one private atomic write.

Both CRMs limit how often a token may be fetched, so every job and run on a host shares one file; what it
holds (a token, its expiry, recent fetch times) is each client's business, never a secret.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock, the in-process lock still holds
    fcntl = None  # type: ignore[assignment]

__all__ = ["locked", "read", "write"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def locked(path: Path | None) -> Iterator[None]:
    """Hold an exclusive lock beside `path` (single-flight across processes sharing the cache)."""
    if path is None or fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read(path: Path | None, fingerprint: str) -> dict[str, Any] | None:
    """The cache's content if it exists, is readable and belongs to this connection (its fingerprint)."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("token cache %s is unreadable; it will be rewritten", path)
        return None
    return data if isinstance(data, dict) and data.get("fingerprint") == fingerprint else None


def write(path: Path | None, data: dict[str, Any]) -> None:
    """Replace the cache atomically with a file only its owner can read (mode 0600)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
