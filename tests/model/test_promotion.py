"""The promotion gate on a real MLflow registry (SQLite locally, PostgreSQL in the prod profile).

The history played here: a model trained on shuffled labels must not become the first champion;
a deliberately weak but honest model does (it beats SmartScore); the shuffled model is then
refused again; the full model replaces the weak one; a retrain that is no better is refused.
After every step the ``champion`` alias points to a version tagged ``validation_status=passed``.
"""

from __future__ import annotations

import uuid

import numpy as np
import psycopg
import pytest
from mlflow import MlflowClient

from smartstack.training import registry
from smartstack.training.job import run_training
from smartstack.training.promote import gate, promote
from tests.featurestore.conftest import fresh_postgres_database
from tests.model.conftest import registry_settings


def shuffled_labels(data, seed: int = 0) -> dict[str, np.ndarray]:
    """Labels permuted within each period: same base rate, no signal."""
    rng = np.random.default_rng(seed)
    train = data.subset("train")["redeemed"].to_numpy(float)
    val = data.subset("validation")["redeemed"].to_numpy(float)
    val = rng.permutation(val)
    return {"train": rng.permutation(train), "validation": val, "validation_redeemed": val}


def champion_is_clean(tracking: registry.Tracking) -> str | None:
    """The champion's version, after checking it passed the gate."""
    champion = registry.version_by_alias(tracking, registry.CHAMPION)
    if champion is None:
        return None
    assert champion.tags[registry.STATUS_TAG] == registry.PASSED
    return str(champion.version)


def status(tracking: registry.Tracking, version: str) -> dict[str, str]:
    return tracking.client.get_model_version(tracking.model_name, version).tags


@pytest.fixture(scope="module")
def history(base_settings, data, config, tmp_path_factory):
    """Play the whole history once on a fresh SQLite registry; tests inspect the steps (and
    which version was `challenger` after each)."""
    settings = registry_settings(base_settings, tmp_path_factory.mktemp("mlflow"))
    tracking = registry.configure(settings, config.experiment)
    steps = {}
    challengers = {}  # the version aliased `challenger` after each step

    def step(name, cfg, **kwargs):
        result = run_training(cfg, settings, data=data, run_name=name, **kwargs)
        decision = promote(cfg, settings, data=data)
        assert decision.version == result.version
        challenger = registry.version_by_alias(tracking, registry.CHALLENGER)
        steps[name] = (result, decision, champion_is_clean(tracking))
        challengers[name] = str(challenger.version)

    weak = config.with_overrides(num_boost_round=12, xgboost={**config.xgboost, "max_depth": 1})
    step("shuffled-first", config, labels=shuffled_labels(data))
    step("weak", weak)
    step("shuffled-again", config, labels=shuffled_labels(data, seed=1))
    step("full", config)
    step("full-again", config)
    return tracking, steps, challengers


def test_a_shuffled_label_model_never_becomes_the_first_champion(history) -> None:
    tracking, steps, _ = history
    result, decision, champion = steps["shuffled-first"]
    assert not decision.passed and decision.reference == "smartscore"
    assert champion is None
    tags = status(tracking, result.version)
    assert tags[registry.STATUS_TAG] == registry.REJECTED
    assert "below the margin" in tags[registry.REASON_TAG]


def test_the_first_honest_model_is_promoted_because_it_beats_smartscore(history) -> None:
    tracking, steps, _ = history
    result, decision, champion = steps["weak"]
    assert decision.passed, decision.reason
    assert decision.reference == "smartscore"
    assert champion == result.version


def test_a_worse_challenger_is_refused_and_the_champion_stays(history) -> None:
    tracking, steps, challengers = history
    weak_version = steps["weak"][0].version
    result, decision, champion = steps["shuffled-again"]
    assert not decision.passed
    assert decision.reference == f"champion v{weak_version}"
    assert champion == weak_version
    assert status(tracking, result.version)[registry.STATUS_TAG] == registry.REJECTED
    # The challenger alias still marks the latest candidate, the one that lost.
    assert challengers["shuffled-again"] == result.version


def test_a_better_challenger_replaces_the_champion(history) -> None:
    tracking, steps, _ = history
    result, decision, champion = steps["full"]
    assert decision.passed, decision.reason
    assert champion == result.version
    weak = decision.reference_report["all"]["ndcg_3"]
    assert decision.challenger["all"]["ndcg_3"] >= weak + 0.002


def test_a_retrain_that_is_no_better_is_refused_by_the_margin(history) -> None:
    tracking, steps, _ = history
    full_version = steps["full"][0].version
    _, decision, champion = steps["full-again"]
    assert not decision.passed and "below the margin" in decision.reason
    assert champion == full_version


def test_champion_never_points_to_a_rejected_version(history) -> None:
    tracking, steps, _ = history
    rejected = [r.version for r, d, _ in steps.values() if not d.passed]
    assert all(c not in rejected for *_, c in steps.values())
    with pytest.raises(RuntimeError, match="cannot be champion"):
        registry.crown(tracking, rejected[0])
    assert champion_is_clean(tracking) == steps["full"][0].version


def test_the_gate_refuses_a_segment_regression_even_when_the_total_improves(config) -> None:
    def report(total: float, gold: float) -> dict:
        return {"all": {"ndcg_3": total}, "card_product=Gold": {"ndcg_3": gold, "rows": 5000.0}}

    cfg = config.promotion.model_copy(update={"segment_tolerance": 0.02, "min_segment_rows": 1000})
    passed, reason = gate(report(0.70, 0.60), report(0.65, 0.65), "champion v1", 0.002, cfg)
    assert not passed and "card_product=Gold" in reason
    passed, _ = gate(report(0.70, 0.64), report(0.65, 0.65), "champion v1", 0.002, cfg)
    assert passed
    small = cfg.model_copy(update={"min_segment_rows": 10_000})  # too small a segment to gate on
    assert gate(report(0.70, 0.60), report(0.65, 0.65), "champion v1", 0.002, small)[0]


def test_runs_are_comparable_in_mlflow(history) -> None:
    tracking, steps, _ = history
    result = steps["full"][0]
    run = tracking.client.get_run(result.run_id)
    metrics = run.data.metrics
    for key in (
        "test.ndcg_3", "test.ndcg_5", "test.map", "test.auc", "test.log_loss", "test.ece",
        "baseline.smartscore.test.ndcg_3", "baseline.popularity.test.ndcg_3",
        "baseline.oracle.test.ndcg_3", "lift_over_smartscore.ndcg_3.abs",
        "test.card_product.gold.ndcg_3", "test.tenure.new.ndcg_3", "test.drift.drifting.ndcg_3",
    ):  # fmt: skip
        assert key in metrics, key
    assert run.data.params["dataset_fingerprint"] == result.data.fingerprint
    artifacts = {a.path for a in tracking.client.list_artifacts(result.run_id, "evaluation")}
    for name in ("feature_importance.png", "calibration.png", "pr_curve.png", "features.json",
                 "dataset.json"):  # fmt: skip
        assert f"evaluation/{name}" in artifacts
    assert "model_card.md" in {a.path for a in tracking.client.list_artifacts(result.run_id)}
    promotion = tracking.client.search_runs(
        [tracking.experiment_id], "tags.step = 'promotion'", max_results=10
    )
    assert {r.data.tags["decision"] for r in promotion} == {"passed", "rejected"}


def test_the_champion_loads_by_alias_with_its_signature(history, data) -> None:
    import mlflow.xgboost
    from mlflow.models import get_model_info

    tracking, _, _ = history
    uri = f"models:/{tracking.model_name}@champion"
    booster = mlflow.xgboost.load_model(uri)
    assert booster.feature_names == data.features
    inputs = [c.name for c in get_model_info(uri).signature.inputs]
    assert inputs == data.features


@pytest.mark.slow
def test_prod_profile_tracks_and_promotes_on_postgres(base_settings, data, config, tmp_path):
    url = fresh_postgres_database(f"smartstack_mlflow_{uuid.uuid4().hex[:8]}")
    settings = registry_settings(base_settings, tmp_path, profile="prod")
    settings = settings.model_copy(update={"mlflow_tracking_uri": url})
    result = run_training(config, settings, data=data)
    decision = promote(config, settings, data=data)
    assert decision.passed, decision.reason
    client = MlflowClient(tracking_uri=registry.tracking_uri(settings))
    champion = client.get_model_version_by_alias(settings.registered_model_name, "champion")
    assert str(champion.version) == result.version
    assert client.get_run(result.run_id).data.metrics["test.ndcg_3"] > 0
    # The registry is the Postgres database itself, read without MLflow: the alias and the
    # run are rows there.
    with psycopg.connect(url) as con:
        aliases = con.execute("select alias, version from registered_model_aliases").fetchall()
        runs = con.execute("select run_uuid from runs").fetchall()
    assert ("champion", int(result.version)) in aliases
    assert (result.run_id,) in runs
