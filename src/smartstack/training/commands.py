"""``smartstack train`` and ``smartstack promote``: the model layer's two steps."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)

ParamsOption = Annotated[
    Path | None,
    typer.Option(
        "--params",
        exists=True,
        dir_okay=False,
        help="Training configuration (default: training/params.yaml or "
        "$SMARTSTACK_TRAINING_PARAMS).",
    ),
]


def _fail(message: str, code: int) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _summary(reports: dict) -> None:
    for name, report in reports.items():
        r = report["all"]
        console.print(
            f"  {name:<11} NDCG@3 {r['ndcg_3']:.4f}  NDCG@5 {r['ndcg_5']:.4f}  "
            f"MAP {r['map']:.4f}  AUC {r['auc']:.4f}  log loss {r['log_loss']:.4f}  "
            f"ECE {r['ece']:.4f}"
        )


def train(
    tune: Annotated[
        bool,
        typer.Option(
            "--tune/--no-tune",
            help="Search the tree parameters with Optuna on the validation period first "
            "(trials and time budget in params.yaml).",
        ),
    ] = False,
    seed: Annotated[
        int | None, typer.Option(help="Random seed (default: params.yaml); same seed, same model.")
    ] = None,
    objective: Annotated[
        str | None,
        typer.Option(
            help="'binary' (redemption classifier, Platt-calibrated) or 'rank' (rank:ndcg "
            "per request). Default: params.yaml."
        ),
    ] = None,
    promote_after: Annotated[
        bool,
        typer.Option(
            "--promote/--no-promote",
            help="Run the promotion gate right after registering the challenger.",
        ),
    ] = False,
    params: ParamsOption = None,
) -> None:
    """Train the XGBoost offer ranker on the Feast training set, evaluate it and the
    baselines on the latest (test) period, log everything to MLflow and register the model as
    the new `challenger`. The `champion` alias only moves with `smartstack promote`."""
    from smartstack.training.config import load_config
    from smartstack.training.dataset import TrainingSetMissing
    from smartstack.training.job import run_training
    from smartstack.training.promote import promote

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if objective not in (None, "binary", "rank"):
        raise _fail(f"--objective must be 'binary' or 'rank', not {objective!r}.", 2)
    config = load_config(params).with_overrides(seed=seed, objective=objective)
    try:
        result = run_training(config, tune_first=tune)
    except TrainingSetMissing as error:
        raise _fail(f"{error}.", 2) from None
    console.print(
        f"registered version {result.version} as challenger (run {result.run_id}, "
        f"{result.model.best_iteration + 1} trees, {result.model.seconds:.0f}s); test period:"
    )
    _summary(result.reports)
    if promote_after:
        decision = promote(config, data=result.data, version=result.version)
        console.print(decision.reason)


def promote(
    version: Annotated[
        str | None,
        typer.Option(help="Model version to judge (default: the one aliased `challenger`)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 1 when the challenger is rejected.")
    ] = False,
    params: ParamsOption = None,
) -> None:
    """Compare the challenger with the champion on the same held-out test period and move
    `champion` to it only if it wins by the configured margin with no segment regressing
    beyond the tolerance (first model: it must beat SmartScore). The decision and its reason
    are tagged on the model version and logged as a run."""
    from smartstack.training.config import load_config
    from smartstack.training.dataset import TrainingSetMissing
    from smartstack.training.promote import NoChallenger
    from smartstack.training.promote import promote as run_gate

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        decision = run_gate(load_config(params), version=version)
    except (TrainingSetMissing, NoChallenger) as error:
        raise _fail(f"{error}.", 2) from None
    verdict = "[green]promoted[/]" if decision.passed else "[yellow]not promoted[/]"
    console.print(f"version {decision.version} {verdict}: {decision.reason}")
    console.print(f"champion: {decision.champion_after or 'none'}")
    if strict and not decision.passed:
        raise typer.Exit(1)
