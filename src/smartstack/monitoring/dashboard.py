"""The monitoring dashboard: an Evidently workspace that the monitoring commands fill and
``evidently ui`` serves (the ``dashboard`` service of ``smartstack up``).

One project, ``smartstack``, with three tabs: Drift (the drifted share and each feature's
drift score), Freshness (each feature view's age, the champion's age, how many views are stale)
and Outcomes (click and redemption rate per model version). Each monitoring run adds one
snapshot, an Evidently report over a one-row frame of that run's figures, tagged with what it
measures; the panels plot a metric of the snapshots carrying that tag.

The panels name their series (a view, a model version), so the dashboard is rebuilt whole
(``save_dashboard``) whenever a run brings a series the dashboard does not show yet; the known
series are kept beside the workspace. Rebuilding whole also avoids ``add_panel``'s habit of
listing a panel twice in a tab that already exists (Evidently 0.7).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartstack.settings import Settings

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

    from smartstack.monitoring.freshness import Freshness
    from smartstack.monitoring.outcomes import Outcomes

PROJECT = "smartstack"
DEFAULT_PORT = 8001  # `smartstack up` serves the workspace here (smartstack.stack.services)
SERIES_FILE = "smartstack-series.json"
LAYOUT = 2  # raise it when the panels change: the next push rebuilds an older dashboard
FRESHNESS, OUTCOMES, DRIFT = "freshness", "outcomes", "drift"
STALE_VIEWS, CHAMPION_AGE = "stale views", "champion age (days)"


def workspace_dir(settings: Settings) -> Path:
    return settings.monitoring_dir / "workspace"


def dashboard_url(project_id: object, port: int = DEFAULT_PORT) -> str:
    return f"http://localhost:{port}/projects/{project_id}"


def _workspace(settings: Settings) -> Any:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from evidently.ui.workspace import Workspace

    return Workspace.create(str(workspace_dir(settings)))


def project(settings: Settings) -> tuple[Any, Any]:
    """The workspace and its ``smartstack`` project, created on first use."""
    workspace = _workspace(settings)
    found = workspace.search_project(PROJECT)
    if found:
        return workspace, found[0]
    created = workspace.create_project(
        PROJECT, description="Smart Stack monitoring: drift, freshness and live outcomes"
    )
    _save_dashboard(workspace, created.id, {})
    return workspace, created


def _series(settings: Settings) -> dict[str, Any]:
    path = workspace_dir(settings) / SERIES_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _add_series(settings: Settings, workspace: Any, project_id: Any, kind: str,
                names: Iterable[str]) -> None:  # fmt: skip
    """Remember ``names`` as series of ``kind``; rebuild the dashboard if one is new (or the
    panels changed since it was built)."""
    known: dict[str, Any] = _series(settings)
    before = known.get(kind, [])
    after = sorted(set(before) | set(names))
    if after == before and known.get("layout") == LAYOUT:
        return
    known[kind] = after
    known["layout"] = LAYOUT
    _save_dashboard(workspace, project_id, known)
    (workspace_dir(settings) / SERIES_FILE).write_text(json.dumps(known, indent=2))


def _save_dashboard(workspace: Any, project_id: Any, series: Mapping[str, list[str]]) -> None:
    from evidently.sdk.models import DashboardModel, DashboardTabModel, PanelMetric
    from evidently.sdk.panels import line_plot_panel, text_panel

    def metric(tag: str, column: str, legend: str | None = None, name: str = "MeanValue") -> Any:
        return PanelMetric(legend=legend or column, tags=[tag], metric=name,
                           metric_labels={"column": column})  # fmt: skip

    features = series.get(DRIFT, [])
    views = series.get(FRESHNESS, [])
    models = series.get(OUTCOMES, [])
    tabs: dict[str, list[Any]] = {
        "Drift": [
            # Plots, not counters: a counter shows 0 as "no value" (Evidently 0.7).
            line_plot_panel(title="Drifted features (share) per run", values=[
                PanelMetric(legend="share", tags=[DRIFT], metric="DriftedColumnsCount",
                            metric_labels={"value_type": "share"})]),
            line_plot_panel(title="Drift score per feature (reference: the training window)",
                            values=[PanelMetric(legend=f, tags=[DRIFT], metric="ValueDrift",
                                                metric_labels={"column": f}) for f in features])
            if features else text_panel(title="No drift run yet: `smartstack monitor drift`"),
        ],
        "Freshness": [
            line_plot_panel(title="Stale feature views (count per run)", size="half",
                            values=[metric(FRESHNESS, STALE_VIEWS)]),
            line_plot_panel(title="Champion age (days, wall clock)", size="half",
                            values=[metric(FRESHNESS, CHAMPION_AGE)]),
            line_plot_panel(title="Feature view age (hours since the newest materialized row)",
                            values=[metric(FRESHNESS, v) for v in views])
            if views else text_panel(title="No freshness run yet: `smartstack monitor freshness`"),
        ],
        "Outcomes": [
            line_plot_panel(title="Click rate per model version (newest day served)", size="half",
                            values=[metric(OUTCOMES, f"click rate {m}", m) for m in models]),
            line_plot_panel(title="Redemption rate per model version", size="half",
                            values=[metric(OUTCOMES, f"redemption rate {m}", m) for m in models]),
            bar_panel_shown(models),
        ] if models else [
            text_panel(title="No served offers yet: `smartstack monitor outcomes` after serving")
        ],
    }  # fmt: skip
    panels = [panel for group in tabs.values() for panel in group]
    model = DashboardModel(
        tabs=[
            DashboardTabModel(title=t, panels=[p.id for p in group]) for t, group in tabs.items()
        ],
        panels=panels,
    )
    workspace.save_dashboard(project_id, model)


def bar_panel_shown(models: list[str]) -> Any:
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import bar_plot_panel

    return bar_plot_panel(
        title="Offers shown per model version",
        values=[PanelMetric(legend=m, tags=[OUTCOMES], metric="MeanValue",
                            metric_labels={"column": f"shown {m}"}) for m in models],
    )  # fmt: skip


def _run(workspace: Any, project_id: Any, tag: str, row: Mapping[str, float],
         timestamp: datetime) -> str:  # fmt: skip
    """One snapshot: the mean (the value) of each column of a one-row frame."""
    import pandas as pd
    from evidently import Report
    from evidently.metrics import MeanValue

    frame = pd.DataFrame([{k: float(v) for k, v in row.items()}])
    report = Report([MeanValue(column=c) for c in frame.columns], tags=[tag])
    snapshot = report.run(frame, None, timestamp=timestamp.replace(tzinfo=None), name=tag)
    return str(workspace.add_run(project_id, snapshot, include_data=False).id)


def push_freshness(settings: Settings, report: Freshness) -> dict[str, str]:
    """Add the freshness run to the dashboard; the links for the task's result."""
    workspace, found = project(settings)
    ages = {v.view: (v.age_seconds / 3600 if v.age_seconds is not None else float("nan"))
            for v in report.views}  # fmt: skip
    row = {**ages, STALE_VIEWS: len(report.stale)}
    champion = report.champion
    if champion is not None and champion.age_seconds is not None:
        row[CHAMPION_AGE] = champion.age_seconds / 86400
    _add_series(settings, workspace, found.id, FRESHNESS, ages)
    snapshot = _run(workspace, found.id, FRESHNESS, row, report.now)
    return links(settings, found.id, snapshot)


def push_outcomes(settings: Settings, outcomes: Outcomes) -> dict[str, str]:
    """Add the newest day's rates per model version (over every tier, arm and segment) to the
    dashboard; nothing is added while no offer was served."""
    workspace, found = project(settings)
    if outcomes.empty:
        return links(settings, found.id)
    row = outcome_figures(outcomes)
    models = sorted({name.removeprefix("shown ") for name in row if name.startswith("shown ")})
    _add_series(settings, workspace, found.id, OUTCOMES, models)
    day = outcomes.latest_day.to_pydatetime()
    snapshot = _run(workspace, found.id, OUTCOMES, row, day)
    return links(settings, found.id, snapshot)


def outcome_figures(outcomes: Outcomes) -> dict[str, float]:
    """The newest day's click and redemption rate and offers shown per model version, over
    every tier, arm and segment (rates weighted by offers shown)."""
    newest = outcomes.latest()
    model = newest["model_name"] + " v" + newest["model_version"].astype(str)
    sums = newest.groupby(model)[["shown", "clicks", "redemptions"]].sum()
    row: dict[str, float] = {}
    for name, figures in sums.iterrows():
        shown = max(int(figures["shown"]), 1)
        row[f"click rate {name}"] = figures["clicks"] / shown
        row[f"redemption rate {name}"] = figures["redemptions"] / shown
        row[f"shown {name}"] = float(figures["shown"])
    return row


def push_drift(settings: Settings, snapshot: Snapshot, features: Iterable[str]) -> dict[str, str]:
    """For the drift job: add its report's snapshot (``DriftedColumnsCount`` and a
    ``ValueDrift`` per feature, tagged ``drift``) and show each feature's series."""
    workspace, found = project(settings)
    _add_series(settings, workspace, found.id, DRIFT, features)
    run = workspace.add_run(found.id, snapshot, include_data=False)
    return links(settings, found.id, str(run.id))


def links(settings: Settings, project_id: Any, snapshot: str | None = None) -> dict[str, str]:
    found = {"dashboard": dashboard_url(project_id), "workspace": str(workspace_dir(settings))}
    if snapshot:
        found["snapshot"] = f"{dashboard_url(project_id)}/reports/{snapshot}"
    return found
