"""``smartstack experiments …``: check the experiments file, see where a customer is assigned."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from smartstack.cli.console import console, fail, settings_of

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
            f"  {e.name}: {e.start:%Y-%m-%d %H:%M} to {e.end:%Y-%m-%d %H:%M} UTC, customers "
            f"{e.customers.start:.0%}–{e.customers.end:.0%}: {arms}"
        )


@app.command()
def assign(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer.")],
    at: Annotated[
        datetime | None, typer.Option(help="The moment (UTC; default: now).")
    ] = None,
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
