"""Off-policy estimates on the generator's own uniform-random logs, against the true value of
each ranker's lists under the generator's hidden model, and the promotion gate's off-policy
rule on a truly worse challenger."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from mlflow.tracking import MlflowClient

from smartstack.datasets.synthetic.truth import HiddenUtility
from smartstack.evaluation import candidates, logs
from smartstack.evaluation.offpolicy import estimate
from smartstack.evaluation.truth import true_click_rate
from smartstack.paths import PROJECT_ROOT
from smartstack.settings import PromotionSettings, Settings
from smartstack.training.promote import off_policy_rule
from tests.conftest import SMARTSTACK, BuiltHome, project_environment
from tests.serving.conftest import Registry

K = 3
FOLDS = 6
RANKERS = ["champion", "smartscore"]


@dataclass(frozen=True)
class Pooled:
    slots: logs.LoggedSlots
    pool: candidates.Candidates
    targets: dict[str, pd.DataFrame]
    requests: pd.DataFrame
    truth: HiddenUtility


@pytest.fixture(scope="module")
def pooled(built: BuiltHome) -> Pooled:
    settings = built.settings
    slots = logs.generator_slots(settings, K, max_requests=FOLDS * 1000, seed=0)
    pool = candidates.candidates(settings, slots, candidates.catalogue(settings))
    slots = candidates.uniform_propensities(slots, pool)
    loaded = candidates.scorers(settings, RANKERS, pool.names)
    targets = candidates.target_lists(pool, loaded, K)
    requests = slots.frame.drop_duplicates("request_id")[candidates.KEYS]
    return Pooled(slots, pool, targets, requests, HiddenUtility.from_data(built.data_dir))


def test_uniform_propensities_are_one_over_the_candidates(pooled: Pooled) -> None:
    frame = pooled.slots.frame
    sizes = pooled.pool.frame.groupby("request_id").size()
    assert (frame["logged_propensity"] == 1 / frame["request_id"].map(sizes)).all()
    # Every logged offer is among its request's candidates, as the uniform logger drew them.
    for request_id, group in list(frame.groupby("request_id"))[:200]:
        row = pooled.requests[pooled.requests["request_id"] == request_id].iloc[0]
        eligible = pooled.truth.eligible_offers(row["customer_id"], row["request_timestamp"])
        assert set(group["offer_id"]) <= set(eligible)
        assert sizes[request_id] == len(eligible)


def test_each_estimate_covers_the_true_value(pooled: Pooled) -> None:
    """Six disjoint folds of 1,000 requests, two rankers, three estimators: 36 intervals at
    95%. The observed coverage is printed (``-s``) and must be at least 80%."""
    request_ids = pooled.requests["request_id"].to_numpy()
    fold_of = dict(zip(request_ids, np.arange(len(request_ids)) % FOLDS, strict=True))
    covered, rows = 0, []
    for fold in range(FOLDS):
        mine = pooled.slots.frame["request_id"].map(fold_of) == fold
        slots = logs.LoggedSlots(pooled.slots.frame[mine].reset_index(drop=True), "generator", K)
        ids = set(slots.frame["request_id"])
        targets = {n: t[t["request_id"].isin(ids)] for n, t in pooled.targets.items()}
        results = estimate(slots, pooled.pool, targets, {}, resamples=1000, seed=fold)
        for result in results:
            requests = pooled.requests[pooled.requests["request_id"].isin(ids)]
            true = true_click_rate(pooled.truth, requests, targets[result.ranker])
            for name, e in result.estimates.items():
                inside = e.low <= true <= e.high
                covered += inside
                rows.append((fold, result.ranker, name, e.low, e.value, e.high, true, inside))
    coverage = covered / len(rows)
    print(f"\nOPE coverage on the generator's logs: {covered}/{len(rows)} = {coverage:.0%}")
    for row in rows:
        print("fold {} {:<10} {:<5} [{:.4f} {:.4f} {:.4f}] true {:.4f} {}".format(*row))
    assert coverage >= 0.8


def test_the_trained_champion_truly_beats_smartscore_and_the_estimates_say_so(
    pooled: Pooled,
) -> None:
    results = {r.ranker: r for r in estimate(pooled.slots, pooled.pool, pooled.targets, {})}
    true = {n: true_click_rate(pooled.truth, pooled.requests, t) for n, t in pooled.targets.items()}
    assert true["champion"] > true["smartscore"]
    assert results["champion"].estimates["dr"].value > results["smartscore"].estimates["dr"].value


@pytest.fixture(scope="module")
def registry_copy(built: BuiltHome, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return built.copy(tmp_path_factory.mktemp("ope-gate") / "home")


def _register_inverted(settings: Settings, pooled: Pooled) -> str:
    """A model that learned to rank the least likely offers first: truly worse."""
    frame = pooled.pool.frame.merge(
        pooled.slots.frame[["request_id", "offer_id", "clicked"]], on=["request_id", "offer_id"]
    )
    names = pooled.pool.names
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1)
    model.fit(frame[names].astype(float), 1 - frame["clicked"].astype(int))
    return Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root).register_model(
        model
    )


def test_the_gate_refuses_a_challenger_whose_off_policy_value_is_worse(
    registry_copy: Settings, pooled: Pooled
) -> None:
    settings = registry_copy
    champion = Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root).champion()
    worse = _register_inverted(settings, pooled)
    rule = PromotionSettings(off_policy=True, off_policy_requests=2000)
    cleared, sentence, figures = off_policy_rule(settings, worse, champion, rule)
    assert not cleared
    assert "does not clear" in sentence and f"champion v{champion}" in sentence
    assert figures["ope_challenger_high"] < figures["ope_champion_value"]
    # The other way round, the champion clears the worse model.
    cleared_back, sentence_back, _ = off_policy_rule(settings, champion, worse, rule)
    assert cleared_back, sentence_back


def test_evaluate_prints_the_estimates_and_logs_them_to_mlflow(registry_copy: Settings) -> None:
    done = subprocess.run(
        [SMARTSTACK, "experiments", "evaluate", "--max-requests", "400",
         "--ranker", "champion", "--ranker", "smartscore"],
        env=project_environment(**registry_copy.environment()),
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "clicked rate in the top 3, 400 generator requests" in done.stderr
    for name in ("ips", "snips", "dr"):
        assert f" {name} " in done.stderr
    client = MlflowClient(registry_copy.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(registry_copy.experiments.tracking_experiment)
    (run,) = client.search_runs([experiment.experiment_id], "tags.kind = 'off-policy-evaluation'")
    assert {"champion_dr_value", "smartscore_ips_low"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"estimates.json", "estimates.png"} <= artifacts


def test_evaluate_refuses_an_unknown_ranker_with_a_sentence(registry_copy: Settings) -> None:
    done = subprocess.run(
        [SMARTSTACK, "experiments", "evaluate", "--ranker", "challnger", "--no-mlflow"],
        env=project_environment(**registry_copy.environment()),
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 2
    assert "'challnger' is neither an alias of offer-ranker" in done.stderr
    assert "Traceback" not in done.stderr
