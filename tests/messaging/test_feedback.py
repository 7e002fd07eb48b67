"""Ratings: 1–5 only, stored as feedback events with who wrote the text, summarised per
template and model from the feedback table."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartstack.events.feedback_table import FeedbackTable, feedback_dir
from smartstack.messaging import (
    Explanation,
    RatingSummary,
    Source,
    rating_event,
    summarize_ratings,
)
from smartstack.messaging.explanation import FallbackReason


def explanation(
    source: Source,
    template_id: str | None = None,
    model: str | None = "gpt-4o-mini",
    fallback_reason: FallbackReason | None = None,
) -> Explanation:
    return Explanation(
        customer_id="C1",
        offer_id="OFR-012",
        feature_version="fv",
        text="…",
        source=source,
        template_id=template_id,
        model=model,
        fallback_reason=fallback_reason,
    )


@pytest.fixture
def table(tmp_path: Path) -> FeedbackTable:
    return FeedbackTable(tmp_path / "feedback")


@pytest.mark.parametrize("rating", [0, 6, -1, 3.5, True, "5", None])
def test_out_of_range_ratings_are_refused_with_a_clear_message(
    table: FeedbackTable, rating: object
) -> None:
    with pytest.raises(ValueError, match=r"rating must be a whole number from 1 to 5, got "):
        table.append([rating_event(explanation(Source.llm), rating)])  # type: ignore[arg-type]
    assert summarize_ratings(table.read()) == []


def test_ratings_are_summarised_per_source_template_and_model(table: FeedbackTable) -> None:
    llm = explanation(Source.llm)
    trend = explanation(Source.template, "trend_up/1", fallback_reason=FallbackReason.timeout)
    habit = explanation(Source.template, "habit/2", model=None)
    table.append([rating_event(llm, rating) for rating in (5, 4, 4)])
    table.append([rating_event(trend, rating) for rating in (2, 3)])
    table.append([rating_event(habit, 1)])

    assert summarize_ratings(table.read()) == [
        RatingSummary("llm", None, "gpt-4o-mini", 4.333, 3),
        RatingSummary("template", "trend_up/1", None, 2.5, 2),  # fallback: no model credited
        RatingSummary("template", "habit/2", None, 1.0, 1),
    ]


def test_a_rating_sent_twice_counts_once(table: FeedbackTable) -> None:
    rating = rating_event(explanation(Source.template, "quiz/1"), 5, event_id="rating-1")
    table.append([rating])
    table.append([rating])
    assert summarize_ratings(table.read()) == [RatingSummary("template", "quiz/1", None, 5.0, 1)]


def test_ratings_persist_across_processes(table: FeedbackTable) -> None:
    table.append([rating_event(explanation(Source.template, "quiz/1"), 5)])
    table.close()

    reopened = FeedbackTable(table.directory)

    assert summarize_ratings(reopened.read()) == [
        RatingSummary("template", "quiz/1", None, 5.0, 1)
    ]


def test_the_default_location_is_under_home(tmp_path: Path) -> None:
    from smartstack.settings import Settings

    assert feedback_dir(Settings(home=tmp_path)) == tmp_path.resolve() / "data" / "feedback"
