"""The platform on a sample of the Starbucks files: what MLflow holds after the pipeline, and the
champion's evaluation on other customers of the same data set.

``built_starbucks`` (root conftest) ran ``smartstack run --dataset starbucks --data-dir
<sample>``; tests/integration/test_pipeline_contract.py checks what every data set's run
promises (steps, raw contracts, marts, champion, serving), this module what is Starbucks' own.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from starbucks_sample import Run, records, run_smartstack

from tests.conftest import BuiltHome

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


def test_the_landing_names_the_files_and_their_start(built_starbucks: BuiltHome) -> None:
    printed = " ".join(built_starbucks.output.split())  # the console wraps long lines
    assert "starbucks raw data at" in printed and "from 2018-08-01" in printed


def test_mlflow_holds_both_labels_with_and_without_censored_rows(
    built_starbucks: BuiltHome,
) -> None:
    run = training_run(built_starbucks.home)
    metrics = run.data.metrics
    for label in ("", "B."):
        for scope in ("", "observed."):
            for ranker in ("test", "baseline.smartscore.test", "baseline.demographic.test"):
                for metric in ("auc", "log_loss", "accuracy", "f1", "ndcg_3"):
                    assert f"{label}{ranker}.{scope}{metric}" in metrics
    assert "test.completable_observed.auc" in metrics
    assert float(run.data.params["split.train_before_hour"]) == 504
    assert "sent at hours 504, 576" in run.data.params["period.test"]
    listed = {
        a.path for a in client(built_starbucks.home).list_artifacts(run.info.run_id, "companions")
    }
    for name in (
        "A.json",
        "B.json",
        "B.ubj",
        "A_demographic.ubj",
        "B_demographic.ubj",
        "B_calibration.png",
        "B_feature_importance.json",
    ):
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
def evaluation(
    built_starbucks: BuiltHome, holdout_sample: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Run, dict]:
    """``evaluate`` on a copy of the home (it builds the held-out data under it)."""
    scratch = tmp_path_factory.mktemp("sb-eval")
    home = scratch / "home"
    built_starbucks.copy(home)
    out = scratch / "figures.json"
    run = run_smartstack(
        # `evaluate --data-dir` is `evaluate-dataset`; the spelling is tested.
        [
            "evaluate",
            "--dataset",
            "starbucks",
            "--data-dir",
            str(holdout_sample),
            "--out",
            str(out),
        ],
        home,
    )
    assert run.returncode == 0, run.output[-6000:]
    return run, json.loads(out.read_text())


def test_evaluate_dataset_scores_the_champion_on_other_customers(
    built_starbucks: BuiltHome, holdout_sample: Path, evaluation: tuple[Run, dict]
) -> None:
    run, figures = evaluation
    champion = client(built_starbucks.home).get_model_version_by_alias("offer-ranker", "champion")
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
            assert set(block["rankers"]) == {"champion", "smartscore", "demographic", "popularity"}
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
