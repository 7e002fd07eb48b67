"""``smartstack``: the one command line for every pipeline step.

Airflow tasks, the Makefile and people all call these subcommands, so each step has exactly one
entry point. Commands print a sentence and exit non-zero on bad input instead of a traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smartstack.dataset_options import DataDirOption, DatasetOption, StartDateOption
from smartstack.settings import get_settings

app = typer.Typer(
    name="smartstack",
    help="Smart Stack: personalized, explained credit-card offers. Each subcommand is one step "
    "of the pipeline; `smartstack run` runs the whole job on embedded defaults.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@app.command()
def generate(
    customers: Annotated[
        int, typer.Option(min=1, help="Number of customers to simulate.")
    ] = 10_000,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives identical files.")
    ] = 42,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output folder (raw/ and ground_truth/ go below it). "
            "Default: the data_dir setting."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: one per core).")
    ] = None,
) -> None:
    """Generate the synthetic data set (customers, transactions, offers, impressions, clickstream,
    quiz answers) as Parquet, with its hidden ground truth kept apart under ground_truth/."""
    from smartstack.data.generator import GeneratorConfig
    from smartstack.data.generator import generate as run_generator

    out_dir = out or get_settings().data_dir
    assert out_dir is not None
    config = GeneratorConfig(customers=customers, seed=seed)
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task(f"generating {customers:,} customers", total=config.n_chunks)
        try:
            counts = run_generator(
                config,
                out_dir,
                workers=workers,
                on_chunk=lambda done, total: progress.update(task, completed=done),
            )
        except OSError as error:
            raise fail(f"cannot write to {out_dir}: {error.strerror or error}.") from None
    elapsed = time.perf_counter() - started
    console.print(
        f"wrote {out_dir}/raw in {elapsed:.1f}s: "
        + ", ".join(f"{name} {rows:,}" for name, rows in counts.items())
    )


@app.command()
def ingest(
    source: Annotated[
        str,
        typer.Option(
            help="`synthetic`: generate the seeded data set into the data_dir setting; "
            "`landed`: use the raw tables already there (stream sink, replay) after checking "
            "that every table has data."
        ),
    ] = "synthetic",
    customers: Annotated[
        int, typer.Option(min=1, help="Synthetic source: number of customers.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Synthetic source: random seed.")] = 42,
    dataset: DatasetOption = None,
    data_dir: DataDirOption = None,
    start_date: StartDateOption = None,
) -> None:
    """Land the raw tables the pipeline reads (the first task of the Airflow DAGs); prints the
    row counts as JSON. A rerun with the same options leaves the same data. On a data set with
    an adapter (`--dataset starbucks --data-dir PATH`) the adapter reads PATH instead of
    generating (`--source landed` still only counts what is there)."""
    from smartstack.data.ingest import NothingLanded, Source
    from smartstack.data.ingest import ingest as land
    from smartstack.data.starbucks import SourceError
    from smartstack.dataset_options import BadDatasetOptions, use_dataset

    if source not in Source.__members__:
        raise fail(f"--source must be {' or '.join(Source.__members__)}, not {source!r}.")
    try:
        settings = use_dataset(dataset, data_dir, start_date, needs_source=source != "landed")
    except BadDatasetOptions as error:
        raise fail(f"{error}.") from None
    started = time.perf_counter()
    try:
        counts = land(settings, Source(source), customers, seed)
    except (NothingLanded, SourceError) as error:
        raise fail(f"{error}.") from None
    except OSError as error:
        raise fail(f"cannot write to {settings.data_dir}: {error.strerror or error}.") from None
    what = source if settings.dataset == "synthetic" or source == "landed" else settings.dataset
    console.print(
        f"{what} raw data at {settings.raw_dir} ({time.perf_counter() - started:.1f}s): "
        + ", ".join(f"{name} {rows:,}" for name, rows in counts.items())
    )
    typer.echo(json.dumps(counts))


@app.command("settings")
def show_settings() -> None:
    """Print the effective settings (profile defaults plus environment overrides), secrets
    masked."""
    typer.echo(json.dumps(get_settings().redacted(), indent=2))


@app.command()
def run(
    customers: Annotated[
        int, typer.Option(min=1, help="Scale of the synthetic data set.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    dataset: DatasetOption = None,
    data_dir: DataDirOption = None,
    start_date: StartDateOption = None,
) -> None:
    """Run the main job end to end on the active profile: generate data, gate it, build dbt
    features, gate them, load Feast, train XGBoost in MLflow and run the promotion gate
    (embedded defaults: no external service). `--dataset starbucks --data-dir PATH` runs the
    same steps on the public Starbucks data instead of generating (see docs/real-data.md)."""
    from smartstack.dataset_options import BadDatasetOptions, use_dataset
    from smartstack.pipeline import batch_pipeline, run_pipeline_steps
    from smartstack.quality.gate import QualityGateFailed

    try:
        settings = use_dataset(dataset, data_dir, start_date)
    except BadDatasetOptions as error:
        raise fail(f"{error}.") from None
    steps = batch_pipeline(settings, customers, seed)
    started = time.perf_counter()
    try:
        run_pipeline_steps(
            steps,
            on_start=lambda i, step: console.rule(f"[bold]{i + 1}/{len(steps)} {step.name}"),
            on_done=lambda i, step, seconds: console.print(f"{step.name} done in {seconds:.1f}s"),
        )
    except QualityGateFailed as failure:
        raise fail(f"{failure}\nNothing after the gate ran.", code=1) from None
    except Exception as error:  # noqa: BLE001 - one sentence; the later steps did not run
        raise fail(f"the pipeline stopped: {error}", code=1) from None
    console.rule(f"[bold green]pipeline finished in {time.perf_counter() - started:.0f}s")
    console.print(
        f"data: {settings.data_dir}\nonline store: {settings.online_store} "
        f"({settings.sqlite_online_path})\nmodel registry: {settings.mlflow_tracking_uri} "
        f"(browse: .venv/bin/mlflow ui --backend-store-uri {settings.mlflow_tracking_uri})"
    )


# Command groups of the pipeline layers are registered below, one line each.
from smartstack.features.commands import app as dbt_app  # noqa: E402

app.add_typer(dbt_app, name="dbt")
from smartstack.quality.commands import app as quality_app  # noqa: E402

app.add_typer(quality_app, name="quality")
from smartstack.featurestore.commands import app as feast_app  # noqa: E402

app.add_typer(feast_app, name="feast")
from smartstack.training.commands import evaluate, promote, train  # noqa: E402
from smartstack.training.external_commands import evaluate_dataset  # noqa: E402

app.command("evaluate-dataset")(evaluate_dataset)

app.command()(train)
app.command()(promote)
app.command()(evaluate)
from smartstack.serving.admin_commands import app as serving_app  # noqa: E402

app.add_typer(serving_app, name="serving")
from smartstack.stack.commands import up  # noqa: E402

app.command()(up)
from smartstack.serving.commands import app as explanations_app  # noqa: E402

app.add_typer(explanations_app, name="explanations")
from smartstack.events.commands import app as events_app  # noqa: E402
from smartstack.events.commands import feedback_app  # noqa: E402

app.add_typer(events_app, name="events")
app.add_typer(feedback_app, name="feedback")


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
