"""``smartstack-dbt``: dbt as Cosmos runs it in the Airflow DAGs, with the project settings.

Cosmos builds the dbt command line itself (project copy, profiles, target, selection); the
wrapper must add exactly what ``smartstack dbt`` would (warehouse paths, the data set's feature
window) and refuse a target that does not match the warehouse setting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smartstack.features.dbt import FeatureBuildError, project_dir, wrapped_command
from smartstack.paths import ENGAGEMENT_RULES
from smartstack.settings import EngagementSettings, Settings

SMARTSTACK_DBT = str(Path(sys.executable).parent / "smartstack-dbt")
WINDOW = {"impression_start": "2026-02-01T00:00:00+00:00", "snapshot": "2026-03-31T00:00:00+00:00"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.json").write_text(json.dumps({**WINDOW, "row_counts": {}}))
    return Settings(home=tmp_path / "home", data_dir=data)


def _vars(command: list[str]) -> dict:
    return json.loads(command[command.index("--vars") + 1])


def test_the_data_sets_feature_window_is_added_as_vars(settings: Settings) -> None:
    command = wrapped_command(["build", "--select", "offer_features", "--target", "local"], settings)
    assert command[0].endswith("/dbt")
    assert command[1:6] == ["build", "--select", "offer_features", "--target", "local"]
    assert {k: _vars(command)[k] for k in WINDOW} == WINDOW


def test_vars_the_caller_passes_win(settings: Settings) -> None:
    command = wrapped_command(["ls", "--vars", '{"snapshot": "x"}'], settings)
    assert command.count("--vars") == 1
    assert _vars(command) == {"snapshot": "x"}


def test_commands_without_vars_get_none(settings: Settings) -> None:
    assert "--vars" not in wrapped_command(["deps"], settings)
    assert "--vars" not in wrapped_command(["--version"], settings)


def test_the_engagement_rules_file_is_passed_as_vars(settings: Settings, tmp_path: Path) -> None:
    """dbt counts badges with the rules the live store follows: the active badges of the
    configured file (a retired one is left out), and a broken file stops dbt with its reason."""
    rules = tmp_path / "rules.yaml"
    critic = "    target: 5\n"  # the last line of the `critic` badge
    rules.write_text(ENGAGEMENT_RULES.read_text().replace(critic, critic + "    retired: true\n"))
    configured = settings.model_copy(update={"engagement": EngagementSettings(rules=rules)})
    variables = _vars(wrapped_command(["build"], configured))
    assert variables["engagement_streak_qualifying"] == ["rating", "redeem"]
    assert [b["id"] for b in variables["engagement_badges"]] == [
        "first_redemption",
        "explorer",
        "four_week_streak",
        "quiz_taker",
    ]
    assert variables["engagement_badges"][1] == {
        "id": "explorer",
        "metric": "redeemed_categories",
        "target": 3,
    }
    rules.write_text("version: 1\nbadges: []\n")
    with pytest.raises(FeatureBuildError, match="rules.yaml.*streak"):
        wrapped_command(["build"], configured)


def test_a_target_the_warehouse_setting_does_not_use_is_refused(settings: Settings) -> None:
    with pytest.raises(FeatureBuildError, match="does not match the warehouse setting"):
        wrapped_command(["build", "--target", "bigquery"], settings)


def _run(args: list[str], settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SMARTSTACK_HOME": str(settings.home),
        "SMARTSTACK_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [SMARTSTACK_DBT, *args], env=env, capture_output=True, text=True, timeout=300,
        cwd=settings.home.parent,
    )  # fmt: skip


def test_dbt_runs_with_the_warehouse_and_window_of_the_settings(settings: Settings) -> None:
    project = str(project_dir(settings))
    inline = "select '{{ var(\"snapshot\") }}' as s, '{{ env_var(\"SMARTSTACK_DUCKDB_PATH\") }}' as p"
    done = _run(
        ["compile", "--project-dir", project, "--profiles-dir", project, "--target", "local",
         "--target-path", str(settings.home / "target"), "--quiet", "--inline", inline],
        settings,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert WINDOW["snapshot"] in done.stdout
    assert str(settings.duckdb_path) in done.stdout


def test_the_warehouse_runs_under_the_memory_limit_of_the_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTSTACK_DUCKDB_MEMORY_LIMIT", "1GB")
    project = str(project_dir(settings))
    done = _run(
        ["show", "--project-dir", project, "--profiles-dir", project, "--target", "local",
         "--target-path", str(settings.home / "target"), "--quiet", "--output", "json",
         "--inline", "select current_setting('memory_limit') as memory_limit"],
        settings,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["show"] == [{"memory_limit": "953.6 MiB"}]  # 10⁹ bytes


def test_a_wrong_target_exits_2_with_one_sentence(settings: Settings) -> None:
    done = _run(["ls", "--target", "bigquery"], settings)
    assert done.returncode == 2
    assert "does not match the warehouse setting" in done.stderr
    assert "Traceback" not in done.stderr


def test_listing_the_project_writes_nothing(settings: Settings) -> None:
    """Cosmos lists the project every time it parses the DAG: that must leave no trace."""
    project = str(project_dir(settings))
    done = _run(
        ["ls", "--project-dir", project, "--profiles-dir", project, "--target", "local",
         "--target-path", str(settings.home.parent / "ls-target"), "--resource-type", "model"],
        settings,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "offer_features" in done.stdout
    assert not settings.home.exists()
    assert not (settings.data_dir / "features").exists()
