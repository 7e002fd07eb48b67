"""Retention: each store loses the rows older than its cutoff and keeps the younger ones, by the
rows' own event time; landed ids stay known; a dry run changes nothing; a second run removes
nothing more; the audit log records each run."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from smartstack.cli import app
from smartstack.erasure.retention import (
    enforce_retention,
)
from smartstack.events.consent_table import ConsentTable
from smartstack.events.contracts import ConsentEvent, FeedbackEvent, QuizAnswerEvent
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.messaging.cache import ExplanationCache, default_path
from smartstack.messaging.explanation import Explanation, Source, cache_key
from smartstack.privacy.audit import AuditLog
from smartstack.serving.shadow import SHADOW_SCHEMA
from smartstack.serving.snapshots import ServedRecord, SnapshotWriter

# The data set's clock: its events lie in the past, so retention is judged from here.
NOW = datetime(2024, 7, 1, tzinfo=UTC)
OLD, YOUNG = NOW - timedelta(days=800), NOW - timedelta(days=10)
OLD_LOG, YOUNG_LOG = NOW - timedelta(days=200), NOW - timedelta(days=2)
FEATURES = ["spend_travel_30d", "spend_dining_30d"]


def _served(request: str, at: datetime) -> ServedRecord:
    return ServedRecord(
        request_id=request,
        customer_id="C000001",
        served_at=at,
        request_time=at,
        channel="app",
        tier="model",
        model_name="offer-ranker",
        model_version="3",
        offer_ids=["O1", "O2"],
        scores=[0.9, 0.4],
        features=np.ones((2, len(FEATURES))),
    )


def _shadow_row(request: str, at: datetime) -> dict[str, object]:
    return {"request_id": request, "customer_id": "C000001", "served_at": at}


def _feedback(event_id: str, at: datetime) -> FeedbackEvent:
    return FeedbackEvent(
        event_id=event_id, kind="click", customer_id="C000001", offer_id="O1", occurred_at=at,
        request_id="r1",
    )  # fmt: skip


@pytest.fixture
def home(tmp_path: Path):
    """A home with old and young rows in every store."""
    from smartstack.settings import Settings

    settings = Settings(home=tmp_path / "home")
    writer = SnapshotWriter(settings.ranking_log_dir, FEATURES, 100, 1.0, 100)
    writer._write([_served("old-a", OLD_LOG), _served("old-b", OLD_LOG)])  # a part all old
    writer._write([_served("old-c", OLD_LOG), _served("young-a", YOUNG_LOG)])  # mixed: one day
    writer._write([_served("young-b", YOUNG_LOG)])
    shadow = settings.shadow_log_dir / "date=2023-12-14"
    shadow.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(
            [_shadow_row("old", OLD_LOG), _shadow_row("young", YOUNG_LOG)], schema=SHADOW_SCHEMA
        ),
        shadow / "part-1.parquet",
    )
    feedback = FeedbackTable.from_settings(settings)
    feedback.append([_feedback("f-old-1", OLD), _feedback("f-old-2", OLD)])
    feedback.append([_feedback("f-old-3", OLD), _feedback("f-young", YOUNG)])
    feedback.close()
    quiz = QuizAnswerTable.from_settings(settings)
    quiz.append(
        [
            QuizAnswerEvent(
                event_id=f"q-{name}", customer_id="C000001", answered_at=at,
                favourite_category="travel", reward_preference="rewards", planning_travel=True,
            )
            for name, at in (("old", OLD), ("young", YOUNG))
        ]
    )  # fmt: skip
    quiz.close()
    consent = ConsentTable.from_settings(settings)
    consent.append(
        [
            ConsentEvent(
                event_id=f"c-{customer}-{n}", customer_id=customer, changed_at=at,
                personalization=n == 1, llm_messaging=False, analytics=False, source="app",
            )
            for customer, n, at in (
                ("C000001", 0, OLD - timedelta(days=1)),  # superseded and old: goes
                ("C000001", 1, OLD),  # old but still in force: stays
                ("C000002", 0, YOUNG),
            )
        ]
    )  # fmt: skip
    consent.close()
    cache = ExplanationCache(path=default_path(settings))
    cache.put_many(
        [
            Explanation(
                customer_id="C000001", offer_id=offer, feature_version="v1", text="Because.",
                source=Source.template,
            )
            for offer in ("O1", "O2")
        ]
    )  # fmt: skip
    cache.close()
    # One entry written long ago (the cache stores the wall clock's write time).
    with sqlite3.connect(default_path(settings)) as db:
        db.execute("update explanations set written_at = ? where offer_id = 'O1'",
                   ("2020-01-01T00:00:00.000000+00:00",))  # fmt: skip
    return settings


def _counts(results) -> dict[str, tuple[int, int]]:
    return {r.store: (r.removed, r.kept) for r in results}


def _requests(directory: Path) -> list[str]:
    parts = sorted(p for p in directory.rglob("*.parquet") if not p.name.startswith("."))
    return sorted(r for p in parts for r in pq.read_table(p)["request_id"].to_pylist())


def test_old_rows_go_and_young_rows_stay_in_every_store(home) -> None:
    results = enforce_retention(home, NOW)
    assert _counts(results) == {
        "ranking_log": (6, 4),  # 3 old rankings, 2 young, 2 offers each
        "shadow_log": (1, 1),
        "feedback": (3, 1),
        "quiz_answers": (1, 1),
        "consent_events": (1, 2),
        "explanation_cache": (1, 1),
    }
    assert _requests(home.ranking_log_dir) == ["young-a"] * 2 + ["young-b"] * 2
    assert _requests(home.shadow_log_dir) == ["young"]
    # The part left empty is gone; the rewritten part keeps its feature names and schema.
    parts = sorted(home.ranking_log_dir.rglob("*.parquet"))
    assert len(parts) == 2 and not list(home.ranking_log_dir.rglob(".*"))
    meta = pq.read_schema(parts[0]).metadata
    assert json.loads(meta[b"feature_names"]) == FEATURES
    feedback = FeedbackTable.from_settings(home)
    assert feedback.read()["event_id"].to_pylist() == ["f-young"]
    consent = ConsentTable.from_settings(home)
    assert sorted(consent.read()["event_id"].to_pylist()) == ["c-C000001-1", "c-C000002-0"]
    cache = ExplanationCache(path=default_path(home))
    assert cache.get(cache_key("C000001", "O1", "v1", None)) is None
    assert cache.get(cache_key("C000001", "O2", "v1", None)) is not None


def test_an_old_event_redelivered_after_retention_is_still_a_duplicate(home) -> None:
    enforce_retention(home, NOW)
    feedback = FeedbackTable.from_settings(home)
    assert feedback.append([_feedback("f-old-1", OLD), _feedback("f-new", YOUNG)]) == 1
    assert sorted(feedback.read()["event_id"].to_pylist()) == ["f-new", "f-young"]


def test_a_dry_run_counts_and_changes_nothing(home) -> None:
    def snapshot() -> dict[str, bytes]:
        root = home.home
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and "privacy" not in p.parts and "-wal" not in p.name
            and "-shm" not in p.name
        }  # fmt: skip

    before = snapshot()
    dry = enforce_retention(home, NOW, dry_run=True)
    assert snapshot() == before
    assert not AuditLog.from_settings(home).path.exists()
    assert _counts(dry) == _counts(enforce_retention(home, NOW))


def test_a_second_run_removes_nothing_and_each_run_is_audited(home) -> None:
    first = enforce_retention(home, NOW)
    second = enforce_retention(home, NOW)
    assert all(r.removed == 0 for r in second)
    assert [r.kept for r in second] == [r.kept for r in first]
    audit = AuditLog.from_settings(home)
    assert audit.verify() == []
    records = [r for r in audit.records() if r["action"] == "retention"]
    assert len(records) == 2
    stores = records[0]["details"]["stores"]
    assert stores["feedback"] == {"removed": 3, "kept": 1, "cutoff": "2022-07-02T00:00:00+00:00"}
    assert records[1]["details"]["stores"]["ranking_log"]["removed"] == 0


def test_the_wall_clock_keeps_what_the_data_sets_clock_would_keep(home) -> None:
    later = enforce_retention(home, NOW + timedelta(days=1000), dry_run=True)
    assert _counts(later)["feedback"] == (4, 0)
    earlier = enforce_retention(home, NOW - timedelta(days=5000), dry_run=True)
    assert all(r.removed == 0 for r in earlier)


def test_a_home_without_the_stores_has_nothing_to_do(tmp_path: Path) -> None:
    from smartstack.settings import Settings

    settings = Settings(home=tmp_path / "empty")
    results = enforce_retention(settings, NOW)
    assert all(not r.present and r.removed == r.kept == 0 for r in results)
    assert not (settings.data_dir / "feedback").exists()  # not created by looking


def test_the_cli_prints_a_table_and_audits(home) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["privacy", "retention", "--now", "2024-07-01T00:00:00", "--dry-run"], obj=home
    )
    output = " ".join(result.output.split())
    assert result.exit_code == 0, output
    assert "dry run" in output and "would remove 13 rows" in output
    result = runner.invoke(app, ["privacy", "retention", "--now", "2024-07-01"], obj=home)
    assert result.exit_code == 0 and "removed 13 rows" in " ".join(result.output.split())
    result = runner.invoke(app, ["privacy", "retention", "--now", "yesterday"], obj=home)
    assert result.exit_code == 2 and "not an ISO time" in result.output
    assert [r["action"] for r in AuditLog.from_settings(home).records()] == ["retention"]


def test_an_old_cache_file_gets_its_write_times(tmp_path: Path) -> None:
    path = tmp_path / "explanations.sqlite"
    created = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
    entry = Explanation(
        customer_id="C1", offer_id="O1", feature_version="v1", text="Because.",
        source=Source.template, created_at=created,
    )  # fmt: skip
    with sqlite3.connect(path) as db:
        db.execute(
            "create table explanations (customer_id text not null, offer_id text not null, "
            "feature_version text not null, model text not null, payload text not null, "
            "primary key (customer_id, offer_id, feature_version, model))"
        )
        db.execute("insert into explanations values ('C1', 'O1', 'v1', 't', ?)",
                   (entry.model_dump_json(),))  # fmt: skip
    cache = ExplanationCache(path=path)
    assert cache.remove_older_than(created, dry_run=True) == (0, 1)
    assert cache.remove_older_than(created + timedelta(seconds=1)) == (1, 0)
