"""The HTTP contract of ``POST /rank``.

Requests are strict (unknown fields, wrong types and out-of-range values are rejected with the
field's name) so that a client bug surfaces as a 400 instead of a silently different ranking.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smartstack.data.schema import IMPRESSION_CHANNELS
from smartstack.privacy.purposes import Purpose

MAX_K = 30

LIMITED_BY = (
    "The purposes whose refused consent changed this answer, in the order personalization, "
    "llm_messaging, analytics (empty: nothing was limited). personalization: the customer's "
    "data would have ranked (features or a quiz answer) and the non-personal popularity tier "
    "answered instead, without reasons or explanations. llm_messaging: explanations are "
    "template text only (fallback_reason consent) and nothing was sent to the LLM; listed "
    "whenever explanations were returned and an LLM is configured. analytics: the ranking was "
    "not written to the ranking log."
)

Channel = StrEnum("Channel", {name: name for name in IMPRESSION_CHANNELS})


class Tier(StrEnum):
    """Which step of the fallback chain produced the answer."""

    model = "model"  # the registry's champion on online features
    smartscore = "smartscore"  # the rule-based baseline on online features
    last_served = "last_served"  # feature store down or slow: the customer's previous ranking
    cold_start_quiz = "cold_start_quiz"  # unknown customer: their quiz answers
    popularity = "popularity"  # nothing personal is available


class RequestContext(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    channel: Channel
    timestamp: datetime | None = Field(
        None, description="When the offers will be shown (ISO 8601; naive means UTC). Default: now."
    )

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customer_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    context: RequestContext
    candidate_offer_ids: list[str] | None = Field(
        None, min_length=1, max_length=200, description="Default: every offer in the catalogue."
    )
    k: int = Field(10, ge=1, le=MAX_K, description="How many offers to return.")
    explain: bool = Field(
        True,
        description="Attach an explanation to the top offers (cached or template text; never "
        "waits for an LLM).",
    )


class ExplainRequest(BaseModel):
    """One offer's explanation on demand: may call the LLM, within its timeout."""

    model_config = ConfigDict(extra="forbid", strict=True)

    customer_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    offer_id: str = Field(min_length=1, max_length=64)
    context: RequestContext


class Reason(BaseModel):
    feature: str
    label: str = Field(description="What the feature means, in words a customer reads.")
    contribution: float = Field(description="The feature's share of the score (log-odds).")
    value: float | None = Field(description="The feature value the model saw (null: missing).")


class OfferExplanation(BaseModel):
    """Why this offer fits, in words, and what wrote it (quote these fields when rating it)."""

    text: str
    source: str = Field(description="llm or template")
    template_id: str | None = Field(description="angle/phrasing of template text")
    model: str | None = Field(description="the LLM that wrote or would have written it")
    feature_version: str = Field(description="the feature snapshot the text is grounded in")
    fallback_reason: str | None = Field(
        description="why template text stands in for LLM text (consent: the customer did not "
        "consent to LLM messaging)"
    )


class OfferCard(BaseModel):
    """The offer as a customer reads it: what an app shows on its card."""

    headline: str
    category: str = Field(description="The merchant category's label.")
    offer_type: str = Field(description="What kind of offer, in words: 'points offer'.")
    value: str | None = Field(description="The offer's value as stated: '3x points', '$5'.")
    min_spend: float | None = Field(description="Spend needed to earn it (USD; null: none).")
    valid_to: datetime | None = Field(description="Last moment it may be redeemed (null: none).")


class RankedOffer(BaseModel):
    offer_id: str
    rank: int
    score: float
    offer: OfferCard
    reasons: list[Reason]
    explanation: OfferExplanation | None = None


class ModelInfo(BaseModel):
    name: str
    version: str | None


class RankResponse(BaseModel):
    request_id: str
    customer_id: str
    tier: Tier
    model: ModelInfo = Field(
        description="What scored the offers (the tier's own name if no model)."
    )
    offers: list[RankedOffer]
    limited_by: list[Purpose] = Field(default_factory=list, description=LIMITED_BY)


class ExplainResponse(BaseModel):
    customer_id: str
    offer_id: str
    tier: Tier
    model: ModelInfo
    reasons: list[Reason]
    explanation: OfferExplanation
    limited_by: list[Purpose] = Field(default_factory=list, description=LIMITED_BY)
