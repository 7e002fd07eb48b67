"""What every command of the CLI shares: the console, one-sentence errors, progress bars, and
the settings a command runs with.

A command finds its settings in the click context when a caller handed it some (``smartstack
run`` runs each pipeline step in-process with the run's settings; ``evaluate-dataset`` with a
scratch home), else reads them from the environment once (:func:`smartstack.settings.get_settings`).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smartstack.settings import Settings, get_settings

console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: <message>`` and return the exit to raise."""
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the caller handed this command, else those of the environment."""
    given = ctx.find_object(Settings)
    return given if given is not None else get_settings()


def progress() -> Progress:
    """A progress bar on stderr that stays on screen when done."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
