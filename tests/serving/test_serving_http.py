"""The ranking service over HTTP, on the SQLite online store: ranking, eligibility, caps, cold
start, model swap and removal through ``/admin/reload``, bad input, health, metrics and the
ranking log."""

from __future__ import annotations

import itertools
import threading
import time

import httpx
import pandas as pd
import pytest
from conftest import (
    QUIZ_ONLY_CUSTOMER,
    QUIZ_ONLY_FAVOURITE,
    REQUEST_TIME,
    Dataset,
    Server,
    service_authorization,
)

pytestmark = pytest.mark.slow


def customer_with(dataset: Dataset, card_product: str, nth: int = 0) -> str:
    rows = dataset.customers[dataset.customers.card_product == card_product]
    return str(rows.customer_id.iloc[nth])


def wait_for(condition, timeout: float = 15.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result is not None and result is not False:
            return result
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_ranks_with_the_champion_and_explains(sqlite_server: Server, dataset: Dataset) -> None:
    candidates = sorted(dataset.offers.offer_id)[:30]
    response = sqlite_server.rank(
        customer_with(dataset, "Platinum"), candidate_offer_ids=candidates, k=5
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tier"] == "model"
    assert body["model"] == {"name": "offer-ranker", "version": sqlite_server.registry.champion()}
    assert [o["rank"] for o in body["offers"]] == [1, 2, 3, 4, 5]
    scores = [o["score"] for o in body["offers"]]
    assert scores == sorted(scores, reverse=True)
    assert {o["offer_id"] for o in body["offers"]} <= set(candidates)
    for offer in body["offers"]:
        assert 1 <= len(offer["reasons"]) <= 3
        assert {r["feature"] for r in offer["reasons"]} <= set(dataset.feature_names)
    assert body["request_id"]


def test_filters_card_product_and_validity(sqlite_server: Server, dataset: Dataset) -> None:
    offers = dataset.offers.set_index("offer_id")
    response = sqlite_server.rank(customer_with(dataset, "Blue Cash"), k=30)
    assert response.status_code == 200
    served = [o["offer_id"] for o in response.json()["offers"]]
    assert served
    for offer_id in served:
        assert "Blue Cash" in offers.loc[offer_id, "eligible_card_products"]

    before_any_offer = {"channel": "web", "timestamp": "2026-01-15T09:00:00+01:00"}
    response = sqlite_server.rank(customer_with(dataset, "Gold"), context=before_any_offer)
    assert response.status_code == 200
    assert response.json()["offers"] == []


def test_frequency_cap_stops_repeats(sqlite_server: Server, dataset: Dataset) -> None:
    customer = customer_with(dataset, "Green", nth=1)
    pair = ["OFR-001", "OFR-011"]
    first = [sqlite_server.rank(customer, candidate_offer_ids=pair, k=1).json() for _ in range(2)]
    top = first[0]["offers"][0]["offer_id"]
    assert first[1]["offers"][0]["offer_id"] == top  # cap is 2 in tests
    third = sqlite_server.rank(customer, candidate_offer_ids=pair, k=2).json()
    assert [o["offer_id"] for o in third["offers"]] == [o for o in pair if o != top]


def test_unknown_customer_with_quiz_answers_gets_their_category(
    sqlite_server: Server, dataset: Dataset
) -> None:
    body = sqlite_server.rank(QUIZ_ONLY_CUSTOMER, k=3).json()
    assert body["tier"] == "cold_start_quiz"
    category = dataset.offers.set_index("offer_id").merchant_category
    assert category[body["offers"][0]["offer_id"]] == QUIZ_ONLY_FAVOURITE
    # Without a card product, only offers open to every card product are shown.
    open_to_all = set(
        dataset.offers.offer_id[dataset.offers.eligible_card_products.str.count(",") == 3]
    )
    assert {o["offer_id"] for o in body["offers"]} <= open_to_all


def test_unknown_customer_without_answers_gets_popular_offers(sqlite_server: Server) -> None:
    body = sqlite_server.rank("CUST-8000042", k=5).json()
    assert body["tier"] == "popularity"
    assert body["model"] == {"name": "popularity", "version": None}
    assert len(body["offers"]) == 5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unexpected": 1}, "unexpected"),
        ({"k": "3"}, "k"),
        ({"k": 0}, "k"),
        ({"k": 31}, "k"),
        ({"customer_id": 42}, "customer_id"),
        ({"customer_id": "bad id!"}, "customer_id"),
        ({"context": {"channel": "fax"}}, "channel"),
        ({"context": {"channel": "app", "timestamp": "yesterday"}}, "timestamp"),
        ({"context": {"channel": "app", "extra": True}}, "extra"),
        ({"candidate_offer_ids": []}, "candidate_offer_ids"),
        ({"candidate_offer_ids": ["OFR-001", "OFR-DOES-NOT-EXIST"]}, "candidate_offer_ids"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    sqlite_server: Server, change: dict, field: str
) -> None:
    body = {"customer_id": "CUST-0000001", "context": {"channel": "app"}, **change}
    response = sqlite_server.http.post("/rank", json=body)
    assert response.status_code == 400, response.text
    locations = [error["loc"] for error in response.json()["detail"]]
    assert any(field in location for location in locations), locations


def test_missing_body_fields_and_non_json(sqlite_server: Server) -> None:
    response = sqlite_server.http.post("/rank", json={"context": {"channel": "app"}})
    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["customer_id"]
    response = sqlite_server.http.post(
        "/rank", content=b"not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


def test_health_metrics_and_docs(sqlite_server: Server) -> None:
    assert sqlite_server.http.get("/livez").status_code == 200
    assert sqlite_server.http.get("/readyz").status_code == 200
    metrics = sqlite_server.http.get("/metrics").text
    assert 'smartstack_rank_tier_total{tier="model"}' in metrics
    assert "smartstack_rank_latency_seconds_bucket" in metrics
    spec = sqlite_server.http.get("/docs.json").json()
    assert "/rank" in spec["paths"]


def test_every_ranking_is_logged_with_its_features(sqlite_server: Server, dataset: Dataset) -> None:
    customer = customer_with(dataset, "Gold", nth=3)
    body = sqlite_server.rank(customer, k=4).json()
    folder = sqlite_server.settings.home / "serving" / "snapshots"

    def logged() -> pd.DataFrame | None:
        if not folder.exists():
            return None
        frame = pd.read_parquet(folder)
        rows = frame[frame.request_id == body["request_id"]]
        return rows if len(rows) else None

    rows = wait_for(logged, timeout=30).sort_values("rank")
    assert list(rows.offer_id) == [o["offer_id"] for o in body["offers"]]
    assert set(rows.model_version) == {body["model"]["version"]} and set(rows.tier) == {"model"}
    assert all(len(f) == len(dataset.feature_names) for f in rows.features)


def test_a_new_champion_swaps_in_under_load_and_every_answer_is_scored(
    sqlite_server: Server, dataset: Dataset
) -> None:
    """Requests run while ``/admin/reload`` swaps the model: each one answers 200 from the
    model tier with offers, scored by the old version or the new one, never by neither. Each
    request is for another customer, so no frequency cap empties a ranking."""
    customers = list(dataset.customers.customer_id)
    before = sqlite_server.registry.champion()
    answers: list[tuple[int, str | None, str | None, int]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(
            base_url=sqlite_server.url,
            timeout=10,
            headers=service_authorization(sqlite_server.settings),
        ) as client:
            for customer in itertools.cycle(customers):
                if stop.is_set():
                    return
                body = {
                    "customer_id": customer,
                    "context": {"channel": "app", "timestamp": REQUEST_TIME},
                    "k": 3,
                }
                response = client.post("/rank", json=body)
                answer = response.json() if response.status_code == 200 else {}
                answers.append((
                    response.status_code,
                    answer.get("tier"),
                    answer.get("model", {}).get("version"),
                    len(answer.get("offers", [])),
                ))  # fmt: skip

    traffic = threading.Thread(target=load)
    traffic.start()
    try:
        wait_for(lambda: len(answers) >= 20)
        version = sqlite_server.registry.register(
            dataset.training_frame, dataset.feature_names, trees=8
        )
        sqlite_server.registry.set_champion(version)
        reloaded = sqlite_server.reload()
        assert (reloaded["version"], reloaded["changed"]) == (version, True)
        served = len(answers)
        wait_for(lambda: len(answers) >= served + 20)
    finally:
        stop.set()
        traffic.join()
        sqlite_server.registry.set_champion(before)
        sqlite_server.reload()
    assert {status for status, *_ in answers} == {200}
    assert {tier for _, tier, _, _ in answers} == {"model"}
    assert all(count == 3 for *_, count in answers)
    versions = [v for _, _, v, _ in answers]
    assert set(versions) == {before, version}
    # Once the new version answered, the old one never did again.
    assert before not in versions[versions.index(version):]


def test_removed_model_falls_back_to_smartscore(sqlite_server: Server, dataset: Dataset) -> None:
    customer = customer_with(dataset, "Gold", nth=5)
    client = sqlite_server.registry.client()
    champion = sqlite_server.registry.champion()
    client.delete_registered_model_alias("offer-ranker", "champion")
    try:
        assert sqlite_server.reload()["version"] is None
        body = sqlite_server.rank(customer, k=3).json()
        assert body["tier"] == "smartscore" and body["model"]["name"] == "smartscore"
        assert len(body["offers"]) == 3
    finally:
        sqlite_server.registry.set_champion(champion)
        assert sqlite_server.reload()["version"] == champion
    assert sqlite_server.rank(customer).json()["tier"] == "model"
