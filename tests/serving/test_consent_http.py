"""Consent by purpose over HTTP: a change in the online store is honoured by the next request.

Consent is written to the served home's online store as the stream writes it (Feast's write
path, the view ``customer_consent``); the main ``bentoml serve`` process (``sqlite_server``)
reads it with the customer's features. Its OpenAI-compatible endpoint is a real HTTP server in
this test process that records every request, so "nothing sent to the LLM" is counted, not
assumed.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

import pandas as pd
import pyarrow.dataset as ds
import pytest
from conftest import REQUEST_TIME, Dataset, Server

from smartstack.featurestore import store
from smartstack.serving.snapshots import RANKING_LOG_SCHEMA
from tests.messaging.openai_server import OpenAICompatibleServer, Reply

PURPOSES = ("personalization", "llm_messaging", "analytics")
# Each write is newer than the last, so the store's row is always the latest consent.
_moments = itertools.count()


def write_consent(server: Server, customer: str, **given: bool) -> None:
    """Write the customer's consent (every purpose granted unless named False)."""
    at = pd.Timestamp("2026-06-29T13:00:00Z") + pd.Timedelta(seconds=next(_moments))
    row = {"customer_id": [customer], "event_timestamp": [at]}
    row |= {f"consent_{p}": pd.array([int(given.get(p, True))], dtype="int32") for p in PURPOSES}
    store.get_store(server.settings).write_to_online_store("customer_consent", pd.DataFrame(row))


@pytest.fixture(scope="module")
def server(sqlite_server: Server) -> Server:
    views = {v.name for v in store.get_store(sqlite_server.settings).list_all_feature_views()}
    assert "customer_consent" in views, "the built home's registry has no customer_consent view"
    return sqlite_server


@pytest.fixture
def set_consent(server: Server) -> Iterator[Callable[..., None]]:
    """``write_consent`` on the shared server, every purpose granted again afterwards: the
    modules after this one rank (and precompute for) the same customers."""
    touched: set[str] = set()

    def change(customer: str, **given: bool) -> None:
        touched.add(customer)
        write_consent(server, customer, **given)

    yield change
    for customer in touched:
        write_consent(server, customer)


def customer(dataset: Dataset, position: int) -> str:
    """A customer no other test module ranks (they count from the front)."""
    return str(dataset.customers.customer_id.iloc[-20 - position])


def ranking_log(server: Server) -> pd.DataFrame:
    """The served home's ranking log, feature vectors included."""
    directory = server.settings.ranking_log_dir
    if not any(directory.rglob("*.parquet")):
        return pd.DataFrame(columns=[f.name for f in RANKING_LOG_SCHEMA])
    dataset = ds.dataset(
        directory, schema=RANKING_LOG_SCHEMA, format="parquet", exclude_invalid_files=True
    )
    return dataset.to_table().to_pandas()


def logged_after(server: Server, marker: str) -> pd.DataFrame:
    """The ranking log once ``marker`` (a later request's id) is in it: every earlier ranking
    that was going to be logged has been flushed with it or before."""
    deadline = time.monotonic() + 20
    while True:
        log = ranking_log(server)
        if marker in set(log["request_id"]):
            return log
        assert time.monotonic() < deadline, "the ranking did not reach the ranking log"
        time.sleep(0.3)


def test_a_consent_flip_changes_the_next_rankings_tier(
    server: Server, dataset: Dataset, set_consent: Callable[..., None]
) -> None:
    who = customer(dataset, 0)
    personal = server.rank(who).json()
    assert personal["tier"] == "model" and personal["limited_by"] == []
    assert personal["offers"][0]["reasons"] and personal["offers"][0]["explanation"]

    set_consent(who, personalization=False)
    refused = server.rank(who).json()
    assert refused["tier"] == "popularity"
    assert refused["limited_by"] == ["personalization"]
    assert all(o["reasons"] == [] and o["explanation"] is None for o in refused["offers"])
    # The offers everyone gets: those of a customer the store does not know at all.
    stranger = server.rank("CUST-0999990").json()
    assert stranger["tier"] == "popularity" and stranger["limited_by"] == []
    assert [o["offer_id"] for o in refused["offers"]] == [o["offer_id"] for o in stranger["offers"]]
    engagement = server.http.post("/engagement", json={"customer_id": who}).json()
    assert engagement["limited_by"] == ["personalization"]
    assert engagement["badges"] == [] and engagement["streak"]["current_weeks"] == 0

    set_consent(who)
    again = server.rank(who).json()
    assert again["tier"] == "model" and again["limited_by"] == []
    assert server.http.post("/engagement", json={"customer_id": who}).json()["limited_by"] == []


def test_nothing_reaches_the_llm_for_a_customer_without_llm_consent(
    server: Server,
    llm: OpenAICompatibleServer,
    dataset: Dataset,
    set_consent: Callable[..., None],
) -> None:
    refusing, consenting = customer(dataset, 1), customer(dataset, 2)
    set_consent(refusing, llm_messaging=False)

    ranked = server.rank(refusing).json()
    assert ranked["tier"] == "model" and ranked["limited_by"] == ["llm_messaging"]
    shown = [o["explanation"] for o in ranked["offers"] if o["explanation"]]
    assert shown and {(e["source"], e["fallback_reason"]) for e in shown} == {
        ("template", "consent")
    }

    llm.reset(Reply("Made for how you spend."))
    for who, sent in ((refusing, 0), (consenting, 1)):
        offer = server.rank(who, k=10).json()["offers"][-3]["offer_id"]  # not precomputed
        answer = server.http.post(
            "/explain",
            json={
                "customer_id": who,
                "offer_id": offer,
                "context": {"channel": "app", "timestamp": REQUEST_TIME},
            },
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(llm.requests) == sent, who
        if sent:
            assert body["explanation"]["source"] == "llm" and body["limited_by"] == []
        else:
            assert body["explanation"]["source"] == "template"
            assert body["explanation"]["fallback_reason"] == "consent"
            assert body["limited_by"] == ["llm_messaging"]


def test_the_ranking_log_follows_analytics_and_personalization_consent(
    server: Server, dataset: Dataset, set_consent: Callable[..., None]
) -> None:
    no_analytics, no_personalization, control = (customer(dataset, i) for i in (3, 4, 5))
    set_consent(no_analytics, analytics=False)
    set_consent(no_personalization, personalization=False)

    withheld = server.rank(no_analytics).json()
    assert withheld["tier"] == "model" and withheld["limited_by"] == ["analytics"]
    impersonal = server.rank(no_personalization).json()
    assert impersonal["limited_by"] == ["personalization"]
    marker = server.rank(control).json()

    log = logged_after(server, marker["request_id"])
    assert withheld["request_id"] not in set(log["request_id"])
    rows = log[log["request_id"] == impersonal["request_id"]]
    assert len(rows) == len(impersonal["offers"]) > 0
    assert set(rows["tier"]) == {"popularity"} and rows["features"].isna().all()
    assert log[log["request_id"] == marker["request_id"]]["features"].notna().all()
