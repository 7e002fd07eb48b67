"""``smartstack serving`` (operator commands against the running ranking service) and
``smartstack explanations`` (the cache ``POST /rank`` reads)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from smartstack.cli.console import console, fail, progress, settings_of
from smartstack.pipeline import GATE_FAILED, NOTHING_TO_DO

app = typer.Typer(help="The running ranking service (BentoML).", no_args_is_help=True)
explanations_app = typer.Typer(
    help="Offer explanations: precompute them for every customer's top offers.",
    no_args_is_help=True,
)


@app.command()
def reload(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option(help="The service's base URL. Default: the serving.url setting.")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="Admin token, needed only when calling a service on another machine. "
            "Default: the serving.admin_token setting (SMARTSTACK_SERVING_ADMIN_TOKEN)."
        ),
    ] = None,
) -> None:
    """Make the service load the current champion and the offer catalogue now; prints what it
    serves as JSON. Exit code 75 (and one sentence) when no service is running: it loads both
    itself when it starts."""
    from smartstack.serving.client import ServingError, ServingUnreachable
    from smartstack.serving.client import reload as request_reload

    settings = settings_of(ctx)
    configured = settings.serving.admin_token
    secret = token or (configured.get_secret_value() if configured else None)
    try:
        served = request_reload(url or settings.serving.url, secret)
    except ServingUnreachable as error:
        console.print(f"{error}: nothing to reload (it loads the champion when it starts).")
        raise typer.Exit(NOTHING_TO_DO) from None
    except ServingError as error:
        raise fail(str(error), GATE_FAILED) from None
    catalogue = served["catalogue"]
    console.print(
        f"serving {served['model']} version {served['version'] or 'none (fallback ranking)'}"
        + (" (swapped in now)" if served["changed"] else "")
        + f"; {catalogue['offers']} offers"
        + (" (catalogue reloaded)" if catalogue["changed"] else "")
    )
    typer.echo(json.dumps(served))


@explanations_app.command()
def precompute(
    ctx: typer.Context,
    top: Annotated[int, typer.Option(min=1, max=30, help="Offers explained per customer.")] = 3,
    at: Annotated[
        datetime | None,
        typer.Option(help="Rank as of this time (UTC). Default: the data set's snapshot."),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="Customers ranked at once. Default: 4."
        ),
    ] = None,
) -> None:
    """Rank every customer as the service would and explain their top offers with the LLM
    (OPENAI_BASE_URL or OPENAI_API_KEY; each answer checked against the facts, the template
    where it fails). Reruns skip what is already final. Exit code 75 (and one sentence) with no
    LLM configured: `/rank` renders each offer's template itself."""
    from smartstack.serving.precompute import precompute_explanations

    settings = settings_of(ctx)
    if not settings.llm.configured:
        console.print(
            "no LLM is configured (OPENAI_BASE_URL, OPENAI_API_KEY): `/rank` renders each "
            "offer's template itself, the text this would store, so there is nothing to "
            "precompute."
        )
        raise typer.Exit(NOTHING_TO_DO)
    when = at.replace(tzinfo=UTC) if at and at.tzinfo is None else at
    with progress() as bar:
        task = bar.add_task("explaining top offers", total=None)
        report = precompute_explanations(
            settings,
            top=top,
            at=when,
            threads=threads,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    typer.echo(report.summary())
