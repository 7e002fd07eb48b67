"""A full run of the daily DAG with ``airflow dags test``: every task for real, at small scale.

A run on good data must leave a ``champion`` in the MLflow registry and the customers' features
in the online store (the run on bad data is ``test_failing_gate.py``: a module of its own, so
the two runs can go on two test workers at once).
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from smartstack.featurestore import store
from smartstack.featurestore.online import OnlineFeatureReader
from smartstack.settings import Settings
from tests.dags.airflow_helpers import AirflowHome, DagTestRun, airflow_home, dag_test, xcoms

CUSTOMERS, SEED = 400, 7
# Offers of the generated data set are open in its last weeks; the snapshot is 2026-06-30.
REQUEST_TIME = pd.Timestamp("2026-06-29T12:00:00Z").to_pydatetime()


@pytest.fixture(scope="module")
def good_run(
    tmp_path_factory: pytest.TempPathFactory, airflow_database: Path
) -> tuple[DagTestRun, Settings, AirflowHome]:
    home = airflow_home(tmp_path_factory.mktemp("daily-run"), airflow_database)
    return dag_test(home, {"customers": CUSTOMERS, "seed": SEED}), home.settings, home


def test_the_daily_dag_runs_every_layer_to_success(good_run) -> None:
    run, _, _ = good_run
    assert run.succeeded, run.output[-5000:]
    assert run.returncode == 0
    failed = {t: s for t, s in run.states.items() if s not in ("success", "skipped")}
    assert failed == {}
    # The champion was promoted, so the branch skipped the other path; no LLM is configured,
    # so there is nothing to precompute; no ranking service listens at the serving URL, so the
    # reload is a skip, not a failure.
    assert run.states["model.promote"] == "success"
    assert run.states["model.skip_promote"] == "skipped"
    assert run.states["serving.explain_top_offers"] == "skipped"
    assert "no LLM is configured" in run.output
    assert run.states["serving.experiment_readouts"] == "success"
    assert run.states["serving.enforce_retention"] == "success"
    assert run.states["serving.reload"] == "skipped"
    assert "nothing to reload" in run.output
    # The readouts and retention run after the skipped reload. Monitoring, beside the serving
    # lane, finds no served offers yet and every view fresh; the run promoted a champion, so
    # drift has a reference to compare the marts with.
    assert run.states["monitoring.monitor_outcomes"] == "success"
    assert run.states["monitoring.monitor_drift"] == "success"
    assert run.states["monitoring.monitor_freshness"] == "success"
    assert '"dashboard": "http://localhost:8001/projects/' in run.output
    assert run.states["dbt.relationship_tests"] == "success"
    dbt_tasks = [t for t in run.states if t.startswith("dbt.")]
    assert len(dbt_tasks) > 10 and all(run.states[t] == "success" for t in dbt_tasks)


def test_the_run_leaves_a_champion_in_the_registry(good_run) -> None:
    _, settings, _ = good_run
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias(settings.registered_model_name, "champion")
    assert champion.tags["validation_status"] == "passed"
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    booster = mlflow.xgboost.load_model(f"models:/{settings.registered_model_name}@champion")
    assert booster.num_boosted_rounds() > 0


def test_the_run_leaves_materialized_online_features(good_run) -> None:
    _, settings, _ = good_run
    customers = pq.read_table(settings.raw_dir / "customers", columns=["customer_id"])
    offers = pq.read_table(settings.raw_dir / "offers", columns=["offer_id"])
    reader = OnlineFeatureReader(store.get_store(settings))
    some = customers.column(0).to_pylist()[:20]
    found = [reader.read(c, offers.column(0).to_pylist()[:5], REQUEST_TIME) for c in some]
    assert all(f.customer_found for f in found)
    assert all(pd.notna(f.matrix).any() for f in found)


def test_the_monitoring_tasks_link_to_their_reports(good_run) -> None:
    """Each monitoring task's result holds its links, and the task carries them as buttons in
    the UI: the URL of each operator extra link, stored by the task runner as an XCom."""
    run, _, home = good_run
    for task in ("monitor_outcomes", "monitor_drift", "monitor_freshness"):
        found = xcoms(home, run.run_id, f"monitoring.{task}")
        result = found["return_value"]
        assert result["dashboard"].startswith("http://localhost:8001/projects/"), (task, result)
        assert found["_link_DashboardLink"] == result.get("snapshot", result["dashboard"]), found
    drift = xcoms(home, run.run_id, "monitoring.monitor_drift")
    result = drift["return_value"]
    assert result["snapshot"].startswith(result["dashboard"] + "/reports/")
    assert result["alarm"] in (True, False) and result["recommendation"]
    assert result["report"].endswith("features_marts.html")
    assert drift["_link_MlflowRunLink"] == f"http://localhost:5000/#/runs/{result['mlflow_run']}"
