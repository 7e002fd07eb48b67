"""The service's outbox: events the broker could not take now, kept on local disk and sent later.

Without it an endpoint could only answer 503 while the broker is down or restarting, and each
request thread waited for an acknowledgement that would not come. With it an accepted event is
durable at once, in a SQLite file of the process (``<home>/events/outbox/<pid>.sqlite``, WAL,
``synchronous=FULL``: a committed row survives a crash of the process or the machine), and a
background thread sends the rows oldest first, deleting each only once the broker acknowledged
it. A file whose process is gone is adopted by a live one, so a restarted worker sends what its
predecessor kept. A row may go out twice (acknowledged, then the process died before deleting
it): consumers drop a repeated ``event_id``.

Order: a customer's events stay in order because, while the outbox holds anything, new events
go into it behind the older ones instead of straight to the broker (a non-empty outbox is the
open circuit; the drainer is its probe, and it closes when the outbox is empty again).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from smartstack.settings import Settings

logger = logging.getLogger(__name__)

_SCHEMA = """
create table if not exists outbox (
    id integer primary key autoincrement,
    topic text not null,
    key blob not null,
    value blob not null,
    event_id text not null
)
"""


@dataclass(frozen=True)
class Pending:
    """One event waiting in an outbox, as it goes on the wire."""

    topic: str
    key: bytes
    value: bytes
    event_id: str
    id: int = 0


# Sends messages in order; returns how many of the first were acknowledged (a prefix: the
# idempotent producer keeps a partition's messages in order, so the rest are retried after).
Deliver = Callable[[Sequence[Pending]], int]


def outbox_dir(settings: Settings) -> Path:
    return settings.home / "events" / "outbox"


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    db.execute("pragma journal_mode=wal")
    db.execute("pragma synchronous=full")
    db.execute(_SCHEMA)
    return db


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class Outbox:
    """This process's outbox file; safe for the request threads and the drainer at once."""

    def __init__(self, directory: Path, pid: int | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.pid = os.getpid() if pid is None else pid
        self.path = directory / f"{self.pid}.sqlite"
        self._lock = threading.Lock()
        self._db = _connect(self.path)
        # Kept in memory: every request asks whether the outbox is empty.
        (self._rows,) = self._db.execute("select count(*) from outbox").fetchone()

    def __len__(self) -> int:
        return self._rows

    def append(self, events: Sequence[Pending]) -> None:
        """Durable when it returns (committed with ``synchronous=FULL``)."""
        with self._lock:
            self._db.execute("begin immediate")
            self._db.executemany(
                "insert into outbox (topic, key, value, event_id) values (?, ?, ?, ?)",
                [(e.topic, e.key, e.value, e.event_id) for e in events],
            )
            self._db.execute("commit")
            self._rows += len(events)

    def oldest(self, limit: int) -> list[Pending]:
        with self._lock:
            rows = self._db.execute(
                "select topic, key, value, event_id, id from outbox order by id limit ?", (limit,)
            ).fetchall()
        return [Pending(*row) for row in rows]

    def delete(self, events: Sequence[Pending]) -> None:
        with self._lock:
            self._db.execute("begin immediate")
            self._db.executemany("delete from outbox where id = ?", [(e.id,) for e in events])
            self._db.execute("commit")
            (self._rows,) = self._db.execute("select count(*) from outbox").fetchone()

    def adopt_orphans(self) -> int:
        """Move the rows of outbox files whose process is gone into this one (in their order,
        behind what is here) and delete those files; returns how many rows moved. Two processes
        adopting the same file at once both send its rows: duplicates, dropped downstream."""
        moved = 0
        for path in sorted(self.directory.glob("*.sqlite")):
            if not path.stem.isdigit() or int(path.stem) == self.pid or _alive(int(path.stem)):
                continue
            orphan = _connect(path)  # opening it recovers what its WAL holds
            try:
                rows = orphan.execute(
                    "select topic, key, value, event_id from outbox order by id"
                ).fetchall()
            finally:
                orphan.close()
            if rows:
                self.append([Pending(*row) for row in rows])
            for leftover in (
                path,
                path.with_name(path.name + "-wal"),
                path.with_name(path.name + "-shm"),
            ):
                leftover.unlink(missing_ok=True)
            moved += len(rows)
            logger.warning("adopted %d events from the outbox of process %s", len(rows), path.stem)
        return moved

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Drainer:
    """The background thread that sends an outbox's rows oldest first and adopts orphans."""

    def __init__(
        self,
        outbox: Outbox,
        deliver: Deliver,
        interval: float = 0.5,
        batch: int = 200,
        adopt_every: float = 5.0,
    ) -> None:
        self._outbox = outbox
        self._deliver = deliver
        self._interval = interval
        self._batch = batch
        self._adopt_every = adopt_every
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-drainer", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def drain_once(self) -> bool:
        """Send one batch; False if the broker did not take all of it (try again later)."""
        pending = self._outbox.oldest(self._batch)
        if not pending:
            return True
        taken = self._deliver(pending)
        if taken:
            self._outbox.delete(pending[:taken])
        return taken == len(pending)

    def _run(self) -> None:
        since_adopted = self._adopt_every  # adopt at once: a predecessor may have left rows
        while not self._stop.is_set():
            try:
                if since_adopted >= self._adopt_every:
                    since_adopted = 0.0
                    self._outbox.adopt_orphans()
                while len(self._outbox) and not self._stop.is_set() and self.drain_once():
                    pass
            except Exception:  # the thread must outlive any one failure; rows stay put
                logger.exception("draining the outbox failed; retrying")
            self._wake.wait(self._interval)
            self._wake.clear()
            since_adopted += self._interval

    def close(self) -> None:
        """Stops the thread; what is left stays in the file for the next process to send."""
        self._stop.set()
        self._wake.set()
        self._thread.join(30)
