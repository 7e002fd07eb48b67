"""The platform end to end on a sample of the Starbucks files, and the champion's evaluation on
other customers of the same data set.

``pipeline`` (conftest) ran ``smartstack run --dataset starbucks --data-dir <sample>``: the same
steps as the synthetic job, with the Starbucks adapter in place of the generator.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from starbucks_sample import Run, records, run_smartstack

from smartstack.pipeline import STEPS
from smartstack.serving.app import RankingApp
from smartstack.serving.schemas import Channel, RankRequest, RequestContext
from smartstack.settings import Settings

pytestmark = pytest.mark.slow

EXPERIMENT = "offer-ranker-starbucks"
TEST_FROM_HOUR = 504


def client(home: Path) -> MlflowClient:
    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    return MlflowClient(uri, uri)


def training_run(home: Path) -> mlflow.entities.Run:
    mlflow_client = client(home)
    experiment = mlflow_client.get_experiment_by_name(EXPERIMENT)
    runs = mlflow_client.search_runs([experiment.experiment_id])
    return next(r for r in runs if "B.test.auc" in r.data.metrics)


def test_every_step_ran_and_the_model_was_promoted(pipeline: Run) -> None:
    for step in STEPS:
        ended = "skipped" if step.name == "reload" else "done"  # no ranking service runs
        assert f"{step.name} {ended} in" in pipeline.output, step.name
    printed = " ".join(pipeline.output.split())  # the console wraps long lines
    assert "starbucks raw data at" in printed and "from 2018-08-01" in printed
    champion = client(pipeline.home).get_model_version_by_alias("offer-ranker", "champion")
    assert champion.tags["feature_service"] == "offer_completion_starbucks_v1"
    assert champion.tags["validation_status"] == "passed"


def test_mlflow_holds_both_labels_with_and_without_censored_rows(pipeline: Run) -> None:
    run = training_run(pipeline.home)
    metrics = run.data.metrics
    for label in ("", "B."):
        for scope in ("", "observed."):
            for ranker in ("test", "baseline.smartscore.test", "baseline.demographic.test"):
                for metric in ("auc", "log_loss", "accuracy", "f1", "ndcg_3"):
                    assert f"{label}{ranker}.{scope}{metric}" in metrics
    assert "test.completable_observed.auc" in metrics
    assert float(run.data.params["split.train_before_hour"]) == 504
    assert "sent at hours 504, 576" in run.data.params["period.test"]
    listed = {a.path for a in client(pipeline.home).list_artifacts(run.info.run_id, "companions")}
    for name in ("A.json", "B.json", "B.ubj", "A_demographic.ubj", "B_demographic.ubj",
                 "B_calibration.png", "B_feature_importance.json"):
        assert f"companions/{name}" in listed


def expected_rows(directory: Path) -> dict[str, int]:
    """Test rows counted straight from the files: offers sent from hour 504, those that can
    be completed, and those whose window ends by the last event (not censored)."""
    portfolio = {
        o["id"]: o for o in map(json.loads, (directory / "portfolio.json").read_text().splitlines())
    }
    events = records(directory)
    end = max(e["time"] for e in events)
    sent = [e for e in events if e["event"] == "offer received" and e["time"] >= TEST_FROM_HOUR]

    def info(e: dict) -> dict:
        return portfolio[e["value"]["offer id"]]

    observed = [e for e in sent if e["time"] + info(e)["duration"] * 24 <= end]
    return {
        "A": len(sent),
        "A_observed": len(observed),
        "B": sum(info(e)["offer_type"] != "informational" for e in sent),
        "B_observed": sum(info(e)["offer_type"] != "informational" for e in observed),
    }


@pytest.fixture(scope="module")
def evaluation(pipeline: Run, holdout_sample: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Run, dict]:
    out = tmp_path_factory.mktemp("sb-eval") / "figures.json"
    run = run_smartstack(
        # `evaluate --data-dir` is `evaluate-dataset`; the spelling is tested.
        ["evaluate", "--dataset", "starbucks", "--data-dir", str(holdout_sample),
         "--out", str(out)],
        pipeline.home,
    )
    assert run.returncode == 0, run.output[-6000:]
    return run, json.loads(out.read_text())


def test_evaluate_dataset_scores_the_champion_on_other_customers(
    pipeline: Run, holdout_sample: Path, evaluation: tuple[Run, dict]
) -> None:
    run, figures = evaluation
    champion = client(pipeline.home).get_model_version_by_alias("offer-ranker", "champion")
    assert figures["champion"]["version"] == str(champion.version)
    assert figures["source_dir"] == str(holdout_sample.resolve())
    expected = expected_rows(holdout_sample)
    a, b = figures["targets"]["A"]["scopes"], figures["targets"]["B"]["scopes"]
    assert set(a) == {"all", "observed", "completable", "completable_observed"}
    assert set(b) == {"all", "observed"}
    assert (a["all"]["rows"], a["observed"]["rows"]) == (expected["A"], expected["A_observed"])
    assert (b["all"]["rows"], b["observed"]["rows"]) == (expected["B"], expected["B_observed"])
    assert a["completable"]["rows"] == expected["B"]
    for scopes in (a, b):
        for block in scopes.values():
            assert 0 < block["positives"] < block["rows"]
            assert set(block["rankers"]) == {"champion", "smartscore", "demographic",
                                             "popularity"}
            for values in block["rankers"].values():
                assert set(values) == {"auc", "log_loss", "accuracy", "f1", "ndcg_3"}
                assert all(0.0 <= values[m] <= 1.0 for m in ("auc", "accuracy", "f1", "ndcg_3"))
    # On customers it never saw, the champion ranks better than the rules and the
    # demographic-only model.
    rankers = a["all"]["rankers"]
    assert rankers["champion"]["auc"] > rankers["smartscore"]["auc"]
    assert rankers["champion"]["auc"] > rankers["demographic"]["auc"]
    printed = f"{rankers['champion']['auc']:.4f}"
    assert "target A" in run.output and printed in run.output


def test_the_ranking_service_serves_the_starbucks_champion(pipeline: Run) -> None:
    """The serving path (online store, champion, eligibility) ranks a member's offers."""
    raw = pipeline.home / "data" / "raw"
    offers = set(pd.read_parquet(raw / "offers")["offer_id"])
    customer = pd.read_parquet(raw / "customers")["customer_id"].iloc[0]
    settings = Settings(
        home=pipeline.home,
        dataset="starbucks",
        serving={"snapshot_dir": pipeline.home / "snapshots"},
    )
    app = RankingApp(settings)
    try:
        response = app.rank(
            RankRequest(
                customer_id=customer,
                context=RequestContext(channel=Channel.app, timestamp=datetime(2018, 8, 30, tzinfo=UTC)),
                k=3,
                explain=False,
            )
        )
    finally:
        app.close()
    assert response.tier.value == "model" and response.model.name == "offer-ranker"
    assert len(response.offers) == 3 and {o.offer_id for o in response.offers} <= offers
    scores = [o.score for o in response.offers]
    assert scores == sorted(scores, reverse=True)
