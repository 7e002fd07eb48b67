"""Retention: each log of customers' activity keeps its rows for as long as the settings say
(``privacy.retention``) and no longer. The daily pipeline runs it (the step
``enforce_retention``, ``smartstack privacy retention``).

A row's age is its own event time, never the file's: the ranking and shadow logs' ``served_at``,
the feedback table's ``occurred_at``, the quiz answers' ``answered_at``, the consent changes'
``changed_at`` and the explanation cache's ``written_at``. ``now`` is the wall clock unless the
caller names another instant: the synthetic data set's events lie in the past, and judging them
by today's date would empty a table a demo still reads, so ``--now`` takes the data set's clock.

Parquet parts are written again without the old rows (to a hidden temporary file renamed over
the part, so a reader sees the old part or the new one); a part left empty is deleted. The landed
event tables keep their ledger of event ids (:meth:`LandedEvents.drop_older_than`), so an old
event redelivered after retention removed it is still a duplicate and does not land again. The
newest consent change of each customer stays however old it is: it is the consent in force.
Running it twice removes nothing the second time.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from smartstack.events.consent_table import ConsentTable, consent_events_dir
from smartstack.events.feedback_table import FeedbackTable, feedback_dir
from smartstack.events.landed import LEDGER, LandedEvents
from smartstack.events.quiz_table import QuizAnswerTable, quiz_answers_dir
from smartstack.messaging.cache import ExplanationCache, default_path
from smartstack.privacy.audit import AuditLog
from smartstack.privacy.locks import rewriting
from smartstack.settings import Settings


@dataclass(frozen=True)
class RetentionResult:
    store: str
    removed: int  # rows (entries, for the cache) older than the cutoff
    kept: int
    cutoff: datetime
    path: Path
    present: bool = True  # False: the store was never written here, nothing to do


def enforce_retention(
    settings: Settings,
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    actor: str = "retention",
) -> list[RetentionResult]:
    """Remove what is past its retention from every store; one result per store.

    Without ``dry_run`` the counts go to the audit log (``action="retention"``); a dry run
    counts the same rows and changes nothing.
    """
    now = _utc(now or datetime.now(UTC))
    days = settings.privacy.retention
    ranking_cutoff = now - timedelta(days=days.ranking_log_days)
    events_cutoff = now - timedelta(days=days.feedback_days)
    cache_cutoff = now - timedelta(days=days.explanation_cache_days)

    with rewriting(settings):
        results = [
            _parquet_log("ranking_log", settings.ranking_log_dir, ranking_cutoff, dry_run),
            _parquet_log("shadow_log", settings.shadow_log_dir, ranking_cutoff, dry_run),
            _landed(
                "feedback",
                feedback_dir(settings),
                FeedbackTable,
                "occurred_at",
                events_cutoff,
                dry_run,
            ),
            _landed(
                "quiz_answers",
                quiz_answers_dir(settings),
                QuizAnswerTable,
                "answered_at",
                events_cutoff,
                dry_run,
            ),
            _landed(
                "consent_events",
                consent_events_dir(settings),
                ConsentTable,
                "changed_at",
                events_cutoff,
                dry_run,
                keep_latest_of="customer_id",
            ),
            _explanation_cache(default_path(settings), cache_cutoff, dry_run),
        ]
        if not dry_run:
            AuditLog.from_settings(settings).append(
                "retention",
                actor,
                now=now.isoformat(),
                stores={
                    r.store: {"removed": r.removed, "kept": r.kept, "cutoff": r.cutoff.isoformat()}
                    for r in results
                },
            )
        return results


def result_dict(result: RetentionResult) -> dict[str, object]:
    return asdict(result) | {"cutoff": result.cutoff.isoformat(), "path": str(result.path)}


def _utc(at: datetime) -> datetime:
    """Naive times are UTC, as everywhere in the platform."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _parquet_log(name: str, root: Path, cutoff: datetime, dry_run: bool) -> RetentionResult:
    """A folder of Parquet parts (``date=YYYY-MM-DD/part-*.parquet``) aged by ``served_at``.

    The service only adds new parts (under hidden names, then renamed), never changes one, so
    rewriting an existing part does not race its writer; hidden files are skipped.
    """
    if not root.exists():
        return RetentionResult(name, 0, 0, cutoff, root, present=False)
    removed = kept = 0
    for path in sorted(p for p in root.rglob("*.parquet") if not p.name.startswith(".")):
        source = pq.ParquetFile(path)
        if "served_at" not in source.schema_arrow.names:
            kept += source.metadata.num_rows
            continue
        stamps = source.read(columns=["served_at"])["served_at"]
        old = _older(stamps, cutoff)
        dropped = pc.sum(old).as_py() or 0
        removed += dropped
        kept += len(stamps) - dropped
        if not dropped or dry_run:
            continue
        if dropped == len(stamps):
            path.unlink()
            _remove_if_empty(path.parent, root)
            continue
        table = source.read()  # the part's own schema and metadata (the feature names)
        temporary = path.with_name(f".retention-{path.name}")
        pq.write_table(table.filter(pc.invert(old)), temporary)
        os.replace(temporary, path)
    return RetentionResult(name, removed, kept, cutoff, root)


def _landed(
    name: str,
    directory: Path,
    table: type[LandedEvents],
    time_column: str,
    cutoff: datetime,
    dry_run: bool,
    keep_latest_of: str | None = None,
) -> RetentionResult:
    if not (directory / LEDGER).exists():  # opening it would create an empty table
        return RetentionResult(name, 0, 0, cutoff, directory, present=False)
    events = table(directory)  # type: ignore[call-arg]
    try:
        removed, kept = events.drop_older_than(
            time_column, cutoff, keep_latest_of=keep_latest_of, dry_run=dry_run
        )
    finally:
        events.close()
    return RetentionResult(name, removed, kept, cutoff, directory)


def _explanation_cache(path: Path, cutoff: datetime, dry_run: bool) -> RetentionResult:
    if not path.exists():
        return RetentionResult("explanation_cache", 0, 0, cutoff, path, present=False)
    cache = ExplanationCache(max_items=1, path=path)
    try:
        removed, kept = cache.remove_older_than(cutoff, dry_run=dry_run)
    finally:
        cache.close()
    return RetentionResult("explanation_cache", removed, kept, cutoff, path)


def _older(stamps: pa.ChunkedArray, cutoff: datetime) -> pa.ChunkedArray:
    """True where the time is before the cutoff (a row without a time is kept)."""
    return pc.fill_null(pc.less(stamps, pa.scalar(cutoff, stamps.type)), False)


def _remove_if_empty(folder: Path, root: Path) -> None:
    if folder != root and not any(folder.iterdir()):
        folder.rmdir()
