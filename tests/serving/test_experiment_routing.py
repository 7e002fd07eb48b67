"""Experiments in the ranker, in process: arms route to their rankers, the arm and the
propensities reach the ranking log, a shadow ranking is logged and never served, a broken
experiments file serves the champion and is counted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import xgboost as xgb

from smartstack.experiments.config import parse_experiments
from smartstack.experiments.exploration import PlackettLuce
from smartstack.serving.caps import FrequencyCaps, LastServed
from smartstack.serving.experiments import FALLBACKS, LiveExperiments
from smartstack.serving.model import LoadedModel
from smartstack.serving.ranker import Ranker
from smartstack.serving.schemas import Tier
from smartstack.serving.shadow import ShadowScorer
from smartstack.serving.state import ServingState
from smartstack.serving.treepaths import TreePaths
from tests.serving.test_ranker_units import CATALOG, NAMES, Snapshots, features, request

START, END = "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"


def model(version: str, direction: float) -> LoadedModel:
    """A booster whose score rises (direction 1) or falls (-1) with the first feature."""
    rng = np.random.default_rng(0)
    x = rng.random((400, len(NAMES)))
    booster = xgb.train(
        {"max_depth": 2, "eta": 0.5, "nthread": 1},
        xgb.DMatrix(x, label=direction * x[:, 0], feature_names=NAMES),
        num_boost_round=8,
    )
    return LoadedModel("offer_ranker", version, TreePaths(booster), np.arange(len(NAMES)), NAMES)


CHAMPION, CHALLENGER = model("1", 1.0), model("2", -1.0)


class State:
    champion_alias = "champion"

    def __init__(self, plan: dict | None = None, problem: str | None = None) -> None:
        raw = {"version": 1, **(plan or {})}
        live = LiveExperiments.of(parse_experiments(raw, "test"), None)
        self.current = ServingState(
            model=CHAMPION,
            catalog=CATALOG,
            experiments=live.broken(problem) if problem else live,
            rankers={"challenger": CHALLENGER},
        )


def ab(share: float = 0.5, ranker: str = "challenger", kind: str = "ab") -> dict:
    return {
        "experiments": [
            {
                "name": "trial",
                "kind": kind,
                "salt": "s1",
                "start": START,
                "end": END,
                "arms": [
                    {"name": "control", "ranker": "champion", "share": 1 - share},
                    {"name": "treatment", "ranker": ranker, "share": share},
                ],
            }
        ]
    }


def ranker(state: State, shadow: ShadowScorer | None = None) -> tuple[Ranker, Snapshots]:
    snapshots = Snapshots()
    return (
        Ranker(
            read_features=features(card="Gold"),
            state=state,  # type: ignore[arg-type]
            rules=lambda matrix, names: matrix[:, 0],
            rules_version="test",
            favourite=None,
            caps=FrequencyCaps(0, 3600, 100),
            last_served=LastServed(100),
            snapshots=snapshots,  # type: ignore[arg-type]
            reasons_per_offer=2,
            shadow=shadow,
        ),
        snapshots,
    )


def served(ranker_: Ranker, customer: str) -> list[str]:
    return [o.offer_id for o in ranker_.rank(request(customer)).offers]


def test_each_arm_is_served_by_its_ranker_and_logged_with_its_arm() -> None:
    rank, snapshots = ranker(State(ab()))
    arms: dict[str, set[str]] = {}
    for i in range(60):
        customer = f"CUST-{i}"
        response = rank.rank(request(customer))
        record = snapshots.records[-1]
        assert record.experiment == "trial"
        expected = "1" if record.arm == "control" else "2"
        assert response.model.version == expected == record.model_version
        assert record.ranker == {"control": "champion", "treatment": "challenger"}[record.arm]
        arms.setdefault(record.arm, set()).add(customer)
        again = rank.rank(request(customer))  # sticky: the same arm every time
        assert again.model.version == response.model.version
    assert set(arms) == {"control", "treatment"}
    # The two models order the offers in opposite directions.
    assert served(rank, next(iter(arms["control"]))) == ["D", "B", "A"]
    assert served(rank, next(iter(arms["treatment"]))) == ["A", "B", "D"]


def test_outside_any_experiment_the_champion_serves_with_propensity_one() -> None:
    rank, snapshots = ranker(State())
    response = rank.rank(request("CUST-1"))
    assert response.model.version == "1"
    record = snapshots.records[-1]
    assert (record.experiment, record.arm, record.ranker) == (None, None, "champion")
    assert record.propensities == [1.0, 1.0, 1.0] and record.list_propensity == 1.0


def _count(reason: str) -> float:
    return FALLBACKS.labels(reason=reason)._value.get()


def test_a_broken_experiments_file_serves_the_champion_and_counts_it() -> None:
    rank, snapshots = ranker(State(ab(share=1.0), problem="arms.1.ranker: unknown"))
    before = _count("config")
    for i in range(10):
        assert rank.rank(request(f"CUST-{i}")).model.version == "1"
    assert _count("config") - before == 10
    assert {r.experiment for r in snapshots.records} == {None}


def test_an_arm_whose_model_is_not_loaded_gets_the_champion_and_is_counted() -> None:
    rank, snapshots = ranker(State(ab(share=1.0, ranker="candidate")))
    before = _count("ranker")
    response = rank.rank(request("CUST-1"))
    assert response.tier is Tier.model and response.model.version == "1"
    assert _count("ranker") - before == 1
    assert snapshots.records[-1].arm == "treatment"  # intent to treat: the arm is kept


def test_a_smartscore_arm_is_served_by_the_rules() -> None:
    rank, _ = ranker(State(ab(share=1.0, ranker="smartscore")))
    assert rank.rank(request("CUST-1")).tier is Tier.smartscore


def list_probability(scores: np.ndarray, order: list[int], temperature: float) -> float:
    """Plackett–Luce: each shown offer's softmax share among those not yet shown."""
    remaining, probability = list(range(len(scores))), 1.0
    for i in order:
        weights = np.exp(scores[remaining] / temperature)
        probability *= np.exp(scores[i] / temperature) / weights.sum()
        remaining.remove(i)
    return probability


def test_exploration_samples_orders_and_logs_their_propensities() -> None:
    temperature = 0.05
    rank, snapshots = ranker(State({"exploration": {"temperature": temperature}}))
    orders = {tuple(served(rank, "CUST-1")) for _ in range(200)}
    assert len(orders) > 1  # sampled, not always the sorted order
    ids = ["A", "B", "D"]  # the eligible offers, in the fake reader's row order
    rows = np.array([[0.1, 0.5, 0.5], [0.2, 0.5, 0.5], [0.4, 0.5, 0.5]])
    scores = CHAMPION.score(rows)[0]
    marginals = PlackettLuce(temperature).marginals(scores, 3)
    for record in snapshots.records:
        shown = [ids.index(o) for o in record.offer_ids]
        assert record.propensities == pytest.approx([marginals[j, i] for j, i in enumerate(shown)])
        assert record.list_propensity == pytest.approx(list_probability(scores, shown, temperature))


def test_interleaving_shows_both_rankers_picks_and_logs_the_teams() -> None:
    rank, snapshots = ranker(State(ab(kind="interleaving")))
    for i in range(30):
        rank.rank(request(f"CUST-{i}"))
    for record in snapshots.records:
        assert record.arm == "interleaved"
        assert sorted(record.offer_ids) == ["A", "B", "D"]
        assert set(record.teams) <= {"control", "treatment"}  # the arms
        # Each arm's first pick is its ranker's best offer.
        first = record.offer_ids[0]
        assert first == {"control": "D", "treatment": "A"}[record.teams[0]]
    assert {r.teams[0] for r in snapshots.records} == {"control", "treatment"}


def test_a_shadow_ranking_is_logged_beside_the_served_one_and_never_served(
    tmp_path: Path,
) -> None:
    shadow = ShadowScorer(tmp_path, lambda m, n: m[:, 0], flush_seconds=0.05, buffer_size=100)
    shadow.start()
    rank, snapshots = ranker(State({"shadow": {"ranker": "challenger", "share": 1.0}}), shadow)
    responses = [rank.rank(request(f"CUST-{i}")) for i in range(20)]
    shadow.close()
    # Served: the champion's order, always.
    assert {tuple(o.offer_id for o in r.offers) for r in responses} == {("D", "B", "A")}
    assert {r.model.version for r in responses} == {"1"}
    logged = pq.read_table(tmp_path).to_pylist()
    assert sorted(row["request_id"] for row in logged) == sorted(r.request_id for r in responses)
    for row in logged:
        assert row["served_offer_ids"] == ["D", "B", "A"] and row["served_version"] == "1"
        assert row["shadow_offer_ids"] == ["A", "B", "D"] and row["shadow_version"] == "2"
        assert row["shadow_ms"] >= 0


def test_no_shadow_share_no_shadow_jobs(tmp_path: Path) -> None:
    shadow = ShadowScorer(tmp_path, lambda m, n: m[:, 0], flush_seconds=0.05, buffer_size=100)
    shadow.start()
    rank, _ = ranker(State({"shadow": {"ranker": "challenger", "share": 0.0}}), shadow)
    for i in range(20):
        rank.rank(request(f"CUST-{i}"))
    shadow.close()
    assert not list(tmp_path.rglob("*.parquet"))


def test_the_ranking_log_keeps_arms_and_propensities(tmp_path: Path) -> None:
    from smartstack.serving.snapshots import SnapshotWriter

    writer = SnapshotWriter(tmp_path, NAMES, 1000, 0.05, 1000)
    writer.start()
    rank, _ = ranker(State(ab()))
    rank._snapshots = writer
    for i in range(10):
        rank.rank(request(f"CUST-{i}"))
    writer.close()
    table = pq.read_table(tmp_path).to_pandas()
    assert len(table) == 30
    assert set(table["experiment"]) == {"trial"}
    assert set(table["arm"]) <= {"control", "treatment"}
    assert (table["propensity"] == 1.0).all() and table["team"].isna().all()
    at = datetime(2026, 6, 29, 12, tzinfo=UTC)
    assert (table["request_time"] == at).all()


def test_exploration_samples_only_the_evaluated_slots_of_a_long_list() -> None:
    """A request for more offers than exploration samples (k=10 here, 2 sampled): the rest
    follow the scores, and their propensity is left out rather than made up."""
    rank, snapshots = ranker(State({"exploration": {"temperature": 0.05}}))
    rank._explored_positions = 2
    orders = set()
    for _ in range(100):
        response = rank.rank(request("CUST-1", k=10))
        orders.add(tuple(o.offer_id for o in response.offers))
    for record in snapshots.records:
        assert len(record.offer_ids) == 3
        assert record.propensities[2] is None and 0 < record.propensities[0] <= 1
        # The unsampled slot holds the better-scored of the two offers left.
        left = [o for o in ["D", "B", "A"] if o not in record.offer_ids[:2]]
        assert record.offer_ids[2] == left[0]
    assert len(orders) > 1


def test_a_shadow_ranking_that_fails_costs_only_itself(tmp_path: Path) -> None:
    from smartstack.serving.metrics import ERRORS

    shadow = ShadowScorer(tmp_path, lambda m, n: m[:, 0], flush_seconds=30, buffer_size=100)
    rank, _ = ranker(State({"shadow": {"ranker": "challenger", "share": 1.0}}), shadow)
    good = [rank.rank(request(f"CUST-{i}")) for i in range(3)]
    broken = shadow._jobs[1]
    shadow._jobs[1] = replace(broken, matrix=broken.matrix[:, :1])  # the model cannot score it
    before = ERRORS.labels(kind="shadow_error")._value.get()
    shadow.start()
    shadow.close()  # scores and writes what is queued
    logged = pq.read_table(tmp_path).column("request_id").to_pylist()
    assert sorted(logged) == sorted(r.request_id for r in good if r.request_id != broken.request_id)
    assert ERRORS.labels(kind="shadow_error")._value.get() - before == 1


def test_scores_exploration_cannot_take_are_served_sorted_and_counted() -> None:
    from smartstack.serving.metrics import ERRORS

    rank, snapshots = ranker(State({"exploration": {"temperature": 1e-310}}))
    before = ERRORS.labels(kind="exploration_error")._value.get()
    response = rank.rank(request("CUST-1"))
    assert [o.offer_id for o in response.offers] == ["D", "B", "A"]
    assert snapshots.records[-1].propensities == [1.0, 1.0, 1.0]
    assert ERRORS.labels(kind="exploration_error")._value.get() - before == 1


def test_the_experiments_file_is_read_again_only_when_it_changes(tmp_path: Path) -> None:
    import os

    from smartstack.serving.experiments import ExperimentsSource

    path = tmp_path / "experiments.yaml"
    path.write_text("version: 1\nshadow: {ranker: challenger, share: 0.1}\n")
    source = ExperimentsSource(path)
    first = source.load()
    assert first.problem is None and first.plan.shadow is not None
    assert source.load() is first  # unchanged: the same reading, not parsed again
    path.write_bytes(b"\xff\xfe not text")
    os.utime(path, ns=(first.stamp + 10**9, first.stamp + 10**9))
    broken = source.load()
    assert "not UTF-8 text" in broken.problem and broken.plan.shadow is None
    assert broken.route("CUST-1", datetime.now(UTC), "champion").ranker == "champion"
    path.unlink()
    assert source.load().problem is None  # no file: no experiments
