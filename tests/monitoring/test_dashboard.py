"""The monitoring dashboard: the workspace the monitoring commands fill, served by a real
``evidently ui`` process and read back through its HTTP API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from smartstack.monitoring import dashboard
from smartstack.monitoring.freshness import ChampionAge, Freshness, ViewFreshness
from smartstack.monitoring.outcomes import Outcomes
from smartstack.settings import Settings
from tests.code.test_stack import free_port

EVIDENTLY = str(Path(sys.executable).parent / "evidently")
NOW = datetime(2026, 6, 30, tzinfo=UTC)


def freshness(day: int, stale_view: bool = False) -> Freshness:
    at = NOW + timedelta(days=day)
    views = tuple(
        ViewFreshness(v, at - timedelta(hours=hours), hours * 3600.0, hours > 36)
        for v, hours in (("customer_spend", 40 if stale_view else 2), ("offer_stats", 2))
    )
    champion = ChampionAge("offer-ranker", "champion", "3", at, 86400.0 * (day + 1))
    return Freshness(at, "dataset", 36, views, champion)


def outcomes(day: int) -> Outcomes:
    served_on = pd.Timestamp(NOW.date()) + pd.Timedelta(days=day)
    rows = pd.DataFrame(
        [
            (served_on, "offer-ranker", "3", "model", "none", "none", "gold", 400, 40, 8),
            (served_on, "offer-ranker", "3", "model", "none", "none", "silver", 100, 20, 2),
            (served_on, "smartscore", "0", "fallback", "none", "none", "gold", 100, 5, 1),
        ],
        columns=["served_on", "model_name", "model_version", "tier", "experiment", "arm",
                 "segment", "shown", "clicks", "redemptions"],
    )  # fmt: skip
    rows["click_rate"] = rows["clicks"] / rows["shown"]
    rows["redemption_rate"] = rows["redemptions"] / rows["shown"]
    return Outcomes(rows)


def get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(home=tmp_path_factory.mktemp("dashboard"))
    for day in range(3):
        dashboard.push_freshness(settings, freshness(day, stale_view=day == 2))
        dashboard.push_outcomes(settings, outcomes(day))
    return settings


@pytest.fixture(scope="module")
def ui(filled: Settings) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [EVIDENTLY, "ui", "--workspace", str(dashboard.workspace_dir(filled)),
         "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "DO_NOT_TRACK": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                get(f"{base}/api/version")
                break
            except OSError:
                assert process.poll() is None, "evidently ui exited"
                assert time.monotonic() < deadline, "evidently ui did not answer in 120 s"
                time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(30)


def test_the_ui_answers_and_lists_the_project(ui: str) -> None:
    assert get(f"{ui}/api/version")["application"] == "Evidently UI"
    projects = get(f"{ui}/api/projects/")
    assert [p["name"] for p in projects] == [dashboard.PROJECT]


def test_the_dashboard_has_a_tab_per_signal_with_a_series_per_view_and_model(ui: str) -> None:
    (project,) = get(f"{ui}/api/projects/")
    board = get(f"{ui}/api/v2/dashboards/{project['id']}")
    tabs = {t["title"]: t["panels"] for t in board["tabs"]}
    assert list(tabs) == ["Drift", "Freshness", "Outcomes"]
    panels = {p["id"]: p for p in board["panels"]}
    # Each panel once, in exactly one tab (Evidently's add_panel would list it twice).
    assert sorted(i for ids in tabs.values() for i in ids) == sorted(panels)
    titles = {t: [panels[i]["title"] for i in ids] for t, ids in tabs.items()}
    assert "Stale feature views (count per run)" in titles["Freshness"]
    ages = next(panels[i] for i in tabs["Freshness"] if "view age" in panels[i]["title"])
    assert [v["legend"] for v in ages["values"]] == ["customer_spend", "offer_stats"]
    clicks = next(panels[i] for i in tabs["Outcomes"] if "Click rate" in panels[i]["title"])
    assert [v["legend"] for v in clicks["values"]] == ["offer-ranker v3", "smartscore v0"]
    assert all(v["tags"] == ["outcomes"] for v in clicks["values"])


def test_each_run_is_a_snapshot_with_its_figures(filled: Settings) -> None:
    workspace, project = dashboard.project(filled)
    runs = workspace.list_runs(project.id)
    assert len(runs) == 6  # three days of freshness and of outcomes
    # Pushing again adds a run but no panel: the dashboard only grows with new series.
    before = workspace.get_dashboard(project.id)
    links = dashboard.push_freshness(filled, freshness(3))
    assert links["dashboard"].endswith(f"/projects/{project.id}")
    assert links["snapshot"].startswith(links["dashboard"] + "/reports/")
    assert workspace.get_dashboard(project.id) == before
    assert len(workspace.list_runs(project.id)) == 7


def test_outcome_rates_are_weighted_by_offers_shown() -> None:
    figures = dashboard.outcome_figures(outcomes(0))
    assert figures == {
        "click rate offer-ranker v3": 60 / 500, "redemption rate offer-ranker v3": 10 / 500,
        "shown offer-ranker v3": 500, "click rate smartscore v0": 5 / 100,
        "redemption rate smartscore v0": 1 / 100, "shown smartscore v0": 100,
    }  # fmt: skip
