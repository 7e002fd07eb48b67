"""``smartstack``: the one command line for every pipeline step.

Airflow tasks, the Makefile and people all call these subcommands, so each step has exactly one
entry point. Commands print a sentence and exit non-zero on bad input instead of a traceback.
Each layer's commands live in a module of this package; the layers never import it.
"""

from __future__ import annotations

import typer

from smartstack.cli import data as data_commands
from smartstack.cli import (
    dbt,
    engagement,
    evaluation,
    events,
    experiments,
    feast,
    monitor,
    pipeline,
    privacy,
    quality,
    serving,
    stack,
    training,
)

app = typer.Typer(
    name="smartstack",
    help="Smart Stack: personalized, explained credit-card offers. Each subcommand is one step "
    "of the pipeline; `smartstack run` runs the whole job on embedded defaults.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.command()(data_commands.generate)
app.command()(data_commands.ingest)
app.command("settings")(data_commands.show_settings)
app.command()(pipeline.run)
app.command()(pipeline.steps)
app.command()(training.train)
app.command()(training.evaluate)
app.command()(training.promote)
app.command("evaluate-dataset")(evaluation.evaluate_dataset)
app.command()(stack.up)
app.add_typer(dbt.app, name="dbt")
app.add_typer(quality.app, name="quality")
app.add_typer(feast.app, name="feast")
app.add_typer(serving.app, name="serving")
app.add_typer(serving.explanations_app, name="explanations")
app.add_typer(events.app, name="events")
app.add_typer(events.feedback_app, name="feedback")
app.add_typer(engagement.app, name="engagement")
app.add_typer(experiments.app, name="experiments")
app.add_typer(privacy.app, name="privacy")
app.add_typer(monitor.app, name="monitor")


def main() -> None:
    app()
