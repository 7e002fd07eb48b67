"""``smartstack explanations``: fill the explanation cache that ``POST /rank`` reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from smartstack.settings import get_settings

app = typer.Typer(
    help="Offer explanations: precompute them for every customer's top offers.",
    no_args_is_help=True,
)


@app.command()
def precompute(
    top: Annotated[int, typer.Option(min=1, max=30, help="Offers explained per customer.")] = 3,
    at: Annotated[
        datetime | None,
        typer.Option(help="Rank as of this time (UTC). Default: the data set's snapshot."),
    ] = None,
    threads: Annotated[int, typer.Option(min=1, max=64, help="Parallel LLM calls.")] = 4,
) -> None:
    """Rank every customer as the service would and explain their top offers: the LLM if
    OPENAI_BASE_URL is set (checked against the facts), else the template. Reruns skip what is
    already final."""
    from smartstack.cli import _progress
    from smartstack.serving.precompute import precompute_explanations

    settings = get_settings()
    when = at.replace(tzinfo=UTC) if at and at.tzinfo is None else at
    with _progress() as progress:
        task = progress.add_task("explaining top offers", total=None)
        report = precompute_explanations(
            settings,
            top=top,
            at=when,
            threads=threads,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    typer.echo(report.summary())
