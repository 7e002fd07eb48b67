"""The DAG folder as Airflow's DAG processor sees it: imports, cycles, retries, timeouts, shape.

One parse by Airflow's own interpreter (Cosmos renders the dbt project with the project
environment's ``smartstack-dbt ls``), reported as JSON by ``dagbag_report.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from smartstack.cli.stack import CHAMPION_DECIDED, ONLINE_STORE_LOADED
from smartstack.pipeline import STEPS, Step, predecessors
from tests.dags.airflow_helpers import AIRFLOW_PYTHON, DAGS, airflow_home

DAGS_EXPECTED = {"smartstack_daily", "smartstack_weekly_retrain"}
GROUPS = ["ingest", "dbt", "quality", "feature_store", "model", "serving", "monitoring"]
# The marts Feast reads: each must be built (with its tests) by a task of its own.
PRODUCER = "dbt.dbt_producer_watcher"  # Cosmos's one `dbt build` of the whole project
FEATURE_MARTS = ("customer_spend_features", "customer_profile_features", "offer_features",
                 "training_impressions")  # fmt: skip


def _parsed(folder: Path, airflow_database: Path, **settings: str) -> dict:
    """The DAG folder as Airflow's DAG processor parses it, with ``settings`` in its
    environment."""
    home = airflow_home(folder, airflow_database)
    done = subprocess.run(
        [str(AIRFLOW_PYTHON), str(Path(__file__).with_name("dagbag_report.py")), str(DAGS)],
        env={**os.environ, **home.env, **settings},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, airflow_database: Path) -> dict:
    return _parsed(tmp_path_factory.mktemp("dagbag"), airflow_database)


def test_every_dag_file_imports_without_errors(report: dict) -> None:
    assert report["import_errors"] == {}
    assert set(report["dags"]) == DAGS_EXPECTED


def test_no_dag_has_a_cycle(report: dict) -> None:
    assert {dag_id: dag["cycle"] for dag_id, dag in report["dags"].items()} == {
        dag_id: None for dag_id in DAGS_EXPECTED
    }


def test_every_task_retries_with_backoff_and_has_a_timeout(report: dict) -> None:
    for dag_id, dag in report["dags"].items():
        for task_id, task in dag["tasks"].items():
            # The one `dbt build` is not retried (Cosmos would skip its retry, and the skip would
            # skip the pipeline); each model's task retries that model's build on its own.
            retries = 0 if task_id == PRODUCER else 1
            assert task["retries"] >= retries, (dag_id, task_id)
            assert task["backoff"], (dag_id, task_id)
            assert task["timeout"] is not None and 0 < task["timeout"] <= 2 * 3600, (
                dag_id,
                task_id,
            )


def test_dags_are_scheduled_without_catchup_or_overlap(report: dict) -> None:
    daily, weekly = report["dags"]["smartstack_daily"], report["dags"]["smartstack_weekly_retrain"]
    assert daily["schedule"] == "0 2 * * *" and weekly["schedule"] == "0 4 * * 0"
    for dag in (daily, weekly):
        assert dag["catchup"] is False and dag["max_active_runs"] == 1
        # Unpausing must not start a run for a slot that already passed (`smartstack up`
        # unpauses, then triggers its own run): no start date, and a zero catch-up window.
        assert dag["start_date"] is None
        run_immediately = dag["timetable"]["run_immediately"]
        assert not isinstance(run_immediately, bool) and run_immediately == 0
        assert "smartstack" in dag["tags"]
        assert Path(dag["fileloc"]).parent == DAGS
    assert daily["params"] == ["customers", "seed", "source"]


def test_every_step_of_the_pipeline_is_a_task_of_its_layer(report: dict) -> None:
    """The DAGs are built from the one step definition: a task per step, in its layer's group,
    running the step's command, after the tasks of the steps it waits for."""
    tasks = report["dags"]["smartstack_daily"]["tasks"]
    assert {task_id.split(".")[0] for task_id in tasks} == set(GROUPS)
    assert GROUPS == list(dict.fromkeys(step.group for step in STEPS))
    for step in STEPS[1:]:
        if step.per_dbt_model:
            continue
        first = f"{step.group}.{step.name}" + ("_or_skip" if step.only_if else "")
        expected = [end for earlier in predecessors(step) for end in _ends(earlier)]
        assert sorted(tasks[first]["upstream"]) == sorted(expected), step.name
    # Nothing reaches Feast before the feature gate, and every dbt task precedes the gate.
    assert tasks["feature_store.feast_apply"]["upstream"] == ["quality.feature_quality_gate"]
    assert tasks["quality.feature_quality_gate"]["upstream"] == ["dbt.relationship_tests"]


def _ends(step: Step) -> list[str]:
    """The tasks a step ends with: the dbt group's last task, or either way of a branch."""
    if step.per_dbt_model:
        return ["dbt.relationship_tests"]
    if step.only_if:
        return [f"{step.group}.{step.name}", f"{step.group}.skip_{step.name}"]
    return [f"{step.group}.{step.name}"]


def test_one_dbt_task_per_model_with_its_tests(report: dict) -> None:
    """One `dbt build` runs the project; each model has a task that takes its result, and one
    for its tests, after the build and after the tests of the models it reads."""
    tasks = report["dags"]["smartstack_daily"]["tasks"]
    dbt = {t: task for t, task in tasks.items() if t.startswith("dbt.")}
    cross_model = dbt.pop("dbt.relationship_tests")
    producer = dbt.pop(PRODUCER)
    assert producer["operator"] == "DbtProducerWatcherOperator"
    assert producer["upstream"] == ["ingest.raw_quality_gate"]
    assert dbt.pop(f"{PRODUCER}_done")["upstream"] == [PRODUCER]
    models = {t.removesuffix(".run") for t in dbt if t.endswith(".run")}
    assert {f"dbt.{mart}" for mart in FEATURE_MARTS} <= models
    assert set(dbt) == {f"{m}.{kind}" for m in models for kind in ("run", "test")}
    for model in models:
        run, tests = dbt[f"{model}.run"], dbt[f"{model}.test"]
        assert run["operator"] == "DbtRunWatcherOperator"
        assert tests["operator"] == "DbtTestWatcherOperator"
        assert tests["upstream"] == [f"{model}.run"]
        # The first models wait for the build; the others for their inputs' tests.
        assert run["upstream"] == [PRODUCER] or all(u.endswith(".test") for u in run["upstream"])
    # Tests across models run once every model is built, before the feature gate.
    leaves = {t for t, task in dbt.items() if not any(d in dbt for d in task["downstream"])}
    assert set(cross_model["upstream"]) == leaves | {f"{PRODUCER}_done"}
    assert cross_model["downstream"] == ["quality.feature_quality_gate"]


def test_one_setting_moves_the_dbt_tasks_to_spark(
    report: dict, tmp_path: Path, airflow_database: Path
) -> None:
    """With SMARTSTACK_WAREHOUSE=spark the daily DAG has the same tasks, and every dbt task
    runs dbt on the spark target (by default, the local one)."""
    spark = _parsed(tmp_path, airflow_database, SMARTSTACK_WAREHOUSE="spark")
    for dag_id, dag in report["dags"].items():
        assert set(spark["dags"][dag_id]["tasks"]) == set(dag["tasks"])
    tasks = report["dags"]["smartstack_daily"]["tasks"]
    on_spark = spark["dags"]["smartstack_daily"]["tasks"]
    dbt_tasks = [t for t, task in tasks.items() if task["dbt_target"] is not None]
    assert PRODUCER in dbt_tasks and len(dbt_tasks) > 10
    assert {tasks[t]["dbt_target"] for t in dbt_tasks} == {"local"}
    assert {on_spark[t]["dbt_target"] for t in dbt_tasks} == {"spark"}


def test_only_dbt_models_and_the_lanes_after_promotion_run_side_by_side(report: dict) -> None:
    """The DAGs run several tasks at once, and the warehouse (one DuckDB file) takes one writer:
    every other pair of tasks must be ordered (one upstream of the other), or be the two ways
    of a branch, or both come after promotion, where the steps only read the warehouse. So only
    the model and test tasks, which read the one build's results, and the serving and
    monitoring lanes overlap; the erasures and dbt, which write it, overlap nothing."""
    side_by_side = {"DbtRunWatcherOperator", "DbtTestWatcherOperator", "EmptyOperator"}
    names = [step.name for step in STEPS]
    after_promotion = {s.name for s in STEPS[names.index("promote") + 1 :]}
    overlapping: set[frozenset[str]] = set()
    for dag_id, dag in report["dags"].items():
        tasks = dag["tasks"]
        after = {t: _descendants(tasks, t) for t in tasks}
        ordered = [t for t, task in tasks.items() if task["operator"] not in side_by_side]
        branches = {t for t, task in tasks.items() if t.split(".")[-1].endswith("_or_skip")}
        ways = {w for b in branches for w in tasks[b]["downstream"]}
        for i, first in enumerate(ordered):
            for second in ordered[i + 1 :]:
                if {first, second} <= ways or second in after[first] or first in after[second]:
                    continue  # a branch runs one of its ways; or one waits for the other
                pair = {first.split(".")[-1], second.split(".")[-1]}
                assert pair <= after_promotion, (dag_id, first, second)
                overlapping.add(frozenset(pair))
    # The lanes do overlap: explaining the top offers runs beside the drift job.
    assert frozenset({"explain_top_offers", "monitor_drift"}) in overlapping


def _descendants(tasks: dict, task_id: str) -> set[str]:
    found: set[str] = set()
    todo = list(tasks[task_id]["downstream"])
    while todo:
        t = todo.pop()
        if t not in found:
            found.add(t)
            todo += tasks[t]["downstream"]
    return found


def test_promotion_is_a_branch_and_assets_mark_the_handovers(report: dict) -> None:
    tasks = report["dags"]["smartstack_daily"]["tasks"]
    branch = tasks["model.promote_or_skip"]
    assert branch["operator"].endswith("BranchPythonDecoratedOperator")
    assert branch["upstream"] == ["model.evaluate"]
    assert branch["downstream"] == ["model.promote", "model.skip_promote"]
    # Serving and monitoring each start after either way of the branch.
    for first in ("serving.explain_top_offers", "monitoring.monitor_outcomes"):
        assert tasks[first]["upstream"] == ["model.promote", "model.skip_promote"]
        assert tasks[first]["trigger_rule"] == "none_failed_min_one_success"
    assert tasks["serving.explain_top_offers"]["downstream"] == ["serving.reload"]
    # The readouts run when the reload is skipped (no service yet).
    assert tasks["serving.experiment_readouts"]["upstream"] == ["serving.reload"]
    assert tasks["serving.experiment_readouts"]["trigger_rule"] == "none_failed"
    # Retention deletes from the logs the readouts and the drift job read: after both.
    retention = tasks["serving.enforce_retention"]
    assert sorted(retention["upstream"]) == [
        "monitoring.monitor_drift",
        "serving.experiment_readouts",
    ]
    # Drift runs when the outcomes are skipped (a data set without the outcomes mart), and
    # freshness and retention when drift is (no champion yet): each after a step that may be
    # skipped.
    assert tasks["monitoring.monitor_drift"]["upstream"] == ["monitoring.monitor_outcomes"]
    assert tasks["monitoring.monitor_drift"]["trigger_rule"] == "none_failed"
    assert retention["trigger_rule"] == "none_failed"
    assert sorted(tasks["monitoring.monitor_drift"]["downstream"]) == [
        "monitoring.monitor_freshness",
        "serving.enforce_retention",
    ]
    assert tasks["monitoring.monitor_drift"]["inlets"] == [
        "smartstack_champion_model",
        "smartstack_feature_marts",
    ]
    assert tasks["monitoring.monitor_freshness"]["upstream"] == ["monitoring.monitor_drift"]
    assert tasks["monitoring.monitor_freshness"]["trigger_rule"] == "none_failed"
    assert tasks["monitoring.monitor_freshness"]["inlets"] == [
        "smartstack_champion_model",
        "smartstack_online_features",
    ]
    outlets = {t: task["outlets"] for t, task in tasks.items() if task["outlets"]}
    assert outlets == {
        f"{step.group}.{step.name}": [f"smartstack_{name}" for name in sorted(step.outputs)]
        for step in STEPS
        if step.outputs
    }
    assert outlets["feature_store.feast_materialize"] == ["smartstack_online_features"]
    # `smartstack up` starts the ranking service, and then asks it for a sample, once the tasks
    # that write what it serves are done: they are tasks of the daily DAG.
    assert outlets[ONLINE_STORE_LOADED[0]] == ["smartstack_online_features"]
    assert outlets[CHAMPION_DECIDED[0]] == ["smartstack_champion_model"]


def test_the_monitoring_tasks_link_to_their_reports(report: dict) -> None:
    """Each monitoring task has a "Dashboard" button in the UI, drift an "MLflow run" one too;
    the task runner stores each link's URL as an XCom under its key (see links.py)."""
    tasks = report["dags"]["smartstack_daily"]["tasks"]
    dashboard = {"Dashboard": "_link_DashboardLink"}
    links = {t: task["extra_links"] for t, task in tasks.items() if task["extra_links"]}
    assert links == {
        "monitoring.monitor_outcomes": dashboard,
        "monitoring.monitor_drift": {**dashboard, "MLflow run": "_link_MlflowRunLink"},
        "monitoring.monitor_freshness": dashboard,
    }
    assert tasks["monitoring.monitor_drift"]["operator"] == "DriftReportOperator"
    assert tasks["monitoring.monitor_freshness"]["operator"] == "ReportOperator"


def test_the_links_plugin_loads(tmp_path: Path, airflow_database: Path) -> None:
    """The plugin that registers the links loads from the plugins folder the stack sets."""
    home = airflow_home(tmp_path, airflow_database)
    done = home.run("plugins", "-o", "json", timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    plugins = json.loads(done.stdout[done.stdout.index("[") :])
    mine = [p for p in plugins if p["name"] == "smartstack_links"]
    assert len(mine) == 1, plugins
    assert len(mine[0]["operator_extra_links"]) == 2


def test_weekly_retraining_runs_the_same_steps_on_landed_data(report: dict) -> None:
    daily = report["dags"]["smartstack_daily"]["tasks"]
    weekly = report["dags"]["smartstack_weekly_retrain"]["tasks"]
    assert set(weekly) == set(daily)
    assert weekly["dbt.relationship_tests"]["inlets"] == [
        "smartstack_feedback_events",
        "smartstack_raw_tables",
    ]
