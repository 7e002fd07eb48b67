"""``smartstack run``: the pipeline's steps in order in this process, and ``smartstack steps``."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.table import Table

from smartstack.cli.console import console, fail, settings_of
from smartstack.cli.options import (
    BadDatasetOptions,
    DataDirOption,
    DatasetOption,
    StartDateOption,
    dataset_settings,
)
from smartstack.pipeline import PARAMETERS, STEPS, predecessors
from smartstack.settings import mask_url


def run(
    ctx: typer.Context,
    customers: Annotated[int, typer.Option(min=1, help="Scale of a generated data set.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed of a generated data set.")] = 42,
    dataset: DatasetOption = None,
    data_dir: DataDirOption = None,
    start_date: StartDateOption = None,
) -> None:
    """Run the pipeline end to end on the active profile, the same steps as the daily Airflow
    DAG (`smartstack steps` lists them): land the data set, gate it, build the dbt features,
    gate them, load Feast, train XGBoost in MLflow, judge and promote it, explain each
    customer's top offers, and tell a running ranking service to reload. `--dataset starbucks
    --data-dir PATH` runs it on the public Starbucks data (see docs/real-data.md)."""
    from smartstack.cli.steps import StepFailed, run_steps
    from smartstack.quality.gate import QualityGateFailed

    try:
        settings = dataset_settings(settings_of(ctx), dataset, data_dir, start_date)
    except BadDatasetOptions as error:
        raise fail(f"{error}.") from None
    parameters = {**PARAMETERS, "customers": customers, "seed": seed}
    started = time.perf_counter()
    try:
        run_steps(
            ctx.find_root().command,
            STEPS,
            settings,
            parameters,
            on_start=lambda i, step: console.rule(f"[bold]{i + 1}/{len(STEPS)} {step.name}"),
            on_done=lambda i, done: console.print(
                f"{done.step.name} {'done' if done.state == 'success' else 'skipped'} "
                f"in {done.seconds:.1f}s" + (f": {done.note}" if done.note else "")
            ),
        )
    except StepFailed as failure:
        raise fail(f"the pipeline stopped: {failure}.", code=1) from None
    except QualityGateFailed as failure:
        raise fail(f"{failure}\nNothing after the gate ran.", code=1) from None
    except Exception as error:  # noqa: BLE001 - one sentence; the later steps did not run
        raise fail(f"the pipeline stopped: {error}", code=1) from None
    console.rule(f"[bold green]pipeline finished in {time.perf_counter() - started:.0f}s")
    registry = mask_url(settings.mlflow_tracking_uri)  # a Postgres URL's password stays out
    console.print(
        f"data: {settings.data_dir}\nonline store: {settings.online_store} "
        f"({settings.sqlite_online_path})\nmodel registry: {registry} "
        f"(browse: .venv/bin/mlflow ui --backend-store-uri {registry})"
    )


def steps(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the definition as JSON instead of a table.")
    ] = False,
) -> None:
    """List the pipeline's steps: name, layer, the steps each waits for, command, what each
    reads and writes. `smartstack run` and the Airflow DAGs run exactly these."""
    if as_json:
        rows = [
            {
                "name": s.name,
                "group": s.group,
                "command": ["smartstack", *s.command],
                "inputs": list(s.inputs),
                "outputs": list(s.outputs),
                "only_if": None if s.only_if is None else f"{s.only_if.step}.{s.only_if.key}",
                "after": [earlier.name for earlier in predecessors(s)],
            }
            for s in STEPS
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="pipeline steps (`{name}`: a parameter of the run)")
    for column in ("step", "layer", "after", "command", "reads", "writes"):
        table.add_column(column)
    for s in STEPS:
        when = f" (if {s.only_if.step}.{s.only_if.key})" if s.only_if else ""
        table.add_row(
            s.name,
            s.group,
            ", ".join(earlier.name for earlier in predecessors(s)),
            "smartstack " + " ".join(s.command) + when,
            ", ".join(s.inputs),
            ", ".join(s.outputs),
        )
    console.print(table)
