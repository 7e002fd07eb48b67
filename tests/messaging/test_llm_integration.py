"""The explainer against a real OpenAI-compatible HTTP server on 127.0.0.1 (nothing patched)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from smartstack.messaging import (
    Explainer,
    ExplanationCache,
    FallbackReason,
    LLMClient,
    Source,
    TokenBudget,
    build_facts,
)
from smartstack.messaging.facts import ExplanationFacts
from smartstack.messaging.prompt import system_prompt
from smartstack.settings import LLMSettings, Settings
from tests.messaging.conftest import (
    ATTEMPTS,
    COFFEE_DISCOUNT,
    COFFEE_REASONS,
    SYNTHETIC,
    TIMEOUT_S,
    coffee_features,
)
from tests.messaging.openai_server import OpenAICompatibleServer, Reply

GOOD = (
    "You spent 3x as much at coffee shops in the last 30 days ($42.60) as in a typical month "
    "before, so 15% off coffee shops suits you."
)


def test_a_good_answer_is_used(
    explainer: Explainer, llm_server: OpenAICompatibleServer, coffee_facts: ExplanationFacts
) -> None:
    llm_server.script(Reply(f'  "{GOOD}"\n'))

    result = explainer.explain(coffee_facts)

    assert result.source == Source.llm
    assert result.text == GOOD  # quotes and whitespace trimmed
    assert result.model == "test-model" and result.fallback_reason is None
    [request] = llm_server.requests
    assert request["model"] == "test-model"
    assert request["max_tokens"] == 120
    assert request["messages"][0] == {"role": "system", "content": system_prompt(SYNTHETIC)}
    facts_json = request["messages"][1]["content"].split("Facts:\n", 1)[1].split("\n\n")[0]
    activity = json.loads(facts_json)["customer"]["offer_category_activity"]
    assert activity["spend_last_30_days_usd"] == 42.6
    assert activity["last_30_days_vs_prior_monthly_average"] == "3.0x"


def test_a_slow_answer_times_out_to_the_template(
    explainer: Explainer, llm_server: OpenAICompatibleServer, coffee_facts: ExplanationFacts
) -> None:
    llm_server.reset(default=Reply(GOOD, delay_s=TIMEOUT_S * 4))

    result = explainer.explain(coffee_facts)

    assert result.source == Source.template
    assert result.fallback_reason == FallbackReason.timeout
    assert result.text and result.template_id
    assert len(llm_server.bodies) == ATTEMPTS  # timeouts are retried, then given up


def test_a_server_error_is_retried_then_used(
    explainer: Explainer, llm_server: OpenAICompatibleServer, coffee_facts: ExplanationFacts
) -> None:
    llm_server.script(Reply(status=500), Reply(status=503), Reply(GOOD))

    result = explainer.explain(coffee_facts)

    assert result.source == Source.llm and result.text == GOOD
    assert len(llm_server.bodies) == 3


def test_a_persistent_error_retries_then_falls_back(
    explainer: Explainer,
    llm_server: OpenAICompatibleServer,
    coffee_facts: ExplanationFacts,
    caplog: pytest.LogCaptureFixture,
) -> None:
    llm_server.reset(default=Reply(status=500))

    with caplog.at_level(logging.INFO, logger="smartstack.messaging"):
        result = explainer.explain(coffee_facts)

    assert result.source == Source.template
    assert result.fallback_reason == FallbackReason.error
    assert result.fallback_detail == "HTTP 500"
    assert len(llm_server.bodies) == ATTEMPTS
    assert "reason=error" in caplog.text


def test_a_client_error_is_not_retried(
    explainer: Explainer, llm_server: OpenAICompatibleServer, coffee_facts: ExplanationFacts
) -> None:
    llm_server.reset(default=Reply(status=400))

    result = explainer.explain(coffee_facts)

    assert result.fallback_reason == FallbackReason.error
    assert len(llm_server.bodies) == 1


def test_a_hallucinated_number_is_rejected(
    explainer: Explainer,
    llm_server: OpenAICompatibleServer,
    coffee_facts: ExplanationFacts,
    caplog: pytest.LogCaptureFixture,
) -> None:
    invented = "You spent $120 at coffee shops last month, so 15% off coffee shops suits you."
    llm_server.script(Reply(invented))

    with caplog.at_level(logging.WARNING, logger="smartstack.messaging"):
        result = explainer.explain(coffee_facts)

    assert result.source == Source.template
    assert result.fallback_reason == FallbackReason.unfaithful
    assert "'$120' is not in the facts" in (result.fallback_detail or "")
    assert "$120" not in result.text
    assert "reason=unfaithful" in caplog.text


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("", FallbackReason.empty),
        ("Email jane.doe@example.com to claim 15% off coffee shops.", FallbackReason.pii_in_answer),
        ("At Crema Corner you get 15% off coffee shops.", FallbackReason.unfaithful),
    ],
)
def test_unusable_answers_fall_back(
    explainer: Explainer,
    llm_server: OpenAICompatibleServer,
    coffee_facts: ExplanationFacts,
    answer: str,
    reason: FallbackReason,
) -> None:
    llm_server.script(Reply(answer))

    assert explainer.explain(coffee_facts).fallback_reason == reason


def test_an_answer_cut_by_the_token_budget_falls_back(
    explainer: Explainer, llm_server: OpenAICompatibleServer, coffee_facts: ExplanationFacts
) -> None:
    llm_server.script(Reply("You spent 3x as much at coffee", finish_reason="length"))

    assert explainer.explain(coffee_facts).fallback_reason == FallbackReason.truncated


PII = {
    "customer_id": "CUST-0000042",
    "full_name": "Diego Novak",
    "email": "diego.novak195@example.com",
    "phone": "+1-291-555-0180",
    "card_number": "370928125561229",
    "street_address": "2181 Cedar Ln",
    "city": "Franklin",
    "postal_code": "31404",
}


def test_pii_in_the_input_never_reaches_the_server(
    explainer: Explainer, llm_server: OpenAICompatibleServer, caplog: pytest.LogCaptureFixture
) -> None:
    """PII in the feature row, in free-text offer fields and in reason codes never leaves."""
    features = coffee_features(**PII, notes="call Diego Novak on 291 555 0180")
    offer = dict(
        COFFEE_DISCOUNT,
        headline="15% off coffee shops for Diego Novak (diego.novak195@example.com, "
        "card 3709 2812 5561 229, +1-291-555-0180, 2181 Cedar Ln, Franklin 31404)",
    )
    reasons = [*COFFEE_REASONS, ("full_name", 5.0), ("email", 4.0), ("card_number", 3.0)]
    facts = build_facts(features, offer, reasons, "fv-pii", SYNTHETIC)
    other = build_facts(
        coffee_features(customer_id="CUST-0000043"), offer, reasons, "fv-pii", SYNTHETIC
    )  # no pii row given: the rules alone must catch everything
    llm_server.reset(default=Reply(GOOD))

    with caplog.at_level(logging.INFO, logger="smartstack.messaging"):
        explainer.explain(facts, pii=PII)
        explainer.explain(other)

    assert len(llm_server.bodies) == 2
    forbidden = [
        "Diego",
        "Novak",
        "diego.novak195",
        "example.com",
        "291-555-0180",
        "2915550180",
        "555 0180",
        "370928125561229",
        "3709 2812 5561 229",
        "2181 Cedar",
        "Cedar Ln",
        "31404",
    ]
    for body in llm_server.bodies:
        text = json.dumps(json.loads(body))  # decoded and re-encoded: no escape hides a value
        for value in forbidden:
            assert value not in body.decode(), value
            assert value not in text, value
    assert all("Franklin" not in body.decode() for body in llm_server.bodies)
    prompts = [r.getMessage() for r in caplog.records if "explanation prompt" in r.getMessage()]
    assert len(prompts) == 2
    for prompt in prompts:
        assert "[EMAIL]" in prompt and "[CARD]" in prompt
        for value in forbidden:
            assert value not in prompt


def test_answers_are_cached_per_customer_offer_feature_version_and_model(
    llm_config: LLMSettings, llm_server: OpenAICompatibleServer, tmp_path: Path
) -> None:
    path = tmp_path / "messaging" / "explanations.sqlite"

    def explainer_of(config: LLMSettings) -> Explainer:
        cache = ExplanationCache(path=path)
        return Explainer(LLMClient(config), vocabulary=SYNTHETIC, cache=cache)

    explainer = explainer_of(llm_config)
    llm_server.reset(default=Reply(GOOD))
    facts = build_facts(coffee_features(), COFFEE_DISCOUNT, COFFEE_REASONS, "fv-1", SYNTHETIC)

    first = explainer.explain(facts)
    again = explainer.explain(facts)
    assert again == first and len(llm_server.bodies) == 1

    explainer.explain(facts.model_copy(update={"feature_version": "fv-2"}))
    assert len(llm_server.bodies) == 2

    reopened = explainer_of(llm_config.model_copy(update={"model": "other-model"}))
    reopened.explain(facts)
    assert len(llm_server.bodies) == 3  # a new model is a new key

    restarted = explainer_of(llm_config)
    assert restarted.lookup(facts) == first  # read back from SQLite after a restart
    assert len(llm_server.bodies) == 3


def test_transient_fallbacks_are_retried_next_time_but_unfaithful_ones_are_not(
    explainer: Explainer, llm_server: OpenAICompatibleServer, coffee_facts: ExplanationFacts
) -> None:
    llm_server.script(Reply(status=500), Reply(status=500), Reply(status=500), Reply(GOOD))
    assert explainer.explain(coffee_facts).fallback_reason == FallbackReason.error
    assert explainer.explain(coffee_facts).source == Source.llm

    other = coffee_facts.model_copy(update={"feature_version": "fv-other"})
    llm_server.script(Reply("You spent $999 at coffee shops."))
    assert explainer.explain(other).fallback_reason == FallbackReason.unfaithful
    explainer.explain(other)
    assert len(llm_server.bodies) == ATTEMPTS + 2


def test_the_token_budget_stops_llm_calls(
    llm_config: LLMSettings, llm_server: OpenAICompatibleServer
) -> None:
    budget = TokenBudget(limit=50)
    explainer = Explainer(LLMClient(llm_config), vocabulary=SYNTHETIC, budget=budget)
    llm_server.reset(default=Reply(GOOD))
    facts = [
        build_facts(
            coffee_features(customer_id=f"C{i}"), COFFEE_DISCOUNT, COFFEE_REASONS, "v", SYNTHETIC
        )
        for i in range(3)
    ]

    results = [explainer.explain(f) for f in facts]

    assert [r.source for r in results] == [Source.llm, Source.template, Source.template]
    assert results[1].fallback_reason == FallbackReason.budget_exhausted
    assert len(llm_server.bodies) == 1 and budget.used > 50


def test_rank_lookup_never_waits_for_the_llm(
    explainer: Explainer, llm_server: OpenAICompatibleServer, coffee_facts: ExplanationFacts
) -> None:
    """A slow LLM costs /rank nothing: lookups answer from the cache or the template and never
    send the LLM a request (their speed is measured in docs/benchmarks.md, not asserted)."""
    llm_server.reset(default=Reply(GOOD, delay_s=5))
    many = [
        coffee_facts.model_copy(update={"customer_id": f"C{i}", "feature_version": "fv-rank"})
        for i in range(500)
    ]
    for facts in many:
        result = explainer.lookup(facts)
        assert result.source == Source.template
        assert result.fallback_reason == FallbackReason.not_cached
    assert llm_server.bodies == []


def test_explain_fills_the_cache_that_rank_reads_and_reruns_cost_nothing(
    explainer: Explainer, llm_server: OpenAICompatibleServer
) -> None:
    """What the pipeline's precompute step does per ranked offer (`Explainer.explain`)."""
    travel = {
        "offer_id": "OFR-021",
        "headline": "4x points on travel",
        "merchant_category": "travel",
        "offer_type": "points",
        "value": 4.0,
        "min_spend": 0.0,
    }
    facts = [
        build_facts(coffee_features(customer_id=c), offer, reasons, "fv-batch", SYNTHETIC)
        for c in ("C1", "C2", "C3")
        for offer, reasons in ((COFFEE_DISCOUNT, COFFEE_REASONS), (travel, []))
    ]
    llm_server.reset(default=Reply(GOOD))  # faithful for the coffee offer only

    results = [explainer.explain(f) for f in facts]

    assert Counter(r.source.value for r in results) == {"llm": 3, "template": 3}
    assert Counter(r.fallback_reason for r in results if r.fallback_reason) == {
        FallbackReason.unfaithful: 3
    }
    assert all(explainer.lookup(f).fallback_reason != FallbackReason.not_cached for f in facts)
    assert explainer.lookup(facts[0]).text == GOOD

    for f in facts:  # everything is final: no new requests
        explainer.explain(f)
    assert len(llm_server.bodies) == 6


@pytest.mark.usefixtures("clean_env")
def test_without_an_llm_configured_templates_are_used_offline(tmp_path: Path) -> None:
    explainer = Explainer.from_settings(Settings(home=tmp_path))
    facts = build_facts(coffee_features(), COFFEE_DISCOUNT, COFFEE_REASONS, "fv", SYNTHETIC)

    result = explainer.explain(facts)

    assert explainer.llm is None
    assert explainer.vocabulary is SYNTHETIC  # the default data set's
    assert result.source == Source.template
    assert result.fallback_reason == FallbackReason.not_configured
    assert (tmp_path / "messaging" / "explanations.sqlite").exists()


@pytest.mark.usefixtures("clean_env")
def test_settings_configure_the_endpoint(
    llm_server: OpenAICompatibleServer, tmp_path: Path
) -> None:
    llm = LLMSettings(base_url=llm_server.base_url, model="gemini-2.0-flash")
    settings = Settings(home=tmp_path, llm=llm)
    explainer = Explainer.from_settings(settings, persist=False)
    llm_server.reset(default=Reply(GOOD))

    facts = build_facts(coffee_features(), COFFEE_DISCOUNT, COFFEE_REASONS, "v", SYNTHETIC)
    result = explainer.explain(facts)

    assert result.source == Source.llm and result.model == "gemini-2.0-flash"
    assert llm_server.requests[0]["model"] == "gemini-2.0-flash"
