"""``smartstack serving``: operator commands against the running ranking service."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from smartstack.settings import get_settings

# sysexits' EX_TEMPFAIL: the service is not running, which the pipeline treats as a skip.
SERVING_UNREACHABLE = 75

app = typer.Typer(help="The running ranking service (BentoML).", no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def reload(
    url: Annotated[
        str | None, typer.Option(help="The service's base URL. Default: the serving_url setting.")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="SMARTSTACK_SERVING_ADMIN_TOKEN",
            help="Admin token, needed only when calling a service on another machine.",
        ),
    ] = None,
) -> None:
    """Make the service check the registry now and serve the current champion; prints the
    version it serves as JSON. Exit code 75 (and one sentence) when no service is running: it
    loads the champion itself when it starts."""
    from smartstack.serving.client import ServingError, ServingUnreachable
    from smartstack.serving.client import reload as request_reload

    base = url or get_settings().serving_url
    try:
        served = request_reload(base, token)
    except ServingUnreachable as error:
        console.print(f"{error}: nothing to reload (it loads the champion when it starts).")
        raise typer.Exit(SERVING_UNREACHABLE) from None
    except ServingError as error:
        console.print(f"[bold red]error:[/] {error}")
        raise typer.Exit(1) from None
    console.print(
        f"serving {served['model']} version {served['version'] or 'none (fallback ranking)'}"
        + (" (swapped in now)" if served["changed"] else "")
    )
    typer.echo(json.dumps(served))
