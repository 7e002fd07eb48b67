"""``smartstack evaluate-dataset``: the champion's figures on another directory of a data set."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from smartstack.cli.console import fail, settings_of
from smartstack.cli.options import (
    BadDatasetOptions,
    DataDirOption,
    DatasetOption,
    StartDateOption,
    dataset_settings,
)

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
    ctx: typer.Context,
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
    held-out Starbucks customers): the pipeline's steps up to `feast_apply` land, gate and build
    it in a scratch home, then its test period (offers sent from hour 504) is scored by the
    champion, SmartScore, the demographic-only baseline and popularity, with the coefficients of
    the champion's run. Prints AUC, log loss, accuracy, F1 and NDCG@3 per target, with and
    without censored rows; `--out FILE` writes the same figures as JSON."""
    from smartstack.cli.steps import StepFailed, run_steps
    from smartstack.pipeline import PARAMETERS, steps_through
    from smartstack.training.external import (
        NoChampion,
        champion_version,
        evaluate_directory,
        scratch_settings,
    )

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        settings = dataset_settings(settings_of(ctx), dataset, data_dir, start_date)
    except BadDatasetOptions as error:
        raise fail(f"{error}.") from None
    if settings.source_dir is None:
        raise fail("pass --data-dir: the directory to evaluate.")
    try:
        champion_version(settings)  # before the build: without a champion there is no point
        scratch = scratch_settings(settings, settings.source_dir, work_dir)
        run_steps(ctx.find_root().command, steps_through("feast_apply"), scratch, PARAMETERS)
        result = evaluate_directory(settings, scratch)
    except NoChampion as error:
        raise fail(f"{error}.") from None
    except StepFailed as failure:
        raise fail(f"{failure}: the evaluated directory did not build.", failure.code) from None
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
