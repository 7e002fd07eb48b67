"""Explanations by (customer, offer, feature version, model): memory first, SQLite behind it.

`/rank` reads only this cache, so its latency never depends on an LLM. The in-memory LRU answers
in microseconds; the optional SQLite file (under ``<home>/messaging/``) lets a precompute job fill
the cache that the serving process then reads, and survives restarts. A new feature version or a
new model makes new keys, so stale text is never served for changed facts.

Each stored entry carries the time it was written (``written_at``, ISO UTC), which retention
(:mod:`smartstack.erasure.retention`) deletes by. A file from before that column gets it on
open, each entry stamped with its explanation's ``created_at`` (the time of the migration if
that cannot be read, so an entry of unknown age is kept one full period rather than guessed
older).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from smartstack.messaging.explanation import CacheKey, Explanation
from smartstack.settings import Settings, get_settings

_SCHEMA = """
create table if not exists explanations (
    customer_id text not null,
    offer_id text not null,
    feature_version text not null,
    model text not null,
    payload text not null,
    written_at text,
    primary key (customer_id, offer_id, feature_version, model)
)
"""


def _stamp(at: datetime) -> str:
    """A time as the cache stores it: ISO UTC with microseconds, so text order is time order."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _migrate(db: sqlite3.Connection) -> None:
    """Add ``written_at`` to a file written before it (another process may be doing the same)."""
    columns = {row[1] for row in db.execute("pragma table_info(explanations)")}
    if "written_at" in columns:
        return
    try:
        db.execute("alter table explanations add column written_at text")
    except sqlite3.OperationalError as error:
        if "duplicate column" not in str(error):
            raise
    now = datetime.now(UTC)
    rows = db.execute("select rowid, payload from explanations where written_at is null")
    stamps = [(_stamp(_created(payload) or now), rowid) for rowid, payload in rows.fetchall()]
    db.execute("begin")
    db.executemany("update explanations set written_at = ? where rowid = ?", stamps)
    db.execute("commit")


def _created(payload: str) -> datetime | None:
    try:
        created = Explanation.model_validate_json(payload).created_at
    except ValueError:
        return None
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def default_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).home / "messaging" / "explanations.sqlite"


class ExplanationCache:
    """A thread-safe LRU of explanations, optionally persisted to SQLite."""

    def __init__(self, max_items: int = 100_000, path: Path | None = None) -> None:
        self.max_items = max_items
        self.path = path
        self._items: OrderedDict[CacheKey, Explanation] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("pragma journal_mode=wal")
            # A cache: losing the last writes to a power cut is fine, an fsync per entry is not.
            self._db.execute("pragma synchronous=normal")
            self._db.execute(_SCHEMA)
            _migrate(self._db)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: CacheKey) -> Explanation | None:
        customer_id, offer_id, feature_version, model = key
        return self.get_many(customer_id, [offer_id], feature_version, model).get(offer_id)

    def get_many(
        self, customer_id: str, offer_ids: list[str], feature_version: str, model: str
    ) -> dict[str, Explanation]:
        """The cached explanations among one customer's offers, by offer id.

        Memory first, then one query for the rest: a ranking looks up its top offers together
        instead of paying a query per offer.
        """
        found: dict[str, Explanation] = {}
        with self._lock:
            missing = []
            for offer_id in offer_ids:
                key = (customer_id, offer_id, feature_version, model)
                if key in self._items:
                    self._items.move_to_end(key)
                    found[offer_id] = self._items[key]
                else:
                    missing.append(offer_id)
            if self._db is None or not missing:
                return found
            rows = self._db.execute(
                "select offer_id, payload from explanations where customer_id = ? "
                "and feature_version = ? and model = ? "
                f"and offer_id in ({','.join('?' * len(missing))})",
                (customer_id, feature_version, model, *missing),
            ).fetchall()
            for offer_id, payload in rows:
                explanation = Explanation.model_validate_json(payload)
                self._remember((customer_id, offer_id, feature_version, model), explanation)
                found[offer_id] = explanation
        return found

    def put(self, explanation: Explanation) -> None:
        self.put_many([explanation])

    def put_many(self, explanations: Iterable[Explanation]) -> None:
        items = list(explanations)
        with self._lock:
            for e in items:
                self._remember(e.cache_key, e)
            if self._db is not None:
                self._db.execute("begin")
                written = _stamp(datetime.now(UTC))
                self._db.executemany(
                    "insert or replace into explanations (customer_id, offer_id, "
                    "feature_version, model, payload, written_at) values (?, ?, ?, ?, ?, ?)",
                    [(*e.cache_key, e.model_dump_json(), written) for e in items],
                )
                self._db.execute("commit")

    def remove_older_than(self, cutoff: datetime, *, dry_run: bool = False) -> tuple[int, int]:
        """Delete the stored entries written before ``cutoff`` (retention); returns (removed,
        kept). Memory is emptied too when anything went, since it keeps no times (it refills
        from the file); another process's memory keeps its copies until it restarts."""
        if self._db is None:
            return 0, 0
        mark = _stamp(cutoff)
        with self._lock:
            (removed,) = self._db.execute(
                "select count(*) from explanations where written_at < ?", (mark,)
            ).fetchone()
            (total,) = self._db.execute("select count(*) from explanations").fetchone()
            if removed and not dry_run:
                self._db.execute("delete from explanations where written_at < ?", (mark,))
                self._items.clear()
        return removed, total - removed

    def customers(self) -> set[str]:
        """The customers with explanations in this process's memory."""
        with self._lock:
            return {key[0] for key in self._items}

    def forget(self, customer_ids: set[str]) -> int:
        """Drop these customers' explanations from memory and from the file (an erasure);
        returns how many entries went."""
        with self._lock:
            gone = [key for key in self._items if key[0] in customer_ids]
            for key in gone:
                del self._items[key]
            removed = len(gone)
            if self._db is not None and customer_ids:
                ids = sorted(customer_ids)
                marks = ",".join("?" * len(ids))
                removed += self._db.execute(
                    f"delete from explanations where customer_id in ({marks})", ids
                ).rowcount
        return removed

    def _remember(self, key: CacheKey, explanation: Explanation) -> None:
        self._items[key] = explanation
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
