"""Erasures asked for and not yet finished: the work list ``smartstack privacy erase`` resumes.

An erasure reaches many stores and may stop half-way (a crash, a store that is down). The
request is written here first, with each store marked done as it is finished, so the next run
goes on where the last stopped; each store's erasure is idempotent, so a store finished but not
yet marked is only erased again. This is the only place a customer id waits in clear after the
request, and only until every store is done: then the row is deleted (the audit log and the
suppression list keep the reference).

Requests come from the CLI, the admin endpoint and the erasure event on the stream.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from smartstack.settings import Settings

FILE = "erasure_requests.sqlite"


@dataclass(frozen=True)
class ErasureRequest:
    customer_id: str
    requested_at: datetime
    source: str  # cli | admin | event
    done: tuple[str, ...]  # the stores already erased


class ErasureRequests:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute(
            "create table if not exists requests (customer_id text primary key, "
            "requested_at text not null, source text not null, done text not null)"
        )
        self._db.commit()

    @classmethod
    def from_settings(cls, settings: Settings) -> ErasureRequests:
        return cls(settings.privacy_dir / FILE)

    def add(self, customer_id: str, source: str) -> ErasureRequest:
        """Record a request (a pending one is kept as it is, with its progress)."""
        with self._db:
            self._db.execute(
                "insert or ignore into requests values (?, ?, ?, '[]')",
                (customer_id, datetime.now(UTC).isoformat(), source),
            )
        request = self.get(customer_id)
        assert request is not None
        return request

    def get(self, customer_id: str) -> ErasureRequest | None:
        row = self._db.execute(
            "select customer_id, requested_at, source, done from requests where customer_id = ?",
            (customer_id,),
        ).fetchone()
        return None if row is None else _request(row)

    def pending(self) -> list[ErasureRequest]:
        rows = self._db.execute(
            "select customer_id, requested_at, source, done from requests order by requested_at"
        )
        return [_request(row) for row in rows]

    def mark_done(self, customer_id: str, store: str) -> None:
        with self._db:
            (done,) = self._db.execute(
                "select done from requests where customer_id = ?", (customer_id,)
            ).fetchone()
            stores = [*json.loads(done), store]
            self._db.execute(
                "update requests set done = ? where customer_id = ?",
                (json.dumps(stores), customer_id),
            )

    def finish(self, customer_id: str) -> None:
        with self._db:
            self._db.execute("delete from requests where customer_id = ?", (customer_id,))
        # The deleted row's text must not linger in free pages or the WAL.
        self._db.execute("pragma wal_checkpoint(truncate)")
        self._db.execute("vacuum")
        self._db.execute("pragma wal_checkpoint(truncate)")

    def close(self) -> None:
        self._db.close()


def pending_erasures(settings: Settings) -> list[tuple[str, str]]:
    """Customers whose erasure was asked for (an event, the admin endpoint, an interrupted
    run) and is not finished, each with who asked.

    Kept apart from the erasure itself, which imports every store's client (Feast's alone takes
    seconds), so the daily run's first task costs nothing when there is nothing to erase."""
    requests = ErasureRequests.from_settings(settings)
    try:
        return [(r.customer_id, r.source) for r in requests.pending()]
    finally:
        requests.close()


def _request(row: tuple[str, str, str, str]) -> ErasureRequest:
    customer_id, requested_at, source, done = row
    return ErasureRequest(
        customer_id, datetime.fromisoformat(requested_at), source, tuple(json.loads(done))
    )
