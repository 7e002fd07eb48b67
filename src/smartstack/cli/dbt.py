"""``smartstack dbt``: build, compile and document the feature layer.

Each command runs dbt on the active settings: the raw data under ``data_dir``, the DuckDB file
and, on the local target, feature Parquet files written to ``<data_dir>/features``.
"""

from __future__ import annotations

from typing import Annotated

import typer
import yaml

from smartstack.cli.console import fail, settings_of
from smartstack.features.dbt import FeatureBuildError, run_dbt

app = typer.Typer(
    help="Feature engineering in dbt: raw tables to point-in-time feature tables (DuckDB "
    "locally, BigQuery in production).",
    no_args_is_help=True,
)

Target = Annotated[
    str | None,
    typer.Option(help="profiles.yml target: `local` (DuckDB) or `bigquery`. "
                 "Default: from the warehouse setting."),
]
Select = Annotated[
    list[str] | None,
    typer.Option("--select", "-s", help="dbt node selection, e.g. `marts` or `+offer_features` "
                 "(repeatable)."),
]


Vars = Annotated[
    str | None,
    typer.Option(
        "--vars",
        help="dbt vars over the project's, a YAML or JSON mapping, e.g. "
        "'{feature_interval_days: 14}' (fewer as-of dates for a large data set).",
    ),
]


def _vars(text: str | None) -> dict[str, object] | None:
    """``--vars`` as a mapping; a sentence (exit 2) for anything else."""
    if text is None:
        return None
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise fail(f"--vars is not YAML or JSON: {str(error).splitlines()[0]}.") from None
    if not isinstance(parsed, dict):
        raise fail("--vars must be a mapping of var names to values, e.g. '{name: value}'.")
    return parsed


def _run(
    ctx: typer.Context,
    command: list[str],
    target: str | None,
    extra_vars: dict[str, object] | None = None,
) -> None:
    try:
        code = run_dbt(command, settings_of(ctx), target=target, extra_vars=extra_vars)
    except FeatureBuildError as error:
        raise fail(f"{error}.") from None
    if code:
        raise typer.Exit(code)


def _selection(select: list[str] | None) -> list[str]:
    return ["--select", *select] if select else []


@app.command()
def build(
    ctx: typer.Context,
    select: Select = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild incremental models from scratch.")
    ] = False,
    target: Target = None,
    variables: Vars = None,
) -> None:
    """Build and test the feature tables (`dbt build`: models, data tests, unit tests)."""
    _run(
        ctx,
        ["build", *_selection(select), *(["--full-refresh"] if full_refresh else [])],
        target,
        _vars(variables),
    )


@app.command("compile")
def compile_(ctx: typer.Context, select: Select = None, target: Target = None) -> None:
    """Render every model's SQL for the target (`dbt compile`)."""
    _run(ctx, ["compile", *_selection(select)], target)


@app.command()
def docs(ctx: typer.Context, target: Target = None) -> None:
    """Generate the documentation site under <home>/dbt/target (`dbt docs generate`)."""
    _run(ctx, ["docs", "generate"], target)
