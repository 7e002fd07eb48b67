"""Customer ratings of explanations (1–5), and their summary for the ML team.

A rating is a feedback event of kind ``rating`` (see :mod:`smartstack.events.contracts`): it
travels like every other feedback event (``POST /feedback`` → Kafka → stream processor, or
straight to the table without a broker) and lands once, by event id, in the feedback table.
Each records what wrote the text (LLM model, or template angle/phrasing), so the team can
compare the mean rating of each template and model and retire the weak ones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from smartstack.events.contracts import FeedbackEvent, FeedbackKind
from smartstack.messaging.explanation import Explanation

MIN_RATING, MAX_RATING = 1, 5


def validate_rating(rating: object) -> int:
    """The rating as an int, or a ValueError that says what is accepted."""
    whole = isinstance(rating, int) and not isinstance(rating, bool)
    if not whole or not MIN_RATING <= rating <= MAX_RATING:  # type: ignore[operator]
        raise ValueError(
            f"rating must be a whole number from {MIN_RATING} to {MAX_RATING}, got {rating!r}"
        )
    return int(rating)  # type: ignore[arg-type]


def rating_event(
    explanation: Explanation,
    rating: int,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> FeedbackEvent:
    """The feedback event of one rating of ``explanation``."""
    return FeedbackEvent(
        event_id=event_id or uuid.uuid4().hex,
        kind=FeedbackKind.rating,
        customer_id=explanation.customer_id,
        offer_id=explanation.offer_id,
        occurred_at=occurred_at or datetime.now(UTC),
        rating=validate_rating(rating),
        feature_version=explanation.feature_version,
        source=explanation.source.value,
        template_id=explanation.template_id,
        model=explanation.model,
    )


@dataclass(frozen=True)
class RatingSummary:
    """Mean rating and count for one writer of explanations."""

    source: str
    template_id: str | None
    model: str | None
    mean_rating: float
    count: int


# The model is credited only for LLM text and the template only for template text: template
# text shown as a fallback was written by the template, whatever model was configured.
_SUMMARY = """
select
    source,
    case when source = 'template' then template_id end as template_id,
    case when source = 'llm' then model end as model,
    round(avg(rating), 3) as mean_rating,
    count(*) as n
from feedback
where kind = 'rating'
group by all
order by n desc, source, template_id, model
"""


def summarize_ratings(feedback: pa.Table) -> list[RatingSummary]:
    """Mean rating and count per source, template and model, most rated first, from the rows
    of the feedback table."""
    connection = duckdb.connect()
    connection.register("feedback", feedback)
    result = connection.execute(_SUMMARY).fetchall()
    connection.close()
    return [RatingSummary(s, t, m, float(mean), n) for s, t, m, mean, n in result]
