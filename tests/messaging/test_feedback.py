"""Ratings: 1–5 only, stored with who wrote the text, summarised per template and model."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartstack.messaging import Explanation, FeedbackStore, RatingSummary, Source
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
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "feedback" / "explanations.sqlite")


@pytest.mark.parametrize("rating", [0, 6, -1, 3.5, True, "5", None])
def test_out_of_range_ratings_are_refused_with_a_clear_message(
    store: FeedbackStore, rating: object
) -> None:
    with pytest.raises(ValueError, match=r"rating must be a whole number from 1 to 5, got "):
        store.record_explanation(explanation(Source.llm), rating)  # type: ignore[arg-type]
    assert store.summarize() == []


def test_ratings_are_summarised_per_source_template_and_model(store: FeedbackStore) -> None:
    llm = explanation(Source.llm)
    trend = explanation(Source.template, "trend_up/1", fallback_reason=FallbackReason.timeout)
    habit = explanation(Source.template, "habit/2", model=None)
    for rating in (5, 4, 4):
        store.record_explanation(llm, rating)
    for rating in (2, 3):
        store.record_explanation(trend, rating)
    store.record_explanation(habit, 1)

    assert store.summarize() == [
        RatingSummary("llm", None, "gpt-4o-mini", 4.333, 3),
        RatingSummary("template", "trend_up/1", None, 2.5, 2),  # fallback: no model credited
        RatingSummary("template", "habit/2", None, 1.0, 1),
    ]


def test_ratings_persist_across_processes(store: FeedbackStore) -> None:
    store.record(
        customer_id="C9", offer_id="OFR-021", rating=5, source="template", template_id="quiz/1"
    )
    store.close()

    reopened = FeedbackStore(store.path)

    assert reopened.summarize() == [RatingSummary("template", "quiz/1", None, 5.0, 1)]


def test_the_default_location_is_under_home(tmp_path: Path) -> None:
    from smartstack.settings import Settings

    store = FeedbackStore.from_settings(Settings(home=tmp_path))

    assert store.path == tmp_path.resolve() / "feedback" / "explanations.sqlite"
