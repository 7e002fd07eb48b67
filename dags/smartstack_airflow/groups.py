"""The task groups of the Smart Stack DAGs, one per layer, shared by the daily and the weekly DAG.

Each task makes one ``smartstack`` call (see :mod:`smartstack_airflow.commands`) or, for dbt,
one Cosmos task per model that builds the model and runs its tests. Every task is idempotent:
a rerun leaves the state the first run left (the generator is seeded and swaps its output in
whole, dbt and Feast rebuild or load incrementally, ``train --reuse`` re-selects the version it
trained on the same data, promotion applies a recorded verdict once).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from airflow.sdk import TaskGroup, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

from smartstack_airflow.assets import CHAMPION_MODEL, FEATURE_MARTS, ONLINE_FEATURES, RAW_TABLES
from smartstack_airflow.commands import (
    BAD_INPUT,
    GATE_FAILED,
    SERVING_UNREACHABLE,
    run_smartstack,
)
from smartstack_airflow.project import DBT_PROJECT, DBT_TARGET, SMARTSTACK_DBT

log = logging.getLogger(__name__)

DEFAULT_ARGS = {
    "owner": "smartstack",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=30),
}
TRAINING_TIMEOUT = timedelta(hours=2)
RELOAD_TIMEOUT = timedelta(minutes=5)

# Failed gates and bad options: retrying cannot change the outcome.
NOT_RETRIED = (GATE_FAILED, BAD_INPUT)


def ingest(source: str, customers: str = "10000", seed: str = "42") -> TaskGroup:
    """Land the raw tables (generated, or already landed), then gate them."""
    with TaskGroup("ingest", tooltip="raw tables and their quality gate") as group:

        @task(outlets=[RAW_TABLES])
        def land_raw_data(source: str, customers: str, seed: str) -> dict[str, int]:
            args = ["ingest", "--source", source, "--customers", customers, "--seed", seed]
            return json.loads(run_smartstack(args, final=(BAD_INPUT,)))

        @task
        def raw_quality_gate() -> None:
            run_smartstack(["quality", "validate", "--stage", "raw"], final=NOT_RETRIED)

        land_raw_data(source, customers, seed) >> raw_quality_gate()
    return group


def dbt_build(group_id: str = "dbt") -> DbtTaskGroup:
    """One task per dbt model, building it and running its data and unit tests (Cosmos).

    dbt runs as ``smartstack-dbt`` of the project environment, which adds the warehouse paths
    and the data set's feature window from the project settings to whatever Cosmos passes.
    """
    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(DBT_PROJECT, install_dbt_deps=False),
        profile_config=ProfileConfig(
            profile_name="smartstack",
            target_name=DBT_TARGET,
            profiles_yml_filepath=DBT_PROJECT / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            dbt_executable_path=SMARTSTACK_DBT,
            invocation_mode=InvocationMode.SUBPROCESS,
            # A model's build runs its own tests and those whose other model is upstream of it;
            # the rest of the relationships tests run after every model (see `feature_gate`).
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
        ),
        render_config=RenderConfig(
            dbt_executable_path=SMARTSTACK_DBT,
            invocation_mode=InvocationMode.SUBPROCESS,
            load_method=LoadMode.DBT_LS,
            test_behavior=TestBehavior.BUILD,
            # Unit tests run inside their model's `dbt build`; they are not tasks of their own.
            exclude=["resource_type:unit_test"],
            emit_datasets=False,
        ),
        operator_args={"install_deps": False},
    )


def feature_gate() -> TaskGroup:
    """The checks on the built marts: dbt's relationships tests across models (one dbt call
    once every model exists, rather than one task per test), then the Great Expectations
    checkpoint. Nothing reaches Feast past a failure."""
    with TaskGroup("quality", tooltip="cross-model tests and the feature quality gate") as group:

        @task
        def relationship_tests() -> None:
            args = ["dbt", "build", "--select", "test_name:relationships"]
            run_smartstack(args, final=NOT_RETRIED)

        @task(outlets=[FEATURE_MARTS])
        def feature_quality_gate() -> None:
            run_smartstack(["quality", "validate", "--stage", "features"], final=NOT_RETRIED)

        relationship_tests() >> feature_quality_gate()
    return group


def feature_store() -> TaskGroup:
    """Register the Feast definitions, then load the online store up to the snapshot."""
    with TaskGroup("feature_store", tooltip="Feast apply and materialize") as group:

        @task
        def apply() -> None:
            run_smartstack(["feast", "apply"], final=(BAD_INPUT,))

        @task(outlets=[ONLINE_FEATURES])
        def materialize() -> None:
            run_smartstack(["feast", "materialize"], final=(BAD_INPUT,))

        apply() >> materialize()
    return group


def model(group_id: str = "model", inlets: list | None = None) -> TaskGroup:
    """Train a challenger, judge it against the champion, then promote or reject it (a branch)."""
    with TaskGroup(group_id, tooltip="train, evaluate, promote or reject") as group:

        @task(execution_timeout=TRAINING_TIMEOUT, inlets=inlets or [])
        def train() -> None:
            run_smartstack(["train", "--reuse"], final=(BAD_INPUT,))

        @task
        def evaluate() -> dict:
            return json.loads(run_smartstack(["evaluate", "--json"], final=(BAD_INPUT,)))

        @task.branch
        def promote_or_reject(verdict: dict) -> str:
            return f"{group_id}.promote" if verdict["passed"] else f"{group_id}.reject"

        @task(outlets=[CHAMPION_MODEL])
        def promote(verdict: dict) -> None:
            args = ["promote", "--recorded", "--version", verdict["version"]]
            run_smartstack(args, final=NOT_RETRIED)

        @task
        def reject(verdict: dict) -> None:
            log.warning(
                "version %s stays challenger; the champion is unchanged: %s",
                verdict["version"],
                verdict["reason"],
            )

        verdict = evaluate()
        train() >> verdict
        promote_or_reject(verdict) >> [promote(verdict), reject(verdict)]
    return group


def serving() -> TaskGroup:
    """Explain each customer's top offers with the champion (the cache `/rank` reads), then
    tell the ranking service to load the champion now (skipped when no service runs)."""
    with TaskGroup("serving", tooltip="explanations, then reload the ranking service") as group:

        # After a promotion or a rejection alike: new features make new explanation keys.
        @task(trigger_rule="none_failed_min_one_success")
        def explain_top_offers() -> None:
            run_smartstack(["explanations", "precompute"], final=(BAD_INPUT,))

        @task(execution_timeout=RELOAD_TIMEOUT)
        def reload() -> dict:
            served = run_smartstack(
                ["serving", "reload"], final=(BAD_INPUT,), skip=(SERVING_UNREACHABLE,)
            )
            return json.loads(served)

        explain_top_offers() >> reload()
    return group
