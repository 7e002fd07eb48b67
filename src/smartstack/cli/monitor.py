"""``smartstack monitor …``: drift, freshness and live outcomes, each a daily DAG task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from smartstack.cli.console import console, settings_of

app = typer.Typer(
    help="Monitoring: feature and score drift, freshness, live outcomes.", no_args_is_help=True
)


@app.command()
def drift(
    ctx: typer.Context,
    days: Annotated[
        int, typer.Option("--days", min=1, help="Served snapshots of the newest days compared.")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="The verdict as JSON on stdout.")] = False,
    fail_on_alarm: Annotated[
        bool,
        typer.Option(
            help="Exit 1 on the alarm. The daily DAG passes --no-fail-on-alarm: the alarm is a "
            "retrain recommendation, shown in the task's result, MLflow and the dashboard."
        ),
    ] = True,
) -> None:
    """Feature and score drift against the champion's training reference (Evidently): the
    newest marts and the served feature snapshots vs the marts of its train window, and the
    champion's scores of the same customers then and now. Reports under
    <monitoring_dir>/drift/<date>/, logged to MLflow, added to the dashboard. Exit 1 on the
    alarm (a retrain recommendation), 75 without a champion, 2 without marts or a reference."""
    from rich.table import Table

    from smartstack.cli.console import fail
    from smartstack.monitoring.drift import DriftUnavailable, NoChampion, check

    try:
        verdict = check(settings_of(ctx), days=days)
    except NoChampion as exc:
        console.print(f"nothing to compare with: {exc}")
        raise typer.Exit(75) from exc
    except DriftUnavailable as exc:
        raise fail(str(exc)) from exc
    result = {
        "alarm": verdict.alarm,
        "recommendation": verdict.recommendation,
        "report": verdict.reports.get("features_marts.html"),
        "mlflow_run": verdict.mlflow_run,
        **verdict.dashboard,
    }
    if as_json:
        typer.echo(json.dumps(result), err=True)
        typer.echo(json.dumps(verdict.to_json(), indent=2, default=str))
    else:
        start, end = (x[:10] for x in verdict.reference_window)
        for comparison in verdict.comparisons:
            table = Table(
                title=f"{comparison.name} ({comparison.rows:,} rows) vs {verdict.champion}'s "
                f"train window {start} .. {end} ({comparison.reference_rows:,} rows); "
                f"{verdict.method} ≥ {comparison.threshold:.3f} drifted",
                title_justify="left",
            )
            for column in ("feature", "score", "state"):
                table.add_column(column, justify="right" if column == "score" else "left")
            for name, score in sorted(comparison.scores.items(), key=lambda kv: -kv[1]):
                state = "[bold red]drifted[/]" if name in comparison.drifted else "stable"
                if name in verdict.ignored:
                    state += " (not counted)"
                table.add_row(name, f"{score:.3f}", state)
            console.print(table)
        console.print(f"served: {verdict.served_note}")
        if verdict.score_drift is None:
            console.print(f"score: {verdict.score_note}")
        else:
            console.print(
                f"score: {verdict.score_method} {verdict.score_drift:.3f} (drifted at "
                f"{verdict.score_threshold:g}): {verdict.score_note}"
            )
        console.print(
            f"{verdict.alarm_share:.1%} of the counted features drifted (alarm at "
            f"{verdict.share_threshold:.0%}); reports in "
            f"{Path(verdict.reports['features_marts.html']).parent}"
        )
    if verdict.alarm:
        console.print(f"[bold red]drift alarm:[/] {verdict.recommendation}", soft_wrap=True)
    elif not as_json:
        console.print(verdict.recommendation)
    if not as_json:
        typer.echo(json.dumps(result))  # the task's result: the verdict's links
    if verdict.alarm and fail_on_alarm:
        raise typer.Exit(1)


@app.command()
def freshness(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout.")] = False,
) -> None:
    """The age of each feature view's newest materialized row, the champion's age and the
    stream processor's consumer lag (with a broker configured). Exit 1 when a view is older
    than its cadence plus slack (monitoring.view_cadence_hours + freshness_slack_hours)."""
    from rich.table import Table

    from smartstack.monitoring.freshness import check

    report = check(settings_of(ctx))
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        table = Table(
            title=f"feature views at {report.now:%Y-%m-%d %H:%M} UTC ({report.clock} clock; "
            f"stale after {report.threshold_hours:g} h)"
        )
        for column in ("view", "newest materialized", "age (h)", "state"):
            table.add_column(column, justify="right" if column == "age (h)" else "left")
        for view in report.views:
            table.add_row(
                view.view,
                f"{view.newest:%Y-%m-%d %H:%M}" if view.newest else "never",
                f"{view.age_seconds / 3600:.1f}" if view.age_seconds is not None else "–",
                "[bold red]stale[/]" if view.stale else "[green]fresh[/]",
            )
        console.print(table)
        champion = report.champion
        if champion is not None and champion.version is not None and champion.age_seconds:
            console.print(
                f"{champion.model}@{champion.alias}: version {champion.version}, registered "
                f"{champion.registered:%Y-%m-%d %H:%M} UTC, {champion.age_seconds / 86400:.1f} "
                "days ago (wall clock)"
            )
        elif champion is not None:
            console.print(f"{champion.model}@{champion.alias}: none ({champion.problem})")
        if report.lag is None:
            console.print("stream: no broker configured, consumer lag not measured")
        else:
            total = sum(p.lag for p in report.lag)
            console.print(
                f"stream: consumer lag {total:,} messages over {len(report.lag)} partitions"
            )
    from smartstack.monitoring.dashboard import push_freshness

    typer.echo(json.dumps(push_freshness(settings_of(ctx), report)), err=as_json)  # task result
    if report.stale:
        console.print(f"[bold red]stale:[/] {', '.join(report.stale)}")
        raise typer.Exit(1)


@app.command()
def outcomes(
    ctx: typer.Context,
    days: Annotated[
        int, typer.Option("--days", min=1, help="How many of the newest days to show.")
    ] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="The rows as JSON on stdout.")] = False,
) -> None:
    """Click and redemption rate of served offers per day, model version, tier, experiment arm
    and segment (the dbt mart monitoring_outcomes_daily, local warehouse), and the newest day's
    rates as Prometheus gauges in <monitoring_dir>/outcomes.prom (node-exporter textfile)."""
    from rich.console import Console
    from rich.table import Table

    from smartstack.cli.console import fail
    from smartstack.monitoring.outcomes import OutcomesUnavailable, read_outcomes, write_metrics
    from smartstack.settings import DEFAULT_DATASET

    settings = settings_of(ctx)
    if settings.dataset != DEFAULT_DATASET:  # the mart counts the synthetic platform's serving logs
        console.print(f"no outcomes mart on the {settings.dataset} data set: nothing to do")
        raise typer.Exit(75)
    try:
        found = read_outcomes(settings, days)
    except OutcomesUnavailable as exc:
        raise fail(str(exc)) from exc
    metrics = write_metrics(found, settings.monitoring_dir)
    from smartstack.monitoring.dashboard import push_outcomes

    links = json.dumps(push_outcomes(settings, found))  # the task's result: the dashboard
    if as_json:
        typer.echo(links, err=True)
        typer.echo(json.dumps(found.records(), indent=2))
        return
    if found.empty:
        console.print(
            "No served offers in the ranking log yet: serve some rankings, then rebuild the "
            f"mart (`smartstack dbt build --select +monitoring_outcomes_daily`). Wrote {metrics}."
        )
        typer.echo(links)
        return
    table = Table(title=f"live outcomes, {days} newest days (UTC day served)", title_justify="left")
    columns = ("day", "model", "version", "tier", "experiment", "arm", "segment")
    for column in (*columns, "shown", "clicks", "redeemed", "click rate", "redemption rate"):
        table.add_column(column, justify="left" if column in columns else "right")
    for row in found.rows.itertuples(index=False):
        table.add_row(
            f"{row.served_on:%Y-%m-%d}",
            row.model_name,
            row.model_version,
            row.tier,
            row.experiment,
            row.arm,
            row.segment,
            f"{row.shown:,}",
            f"{row.clicks:,}",
            f"{row.redemptions:,}",
            f"{row.click_rate:.4f}",
            f"{row.redemption_rate:.4f}",
        )
    # Wide enough for every column when the output is not a terminal (logs, Airflow, CI).
    Console(stderr=True, width=160).print(table)
    console.print(f"newest day's rates: {metrics}")
    typer.echo(links)
