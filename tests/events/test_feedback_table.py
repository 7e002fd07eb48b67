"""The feedback table keeps every event id once, across retries, writers and crashes."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

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


def test_appends_do_not_list_the_folder_and_orphans_go_at_the_next_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = FeedbackTable(tmp_path)
    for first in range(0, 200, 2):
        table.append(events(range(first, first + 2)))
    listings: list[Path] = []
    iterdir = Path.iterdir

    def counted(path: Path) -> Iterator[Path]:
        listings.append(path)
        return iterdir(path)

    monkeypatch.setattr(Path, "iterdir", counted)
    # A dead writer's part, renamed into place but never committed.
    pq.write_table(table.read().slice(0, 1), tmp_path / "part-crashed.parquet")
    for first in range(200, 300, 2):
        assert table.append(events(range(first, first + 2))) == 2
    assert listings == []  # 50 appends beside 101 parts: not one listing of the folder
    assert (tmp_path / "part-crashed.parquet").exists()

    reopened = FeedbackTable(tmp_path)  # a restarted writer: removes it before anything else
    assert listings == [tmp_path]
    assert not (tmp_path / "part-crashed.parquet").exists()
    assert sorted(rows_on_disk(tmp_path)) == sorted(f"e{i}" for i in range(300))
    assert reopened.append(events(range(299, 301))) == 1


def test_a_part_whose_commit_fails_is_removed_by_its_own_writer(tmp_path: Path) -> None:
    table = FeedbackTable(tmp_path)
    table.append(events(range(2)))
    before = sorted(p.name for p in tmp_path.iterdir())
    ledger = sqlite3.connect(tmp_path / "_ledger.sqlite", isolation_level=None)
    # The ledger refuses the part after it was renamed into place (as a full disk would).
    ledger.execute(
        "create trigger refuse before insert on parts begin select raise(abort, 'refused'); end"
    )
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        table.append(events(range(2, 4)))
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    ledger.execute("drop trigger refuse")
    ledger.close()
    assert table.append(events(range(2, 4))) == 2  # not landed before, so landed now
    assert sorted(rows_on_disk(tmp_path)) == ["e0", "e1", "e2", "e3"]
