"""``smartstack train``, ``evaluate`` and ``promote``: the model layer's steps."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from smartstack.cli.console import console, fail, settings_of
from smartstack.cli.options import DataDirOption, DatasetOption
from smartstack.pipeline import BAD_INPUT, GATE_FAILED
from smartstack.settings import Settings

ParamsOption = Annotated[
    Path | None,
    typer.Option(
        "--params",
        exists=True,
        dir_okay=False,
        help="Training parameters file (default: the training.params setting, "
        "training/params.yaml unless SMARTSTACK_TRAINING_PARAMS says otherwise).",
    ),
]
VersionOption = Annotated[
    str | None,
    typer.Option(help="Model version to judge (default: the one aliased `challenger`)."),
]


def _settings(ctx: typer.Context, params: Path | None) -> Settings:
    settings = settings_of(ctx)
    return settings if params is None else settings.with_training_params(params)


def _summary(reports: dict) -> None:
    for name, report in reports.items():
        r = report["all"]
        console.print(
            f"  {name:<11} NDCG@3 {r['ndcg_3']:.4f}  NDCG@5 {r['ndcg_5']:.4f}  "
            f"MAP {r['map']:.4f}  AUC {r['auc']:.4f}  log loss {r['log_loss']:.4f}  "
            f"ECE {r['ece']:.4f}"
        )


def train(
    ctx: typer.Context,
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
    reuse: Annotated[
        bool,
        typer.Option(
            "--reuse/--no-reuse",
            help="When a registered version was trained with this configuration on exactly "
            "this data set, make it the challenger again instead of training a duplicate "
            "(what a rerun of the pipeline's training task does).",
        ),
    ] = False,
) -> None:
    """Train the XGBoost offer ranker on the Feast training set, evaluate it and the
    baselines on the latest (test) period, log everything to MLflow and register the model as
    the new `challenger`. The `champion` alias only moves with `smartstack promote`."""
    from smartstack.training import dataset, registry
    from smartstack.training.job import already_trained, run_training
    from smartstack.training.promote import promote

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if objective not in (None, "binary", "rank"):
        raise fail(f"--objective must be 'binary' or 'rank', not {objective!r}.")
    settings = _settings(ctx, params)
    config = settings.training.with_overrides(seed=seed, objective=objective)
    try:
        data = None
        if reuse:
            dataset.check_inputs(settings)
            data = dataset.build(settings, config.split)
            version = already_trained(config, data, settings, tune_first=tune)
            if version is not None:
                registry.make_challenger(registry.configure(settings, config.experiment), version)
                console.print(
                    f"version {version} was trained with this configuration on this data set "
                    "already: it is the challenger again"
                )
                return
        result = run_training(config, settings, data=data, tune_first=tune)
    except dataset.TrainingSetMissing as error:
        raise fail(f"{error}.") from None
    console.print(
        f"registered version {result.version} as challenger (run {result.run_id}, "
        f"{result.model.best_iteration + 1} trees, {result.model.seconds:.0f}s); test period:"
    )
    _summary(result.reports)
    if promote_after:
        decision = promote(config, settings, data=result.data, version=result.version)
        console.print(decision.reason)


def promote(
    ctx: typer.Context,
    version: VersionOption = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 1 when the challenger is rejected.")
    ] = False,
    params: ParamsOption = None,
    recorded: Annotated[
        bool,
        typer.Option(
            "--recorded",
            help="Apply the verdict `smartstack evaluate` recorded on the version instead of "
            "judging again; refused (exit 1) unless it passed against today's champion.",
        ),
    ] = False,
) -> None:
    """Compare the challenger with the champion on the same held-out test period and move
    `champion` to it only if it wins by the configured margin with no segment regressing
    beyond the tolerance (first model: it must beat SmartScore). The decision and its reason
    are tagged on the model version and logged as a run."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = _settings(ctx, params)
    if recorded:
        _promote_recorded(settings, version)
        return
    from smartstack.training.dataset import TrainingSetMissing
    from smartstack.training.promote import NoChallenger
    from smartstack.training.promote import promote as run_gate

    try:
        decision = run_gate(settings.training, settings, version=version)
    except (TrainingSetMissing, NoChallenger) as error:
        raise fail(f"{error}.") from None
    verdict = "[green]promoted[/]" if decision.passed else "[yellow]not promoted[/]"
    console.print(f"version {decision.version} {verdict}: {decision.reason}")
    console.print(f"champion: {decision.champion_after or 'none'}")
    if strict and not decision.passed:
        raise typer.Exit(GATE_FAILED)


def evaluate(
    ctx: typer.Context,
    version: VersionOption = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the verdict as one JSON object on stdout."),
    ] = False,
    params: ParamsOption = None,
    dataset: DatasetOption = None,
    data_dir: DataDirOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", dir_okay=False, help="With --data-dir: write the figures as JSON."),
    ] = None,
) -> None:
    """Judge the challenger against the champion (SmartScore when there is none) on the same
    held-out test period and record the verdict on the version, without moving `champion`.
    `smartstack promote --recorded` applies a passing verdict; the Airflow DAGs branch on it
    in between. A rejection is a result, not an error: the exit code is 0.
    With `--data-dir PATH` (and `--dataset`), it evaluates the champion on that directory
    instead, exactly as `smartstack evaluate-dataset` does."""
    if data_dir is not None:
        from smartstack.cli.evaluation import evaluate_dataset

        evaluate_dataset(ctx, dataset=dataset, data_dir=data_dir, out=out)
        return
    from smartstack.training.dataset import TrainingSetMissing
    from smartstack.training.promote import NoChallenger
    from smartstack.training.promote import evaluate as judge

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = _settings(ctx, params)
    config = settings.training
    try:
        decision = judge(config, settings, version=version)
    except (TrainingSetMissing, NoChallenger) as error:
        raise fail(f"{error}.") from None
    verdict = "[green]passed[/]" if decision.passed else "[yellow]rejected[/]"
    console.print(f"version {decision.version} {verdict}: {decision.reason}")
    if as_json:
        metric = config.promotion.metric
        typer.echo(
            json.dumps(
                {
                    "version": decision.version,
                    "passed": decision.passed,
                    "reason": decision.reason,
                    "reference": decision.reference,
                    "metric": metric,
                    "challenger_score": decision.challenger["all"][metric],
                    "reference_score": decision.reference_report["all"][metric],
                    "champion_before": decision.champion_before,
                }
            )
        )


def _promote_recorded(settings: Settings, version: str | None) -> None:
    """Only the registry is needed (and imported): the verdict is already on the version."""
    from smartstack.training import registry

    tracking = registry.configure(settings, settings.training.experiment)
    if version is None:
        challenger = registry.version_by_alias(tracking, registry.CHALLENGER)
        if challenger is None:
            raise fail(
                f"no version of {tracking.model_name} is `{registry.CHALLENGER}`: run "
                "`smartstack train` and `smartstack evaluate` first.",
                BAD_INPUT,
            )
        version = str(challenger.version)
    try:
        champion = registry.crown_recorded(tracking, version)
    except registry.StaleVerdict as error:
        raise fail(f"{error}.", GATE_FAILED) from None
    console.print(f"champion: {champion}")
