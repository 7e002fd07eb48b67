"""The offline feedback table: every feedback event once (``<data_dir>/feedback/``), which
dbt reads as the source ``events.feedback`` and training through it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from smartstack.data.schema import TIMESTAMP
from smartstack.events.landed import LandedEvents
from smartstack.settings import Settings

FEEDBACK_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("schema_version", pa.int32()),
        ("kind", pa.string()),
        ("customer_id", pa.string()),
        ("offer_id", pa.string()),
        ("occurred_at", TIMESTAMP),
        ("request_id", pa.string()),
        ("channel", pa.string()),
        ("position", pa.int32()),
        ("rating", pa.int32()),
        ("feature_version", pa.string()),
        ("source", pa.string()),
        ("template_id", pa.string()),
        ("model", pa.string()),
        ("timezone", pa.string()),
        ("landed_at", TIMESTAMP),
    ]
)


def feedback_dir(settings: Settings) -> Path:
    return settings.data_dir / "feedback"


class FeedbackTable(LandedEvents):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory, FEEDBACK_SCHEMA)

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedbackTable:
        return cls(feedback_dir(settings))
