"""The explanation record every layer passes around: cache, service, feedback."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Source(StrEnum):
    llm = "llm"
    template = "template"


class FallbackReason(StrEnum):
    """Why template text was shown instead of LLM text."""

    not_configured = "not_configured"  # no LLM endpoint in the settings
    not_cached = "not_cached"  # /rank found nothing precomputed and never waits for an LLM
    budget_exhausted = "budget_exhausted"  # the run's token budget is spent
    timeout = "timeout"  # every attempt timed out
    error = "error"  # the endpoint failed (after retries for transient errors)
    empty = "empty"  # the answer had no text
    truncated = "truncated"  # the answer hit the max_tokens budget mid-sentence
    pii_in_answer = "pii_in_answer"  # the answer contained something the redactor removes
    unfaithful = "unfaithful"  # the answer stated a number, category or name not in the facts
    consent = "consent"  # the customer did not consent to LLM messaging: nothing was sent


# Reasons worth another LLM try on the next precompute; the others would fail the same way.
TRANSIENT_REASONS = frozenset(
    {
        FallbackReason.not_cached,
        FallbackReason.budget_exhausted,
        FallbackReason.timeout,
        FallbackReason.error,
        # Never cached; listed so that an entry, should one be stored, is retried once the
        # customer consents.
        FallbackReason.consent,
    }
)
TEMPLATE_MODEL = "template"  # the model part of the cache key when no LLM is configured
CacheKey = tuple[str, str, str, str]  # customer_id, offer_id, feature_version, model


def cache_key(customer_id: str, offer_id: str, feature_version: str, model: str | None) -> CacheKey:
    return (customer_id, offer_id, feature_version, model or TEMPLATE_MODEL)


class Explanation(BaseModel):
    """One offer's explanation for one customer, with where it came from."""

    model_config = ConfigDict(frozen=True)

    customer_id: str
    offer_id: str
    feature_version: str
    text: str
    source: Source
    template_id: str | None = Field(None, description="angle/phrasing, for template text")
    model: str | None = Field(None, description="the configured LLM model, if any")
    fallback_reason: FallbackReason | None = None
    fallback_detail: str | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def cache_key(self) -> CacheKey:
        return cache_key(self.customer_id, self.offer_id, self.feature_version, self.model)

    @property
    def is_final(self) -> bool:
        """Whether another generation attempt could give a different result."""
        return self.source == Source.llm or self.fallback_reason not in TRANSIENT_REASONS
