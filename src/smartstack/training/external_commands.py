"""``smartstack evaluate-dataset``: the champion's figures on another directory of a data set."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from smartstack.dataset_options import DataDirOption, DatasetOption, StartDateOption

# Wide enough for the figures table when the output is not a terminal (logs, CI).
console = Console(stderr=True, width=120)


def _table(name: str, target: dict[str, Any], metrics: list[str]) -> Table:
    table = Table(title=f"target {name}: {target['definition']}", title_justify="left")
    for column in ("scope", "rows", "positive", "ranker", *metrics):
        table.add_column(column, justify="left" if column in ("scope", "ranker") else "right")
    for scope, block in target["scopes"].items():
        for i, (ranker, values) in enumerate(block["rankers"].items()):
            first = i == 0
            table.add_row(
                scope if first else "",
                f"{block['rows']:,}" if first else "",
                f"{block['positives']:,}" if first else "",
                ranker,
                *("n/a" if values[m] is None else f"{values[m]:.4f}" for m in metrics),
            )
        table.add_section()
    return table


def evaluate_dataset(
    dataset: DatasetOption = None,
    data_dir: DataDirOption = None,
    start_date: StartDateOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Also write the figures as JSON.")
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            help="Scratch folder for the evaluated data set (default: "
            "<home>/evaluations/<digest of --data-dir>)."
        ),
    ] = None,
) -> None:
    """Evaluate the current `champion` on a directory in the data set's own format (e.g. the
    held-out Starbucks customers): ingested, gated, built by dbt and read through Feast like
    the training data, then its test period (offers sent from hour 504) scored by the champion,
    SmartScore, the demographic-only baseline and popularity, with the coefficients of the
    champion's run. Prints AUC, log loss, accuracy, F1 and NDCG@3 per target, with and without
    censored rows; `--out FILE` writes the same figures as JSON."""
    from smartstack.dataset_options import BadDatasetOptions, use_dataset
    from smartstack.quality.gate import QualityGateFailed
    from smartstack.training.config import load_config
    from smartstack.training.external import EvaluationFailed, NoChampion, evaluate_directory

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        settings = use_dataset(dataset, data_dir, start_date)
    except BadDatasetOptions as error:
        console.print(f"[bold red]error:[/] {error}.")
        raise typer.Exit(2) from None
    if settings.source_dir is None:
        console.print("[bold red]error:[/] pass --data-dir: the directory to evaluate.")
        raise typer.Exit(2)
    from smartstack.data.starbucks import SourceError

    try:
        result = evaluate_directory(
            settings.source_dir, settings, load_config(dataset=settings.dataset), work_dir
        )
    except (NoChampion, SourceError, EvaluationFailed) as error:
        console.print(f"[bold red]error:[/] {error}.")
        raise typer.Exit(2) from None
    except QualityGateFailed as failure:
        console.print(f"[bold red]error:[/] {failure}")
        raise typer.Exit(1) from None
    champion = result["champion"]
    console.print(
        f"champion {champion['model']} v{champion['version']} on {result['source_dir']}; "
        f"test period: {result['test_period']}"
    )
    for name, target in result["targets"].items():
        console.print(_table(name, target, result["metrics"]))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"wrote {out}")
