"""``smartstack quality``: run a data-quality gate or accept a new reference profile.

Great Expectations is imported inside the commands, so ``smartstack --help`` stays fast.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from smartstack.cli.console import console, fail, settings_of
from smartstack.paths import EXPECTATIONS_DIR
from smartstack.quality.suites import STAGES, Stage

if TYPE_CHECKING:
    from smartstack.quality.gate import GateResult

app = typer.Typer(
    help="Data-quality gates (Great Expectations) between the pipeline steps.",
    no_args_is_help=True,
)

StageOption = Annotated[
    str, typer.Option(help=f"Which gate: {' or '.join(STAGES)}.", show_default=True)
]
ExpectationsDir = Annotated[
    Path, typer.Option(help="Folder holding the suite files (raw.py, features.py).")
]


@app.command()
def validate(
    ctx: typer.Context,
    stage: StageOption = "raw",
    table: Annotated[
        list[str] | None, typer.Option(help="Validate only this table (repeatable).")
    ] = None,
    max_age_hours: Annotated[
        float | None,
        typer.Option(min=0, help="Freshness: maximum age of the newest row, overriding the "
                     "suites' defaults."),
    ] = None,
    expectations_dir: ExpectationsDir = EXPECTATIONS_DIR,
) -> None:
    """Validate a stage's tables; exit 1 when a blocking expectation fails (warnings only print)."""
    from smartstack.quality.gate import run_gate

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    max_age = timedelta(hours=max_age_hours) if max_age_hours is not None else None
    try:
        result = run_gate(
            _stage(stage), settings_of(ctx), tables=table, expectations_dir=expectations_dir,
            max_age=max_age, raise_on_blocking=False,
        )  # fmt: skip
    except (FileNotFoundError, ValueError, AttributeError) as error:
        raise fail(str(error)) from None
    console.print(_summary(result))
    for failure in result.failures:
        colour = "red" if failure.blocking else "yellow"
        label = "blocking" if failure.blocking else "warning"
        console.print(f"[{colour}]{label}[/] {failure.describe()}")
    console.print(f"Data Docs: {result.docs_path}")
    if not result.passed:
        console.print(
            f"[bold red]{stage} gate failed:[/] {len(result.blocking)} blocking expectation(s) "
            "failed; later steps must not run."
        )
        raise typer.Exit(1)
    console.print(f"[green]{stage} gate passed[/] with {len(result.warnings)} warning(s).")


@app.command()
def reference(
    ctx: typer.Context,
    stage: StageOption = "raw",
    expectations_dir: ExpectationsDir = EXPECTATIONS_DIR,
) -> None:
    """Make the current data the reference profile of the distribution checks."""
    from smartstack.quality.gate import write_reference

    try:
        profiles = write_reference(
            _stage(stage), settings_of(ctx), expectations_dir=expectations_dir
        )
    except FileNotFoundError as error:
        raise fail(str(error)) from None
    columns = sum(len(p) for p in profiles.values())
    console.print(f"wrote the {stage} reference: {columns} columns of {len(profiles)} tables.")


def _stage(value: str) -> Stage:
    if value not in STAGES:
        raise fail(f"unknown stage {value!r}; use {' or '.join(STAGES)}.")
    return value  # type: ignore[return-value]


def _summary(result: GateResult) -> Table:
    table = Table(title=f"{result.stage} quality gate")
    for header in ("table", "rows", "expectations", "blocking", "warnings"):
        table.add_column(header, justify="left" if header == "table" else "right")
    for report in result.tables:
        blocking = sum(f.blocking for f in report.failures)
        warnings = len(report.failures) - blocking
        table.add_row(
            report.table,
            "missing" if report.rows is None else f"{report.rows:,}",
            str(report.evaluated),
            f"[red]{blocking}[/]" if blocking else "0",
            f"[yellow]{warnings}[/]" if warnings else "0",
        )
    return table
