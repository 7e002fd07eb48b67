"""One rewriter of customer data at a time, across processes.

Erasure and retention both read a Parquet part, filter it and write it back. Two of them on the
same part at once would each write what it read, and the later rename would bring back what
the earlier one removed (an erased customer included). They hold this lock (``flock`` on a file
in the privacy directory) for their whole run; everything else that writes those folders only
adds new parts, which a rewrite never touches.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from smartstack.settings import Settings

LOCK_FILE = "rewrite.lock"


@contextmanager
def rewriting(settings: Settings) -> Iterator[None]:
    """Hold the rewrite lock (waits for the current holder)."""
    path = settings.privacy_dir / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
