"""The `smartstack dbt` commands explain what is wrong instead of printing a dbt stack trace,
and the dbt project's enum lists stay in step with the raw-table contract."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import duckdb
import pytest
import yaml
from dbt_build_helpers import run_smartstack

from smartstack.data.schema import MERCHANT_CATEGORIES, OFFER_TYPES, OUTCOMES
from smartstack.paths import DBT_PROJECT_DIR


def test_build_without_raw_data_fails_with_one_sentence(tmp_path: Path) -> None:
    result = run_smartstack(["dbt", "build"], tmp_path / "home", tmp_path / "empty")
    assert result.returncode == 2
    assert "no raw data at" in result.output
    assert "run `smartstack ingest` first" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("given", "message"),
    [("[1, 2]", "--vars must be a mapping"), ("{a: [", "--vars is not YAML or JSON")],
)
def test_vars_that_are_not_a_mapping_fail_with_one_sentence(
    tmp_path: Path, given: str, message: str
) -> None:
    result = run_smartstack(["dbt", "build", "--vars", given], tmp_path / "home", tmp_path)
    assert result.returncode == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_vars_reach_the_models_over_the_projects(
    full_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the model's own tests: the marts' relationship tests to it need marts not built here.
    monkeypatch.setenv("DBT_INDIRECT_SELECTION", "cautious")
    home = tmp_path / "home"
    result = run_smartstack(
        ["dbt", "build", "--select", "int_snapshot_dates_generated",
         "--vars", "{feature_interval_days: 20}"],
        home, full_data,
    )  # fmt: skip
    assert result.returncode == 0, result.output
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as db:
        days = [d for (d,) in db.execute(
            "select as_of_day from int_snapshot_dates_generated order by as_of_day").fetchall()]
    assert {later - earlier for earlier, later in pairwise(days[:-1])} == {20}
    assert days[-1] - days[-2] <= 20


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = run_smartstack(["dbt", "--help"], tmp_path, tmp_path)
    assert result.returncode == 0
    for command in ("build", "compile", "docs"):
        assert command in result.output


def test_dbt_vars_match_the_raw_table_contract() -> None:
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert tuple(project["vars"]["merchant_categories"]) == MERCHANT_CATEGORIES
    assert tuple(project["vars"]["offer_types"]) == OFFER_TYPES
    staging = yaml.safe_load(
        (DBT_PROJECT_DIR / "models/staging/smartstack/_smartstack__models.yml").read_text())
    impressions = next(m for m in staging["models"] if m["name"] == "stg_smartstack__impressions")
    outcome = next(c for c in impressions["columns"] if c["name"] == "outcome")
    accepted = next(t["accepted_values"] for t in outcome["data_tests"] if isinstance(t, dict))
    assert tuple(accepted["arguments"]["values"]) == OUTCOMES
    transactions = next(m for m in staging["models"]
                        if m["name"] == "stg_smartstack__transactions")
    category = next(c for c in transactions["columns"] if c["name"] == "merchant_category")
    accepted = next(t["accepted_values"] for t in category["data_tests"] if isinstance(t, dict))
    assert tuple(accepted["arguments"]["values"]) == MERCHANT_CATEGORIES
