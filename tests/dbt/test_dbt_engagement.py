"""The engagement mart counts landed feedback and quiz answers as the live engagement store does:
for every customer and as-of date, dbt's last qualifying week, the run ending there and the
badge count equal what :func:`smartstack.engagement.state.apply` makes of the same events (in
time order, without the guardrail, which the mart does not apply), across a year boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dbt_build_helpers import Build

from smartstack.data.schema import RAW_SCHEMAS
from smartstack.engagement.rules import load_rules
from smartstack.engagement.state import CustomerEngagement, apply, iso_week, week_number
from smartstack.events.contracts import FeedbackEvent, QuizAnswerEvent
from smartstack.events.engagement_feed import activities
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.features.dbt import run_dbt
from smartstack.settings import Settings
from tests.events.helpers import feedback_event

pytestmark = pytest.mark.slow

# As-of dates every Monday from 2025-12-01 to 2026-03-02: around the new year.
WINDOW = {"impression_start": "2025-12-01T00:00:00+00:00", "snapshot": "2026-03-02T00:00:00+00:00"}
MART = "customer_engagement_features"
# customer_id, as-of date -> (last qualifying week, run ending there, badges)
Signals = dict[tuple[str, datetime], tuple[int | None, int, int]]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _events(offers: list[str]) -> tuple[list[FeedbackEvent], list[QuizAnswerEvent]]:
    """Four customers, given offers of three different categories: A's weeks run from 2025-W51
    across the new year (2025-12-29 is the Monday of 2026-W01) to 2026-W05, then stop and start
    again; B only clicks and answers the quiz; C redeems the same category twice and an offer
    missing from the catalogue; D acts at midnight of an as-of date (not counted then)."""
    first, second, third = offers
    a = [
        ("redeem", first, "2025-12-17 09:00"),
        ("rating", first, "2025-12-24 09:00"),
        ("redeem", second, "2025-12-28 23:30"),  # Sunday: 2025-W52
        ("redeem", first, "2025-12-29 00:10"),  # Monday: 2026-W01
        ("rating", second, "2026-01-07 09:00"),
        ("rating", third, "2026-01-14 09:00"),
        ("rating", third, "2026-01-21 09:00"),
        ("rating", first, "2026-01-28 09:00"),
        ("click", first, "2026-02-03 09:00"),
        ("redeem", third, "2026-02-17 09:00"),
    ]
    b = [("click", first, "2025-12-10 09:00"), ("click", second, "2026-01-10 09:00")]
    c = [
        ("redeem", first, "2026-01-03 12:00"),
        ("redeem", first, "2026-01-20 12:00"),
        ("redeem", "OFR-NOT-LISTED", "2026-01-21 12:00"),
        ("view", second, "2026-01-21 12:00"),
    ]
    d = [("rating", second, "2026-01-05 00:00"), ("redeem", second, "2026-01-11 23:59")]
    feedback = [
        feedback_event(f"fb-{customer}-{n}", kind, customer, offer, _at(at))
        for customer, rows in (("CUST-A", a), ("CUST-B", b), ("CUST-C", c), ("CUST-D", d))
        for n, (kind, offer, at) in enumerate(rows)
    ]
    quiz = [
        QuizAnswerEvent(
            event_id=f"quiz-{customer}",
            customer_id=customer,
            answered_at=_at(at),
            favourite_category="travel",
            reward_preference="rewards",
            planning_travel=False,
        )
        for customer, at in (("CUST-A", "2026-01-20 08:00"), ("CUST-B", "2026-02-01 08:00"))
    ]
    return feedback, quiz


def _run_ending_at_last(weeks: list[int]) -> int:
    known, run = set(weeks), 0
    while weeks and weeks[-1] - run in known:
        run += 1
    return run


def _python_signals(
    feedback: list[FeedbackEvent], quiz: list[QuizAnswerEvent], categories: dict[str, str],
    as_of_dates: list[datetime], rules_path: Path,
) -> Signals:  # fmt: skip
    rules = load_rules(rules_path)
    found = sorted(activities(feedback, quiz, categories.get), key=lambda a: a.occurred_at)
    expected: Signals = {}
    for as_of in as_of_dates:
        states: dict[str, CustomerEngagement] = {}
        for activity in (a for a in found if a.occurred_at < as_of):
            state = states.setdefault(
                activity.customer_id, CustomerEngagement(activity.customer_id)
            )
            apply(state, activity, rules, spend_rising=False)
        for customer, state in states.items():
            last = state.weeks[-1] if state.weeks else None
            expected[customer, as_of] = (last, _run_ending_at_last(state.weeks), len(state.badges))
    return expected


@pytest.fixture(scope="module")
def landed(full_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Signals]:
    """The built data set's raw tables with the events landed as the stream processor lands
    them (one of them twice), built into the mart; and what Python makes of the events."""
    root = tmp_path_factory.mktemp("engagement")
    data = root / "data"
    data.mkdir()
    for name in ("raw", "manifest.json"):
        (data / name).symlink_to(full_data / name)
    settings = Settings(home=root / "home", data_dir=data)
    offers = pq.read_table(full_data / "raw" / "offers", schema=RAW_SCHEMAS["offers"]).to_pandas()
    categories = dict(zip(offers.offer_id, offers.merchant_category, strict=True))
    one_per_category = {c: o for o, c in sorted(categories.items(), reverse=True)}
    feedback, quiz = _events(sorted(one_per_category.values())[:3])
    feedback_table, quiz_table = (
        FeedbackTable(data / "feedback"),
        QuizAnswerTable(data / "quiz_answers"),
    )
    try:
        assert feedback_table.append(feedback[:7]) == 7
        assert feedback_table.append(feedback[5:]) == len(feedback) - 7  # a redelivered batch
        assert quiz_table.append(quiz) == len(quiz)
    finally:
        feedback_table.close()
        quiz_table.close()

    command = ["build", "--select", f"+{MART}", "--indirect-selection", "cautious"]
    assert run_dbt(command, settings, extra_vars=WINDOW) == 0

    start, end = (datetime.fromisoformat(WINDOW[k]) for k in ("impression_start", "snapshot"))
    as_of_dates = [start + timedelta(days=d) for d in range(0, (end - start).days + 1, 7)]
    return settings, _python_signals(
        feedback, quiz, categories, as_of_dates, settings.engagement.rules
    )


def _mart_signals(settings: Settings) -> Signals:
    mart = pd.read_parquet(settings.features_dir / f"{MART}.parquet")
    return {
        (row.customer_id, row.event_timestamp.tz_localize(UTC).to_pydatetime()): (
            None if pd.isna(row.engagement_last_week) else int(row.engagement_last_week),
            int(row.engagement_streak_run),
            int(row.engagement_badge_count),
        )
        for row in mart.itertuples()
    }


def test_the_mart_equals_the_engagement_state_at_every_as_of_date(
    landed: tuple[Settings, Signals],
) -> None:
    settings, expected = landed
    assert _mart_signals(settings) == expected


def test_a_run_across_the_new_year_is_one_streak(landed: tuple[Settings, Signals]) -> None:
    settings, expected = landed
    got = _mart_signals(settings)
    last, run, badges = got["CUST-A", _at("2026-01-12 00:00")]
    assert (iso_week(last), run) == ("2026-W02", 4)  # 2025-W51, W52, 2026-W01, W02
    assert last == week_number(_at("2026-01-07 09:00"), "UTC")
    # first_redemption and four_week_streak; not yet explorer (two categories so far)...
    assert badges == 2
    # ...and the run ended at 2026-W05: the streak badge stays, the run restarts at 1.
    assert got["CUST-A", _at("2026-03-02 00:00")][1:] == (1, 5)
    # Only clicks and a quiz answer: a customer without a qualifying week.
    assert got["CUST-B", _at("2026-03-02 00:00")] == (None, 0, 1)
    # Nothing at the as-of date's midnight counts on that date.
    assert ("CUST-D", _at("2026-01-05 00:00")) not in got
    assert got == expected


def test_a_data_set_without_events_builds_the_mart_empty(full_build: Build) -> None:
    """The session's build of a fresh data set: no landed feedback or quiz answers."""
    with duckdb.connect(str(full_build.duckdb_path), read_only=True) as con:
        (rows,) = con.execute(f"select count(*) from main.{MART}").fetchone()
    assert rows == 0
