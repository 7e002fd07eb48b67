"""Quiz answers the stream processor landed (``<data_dir>/quiz_answers/``) reach dbt's quiz
features on the next build, beside the generated responses; a landing folder that holds only
its zero-row schema part builds too."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from smartstack.data.manifest import Manifest
from smartstack.data.schema import RAW_SCHEMAS
from smartstack.events.quiz_table import QUIZ_ANSWER_SCHEMA as LANDED
from smartstack.features.dbt import run_dbt
from smartstack.settings import Settings

pytestmark = pytest.mark.slow

# The answer's columns in the quiz mart (feature view customer_quiz) and in the profile mart.
STATED = ["stated_favourite_category", "stated_prefers_rewards", "stated_planning_travel"]
PROFILE = ["quiz_favourite_category", "quiz_prefers_rewards", "quiz_planning_travel"]


def _build(settings: Settings, *models: str) -> int:
    """``dbt build`` of ``models`` and what they read, with only the tests of those."""
    return run_dbt(["build", "--select", *models, "--indirect-selection", "cautious"], settings)


def _settings_with_landed(
    full_data: Path, tmp_path: Path, parts: list[list[dict[str, Any]]]
) -> Settings:
    """The built data set's raw tables and manifest, with ``parts`` landed beside the zero-row
    schema part, in a home and data folder of their own."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("raw", "manifest.json"):
        (data / name).symlink_to(full_data / name)
    landed = data / "quiz_answers"
    landed.mkdir()
    pq.write_table(LANDED.empty_table(), landed / "schema.parquet")
    for i, rows in enumerate(parts):
        pq.write_table(pa.Table.from_pylist(rows, schema=LANDED), landed / f"part-{i:05d}.parquet")
    return Settings(home=tmp_path / "home", data_dir=data)


def test_a_landed_answer_is_in_the_quiz_features_of_the_next_build(
    full_data: Path, tmp_path: Path
) -> None:
    snapshot = Manifest.read(full_data).snapshot
    responses = pq.read_table(
        full_data / "raw" / "quiz_responses", schema=RAW_SCHEMAS["quiz_responses"]
    ).to_pandas()
    latest = responses.sort_values("answered_at").groupby("customer_id").tail(1).iloc[0]
    stated = "transit" if latest.favourite_category != "transit" else "gas"
    answered_at = snapshot - timedelta(seconds=1)  # after every generated answer
    answer = {
        "event_id": "quiz-live-1",
        "schema_version": 1,
        "customer_id": latest.customer_id,
        "answered_at": answered_at,
        "favourite_category": stated,
        "reward_preference": "discounts",
        "planning_travel": True,
        "landed_at": answered_at + timedelta(seconds=2),
    }
    # Landed twice (a writer crashed after its part, the batch was delivered again): one answer.
    again = {**answer, "landed_at": answered_at + timedelta(seconds=30)}
    settings = _settings_with_landed(full_data, tmp_path, [[answer], [again]])

    assert _build(settings, "+customer_profile_features", "+customer_quiz_answers") == 0

    features = settings.features_dir
    quiz = pd.read_parquet(features / "customer_quiz_answers.parquet")
    mine = quiz[quiz.customer_id == latest.customer_id].sort_values("event_timestamp")
    assert len(quiz) == len(responses[responses.answered_at < snapshot]) + 1
    assert mine.event_timestamp.iloc[-1] == pd.Timestamp(answered_at).tz_convert(None)
    assert mine[STATED].iloc[-1].tolist() == [stated, 0, 1]
    profile = pd.read_parquet(features / "customer_profile_features.parquet")
    as_of = profile[
        (profile.customer_id == latest.customer_id)
        & (profile.event_timestamp == pd.Timestamp(snapshot).tz_convert(None))
    ]
    assert as_of[["has_quiz", *PROFILE, "days_since_quiz"]].values.tolist() == [
        [1, stated, 0, 1, 1]
    ]


def test_a_landing_folder_without_answers_builds(full_data: Path, tmp_path: Path) -> None:
    settings = _settings_with_landed(full_data, tmp_path, [])
    assert _build(settings, "+int_quiz_responses_unioned") == 0
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        (landed,) = con.execute("select count(*) from main.stg_events__quiz_answers").fetchone()
        (unioned,) = con.execute("select count(*) from main.int_quiz_responses_unioned").fetchone()
    assert landed == 0
    raw = pq.read_table(full_data / "raw" / "quiz_responses", schema=RAW_SCHEMAS["quiz_responses"])
    assert unioned == raw.num_rows
