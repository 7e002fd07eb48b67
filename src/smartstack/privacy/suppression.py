"""Erased customers, kept as keyed references so nothing brings them back: ingestion, event
replay, the stream and every pipeline rerun drop their rows; serving workers forget them.

One SQLite file in the privacy directory (WAL: many readers, one writer at a time). The ids
themselves are not kept (:func:`~smartstack.privacy.keys.customer_ref`), so the list passes the
privacy scan it exists for.
"""

from __future__ import annotations

import sqlite3
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
        with self._db:
            cursor = self._db.execute(
                "insert or ignore into suppressed values (?, ?)",
                (self.ref(customer_id), datetime.now(UTC).isoformat()),
            )
        return cursor.rowcount == 1

    def refs(self) -> frozenset[str]:
        return frozenset(r for (r,) in self._db.execute("select ref from suppressed"))

    def __len__(self) -> int:
        ((n,),) = self._db.execute("select count(*) from suppressed")
        return int(n)

    def __contains__(self, customer_id: object) -> bool:
        return isinstance(customer_id, str) and bool(
            self._db.execute(
                "select 1 from suppressed where ref = ?", (self.ref(customer_id),)
            ).fetchone()
        )

    def suppressed(self, customer_ids: Iterable[str]) -> set[str]:
        """Which of these ids are suppressed (one reference per distinct id)."""
        refs = self.refs()
        if not refs:
            return set()
        return {c for c in set(customer_ids) if self.ref(c) in refs}

    def close(self) -> None:
        self._db.close()
