"""``smartstack privacy …``: erase a customer, scan the stores for one, verify the audit log,
enforce retention."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="Privacy: erasure from every store, the privacy scan, the audit trail, retention.",
    no_args_is_help=True,
)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


# --- smartstack privacy audit verify / show -------------------------------------------------


@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Check the audit log's hash chain and head; exit 1 naming each break and its line."""
    from smartstack.cli.console import console, fail, settings_of
    from smartstack.privacy.audit import AuditLog

    log = AuditLog.from_settings(settings_of(ctx))
    problems = log.verify()
    if problems:
        for problem in problems:
            where = f"line {problem.line}" if problem.line else f"head file ({log.head.name})"
            console.print(f"{where}: {problem.problem}", soft_wrap=True)
        raise fail(f"{len(problems)} problems in {log.path}: the audit log was changed.", 1)
    count = sum(1 for _ in log.records())
    console.print(f"{count} records, chain intact ({log.path})")


@audit_app.command("show")
def audit_show(
    ctx: typer.Context,
    action: Annotated[str | None, typer.Option(help="Only records of this action.")] = None,
    last: Annotated[int | None, typer.Option(min=1, help="Only the last N.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines on stdout.")] = False,
) -> None:
    """The audit log's records: seq, time, action, actor, details (customers as references)."""
    import json

    from rich.table import Table

    from smartstack.cli.console import console, settings_of
    from smartstack.privacy.audit import AuditLog

    records = [
        r for r in AuditLog.from_settings(settings_of(ctx)).records()
        if action is None or r.get("action") == action
    ]  # fmt: skip
    if last is not None:
        records = records[-last:]
    if as_json:
        for record in records:
            typer.echo(json.dumps(record, sort_keys=True, ensure_ascii=False))
        return
    table = Table(title=f"audit log: {len(records)} records")
    for column in ("seq", "time", "action", "actor", "details"):
        table.add_column(column, overflow="fold")
    for r in records:
        details = ", ".join(
            f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in r.get("details", {}).items()
        )
        table.add_row(
            str(r.get("seq")),
            str(r.get("at", ""))[:19].replace("T", " "),
            r.get("action"),
            r.get("actor"),
            details,
        )
    console.print(table)
