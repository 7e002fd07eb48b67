"""Recent spend per category: the streaming feature, and the state that makes it exact.

Definition (the same as the dbt mart ``customer_recent_spend``, which is ``spend_<category>_7d``
of ``customer_spend_features``): the sum of ``amount`` (USD, as in the raw table) of the
customer's transactions in the category with event time in ``[as_of − 7 days, as_of)``. dbt
evaluates it at each snapshot (midnight, so its whole-day window is the same interval); the
stream processor evaluates it just after the customer's newest transaction (``as_of`` = newest
event time + 1 µs) and writes that instant as the row's event timestamp. Event time, never the
clock: replaying the same events gives the same values.

The state is, per customer, the transactions inside the window (keyed by transaction id, so a
duplicate delivery is recognised) plus, per topic partition, the next offset to apply. Both are
kept in one SQLite file (a row per customer) and written in one transaction per micro-batch; the
online row is a pure function of the state, so writing it twice is harmless. Together:
at-least-once delivery, exactly-once effect.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds

from smartstack.data.schema import MERCHANT_CATEGORIES
from smartstack.events.contracts import TransactionEvent

WINDOW = timedelta(days=7)
WINDOW_US = int(WINDOW.total_seconds() * 1_000_000)
CATEGORY_INDEX = {name: i for i, name in enumerate(MERCHANT_CATEGORIES)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch. Exact: ``timestamp()`` is the correctly rounded quotient,
    and at today's magnitudes a float's spacing (1/4 µs) is far below the rounding step."""
    return round(moment.timestamp() * 1_000_000)


def from_us(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True)
class Spend:
    """One transaction as the window keeps it."""

    at_us: int
    category: int  # index into MERCHANT_CATEGORIES
    amount: float


@dataclass
class CustomerWindow:
    """One customer's transactions of the last 7 days before their newest one."""

    newest_us: int = -1
    spends: dict[int, Spend] = field(default_factory=dict)  # by transaction id

    def spend(self, as_of_us: int) -> list[float]:
        """Spend per category with event time in ``[as_of − 7 days, as_of)``."""
        totals = [0.0] * len(MERCHANT_CATEGORIES)
        start = as_of_us - WINDOW_US
        # In time order, so the float sum does not depend on arrival order.
        for _, item in sorted(self.spends.items(), key=lambda kv: (kv[1].at_us, kv[0])):
            if start <= item.at_us < as_of_us:
                totals[item.category] += item.amount
        return totals

    @property
    def as_of_us(self) -> int:
        """When the streaming value is evaluated: just after the newest transaction."""
        return self.newest_us + 1


@dataclass
class BatchChanges:
    """What one micro-batch changed, to persist in one transaction."""

    # Per customer, the categories whose value may have changed (spend added or evicted).
    touched: dict[str, set[int]] = field(default_factory=dict)
    duplicates: int = 0
    too_old: int = 0
    evicted: int = 0  # transactions that left a window


class RecentSpendState:
    """The window state of every customer, in memory and in a SQLite file.

    ``apply`` changes memory only; ``commit`` writes the changes and the consumed offsets in one
    SQLite transaction. A crash before ``commit`` loses the in-memory changes, and the events are
    consumed again from the committed offsets: they are re-applied to the committed state and
    give the same result.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One user at a time (the processor's loop), not necessarily the thread that opened it.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("pragma synchronous=normal")
        self._db.executescript(
            """
            create table if not exists customer_windows (
                customer_id text primary key,
                spends text not null  -- JSON [[transaction_id, at_us, category, amount], ...]
            ) without rowid;
            create table if not exists consumed_offsets (
                topic text not null,
                partition integer not null,
                next_offset integer not null,
                primary key (topic, partition)
            );
            """
        )
        self.customers: dict[str, CustomerWindow] = {}
        for customer, spends in self._db.execute("select * from customer_windows"):
            window = self.customers[customer] = CustomerWindow()
            for txn, at_us, category, amount in json.loads(spends):
                window.spends[txn] = Spend(at_us, category, amount)
                window.newest_us = max(window.newest_us, at_us)
        self.offsets: dict[tuple[str, int], int] = {
            (topic, partition): offset
            for topic, partition, offset in self._db.execute("select * from consumed_offsets")
        }

    @property
    def is_empty(self) -> bool:
        return not self.customers and not self.offsets

    def apply(self, events: Iterable[TransactionEvent], changes: BatchChanges) -> None:
        """Add transactions to their customers' windows, recording what changed."""
        for event in events:
            window = self.customers.get(event.customer_id)
            if window is None:
                window = self.customers[event.customer_id] = CustomerWindow()
            if event.transaction_id in window.spends:
                changes.duplicates += 1
                continue
            at_us = to_us(event.event_timestamp)
            if at_us <= window.newest_us - WINDOW_US:
                changes.too_old += 1  # outside every window from now on: no effect
                continue
            item = Spend(at_us, CATEGORY_INDEX[event.merchant_category], event.amount)
            if not window.spends:
                # No history here: the online row may hold anything (or nothing), so the
                # whole row is written, zeros included, as the batch mart would have it.
                changes.touched[event.customer_id] = set(range(len(MERCHANT_CATEGORIES)))
            window.spends[event.transaction_id] = item
            changes.touched.setdefault(event.customer_id, set()).add(item.category)
            if at_us > window.newest_us:
                window.newest_us = at_us
        for customer, categories in changes.touched.items():
            window = self.customers[customer]
            cutoff = window.newest_us - WINDOW_US
            stale = [txn for txn, item in window.spends.items() if item.at_us <= cutoff]
            for txn in stale:
                categories.add(window.spends.pop(txn).category)
                changes.evicted += 1

    def rows(self, changes: BatchChanges) -> Iterator[tuple[str, datetime, dict[int, float]]]:
        """``(customer_id, as_of, {category: spend})`` for the categories a batch changed.

        A value depends only on the state, so writing it again is harmless. Categories the batch
        did not touch keep their value in the online store: the same as the state's, because a
        customer's first streamed transaction writes the whole row and the seed is the history
        the batch mart was computed from."""
        for customer in sorted(changes.touched):
            window = self.customers[customer]
            spend = window.spend(window.as_of_us)
            categories = sorted(changes.touched[customer])
            yield customer, from_us(window.as_of_us), {c: spend[c] for c in categories}

    def commit(self, changes: BatchChanges, offsets: dict[tuple[str, int], int]) -> None:
        """Persist the windows a micro-batch changed (one row per customer, so the cost follows
        customers, not events) and the offsets it consumed, atomically. An offset is the
        partition's next position as consumed: after a broker whose log was reset it moves back."""
        rows = []
        for customer in changes.touched:
            spends = self.customers[customer].spends
            rows.append(
                (
                    customer,
                    json.dumps([[t, s.at_us, s.category, s.amount] for t, s in spends.items()]),
                )
            )
        db = self._db
        db.execute("begin immediate")
        try:
            db.executemany("insert or replace into customer_windows values (?, ?)", rows)
            db.executemany(
                "insert or replace into consumed_offsets values (?, ?, ?)",
                ((topic, partition, offset) for (topic, partition), offset in offsets.items()),
            )
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            raise
        self.offsets.update(offsets)

    def seed(self, raw_transactions: Path, as_of: datetime) -> int:
        """Load the transactions of the 7 days before ``as_of`` from the raw table (Parquet), so
        the first streamed transaction of a customer adds to their history instead of
        replacing it. Returns how many were loaded."""
        start = as_of - WINDOW
        table = (
            ds.dataset(raw_transactions, format="parquet")
            .to_table(
                columns=[
                    "transaction_id",
                    "customer_id",
                    "event_timestamp",
                    "merchant_category",
                    "amount",
                ],
                filter=(pc.field("event_timestamp") >= start)
                & (pc.field("event_timestamp") < as_of),
            )
            .sort_by("event_timestamp")
        )
        changes = BatchChanges()
        frame = table.to_pydict()
        loaded = 0
        for txn, customer, at, category, amount in zip(*frame.values(), strict=True):
            window = self.customers.setdefault(customer, CustomerWindow())
            if txn in window.spends:
                continue
            item = Spend(to_us(at), CATEGORY_INDEX[category], amount)
            window.spends[txn] = item
            window.newest_us = max(window.newest_us, item.at_us)
            changes.touched.setdefault(customer, set()).add(item.category)
            loaded += 1
        self.commit(changes, {})
        return loaded

    def close(self) -> None:
        self._db.close()
