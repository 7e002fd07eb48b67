"""The feedback table keeps every event id once, across retries, writers and crashes."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from smartstack.events.feedback_table import FeedbackTable
from tests.events.helpers import click

AT = datetime(2026, 6, 30, 9, tzinfo=UTC)


def events(ids: range) -> list:
    return [click(f"e{i}", "CUST-1", "OFR-001", AT) for i in ids]


def rows_on_disk(folder: Path) -> list[str]:
    """What a reader globbing the folder (as dbt does) sees."""
    return [
        r[0]
        for r in duckdb.sql(
            f"select event_id from read_parquet('{folder}/*.parquet', union_by_name = true)"
        ).fetchall()
    ]


def test_a_retried_event_lands_once(tmp_path: Path) -> None:
    table = FeedbackTable(tmp_path)
    assert table.append(events(range(3))) == 3
    assert table.append(events(range(2, 5)) + events(range(4, 5))) == 2  # e2 again, e4 twice
    assert sorted(table.read().column("event_id").to_pylist()) == [f"e{i}" for i in range(5)]
    assert sorted(rows_on_disk(tmp_path)) == [f"e{i}" for i in range(5)]


def test_an_empty_table_is_readable_with_its_columns(tmp_path: Path) -> None:
    FeedbackTable(tmp_path)
    assert rows_on_disk(tmp_path) == []


def test_a_part_left_by_a_crashed_writer_is_removed_and_its_events_land_again(
    tmp_path: Path,
) -> None:
    table = FeedbackTable(tmp_path)
    table.append(events(range(2)))
    # A writer that died after renaming its part into place but before committing the ledger.
    pq.write_table(table.read().slice(0, 1), tmp_path / "part-crashed.parquet")
    pq.write_table(table.read().slice(0, 1), tmp_path / ".tmp-part-half.parquet")

    reopened = FeedbackTable(tmp_path)

    assert not (tmp_path / "part-crashed.parquet").exists()
    assert not (tmp_path / ".tmp-part-half.parquet").exists()
    assert sorted(rows_on_disk(tmp_path)) == ["e0", "e1"]
    assert reopened.append(events(range(3))) == 1


def _append(folder: str, start: int) -> None:
    table = FeedbackTable(Path(folder))
    for first in range(start, start + 40, 4):
        table.append(events(range(first, first + 8)))  # overlaps the other writer's ids


def test_concurrent_writers_land_each_id_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_append, args=(str(tmp_path), s)) for s in (0, 20)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    landed = rows_on_disk(tmp_path)
    assert sorted(landed) == sorted({f"e{i}" for i in range(64)})
