"""``smartstack experiments …``: check the experiments file, see where a customer is assigned."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer

from smartstack.cli.console import console, fail, progress, settings_of

if TYPE_CHECKING:
    from smartstack.evaluation.job import Evaluation
    from smartstack.evaluation.readout import ExperimentReadout, ShadowReadout
    from smartstack.settings import Settings

app = typer.Typer(
    help="Experiments on live traffic: the experiments file and customers' assignments.",
    no_args_is_help=True,
)
ExperimentsPath = Annotated[
    Path | None,
    typer.Argument(help="The experiments file (default: the experiments.file setting)."),
]


@app.command()
def check(ctx: typer.Context, path: ExperimentsPath = None) -> None:
    """Validate an experiments file, its rankers against the registry's aliases; exit 2 naming
    the experiment and field at fault."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from smartstack.experiments.config import ExperimentFileError, load_experiments

    settings = settings_of(ctx)
    uri = settings.mlflow_tracking_uri
    try:
        model = MlflowClient(uri, uri).get_registered_model(settings.registered_model_name)
        rankers: list[str] | None = sorted(model.aliases)
    except MlflowException as error:
        console.print(f"[yellow]rankers not checked:[/] the registry did not answer ({error})")
        rankers = None
    try:
        experiments = load_experiments(path or settings.experiments.file, rankers)
    except ExperimentFileError as error:
        raise fail(f"{error}.") from None
    console.print(f"experiments v{experiments.version}: {len(experiments.experiments)} defined")
    for e in experiments.experiments:
        arms = ", ".join(f"{a.name} = {a.ranker} ({a.share:.0%})" for a in e.arms)
        console.print(
            f"  {e.name} ({e.kind}): {e.start:%Y-%m-%d %H:%M} to {e.end:%Y-%m-%d %H:%M} UTC, "
            f"customers {e.customers.start:.0%}–{e.customers.end:.0%}: {arms}"
        )
    if experiments.shadow is not None:
        shadow = experiments.shadow
        console.print(f"  shadow: {shadow.ranker} on {shadow.share:.0%} of personal rankings")
    if experiments.exploration is not None:
        console.print(
            f"  exploration: Plackett–Luce, temperature {experiments.exploration.temperature}"
        )


@app.command()
def assign(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer.")],
    at: Annotated[datetime | None, typer.Option(help="The moment (UTC; default: now).")] = None,
    path: Annotated[Path | None, typer.Option(help="The experiments file.")] = None,
) -> None:
    """Print the experiment and arm a customer is in at a moment (or that they are in none)."""
    from smartstack.experiments.assignment import Assigner
    from smartstack.experiments.config import ExperimentFileError, load_experiments

    settings = settings_of(ctx)
    try:
        experiments = load_experiments(path or settings.experiments.file)
    except ExperimentFileError as error:
        raise fail(f"{error}.") from None
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:  # typer parses times without a zone
        moment = moment.replace(tzinfo=UTC)
    assignment = Assigner(experiments).assign(customer_id, moment)
    if assignment is None:
        console.print(f"{customer_id}: in no experiment at {moment.isoformat()} (the champion)")
    else:
        arm = assignment.arm
        console.print(
            f"{customer_id}: experiment {assignment.experiment}, arm {arm.name} ({arm.ranker})"
        )


@app.command()
def evaluate(
    ctx: typer.Context,
    ranker: Annotated[
        list[str] | None,
        typer.Option(
            help="A registry alias or 'smartscore' (repeat; default: champion, "
            "challenger, smartscore)."
        ),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            help="service: the ranking log (exploration on); generator: the "
            "synthetic data set's uniform-random impressions."
        ),
    ] = "generator",
    reward: Annotated[str, typer.Option(help="clicked or redeemed.")] = "clicked",
    max_requests: Annotated[
        int, typer.Option(min=100, help="Logged requests to use (a seeded sample).")
    ] = 20_000,
    seed: Annotated[
        int, typer.Option(help="Seeds the sample, the reward model, the bootstrap.")
    ] = 0,
    mlflow_log: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Log estimates, plot and verdict.")
    ] = True,
) -> None:
    """Estimate rankers' click (or redemption) rate in the top k from logged traffic, with
    IPS, SNIPS and doubly robust estimators and their intervals; say whether the challenger's
    lower bound clears the champion."""
    from rich.table import Table

    from smartstack.evaluation.candidates import UnknownRanker
    from smartstack.evaluation.job import LogSource, Reward, evaluate_rankers
    from smartstack.evaluation.logs import NoLoggedTraffic

    settings = settings_of(ctx)
    try:
        log_source, outcome = LogSource(source), Reward(reward)
    except ValueError as error:
        raise fail(
            f"{error}; --source takes service or generator, --reward clicked or redeemed."
        ) from None
    rankers = ranker or ["champion", "challenger", "smartscore"]
    try:
        with console.status("retrieving candidates and scoring them…"):
            evaluation = evaluate_rankers(
                settings,
                rankers,
                source=log_source,
                reward=outcome,
                max_requests=max_requests,
                seed=seed,
            )
    except (NoLoggedTraffic, UnknownRanker) as error:
        raise fail(f"{error}.") from None
    level = f"{settings.experiments.confidence:.0%}"
    table = Table(
        title=f"{outcome.value} rate in the top {evaluation.k}, {evaluation.requests:,} "
        f"{log_source.value} requests ({level} intervals)"
    )
    for column in ("ranker", "version", "matched", "estimator", "value", "interval"):
        table.add_column(column)
    for r in evaluation.rankers:
        for name, e in r.estimates.items():
            table.add_row(
                r.ranker,
                r.version or "",
                f"{r.matched:.1%}",
                name,
                f"{e.value:.4f}",
                f"[{e.low:.4f}, {e.high:.4f}]",
            )
    console.print(table)
    verdict = _verdict(evaluation, rankers)
    if verdict:
        console.print(verdict)
    if mlflow_log:
        run = _log_evaluation(settings, evaluation, verdict)
        console.print(f"logged to MLflow run {run}")


def _verdict(evaluation: Evaluation, rankers: list[str]) -> str | None:
    if not {"champion", "challenger"} <= set(rankers):
        return None
    clears = evaluation.clears("challenger", "champion")
    return (
        "challenger clears the champion: its DR lower bound is above the champion's estimate"
        if clears
        else "challenger does not clear the champion (DR lower bound not above its estimate)"
    )


def _log_evaluation(settings: Settings, evaluation: Evaluation, verdict: str | None) -> str:
    from smartstack.evaluation.tracking import estimates_table, log_run, plot_estimates

    title = f"{evaluation.reward.value} rate in the top {evaluation.k} ({evaluation.source.value})"
    return log_run(
        settings,
        "off-policy-evaluation",
        params={
            "source": evaluation.source.value,
            "reward": evaluation.reward.value,
            "k": evaluation.k,
            "requests": evaluation.requests,
            **{f"version_{r.ranker}": r.version for r in evaluation.rankers},
        },
        metrics={
            f"{r.ranker}_{name}_{part}": getattr(e, part)
            for r in evaluation.rankers
            for name, e in r.estimates.items()
            for part in ("value", "low", "high")
        },
        tables={"estimates.json": estimates_table(evaluation.rankers)},
        tags={"verdict": verdict or "none", "kind": "off-policy-evaluation"},
        plots={"estimates.png": lambda path: plot_estimates(evaluation.rankers, title, path)},
    )


@app.command()
def simulate(
    ctx: typer.Context,
    requests: Annotated[int, typer.Option(min=1, help="Rankings to ask for.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seeds the customers, times and reactions.")] = 0,
    window_days: Annotated[
        float, typer.Option(min=0.1, help="Request times fall in this window before the snapshot.")
    ] = 2.0,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Concurrent HTTP calls.")] = 4,
) -> None:
    """Replay customers through the running service and send back the clicks and redemptions
    the synthetic generator's hidden model draws for what it showed (synthetic data only)."""
    from datetime import timedelta

    from smartstack.datasets.synthetic.truth import HiddenUtility
    from smartstack.evaluation.simulate import Simulator, plan
    from smartstack.featurestore.store import snapshot_time

    settings = settings_of(ctx)
    token = settings.auth.service_token
    if token is None:
        raise fail("no service token (auth.service_token): the simulator calls /rank as a service.")
    try:
        truth = HiddenUtility.from_data(settings.data_dir)
    except FileNotFoundError as error:
        raise fail(
            f"the hidden model needs the synthetic data set's ground truth ({error})."
        ) from None
    customers = truth.customer_ids()
    requested = plan(
        customers, requests, snapshot_time(settings), timedelta(days=window_days), seed
    )
    simulator = Simulator(
        settings.serving.url,
        token.get_secret_value(),
        truth,
        settings.experiments.top_k,
        seed,
        workers,
    )
    try:
        with progress() as bar:
            task = bar.add_task("ranking", total=requests)
            result = simulator.run(requested, lambda n: bar.advance(task, n))
    except httpx.ConnectError:
        raise fail(f"the ranking service is not running at {settings.serving.url}.") from None
    console.print(
        f"{result.requests} requests, {result.shown} offers shown, {result.clicks} clicks, "
        f"{result.redemptions} redemptions; {result.refused} calls refused"
    )
    if result.refused:
        raise typer.Exit(1)


@app.command()
def readout(
    ctx: typer.Context,
    mlflow_log: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Log each readout as an MLflow run.")
    ] = True,
) -> None:
    """Read out every experiment in the file from the ranking log and the feedback table (A/B:
    rates per arm with intervals and the sample-ratio check; interleaving: the preference test)
    and the shadow log; exit 1 when a split fails the sample-ratio check."""
    from smartstack.evaluation.logs import NoLoggedTraffic
    from smartstack.evaluation.readout import ab_readout, interleaving_readout, shadow_readout
    from smartstack.experiments.config import ExperimentFileError, load_experiments

    settings = settings_of(ctx)
    try:
        plan = load_experiments(settings.experiments.file)
    except ExperimentFileError as error:
        raise fail(f"{error}.") from None
    k, level = settings.experiments.top_k, settings.experiments.confidence
    broken = []
    for experiment in plan.experiments:
        try:
            result = (
                interleaving_readout(settings, experiment, k)
                if experiment.kind == "interleaving"
                else ab_readout(settings, experiment, k, level)
            )
        except NoLoggedTraffic as error:
            console.print(f"{experiment.name}: {error}")
            continue
        _print_readout(result, level)
        if not result.split_ok:
            broken.append(experiment.name)
        if mlflow_log:
            _log_readout(settings, result)
    if plan.shadow is not None:
        try:
            _print_shadow(shadow_readout(settings))
        except NoLoggedTraffic as error:
            console.print(f"shadow: {error}")
    if broken:
        raise fail(f"sample-ratio mismatch in {', '.join(broken)}: do not read their outcomes.", 1)


def _print_readout(result: ExperimentReadout, level: float) -> None:
    from rich.table import Table

    if result.preference is not None:
        p = result.preference
        console.print(
            f"{result.experiment} (interleaving): wins {p.wins_a} vs {p.wins_b}, {p.ties} ties, "
            f"Δ {p.delta:+.4f}, p = {p.p_value:.4g}: "
            + (
                f"prefers {'the first' if p.preferred == 'a' else 'the second'} arm"
                if p.preferred
                else "no preference yet"
            )
        )
        return
    table = Table(
        title=f"{result.experiment}: top-{result.k} rates ({level:.0%} intervals), "
        f"sample-ratio p = {result.srm_p_value:.3g}"
    )
    for column in ("arm", "ranker", "share", "customers", "rankings", "click rate", "redeem rate"):
        table.add_column(column)
    for a in result.arms:
        table.add_row(
            a.arm,
            a.ranker,
            f"{a.share:.0%}",
            str(a.customers),
            str(a.rankings),
            f"{a.click_rate.value:.4f} [{a.click_rate.low:.4f}, {a.click_rate.high:.4f}]",
            f"{a.redeem_rate.value:.4f} [{a.redeem_rate.low:.4f}, {a.redeem_rate.high:.4f}]",
        )
    console.print(table)


def _print_shadow(result: ShadowReadout) -> None:
    console.print(
        f"shadow: {result.rankings} rankings; same first offer {result.top1_agreement:.1%}, "
        f"top-k overlap {result.overlap:.1%}; tiers {result.tiers}"
    )
    console.print(f"  scores served {result.served_scores}, shadow {result.shadow_scores}")
    for model, figures in result.latency_ms.items():
        console.print(f"  {model}: p50 {figures['p50']:.2f} ms, p99 {figures['p99']:.2f} ms")


def _log_readout(settings: Settings, result: ExperimentReadout) -> None:
    from dataclasses import asdict

    from smartstack.evaluation.tracking import log_run

    metrics: dict[str, float] = {}
    for a in result.arms:
        for name in ("click_rate", "redeem_rate"):
            rate = getattr(a, name)
            metrics |= {
                f"{a.arm}_{name}": rate.value,
                f"{a.arm}_{name}_low": rate.low,
                f"{a.arm}_{name}_high": rate.high,
            }
        metrics[f"{a.arm}_customers"] = a.customers
    if result.srm_p_value is not None:
        metrics["srm_p_value"] = result.srm_p_value
    if result.preference is not None:
        metrics |= {"delta": result.preference.delta, "p_value": result.preference.p_value}
    log_run(
        settings,
        f"readout-{result.experiment}",
        params={"experiment": result.experiment, "kind": result.kind, "k": result.k},
        metrics=metrics,
        tables={"readout.json": asdict(result)},
        tags={"kind": "readout", "split_ok": str(result.split_ok)},
    )
