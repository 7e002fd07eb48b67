"""The Smart Stack DAGs' tasks, built from the pipeline's one definition (``smartstack.pipeline``).

Every step becomes one task in the task group of its layer, named after the step, running the
step's ``smartstack`` command (:mod:`smartstack_airflow.commands`) with the step's exit codes,
timeout and assets; the dbt step becomes one Cosmos task per model (building it and running its
tests), then one task for the relationships tests across models. Each task waits for the tasks
of the steps its step waits for, so the serving and monitoring lanes after promotion run side by
side. A conditional step gets a branch before it that follows the earlier step's result, and the
steps after it run whichever way the branch went; a step after one that may be skipped (a
``skip`` exit code: the serving reload with no service) runs when it was skipped. The
monitoring tasks carry buttons to their reports in the UI (:mod:`smartstack_airflow.links`).
Every task is idempotent, as every step is: a rerun leaves the state the first run left.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import Asset, BaseOperator, TaskGroup, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import (
    PRODUCER_WATCHER_TASK_ID,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    TestBehavior,
    TestIndirectSelection,
)

from smartstack.pipeline import STEPS, Step, predecessors
from smartstack_airflow.commands import run_smartstack
from smartstack_airflow.links import DriftReportOperator, ReportOperator
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
ASSET_GROUP = "smartstack"
# Tasks of a DAG run at once. The embedded warehouse is one DuckDB file, which takes one writer at
# a time: its writers (the erasures, dbt) are ordered before everything else, so only the dbt
# models' and tests' tasks, which read the one build's results, and the serving and monitoring
# lanes, which only read it, run side by side (a model task's retry, which builds that model,
# may meet a lock and retry again).
MAX_ACTIVE_TASKS = 4


def asset(name: str) -> Asset:
    """The Airflow asset of something a step reads or writes (``smartstack_<name>``)."""
    return Asset(f"smartstack_{name}", group=ASSET_GROUP)


def pipeline(parameters: Mapping[str, str]) -> list[TaskGroup]:
    """One task group per layer, each step's task after the steps it waits for
    (:func:`smartstack.pipeline.predecessors`); ``parameters`` fill the steps' ``{name}``
    placeholders (Jinja templates of the DAG's params, or fixed values)."""
    groups: dict[str, TaskGroup] = {}
    tasks: dict[str, Any] = {}  # the task each step's result is read from
    ends: dict[str, list[Any]] = {}  # the tasks a step ends with: either way of a branch
    for step in STEPS:
        before = predecessors(step)
        if step.per_dbt_model:
            group = groups[step.group] = _dbt_models(step)
            begin, ends[step.name] = group, [group]
        else:
            if step.group not in groups:
                groups[step.group] = TaskGroup(
                    step.group, tooltip="; ".join(s.name for s in STEPS if s.group == step.group)
                )
            with groups[step.group]:
                if step.only_if is None:
                    begin = tasks[step.name] = _command(step, parameters, _trigger_rule(before))
                    ends[step.name] = [begin]
                else:
                    begin, ends[step.name] = _branch(step, tasks[step.only_if.step])
        for earlier in before:
            ends[earlier.name] >> begin
    return list(groups.values())


def _trigger_rule(before: tuple[Step, ...]) -> str:
    """Run after a step that may have been skipped (the serving reload with no service), and
    after either way of a branch; still stop after a failure."""
    if any(step.skip for step in before):
        return "none_failed"
    if any(step.only_if for step in before):
        return "none_failed_min_one_success"
    return "all_success"


def _command(step: Step, parameters: Mapping[str, str], trigger_rule: str) -> Any:
    options: dict[str, Any] = {
        "task_id": step.name,
        "doc_md": step.description,
        "execution_timeout": timedelta(minutes=step.timeout_minutes),
        "inlets": [asset(name) for name in step.inputs],
        "outlets": [asset(name) for name in step.outputs],
        "trigger_rule": trigger_rule,
    }

    def run(argv: list[str]) -> Any:
        return _result(run_smartstack(argv, final=step.final, skip=step.skip))

    # As the task's argument, the parameters' Jinja templates are rendered at run time.
    argv = step.argv(parameters)
    reports = _report_operator(step)
    if reports is not None:
        return reports(python_callable=run, op_args=[argv], **options)
    return task(**options)(run)(argv)


def _report_operator(step: Step) -> type[PythonOperator] | None:
    """The operator of a step whose result links to reports (monitoring): the same Python task,
    with buttons to the reports in the Airflow UI (:mod:`smartstack_airflow.links`)."""
    if step.name == "monitor_drift":
        return DriftReportOperator
    if step.group == "monitoring":
        return ReportOperator
    return None


def _branch(step: Step, verdict: Any) -> tuple[Any, list[Any]]:
    """``<step>_or_skip`` follows the earlier step's result into ``<step>`` or ``skip_<step>``:
    the branch and its two ways."""
    assert step.only_if is not None
    condition = step.only_if

    @task.branch(task_id=f"{step.name}_or_skip", doc_md=f"Runs {step.name} if {condition.key}.")
    def decide(result: dict) -> str:
        group = step.group
        return f"{group}.{step.name}" if result.get(condition.key) else f"{group}.skip_{step.name}"

    @task(
        task_id=step.name,
        doc_md=step.description,
        execution_timeout=timedelta(minutes=step.timeout_minutes),
        outlets=[asset(name) for name in step.outputs],
    )
    def run(argv: list[str]) -> Any:
        return _result(run_smartstack(argv, final=step.final, skip=step.skip))

    @task(task_id=f"skip_{step.name}")
    def skip(result: dict) -> None:
        log.warning("%s did not run: %s", step.name, result.get("reason", result))

    branch = decide(verdict)
    ways = [run(step.argv({})), skip(verdict)]
    branch >> ways
    return branch, ways


def _dbt_models(step: Step) -> TaskGroup:
    """One task per dbt model and one for its tests (Cosmos), then the relationships tests
    across models once every model exists.

    Cosmos's watcher mode: one ``dbt build`` of the whole project (``dbt_producer_watcher``,
    dbt's own threads) instead of one dbt process per model, which was most of the dbt step's
    time; each model's task and its tests' task read their node's result as dbt reports it. A
    model task whose node failed fails; its retry runs that model's dbt command on its own.

    The producer runs before the first models' tasks (a model task waiting for it would hold a
    task slot, and ``airflow dags test``, one task at a time, would wait forever) and is not
    retried: Cosmos skips a producer's retry, and the models after a skipped producer would
    skip the rest of the pipeline instead of failing it.

    dbt runs as ``smartstack-dbt`` of the project environment, which adds the warehouse paths
    and the data set's feature window from the project settings to whatever Cosmos passes.
    """
    models = DbtTaskGroup(
        group_id=step.group,
        project_config=ProjectConfig(DBT_PROJECT, install_dbt_deps=False),
        profile_config=ProfileConfig(
            profile_name="smartstack",
            target_name=DBT_TARGET,
            profiles_yml_filepath=DBT_PROJECT / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            dbt_executable_path=SMARTSTACK_DBT,
            invocation_mode=InvocationMode.SUBPROCESS,
            setup_operator_args={"retries": 0},
            # A model task's retry builds the model with its own tests and those whose other
            # model is upstream of it; the rest of the relationships tests run after every model.
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
        ),
        render_config=RenderConfig(
            dbt_executable_path=SMARTSTACK_DBT,
            invocation_mode=InvocationMode.SUBPROCESS,
            load_method=LoadMode.DBT_LS,
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=False,
        ),
        operator_args={"install_deps": False},
    )
    tasks = {t.task_id: t for t in models.children.values() if isinstance(t, BaseOperator)}
    producer = tasks[f"{step.group}.{PRODUCER_WATCHER_TASK_ID}"]
    for first in models.get_roots():
        if first is not producer:
            producer >> first
    leaves = list(models.get_leaves())
    relationships = Step(
        "relationship_tests",
        step.group,
        (*step.command, "--select", "test_name:relationships"),
        "dbt's relationships tests across models, once every model is built.",
        inputs=step.inputs,
        final=step.final,
    )
    with models:
        across = _command(relationships, {}, "all_success")
    leaves >> across
    return models


def _result(line: str) -> Any:
    """A command's last output line: its JSON result when it prints one."""
    try:
        return json.loads(line)
    except ValueError:
        return line
