"""AI messaging: offer explanations grounded in the customer's own features.

facts (`build_facts`) → LLM (`llm`, redacted prompt) → faithfulness check → else the template
(`templates`) → cache (`ExplanationCache`), read by `/rank` through `Explainer.cached_many`. See
docs/explanations.md.
"""

from smartstack.messaging.cache import ExplanationCache
from smartstack.messaging.explainer import Explainer
from smartstack.messaging.explanation import Explanation, FallbackReason, Source
from smartstack.messaging.facts import ExplanationFacts, build_facts
from smartstack.messaging.feedback import RatingSummary, rating_event, summarize_ratings
from smartstack.messaging.llm import LLMClient, TokenBudget
from smartstack.messaging.redaction import Redactor

__all__ = [
    "Explainer",
    "Explanation",
    "ExplanationCache",
    "ExplanationFacts",
    "FallbackReason",
    "LLMClient",
    "RatingSummary",
    "Redactor",
    "Source",
    "TokenBudget",
    "build_facts",
    "rating_event",
    "summarize_ratings",
]
