"""``smartstack monitor …``: drift, freshness and live outcomes, each a daily DAG task."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Monitoring: feature and score drift, freshness, live outcomes.", no_args_is_help=True
)
