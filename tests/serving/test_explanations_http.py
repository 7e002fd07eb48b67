"""Explanations over HTTP: precomputed LLM text in `/rank`, on-demand `/explain`, and never a wait.

The main ``bentoml serve`` process (``sqlite_server``) has an OpenAI-compatible endpoint
configured: a real HTTP server in this test process (`tests.messaging.openai_server`) that
records every request body.
The pipeline's precompute step fills the cache first (through the CLI, as the pipeline does);
then the endpoint turns slow, and `/rank` must still serve the LLM text without calling it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import LLM_MODEL, REQUEST_TIME, Dataset, Server

from smartstack.paths import PROJECT_ROOT
from smartstack.pipeline import NOTHING_TO_DO
from tests.conftest import project_environment
from tests.messaging.openai_server import OpenAICompatibleServer, Reply

LLM_TEXT = "This offer fits the way you already shop."
TOP = 2


@pytest.fixture(scope="module")
def explaining_server(
    sqlite_server: Server, llm: OpenAICompatibleServer, dataset: Dataset
) -> Server:
    """The main server, its cache filled by the pipeline's precompute step with LLM text for
    every customer's top offers (through the CLI, with the server's settings)."""
    llm.reset(Reply(LLM_TEXT))
    precompute = subprocess.run(
        [
            str(PROJECT_ROOT / ".venv" / "bin" / "smartstack"),
            "explanations",
            "precompute",
            "--top",
            str(TOP),
            "--at",
            REQUEST_TIME.removesuffix("Z"),
        ],
        env=project_environment(**sqlite_server.env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert precompute.returncode == 0, precompute.stderr[-3000:]
    # e.g. "2400 explanations for 1200 customers (2400 llm) in 9.1s": every one from the LLM.
    report = re.search(r"(\d+) explanations for (\d+) customers \((\d+) llm\)", precompute.stdout)
    assert report, precompute.stdout
    explained, customers, by_llm = (int(group) for group in report.groups())
    assert customers == len(dataset.customers) and explained == by_llm > 0
    return sqlite_server


def test_rank_serves_precomputed_llm_text_without_calling_the_llm(
    explaining_server: Server, llm: OpenAICompatibleServer, dataset: Dataset
) -> None:
    llm.reset(Reply("too late", delay_s=5))  # any call from /rank would now take seconds
    customer = dataset.customers.customer_id.iloc[0]
    body = explaining_server.rank(customer, k=5).json()
    assert body["tier"] == "model"
    explained = [o["explanation"] for o in body["offers"]]
    assert all(e is not None for e in explained[:3]) and explained[3:] == [None, None]
    for precomputed in explained[:TOP]:
        assert precomputed["source"] == "llm", precomputed
        assert precomputed["text"] == LLM_TEXT
        assert precomputed["model"] == LLM_MODEL
        assert precomputed["feature_version"].startswith("offer_ranking_v1@")
    # Third offer: not precomputed (top 2 only), so the template, marked as such.
    assert explained[2]["source"] == "template" and explained[2]["fallback_reason"] == "not_cached"
    assert llm.requests == []


def test_explain_calls_the_llm_within_its_deadline_then_falls_back(
    explaining_server: Server, llm: OpenAICompatibleServer, dataset: Dataset
) -> None:
    customer = dataset.customers.customer_id.iloc[1]
    ranked = explaining_server.rank(customer, k=10).json()["offers"]
    offer = ranked[-1]["offer_id"]  # far below the precomputed top
    body = {
        "customer_id": customer,
        "offer_id": offer,
        "context": {"channel": "app", "timestamp": REQUEST_TIME},
    }
    llm.reset(Reply("Made for how you spend."))
    fresh = explaining_server.http.post("/explain", json=body)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["explanation"]["source"] == "llm"
    assert fresh.json()["explanation"]["text"] == "Made for how you spend."
    assert fresh.json()["tier"] == "model" and fresh.json()["reasons"]
    assert len(llm.requests) == 1

    llm.reset(Reply("too late", delay_s=5))
    other = {**body, "offer_id": ranked[-2]["offer_id"]}
    slow = explaining_server.http.post("/explain", json=other)
    assert slow.status_code == 200, slow.text
    assert slow.json()["explanation"]["source"] == "template"
    assert slow.json()["explanation"]["fallback_reason"] == "timeout"


def test_explain_rejects_unknown_offers_and_customers(
    explaining_server: Server, dataset: Dataset
) -> None:
    context = {"channel": "app", "timestamp": REQUEST_TIME}
    customer = dataset.customers.customer_id.iloc[0]
    offer = dataset.offers.offer_id.iloc[0]
    unknown_offer = explaining_server.http.post(
        "/explain", json={"customer_id": customer, "offer_id": "OFR-NOPE", "context": context}
    )
    assert unknown_offer.status_code == 400
    assert "offer_id" in unknown_offer.text and "OFR-NOPE" in unknown_offer.text
    stranger = explaining_server.http.post(
        "/explain", json={"customer_id": "CUST-0999999", "offer_id": offer, "context": context}
    )
    assert stranger.status_code == 404
    assert "CUST-0999999" in stranger.text
    extra = explaining_server.http.post(
        "/explain",
        json={"customer_id": customer, "offer_id": offer, "context": context, "k": 3},
    )
    assert extra.status_code == 400 and "k" in extra.text


def test_precompute_is_in_the_cli_help() -> None:
    shown = subprocess.run(
        [
            str(PROJECT_ROOT / ".venv" / "bin" / "smartstack"),
            "explanations",
            "precompute",
            "--help",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--top" in shown.stdout and "--at" in shown.stdout


def test_precompute_without_an_llm_is_skipped_with_a_sentence(tmp_path: Path) -> None:
    skipped = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "smartstack"), "explanations", "precompute"],
        capture_output=True,
        text=True,
        env=project_environment(SMARTSTACK_HOME=str(tmp_path)),
    )
    assert skipped.returncode == NOTHING_TO_DO, skipped.stderr
    assert "no LLM is configured" in skipped.stderr and "Traceback" not in skipped.stderr
    assert not (tmp_path / "messaging").exists()
