"""What a customer may consent to, purpose by purpose, and what a refusal limits.

- ``personalization``: rankings from the customer's features, the feature snapshot in the
  ranking log, engagement profiling (streaks, badges). Refused: the non-personalized tier.
- ``llm_messaging``: the customer's facts may be sent to the LLM. Refused: template text only.
- ``analytics``: the customer's rankings and feedback enter readouts and off-policy estimates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Purpose(StrEnum):
    personalization = "personalization"
    llm_messaging = "llm_messaging"
    analytics = "analytics"


# The Feast view (and dbt mart) that holds each customer's answers, outside every feature service.
CONSENT_VIEW = "customer_consent"
# The online store's and the marts' column of each purpose.
CONSENT_COLUMNS: dict[Purpose, str] = {p: f"consent_{p.value}" for p in Purpose}


@dataclass(frozen=True)
class Consent:
    """One customer's answer per purpose."""

    personalization: bool = True
    llm_messaging: bool = True
    analytics: bool = True

    @classmethod
    def of(cls, values: Mapping[str, Any], unrecorded: bool) -> Consent:
        """From a row holding the ``consent_<purpose>`` columns; a missing or null value is
        ``unrecorded`` (the privacy setting)."""

        def given(purpose: Purpose) -> bool:
            value = values.get(CONSENT_COLUMNS[purpose])
            return unrecorded if value is None else bool(value)

        return cls(*(given(p) for p in Purpose))

    def allows(self, purpose: Purpose) -> bool:
        return bool(getattr(self, purpose.value))

    @property
    def refused(self) -> list[Purpose]:
        """The purposes refused, in the order of :class:`Purpose`."""
        return [p for p in Purpose if not self.allows(p)]

    def columns(self) -> dict[str, bool]:
        return {CONSENT_COLUMNS[p]: self.allows(p) for p in Purpose}
