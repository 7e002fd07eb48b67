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


# --- smartstack privacy erase ---------------------------------------------------------------


@app.command()
def erase(
    ctx: typer.Context,
    customer_id: Annotated[
        str | None, typer.Argument(help="The customer to erase (omit with --pending).")
    ] = None,
    pending: Annotated[
        bool,
        typer.Option(
            "--pending",
            help="Finish every erasure asked for by an event or the admin endpoint, or "
            "interrupted (the daily DAG's first task).",
        ),
    ] = False,
) -> None:
    """Erase a customer from every store the platform writes and suppress them, so no later
    ingest, replay or pipeline run brings them back. Exit 1 if a store cannot be erased now
    (run again: it resumes), 2 for an id no store knows (nothing is touched)."""
    from rich.table import Table

    from smartstack.cli.console import console, fail, settings_of
    from smartstack.privacy.requests import pending_erasures

    settings = settings_of(ctx)
    if pending == (customer_id is not None):
        raise fail("give either a CUSTOMER_ID or --pending.")
    requests = pending_erasures(settings) if pending else [(str(customer_id).strip(), "cli")]
    if pending and not requests:
        console.print("no erasure pending")
        return
    from smartstack.erasure import erase as erasure

    stopped: list[str] = []
    for customer, source in requests:
        if not customer:
            raise fail("CUSTOMER_ID is empty.")
        try:
            report = erasure.erase_customer(
                settings, customer, source,
                lambda store: console.print(f"  erasing {store.name} …", style="dim"),
            )  # fmt: skip
        except erasure.UnknownCustomer:
            raise fail(
                f"customer {customer} is unknown to every store: nothing was erased."
            ) from None
        except erasure.AlreadyErased:
            console.print("the customer was already erased: nothing left to do")
            continue
        except erasure.ErasureInterrupted as stop:
            # Named by reference: this output ends up in task logs the erasure has cleaned.
            done = ", ".join(stop.done) or "none"
            stopped.append(
                f"erasure of {stop.customer_ref[:12]}… stopped at {stop.store} ({stop.reason}); "
                f"stores done: {done}"
            )
            continue
        table = Table(title=f"erased customer {report.customer_ref[:12]}… (audit reference)")
        for column in ("store", "removed", "how"):
            table.add_column(column, overflow="fold")
        for result in report.results:
            table.add_row(result.store, str(result.removed), result.how)
        console.print(table)
        if report.resumed_after:
            console.print(f"resumed: done before: {', '.join(report.resumed_after)}")
    if stopped:
        raise fail("; ".join(stopped) + ". Run the command again to resume.", 1)


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


# --- smartstack privacy retention -----------------------------------------------------------


@app.command("retention")
def retention(
    ctx: typer.Context,
    now: Annotated[
        str | None,
        typer.Option(
            help="The instant ages are measured from (ISO time; naive is UTC), or 'snapshot' "
            "for the data set's own clock (its manifest). Default: now."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Count what would go; change nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The results as JSON on stdout.")] = False,
) -> None:
    """Remove what is past its retention (privacy.retention) from the ranking and shadow logs,
    the landed feedback, quiz and consent events and the explanation cache; audited."""
    import json
    from datetime import datetime

    from rich.table import Table

    from smartstack.cli.console import console, fail, settings_of
    from smartstack.erasure.retention import enforce_retention, result_dict

    settings = settings_of(ctx)
    at: datetime | None = None
    if now == "snapshot":
        from smartstack.data.manifest import Manifest

        manifest = Manifest.read(settings.data_dir)
        if manifest is None:
            raise fail(f"--now snapshot: no data set landed in {settings.data_dir}.")
        at = manifest.snapshot
    elif now is not None:
        try:
            at = datetime.fromisoformat(now)
        except ValueError:
            raise fail(f"--now {now!r}: not an ISO time (e.g. 2024-06-30T00:00:00Z).") from None
    results = enforce_retention(settings, at, dry_run=dry_run, actor="cli")
    if as_json:
        typer.echo(json.dumps([result_dict(r) for r in results]))
    verb = "would remove" if dry_run else "removed"
    table = Table(title=f"retention{' (dry run: nothing changed)' if dry_run else ''}")
    for column in ("store", "cutoff", verb, "kept"):
        table.add_column(column)
    for r in results:
        cutoff = r.cutoff.strftime("%Y-%m-%d %H:%M")
        if r.present:
            table.add_row(r.store, cutoff, str(r.removed), str(r.kept))
        else:
            table.add_row(r.store, cutoff, "–", "(none here)")
    console.print(table)
    total = sum(r.removed for r in results)
    console.print(f"{verb} {total} rows past their retention" + ("" if dry_run else "; audited"))


# --- smartstack privacy scan ----------------------------------------------------------------


@app.command("scan")
def scan(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer to look for.")],
    value: Annotated[
        list[str] | None,
        typer.Option("--value", help="Another value to look for (a marker); repeat for several."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The findings as one JSON array on stdout.")
    ] = False,
) -> None:
    """Look for a customer's id and identifying values (their raw `customer_pii` row, if still
    there) in every store: files under the home, Redis, Kafka. Exit 0: found nowhere; 1: found
    (the table says where); 2: bad input."""
    import json
    from dataclasses import asdict

    from rich.table import Table

    from smartstack.cli.console import console, fail, progress, settings_of
    from smartstack.erasure.scan import STORES, Needles, stores_of
    from smartstack.erasure.scan import scan as scan_stores

    settings = settings_of(ctx)
    if not customer_id.strip():
        raise fail("the customer id is empty: give the id to look for.")
    if any(not v.strip() for v in value or ()):
        raise fail("a --value is empty: give the text to look for.")
    needles = Needles.for_customer(settings, customer_id, extra=value or ())
    with progress() as bar:
        task = bar.add_task("scanning", total=None)

        def report(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=f"scanning {what}"[:60])

        findings = scan_stores(settings, needles, progress=report)
    rank = {name: i for i, name in enumerate(STORES)}
    findings.sort(key=lambda f: (rank.get(f.store, len(rank)), f.location, f.needle_kind))
    if as_json:
        typer.echo(json.dumps([asdict(f) for f in findings], indent=2))
    looked_for = ", ".join(dict.fromkeys(n.kind for n in needles))
    if not findings:
        console.print(f"{customer_id.strip()}: nothing found ({looked_for}) in any store.")
        return
    if not as_json:
        table = Table(title=f"{customer_id.strip()}: {len(findings)} findings")
        for column in ("store", "location", "value", "detail"):
            table.add_column(column, overflow="fold")
        for f in findings:
            table.add_row(f.store, f.location, f.needle_kind, f.detail)
        console.print(table)
    stores = stores_of(findings)
    console.print(
        f"{customer_id.strip()} found in {len(stores)} store(s): {', '.join(stores)} "
        f"({len(findings)} findings; looked for {looked_for}).",
        soft_wrap=True,
    )
    raise typer.Exit(1)
