"""The orchestrator: LLM if configured, faithfulness check, else the template; cached.

Two entry points with different promises:

- `for_offers(..., live=False)` is for `/rank`: one cache lookup (`cached_many`) for the top
  offers and, for the offers it missed, the template (a few microseconds); `lookup(facts)` does
  both for one offer. They never call the LLM and never write, so ranking latency holds with
  explanations on.
- `explain(facts)` may call the LLM (bounded by the client's timeout, retries and deadline) and
  stores the result. The pipeline calls it for every customer's top offers after training
  (`smartstack.serving.precompute`), and `POST /explain` calls it on demand.

Both take `allow_llm`: False for a customer who has not consented to LLM messaging. Then the
answer is the template (`fallback_reason` `consent`), nothing is sent to the LLM, the cache is
neither read (it may hold LLM text written before the refusal) nor written (the entry would
outlive a later consent).

Every prompt is redacted before it is sent and logged only in its redacted form; every answer is
checked for identifiers and for faithfulness to the facts. Whenever template text replaces LLM
text, the explanation carries the reason and a warning is logged.

An explainer speaks one data set's language: its `Vocabulary` (from the data set's adapter) is
what facts are read with, templates written in, prompts labelled with and answers checked
against, so the same code explains synthetic card offers and Starbucks offers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Hashable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from smartstack.datasets import active
from smartstack.datasets.vocabulary import Vocabulary
from smartstack.messaging import faithfulness, templates
from smartstack.messaging.cache import ExplanationCache, default_path
from smartstack.messaging.explanation import (
    TEMPLATE_MODEL,
    CacheKey,
    Explanation,
    FallbackReason,
    Source,
    cache_key,
)
from smartstack.messaging.facts import ExplanationFacts, build_facts
from smartstack.messaging.llm import LLMClient, LLMError, TokenBudget
from smartstack.messaging.prompt import build_messages
from smartstack.messaging.redaction import Redactor
from smartstack.settings import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OfferToExplain:
    """One ranked offer: its catalogue terms and the ranking's (feature, contribution) reasons."""

    terms: Mapping[str, Any]
    reasons: Sequence[tuple[str, float]]


def clean_answer(text: str) -> str:
    """The answer as one line of prose: no surrounding quotes, no runs of whitespace."""
    return re.sub(r"\s+", " ", text).strip().strip("\"'“”").strip()


class Explainer:
    """Explains ranked offers of one data set; thread-safe, one per process."""

    def __init__(
        self,
        llm: LLMClient | None = None,
        *,
        vocabulary: Vocabulary,
        cache: ExplanationCache | None = None,
        budget: TokenBudget | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.llm = llm
        self.vocabulary = vocabulary
        self.cache = cache if cache is not None else ExplanationCache()
        self.budget = budget
        self.redactor = redactor or Redactor(vocabulary)

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        persist: bool = True,
        deadline_s: float | None = None,
    ) -> Explainer:
        """The LLM from the settings (if any) with the cache under ``<home>/messaging/``, in the
        vocabulary of the data set the settings point at.

        ``deadline_s`` bounds one explanation, retries included (an HTTP caller is waiting).
        """
        s = settings or get_settings()
        config = s.llm
        if deadline_s is not None:
            config = config.model_copy(
                update={"timeout_s": min(config.timeout_s, deadline_s), "deadline_s": deadline_s}
            )
        cache = ExplanationCache(path=default_path(s) if persist else None)
        return cls(
            LLMClient(config) if config.configured else None,
            vocabulary=active(s).vocabulary,
            cache=cache,
        )

    @property
    def model(self) -> str | None:
        return self.llm.model if self.llm else None

    def _key(self, facts: ExplanationFacts) -> CacheKey:
        return cache_key(facts.customer_id, facts.offer.offer_id, facts.feature_version, self.model)

    def cached_many(
        self, customer_id: str, offer_ids: list[str], feature_version: str
    ) -> dict[str, Explanation]:
        """The cached explanations of a customer's offers, by offer id, found without the
        facts and in one cache query (the `/rank` fast path)."""
        return self.cache.get_many(
            customer_id, offer_ids, feature_version, self.model or TEMPLATE_MODEL
        )

    def for_offers(
        self,
        customer_id: str,
        features: Mapping[str, Any],
        feature_version: str,
        offers: Sequence[OfferToExplain],
        *,
        live: bool,
        allow_llm: bool = True,
        templates: MutableMapping[Hashable, Explanation] | None = None,
    ) -> list[Explanation]:
        """One explanation per offer of a ranking, from the customer's feature values.

        ``live=False`` is the `/rank` path: one cache query for every offer, the template for
        those it missed (facts are built only for those). ``live=True`` (precompute, `/explain`)
        builds the facts of every offer and may call the LLM. ``allow_llm=False`` (no consent to
        LLM messaging): the template for every offer, with no cache lookup and no LLM call.
        ``templates`` keeps template texts across calls with the same ``features`` (a cached
        ranking's): a template is a function of them, the offer and its reasons, while the
        cache is asked every time, so a text the LLM wrote meanwhile is served at once.
        """
        row = {**features, "customer_id": customer_id}
        ids = [str(offer.terms["offer_id"]) for offer in offers]

        def template(offer: OfferToExplain, reason: FallbackReason | None) -> Explanation:
            key = (
                "template",
                offer.terms["offer_id"],
                feature_version,
                tuple(offer.reasons),
                reason,
            )
            found = templates.get(key) if templates is not None else None
            if found is None:
                facts = build_facts(
                    row, offer.terms, offer.reasons, feature_version, self.vocabulary
                )
                found = self.template(facts) if reason is None else self._template(facts, reason)
                if templates is not None:
                    templates[key] = found
            return found

        if not allow_llm and self.llm is not None:
            return [template(offer, FallbackReason.consent) for offer in offers]
        hits = {} if live else self.cached_many(customer_id, ids, feature_version)
        texts = []
        for offer_id, offer in zip(ids, offers, strict=True):
            text = hits.get(offer_id)
            if text is None:
                if live:
                    facts = build_facts(
                        row, offer.terms, offer.reasons, feature_version, self.vocabulary
                    )
                    text = self.explain(facts)
                else:
                    text = template(offer, None)
            texts.append(text)
        return texts

    def lookup(self, facts: ExplanationFacts) -> Explanation:
        """One offer's cached explanation, else the template at once; never the LLM."""
        cached = self.cache.get(self._key(facts))
        return cached if cached is not None else self.template(facts)

    def template(self, facts: ExplanationFacts) -> Explanation:
        """The template at once, saying why no LLM text stands there: for an offer whose text is
        known not to be cached (`cached_many` missed it)."""
        reason = FallbackReason.not_cached if self.llm else FallbackReason.not_configured
        return self._template(facts, reason)

    def explain(
        self,
        facts: ExplanationFacts,
        *,
        pii: Mapping[str, object] | None = None,
        allow_llm: bool = True,
    ) -> Explanation:
        """A final cached explanation, else a new one (LLM → check → template), stored.

        `pii` is the customer's `customer_pii` row, if the caller has it: its values are removed
        from the prompt even where no rule would recognise them. `allow_llm=False` (no consent
        to LLM messaging, with an LLM configured): the template, the cache untouched.
        """
        if not allow_llm and self.llm is not None:
            return self._template(facts, FallbackReason.consent)
        cached = self.cache.get(self._key(facts))
        if cached is not None and cached.is_final:
            return cached
        if self.llm is None:
            result = self._template(facts, FallbackReason.not_configured)
        else:
            redactor = Redactor.for_customer(self.vocabulary, pii) if pii else self.redactor
            result = self._generate(self.llm, facts, redactor)
        self.cache.put(result)
        return result

    def _template(
        self, facts: ExplanationFacts, reason: FallbackReason, detail: str | None = None
    ) -> Explanation:
        rendered = templates.render(facts, self.vocabulary)
        return Explanation(
            customer_id=facts.customer_id,
            offer_id=facts.offer.offer_id,
            feature_version=facts.feature_version,
            text=rendered.text,
            source=Source.template,
            template_id=rendered.template_id,
            model=self.model,
            fallback_reason=reason,
            fallback_detail=detail,
        )

    def _fallback(
        self, facts: ExplanationFacts, reason: FallbackReason, detail: str | None = None
    ) -> Explanation:
        log.warning(
            "explanation fallback to template: customer=%s offer=%s model=%s reason=%s %s",
            facts.customer_id,
            facts.offer.offer_id,
            self.model,
            reason.value,
            detail or "",
        )
        return self._template(facts, reason, detail)

    def _generate(self, llm: LLMClient, facts: ExplanationFacts, redactor: Redactor) -> Explanation:
        messages = []
        for message in build_messages(facts, self.vocabulary):
            redacted = redactor.redact(message["content"])
            if redacted.changed:
                log.warning("redacted %s from the %s prompt", redacted.kinds, message["role"])
            messages.append({"role": message["role"], "content": redacted.text})
        log.info(
            "explanation prompt customer=%s offer=%s model=%s messages=%s",
            facts.customer_id,
            facts.offer.offer_id,
            llm.model,
            json.dumps(messages, ensure_ascii=False),
        )
        if self.budget is not None and not self.budget.available():
            return self._fallback(facts, FallbackReason.budget_exhausted)
        try:
            completion = llm.complete(messages)
        except LLMError as error:
            return self._fallback(facts, FallbackReason(error.kind), error.detail)
        if self.budget is not None:
            self.budget.charge(completion.total_tokens)
        text = clean_answer(completion.text)
        if not text:
            return self._fallback(facts, FallbackReason.empty)
        found = redactor.redact(text)
        if found.changed:  # checked first: the later reasons log the answer
            return self._fallback(facts, FallbackReason.pii_in_answer, ",".join(found.kinds))
        if completion.truncated:
            return self._fallback(facts, FallbackReason.truncated, text)
        verdict = faithfulness.check(text, facts, self.vocabulary)
        if not verdict.faithful:
            return self._fallback(facts, FallbackReason.unfaithful, f"{verdict.reason}: {text}")
        return Explanation(
            customer_id=facts.customer_id,
            offer_id=facts.offer.offer_id,
            feature_version=facts.feature_version,
            text=text,
            source=Source.llm,
            model=llm.model,
        )
