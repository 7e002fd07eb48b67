"""Landed event tables: every event of a topic once, as Parquet parts dbt and training read.

Layout: ``<data_dir>/<table>/part-*.parquet`` (one part per landed batch) beside a SQLite
ledger ``_ledger.sqlite`` that lists the committed parts and every event id ever landed. They
live outside ``raw/`` because regenerating the synthetic data replaces ``raw/`` whole, and
events are not generated. dbt reads each as a source of ``events``; locally DuckDB reads the
Parquet in place. :mod:`~smartstack.events.feedback_table`,
:mod:`~smartstack.events.quiz_table` and :mod:`~smartstack.events.consent_table` are the tables.

Exactly once, with several writers (the stream processor, the service in embedded mode):
an append holds the ledger's write lock from start to end, drops ids already landed, writes the
part (temporary name, then an atomic rename) and commits the ids with the part's name. A writer
that dies between the rename and the commit leaves a part the ledger does not list; the next
writer to open the table (or :meth:`recover`, or a retention or erasure rewrite) deletes it
before doing anything else, and since its ids were not committed, their redelivery lands them
again. Readers that glob the folder meanwhile could see such a part: the dbt staging model also
keeps one row per ``event_id``. An append does not list the folder (that cost grew with every
landed part): a part it renamed into place but failed to commit, it deletes itself; a dead
process's leftovers wait for the next open (a restarted writer opens the table first).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tenacity import retry, retry_if_exception, stop_after_delay, wait_random

from smartstack.events.contracts import ConsentEvent, FeedbackEvent, QuizAnswerEvent

Landable = FeedbackEvent | QuizAnswerEvent | ConsentEvent

LEDGER = "_ledger.sqlite"
# Zero rows: keeps the folder's glob non-empty, so dbt builds before any feedback exists.
SCHEMA_PART = "schema.parquet"


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


@retry(
    retry=retry_if_exception(_locked),
    wait=wait_random(0.01, 0.2),
    stop=stop_after_delay(30),
    reraise=True,
)
def _create_ledger(db: sqlite3.Connection) -> None:
    """WAL mode and the ledger's tables, retried while another process does the same.

    Switching a new database to WAL needs an exclusive lock, and SQLite answers "database is
    locked" at once, without waiting out the connection's timeout, when two processes open the
    same new ledger together (its deadlock avoidance): seen when two writers start at once.
    """
    db.execute("pragma journal_mode=wal")
    db.executescript(
        """
        create table if not exists parts (name text primary key, rows integer not null);
        create table if not exists landed (
            event_id text primary key, part text not null
        ) without rowid;
        """
    )


class LandedEvents:
    """Append-only, deduplicated by ``event_id``; safe for several processes at once."""

    def __init__(self, directory: Path, schema: pa.Schema) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.schema = schema
        self._lock = threading.Lock()  # one connection, shared by a server's threads
        self._db = sqlite3.connect(
            directory / LEDGER, isolation_level=None, timeout=30, check_same_thread=False
        )
        _create_ledger(self._db)
        self.recover()

    def append(self, events: Sequence[Landable]) -> int:
        """Land the events not landed before; returns how many were new."""
        with self._lock:
            return self._append(events)

    def _append(self, events: Sequence[Landable]) -> int:
        db = self._db
        db.execute("begin immediate")  # one appender at a time, across processes
        written: Path | None = None
        try:
            first: dict[str, Landable] = {}  # each id's first copy, in first-arrival order
            for event in events:
                first.setdefault(event.event_id, event)
            unique = list(first.values())
            known = self._known([e.event_id for e in unique])
            new = [e for e in unique if e.event_id not in known]
            if new:
                name = f"part-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}.parquet"
                written = self.directory / name
                self._write(self._to_table(new), name)
                db.execute("insert into parts values (?, ?)", (name, len(new)))
                db.executemany(
                    "insert into landed values (?, ?)", ((e.event_id, name) for e in new)
                )
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            if written is not None:  # its own uncommitted part (or temporary file): not landed
                written.unlink(missing_ok=True)
                (self.directory / f".tmp-{written.name}").unlink(missing_ok=True)
            raise
        return len(new)

    def unlanded(self, events: Sequence[Landable]) -> list[Landable]:
        """The events whose id is not landed yet (each id once), e.g. to record them elsewhere
        before they are landed."""
        first: dict[str, Landable] = {}
        for event in events:
            first.setdefault(event.event_id, event)
        with self._lock:
            known = self._known(list(first))
        return [e for i, e in first.items() if i not in known]

    def recover(self) -> int:
        """Delete parts left by a writer that died before committing; returns how many."""
        with self._lock:
            self._db.execute("begin immediate")
            try:
                removed = self._remove_orphans()
                self._db.execute("commit")
            except BaseException:
                self._db.execute("rollback")
                raise
        return removed

    def drop_older_than(
        self,
        time_column: str,
        cutoff: datetime,
        *,
        keep_latest_of: str | None = None,
        dry_run: bool = False,
    ) -> tuple[int, int]:
        """Remove the committed rows whose ``time_column`` is before ``cutoff`` (retention);
        returns (rows removed, rows kept). With ``keep_latest_of`` (a column, e.g.
        ``customer_id``) each key's newest row stays however old: a consent change that is
        still in force is not history.

        The ledger's ``landed`` ids stay: a redelivered old event is still recognised as landed
        and dropped, rather than landing again after retention removed it. Holds the ledger's
        write lock throughout, as an append does. A part with rows left is written again (a
        temporary file renamed over it) before the commit; a part with none left leaves the
        ledger first and its file is deleted after the commit (a crash in between leaves an
        orphan the next writer deletes).
        """
        with self._lock:
            latest = None
            if keep_latest_of is not None:
                columns = [keep_latest_of, time_column]
                every = pa.concat_tables(
                    [self.schema.empty_table().select(columns)]
                    + [
                        pq.read_table(self.directory / n, schema=self.schema, columns=columns)
                        for n in self._part_names()
                    ]
                )
                latest = every.group_by(keep_latest_of).aggregate([(time_column, "max")])
                latest = latest.rename_columns(["key", "time"])

            def old(table: pa.Table) -> pa.Array:
                older = pc.fill_null(
                    pc.less(table[time_column], pa.scalar(cutoff, table[time_column].type)), False
                )
                if keep_latest_of is not None and latest is not None:
                    # The newest time of each row's key, beside the row's own.
                    at = pc.index_in(table[keep_latest_of], value_set=latest["key"])
                    newest = pc.equal(table[time_column], latest["time"].take(at))
                    older = pc.and_(older, pc.invert(pc.fill_null(newest, False)))
                return older

            return self._remove_rows(old, dry_run)

    def remove_customer(self, customer_id: str) -> int:
        """Remove every row of one customer (an erasure); returns how many. Their event ids
        stay in the ledger, as with retention: they are random and name no one."""
        with self._lock:
            removed, _ = self._remove_rows(
                lambda table: pc.fill_null(pc.equal(table["customer_id"], customer_id), False),
                dry_run=False,
            )
        return removed

    def _part_names(self) -> list[str]:
        return [n for (n,) in self._db.execute("select name from parts order by rowid")]

    def _remove_rows(
        self, selected: Callable[[pa.Table], pa.Array], dry_run: bool
    ) -> tuple[int, int]:
        """Rewrite the committed parts without the rows ``selected`` marks, under the ledger's
        write lock (the caller holds ``self._lock``); returns (rows removed, rows kept)."""
        db = self._db
        db.execute("begin immediate")
        try:
            if not dry_run:  # a dry run changes nothing, not even a dead writer's leftovers
                self._remove_orphans()
            removed = kept = 0
            emptied: list[str] = []
            for name in self._part_names():
                table = pq.read_table(self.directory / name, schema=self.schema)
                chosen = selected(table)
                dropped = pc.sum(chosen).as_py() or 0
                removed += dropped
                kept += table.num_rows - dropped
                if not dropped or dry_run:
                    continue
                if dropped == table.num_rows:
                    db.execute("delete from parts where name = ?", (name,))
                    emptied.append(name)
                else:
                    self._write(table.filter(pc.invert(chosen)), name)
                    db.execute(
                        "update parts set rows = ? where name = ?",
                        (table.num_rows - dropped, name),
                    )
            db.execute("rollback" if dry_run else "commit")
        except BaseException:
            db.execute("rollback")
            raise
        for name in emptied:
            (self.directory / name).unlink(missing_ok=True)
        return removed, kept

    def read(self) -> pa.Table:
        """Every committed row (parts the ledger lists), in landing order."""
        return pa.concat_tables([self.schema.empty_table(), *self.parts()])

    def parts(self) -> Iterator[pa.Table]:
        """Each committed part (one landed batch), in landing order."""
        with self._lock:
            names = [n for (n,) in self._db.execute("select name from parts order by rowid")]
        for name in names:
            yield pq.read_table(self.directory / name, schema=self.schema)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _known(self, event_ids: list[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(event_ids), 500):
            chunk = event_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(
                i
                for (i,) in self._db.execute(
                    f"select event_id from landed where event_id in ({marks})", chunk
                )
            )
        return known

    def _remove_orphans(self) -> int:
        """Delete the parts the ledger does not list and temporary files (the caller holds the
        ledger's write lock): lists the whole folder, so only at open, :meth:`recover` and the
        rewrites that read every part anyway, never per append."""
        if not (self.directory / SCHEMA_PART).exists():
            self._write(self.schema.empty_table(), SCHEMA_PART)
        committed = {n for (n,) in self._db.execute("select name from parts")}
        removed = 0
        for path in self.directory.iterdir():
            orphan = path.name.startswith("part-") and path.name not in committed
            if orphan or path.name.startswith(".tmp-"):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _to_table(self, events: Sequence[Landable]) -> pa.Table:
        landed = datetime.now(UTC)
        rows = [e.model_dump(mode="python") | {"landed_at": landed} for e in events]
        return pa.Table.from_pylist(rows, schema=self.schema)

    def _write(self, table: pa.Table, name: str) -> None:
        temporary = self.directory / f".tmp-{name}"
        pq.write_table(table, temporary)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, self.directory / name)
