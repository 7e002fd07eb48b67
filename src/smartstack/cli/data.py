"""``smartstack generate``, ``ingest`` and ``settings``: the data a run starts from."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from smartstack.cli.console import console, fail, progress, settings_of
from smartstack.cli.options import (
    BadDatasetOptions,
    DataDirOption,
    DatasetOption,
    StartDateOption,
    dataset_settings,
)


def generate(
    ctx: typer.Context,
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
    from smartstack.datasets.synthetic.generator import GeneratorConfig
    from smartstack.datasets.synthetic.generator import generate as run_generator

    out_dir = out or settings_of(ctx).data_dir
    config = GeneratorConfig(customers=customers, seed=seed)
    started = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(f"generating {customers:,} customers", total=config.n_chunks)
        try:
            counts = run_generator(
                config,
                out_dir,
                workers=workers,
                on_chunk=lambda done, total: bar.update(task, completed=done),
            )
        except OSError as error:
            raise fail(f"cannot write to {out_dir}: {error.strerror or error}.") from None
    elapsed = time.perf_counter() - started
    console.print(
        f"wrote {out_dir}/raw in {elapsed:.1f}s: "
        + ", ".join(f"{name} {rows:,}" for name, rows in counts.items())
    )


def ingest(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option(
            help="`dataset`: land the data set with its adapter (the seeded generator, or the "
            "reader of --data-dir); `landed`: use the raw tables already in the data_dir "
            "setting (stream sink, replay) after checking that every table has data."
        ),
    ] = "dataset",
    customers: Annotated[
        int, typer.Option(min=1, help="Generated data sets: number of customers.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Generated data sets: random seed.")] = 42,
    dataset: DatasetOption = None,
    data_dir: DataDirOption = None,
    start_date: StartDateOption = None,
) -> None:
    """Land the raw tables the pipeline reads (the first task of the Airflow DAGs); prints the
    row counts as JSON. A rerun with the same options leaves the same data."""
    from smartstack.datasets.adapter import LandOptions, SourceError
    from smartstack.datasets.landing import NothingLanded, Source
    from smartstack.datasets.landing import ingest as land

    if source not in Source.__members__:
        raise fail(f"--source must be {' or '.join(Source.__members__)}, not {source!r}.")
    try:
        settings = dataset_settings(
            settings_of(ctx), dataset, data_dir, start_date, needs_source=source != "landed"
        )
    except BadDatasetOptions as error:
        raise fail(f"{error}.") from None
    started = time.perf_counter()
    try:
        origin, counts = land(settings, Source(source), LandOptions(customers, seed))
    except (NothingLanded, SourceError) as error:
        raise fail(f"{error}.") from None
    except OSError as error:
        raise fail(f"cannot write to {settings.data_dir}: {error.strerror or error}.") from None
    console.print(
        f"{settings.dataset} raw data at {settings.raw_dir}, {origin} "
        f"({time.perf_counter() - started:.1f}s): "
        + ", ".join(f"{name} {rows:,}" for name, rows in counts.items())
    )
    typer.echo(json.dumps(counts))


def show_settings(ctx: typer.Context) -> None:
    """Print the effective settings (profile defaults plus environment overrides), secrets
    masked."""
    typer.echo(json.dumps(settings_of(ctx).redacted(), indent=2))
