"""Serving knobs, read from ``SMARTSTACK_SERVING_*`` variables.

They live apart from :class:`smartstack.settings.Settings` (paths and stores shared by every
component) because only the ranking service reads them, and operators tune them per deployment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServingConfig(BaseSettings):
    """Deadlines, caps and buffer sizes of the ranking service."""

    model_config = SettingsConfigDict(env_prefix="SMARTSTACK_SERVING_", extra="ignore")

    feature_timeout_ms: float = Field(
        20.0,
        gt=0,
        description="Deadline of one online feature read before falling back (the store "
        "client's own timeout: Redis socket, SQLite lock wait).",
    )
    breaker_failures: int = Field(
        5,
        ge=0,
        description="Failed online reads in a row that open the circuit (skip the store). "
        "0: never open it.",
    )
    breaker_reset_seconds: float = Field(
        2.0, gt=0, description="How long an open circuit skips the store before a trial read."
    )
    model_alias: str = Field("champion")
    model_poll_seconds: float = Field(
        10.0, gt=0, description="How often the registry alias is checked for a new version."
    )
    reasons_per_offer: int = Field(3, ge=0, le=10)
    explain_deadline_s: float = Field(
        3.0, gt=0, description="Longest `POST /explain` waits for the LLM, retries included."
    )
    explain_top: int = Field(
        3,
        ge=0,
        le=30,
        description="Top offers of each ranking that carry an explanation (0: none). They come "
        "from the explanation cache or the template, never from a live LLM call.",
    )
    frequency_cap: int = Field(
        3, ge=0, description="Times one offer may be served to one customer per window (0: off)."
    )
    frequency_window_seconds: float = Field(86_400.0, gt=0)
    customers_in_memory: int = Field(
        100_000, ge=1, description="Customers kept in the last-served and frequency-cap caches."
    )
    snapshot_dir: Path | None = Field(None, description="Default: <home>/serving/snapshots.")
    snapshot_flush_rankings: int = Field(
        1_000, ge=1, description="Rankings that make the writer flush before its timer."
    )
    snapshot_flush_seconds: float = Field(5.0, gt=0)
    snapshot_buffer_size: int = Field(
        20_000, ge=1, description="Rankings buffered for the writer; beyond it they are dropped."
    )
