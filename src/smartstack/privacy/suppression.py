"""Erased customers, kept as keyed references so nothing brings them back: ingestion, event
replay, the stream and every pipeline rerun drop their rows; serving workers forget them.

One SQLite file in the privacy directory (WAL: many readers, one writer at a time). The ids
themselves are not kept (:func:`~smartstack.privacy.keys.customer_ref`), so the list passes the
privacy scan it exists for.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from smartstack.privacy.keys import customer_ref, hash_key
from smartstack.settings import Settings

FILE = "suppression.sqlite"


class SuppressionList:
    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self._key = key
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection, shared by a service's threads (requests, poller, log writers).
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute(
            "create table if not exists suppressed (ref text primary key, since text not null)"
        )
        self._db.commit()

    @classmethod
    def from_settings(cls, settings: Settings) -> SuppressionList:
        return cls(settings.privacy_dir / FILE, hash_key(settings))

    def ref(self, customer_id: str) -> str:
        return customer_ref(self._key, customer_id)

    def add(self, customer_id: str) -> bool:
        """Suppress a customer; False if they already were."""
        with self._lock, self._db:
            cursor = self._db.execute(
                "insert or ignore into suppressed values (?, ?)",
                (self.ref(customer_id), datetime.now(UTC).isoformat()),
            )
        return cursor.rowcount == 1

    def refs(self) -> frozenset[str]:
        with self._lock:
            return frozenset(r for (r,) in self._db.execute("select ref from suppressed"))

    def __len__(self) -> int:
        with self._lock:
            ((n,),) = self._db.execute("select count(*) from suppressed")
        return int(n)

    def __contains__(self, customer_id: object) -> bool:
        return isinstance(customer_id, str) and bool(self.suppressed([customer_id]))

    def suppressed(self, customer_ids: Iterable[str]) -> set[str]:
        """Which of these ids are suppressed: one reference per distinct id, looked up in
        chunks, so the cost follows the ids asked about, not the length of the list."""
        by_ref = {self.ref(c): c for c in set(customer_ids)}
        refs = list(by_ref)
        found: set[str] = set()
        for start in range(0, len(refs), 500):
            chunk = refs[start : start + 500]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._db.execute(f"select ref from suppressed where ref in ({marks})", chunk)
                found.update(by_ref[r] for (r,) in rows)
        return found

    def close(self) -> None:
        with self._lock:
            self._db.close()
