"""``smartstack privacy …``: erase a customer, scan the stores for one, verify the audit log,
enforce retention."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Privacy: erasure from every store, the privacy scan, the audit trail, retention.",
    no_args_is_help=True,
)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
