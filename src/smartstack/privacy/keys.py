"""The key that turns customer ids into references: the suppression list and the audit log
must recognise an erased customer without keeping their id (a scan for it finds nothing)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from smartstack.settings import Settings

KEY_FILE = "hash.key"


def hash_key(settings: Settings) -> bytes:
    """The configured key, else the one generated on first use in the privacy directory
    (linked into place whole, so two processes starting together agree on it)."""
    if settings.privacy.hash_key is not None:
        return settings.privacy.hash_key.get_secret_value().encode()
    path = settings.privacy_dir / KEY_FILE
    if not path.exists():
        _create_key(path)
    return path.read_text().strip().encode()


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{KEY_FILE}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    try:
        os.link(draft, path)  # fails if another process got there first: theirs is kept
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def customer_ref(key: bytes, customer_id: str) -> str:
    """A customer's reference: HMAC-SHA256 of the id, hex (not reversible without the key)."""
    return hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()
