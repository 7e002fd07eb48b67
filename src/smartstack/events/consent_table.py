"""The offline consent table: every consent change once (``<data_dir>/consent_events/``), which
dbt reads as the source ``events.consent_events`` beside the consent columns of the raw
customers table (the mart ``customer_consent``)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from smartstack.data.schema import TIMESTAMP
from smartstack.events.landed import LandedEvents
from smartstack.settings import Settings

CONSENT_EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("schema_version", pa.int32()),
        ("customer_id", pa.string()),
        ("changed_at", TIMESTAMP),
        ("personalization", pa.bool_()),
        ("llm_messaging", pa.bool_()),
        ("analytics", pa.bool_()),
        ("source", pa.string()),
        ("landed_at", TIMESTAMP),
    ]
)


def consent_events_dir(settings: Settings) -> Path:
    return settings.data_dir / "consent_events"


class ConsentTable(LandedEvents):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory, CONSENT_EVENT_SCHEMA)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsentTable:
        return cls(consent_events_dir(settings))
