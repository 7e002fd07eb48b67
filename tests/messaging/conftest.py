"""Fixtures for messaging: a live OpenAI-compatible server, explainers pointed at it, facts, and
real Starbucks feature rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from smartstack.datasets.synthetic.vocabulary import VOCABULARY as SYNTHETIC
from smartstack.messaging import Explainer, ExplanationCache, LLMClient
from smartstack.messaging.facts import ExplanationFacts, build_facts
from smartstack.settings import LLMSettings
from tests.messaging.openai_server import OpenAICompatibleServer

if TYPE_CHECKING:
    from tests.messaging.starbucks_rows import StarbucksRows

# Short enough to keep the suite fast, long enough for a loaded 2-core CI machine to answer.
TIMEOUT_S = 0.5
ATTEMPTS = 3


@pytest.fixture(scope="session")
def openai_server() -> Iterator[OpenAICompatibleServer]:
    server = OpenAICompatibleServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def llm_server(openai_server: OpenAICompatibleServer) -> OpenAICompatibleServer:
    """The shared server with an empty script and no recorded requests."""
    openai_server.reset()
    return openai_server


@pytest.fixture
def llm_config(llm_server: OpenAICompatibleServer) -> LLMSettings:
    return LLMSettings(
        model="test-model",
        base_url=llm_server.base_url,
        api_key="sk-test",
        timeout_s=TIMEOUT_S,
        attempts=ATTEMPTS,
        deadline_s=10.0,
        backoff_initial_s=0.05,
        backoff_max_s=0.1,
    )


@pytest.fixture
def explainer(llm_config: LLMSettings) -> Explainer:
    return Explainer(LLMClient(llm_config), vocabulary=SYNTHETIC, cache=ExplanationCache())


def coffee_features(**overrides: Any) -> dict[str, Any]:
    """A commuter whose coffee spending tripled: $42.60 in 30 days against $14.20 a month."""
    row: dict[str, Any] = {
        "customer_id": "CUST-0000042",
        "event_timestamp": "2026-06-30",
        "spend_coffee_shops_7d": 11.4,
        "spend_coffee_shops_30d": 42.6,
        "spend_coffee_shops_90d": 71.0,
        "txn_count_coffee_shops_30d": 7,
        "txn_count_coffee_shops_90d": 12,
        "share_coffee_shops_90d": 0.118,
        "trend_coffee_shops": 3.0,
        "spend_transit_30d": 107.0,
        "spend_transit_90d": 320.0,
        "txn_count_transit_30d": 12,
        "txn_count_transit_90d": 35,
        "share_transit_90d": 0.533,
        "trend_transit": 1.0,
        "spend_90d": 600.0,
        "days_since_last_txn": 1,
        "card_product": "Green",
        "tenure_months": 31,
        "points_redemption_share": 0.25,
        "quiz_favourite_category": "transit",
        "quiz_prefers_rewards": 0,
    }
    row.update(overrides)
    return row


COFFEE_DISCOUNT = {
    "offer_id": "OFR-012",
    "headline": "15% off coffee shops",
    "merchant_category": "coffee_shops",
    "offer_type": "discount",
    "value": 15.0,
    "min_spend": 5.0,
}
COFFEE_REASONS = [("trend_coffee_shops", 0.9), ("share_coffee_shops_90d", 0.4)]


@pytest.fixture
def coffee_facts() -> ExplanationFacts:
    return build_facts(
        coffee_features(), COFFEE_DISCOUNT, COFFEE_REASONS, "fv-2026-06-30", SYNTHETIC
    )


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No LLM settings from the machine's environment or a .env file."""
    import os

    for name in list(os.environ):
        if name.startswith(("OPENAI_", "SMARTSTACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def starbucks(tmp_path_factory: pytest.TempPathFactory) -> StarbucksRows:
    """Real Starbucks feature rows (150 members) and offers, built once per session (dbt and
    Feast are imported only by the tests that ask for them)."""
    from tests.messaging import starbucks_rows

    return starbucks_rows.build(tmp_path_factory.mktemp("messaging-starbucks"))
