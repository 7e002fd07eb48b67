"""One rewriter of customer data at a time, and no pipeline build during a rewrite, across
processes.

Erasure and retention both read a Parquet part, filter it and write it back. Two of them on the
same part at once would each write what it read, and the later rename would bring back what
the earlier one removed (an erased customer included). They hold this lock exclusively
(``flock`` on a file in the privacy directory) for their whole run. A dbt build or a
materialization that read the raw tables or marts before an erasure rewrote them would write
the customer back after it: those hold the lock shared, so an erasure waits for a build in
progress and a build waits for an erasure in progress. Everything else that writes those
folders only adds new parts, which a rewrite never touches.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from smartstack.settings import Settings

LOCK_FILE = "rewrite.lock"


def _lock_file(settings: Settings) -> Path:
    path = settings.privacy_dir / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def rewriting(settings: Settings) -> Iterator[None]:
    """Hold the lock exclusively (waits for the current holders)."""
    with open(_lock_file(settings), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def building(settings: Settings) -> Iterator[None]:
    """Hold the lock shared, for a build that reads customer data and writes it elsewhere."""
    with open(_lock_file(settings), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def building_until_exit(settings: Settings) -> None:
    """Hold the lock shared until this process ends, ``exec`` included: for a command that
    replaces itself with the build (``smartstack-dbt`` becomes dbt)."""
    fd = os.open(_lock_file(settings), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.set_inheritable(fd, True)
    fcntl.flock(fd, fcntl.LOCK_SH)
