"""``smartstack feast …``: the feature-store steps of the pipeline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from smartstack.settings import get_settings

app = typer.Typer(
    help="Feast feature store: register definitions, load the online store, build training sets.",
    no_args_is_help=True,
)
console = Console(stderr=True)


@app.command()
def apply() -> None:
    """Register the active data set's feature service (offer_ranking_v1 for synthetic data) and
    the views, sources and entities it reads in the registry, and create the online tables
    (`feast apply`)."""
    from smartstack.featurestore import store

    store.apply()
    console.print(f"applied feature_repo to the {get_settings().profile} registry")


@app.command()
def materialize() -> None:
    """Load the online store up to the data set's snapshot; later runs load only what is new
    (`feast materialize-incremental`)."""
    from smartstack.datasets import active
    from smartstack.featurestore import store

    settings = get_settings()
    missing = [
        m
        for m in active(settings).feature_marts
        if not (settings.data_dir / "features" / f"{m}.parquet").exists()
    ]
    if missing and settings.warehouse == "duckdb":
        console.print(
            f"[bold red]error:[/] no feature marts in {settings.data_dir / 'features'} "
            "(missing " + ", ".join(missing) + "): run `smartstack dbt build` first."
        )
        raise typer.Exit(2)
    started = time.perf_counter()
    end = store.materialize(settings)
    console.print(
        f"online store ({settings.online_store}) loaded up to {end.isoformat()} "
        f"in {time.perf_counter() - started:.1f}s"
    )


@app.command()
def config() -> None:
    """Print the feature_store.yaml equivalent of the active profile (for `feast ui` etc.)."""
    from smartstack.featurestore.config import config_yaml

    typer.echo(config_yaml(get_settings()), nl=False)


@app.command("training-set")
def training_set(
    out: Annotated[Path, typer.Option(help="Parquet file to write the training set to.")],
) -> None:
    """Build the point-in-time training set: labelled impressions joined with the active
    feature service's values as of each impression (`get_historical_features`)."""
    from smartstack.featurestore import store

    started = time.perf_counter()
    try:
        frame = store.training_set()
    except FileNotFoundError as error:
        console.print(f"[bold red]error:[/] {error}.")
        raise typer.Exit(2) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    console.print(
        f"wrote {len(frame):,} rows × {frame.shape[1]} columns to {out} "
        f"in {time.perf_counter() - started:.1f}s"
    )
