"""The pipeline stops at a failing quality gate: nothing after it runs.

The steps run as ``smartstack run`` runs them (:func:`smartstack.cli.steps.run_steps`: each
step's command in this process, real Great Expectations, dbt, Feast and MLflow), with one
corruption injected between two steps.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import typer

from smartstack.cli import app
from smartstack.cli.steps import StepFailed, run_steps
from smartstack.pipeline import GATE_FAILED, PARAMETERS, STEPS, Step, steps_through
from smartstack.settings import Settings
from tests.conftest import BuiltHome

COMMAND = typer.main.get_command(app)


def _after(name: str) -> tuple[Step, ...]:
    """The steps after ``name``."""
    return STEPS[len(steps_through(name)) :]


def _registry(settings: Settings) -> Path:
    return Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///"))


def _negate_amounts(settings: Settings) -> None:
    part = settings.raw_dir / "transactions" / "part-00000.parquet"
    table = pq.read_table(part).to_pandas()
    table.loc[table.index[:5], "amount"] = -table.loc[table.index[:5], "amount"]
    table.to_parquet(part, index=False)


def _null_customer_keys(settings: Settings) -> None:
    mart = settings.features_dir / "customer_spend_features.parquet"
    frame = pd.read_parquet(mart)
    frame.loc[frame.index[:3], "customer_id"] = None
    frame.to_parquet(mart, index=False)


def test_failing_raw_gate_stops_before_dbt_and_the_online_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(home=tmp_path / "home")
    parameters = {**PARAMETERS, "customers": 300, "seed": 3}
    run_steps(COMMAND, steps_through("land_raw_data"), settings, parameters)
    _negate_amounts(settings)
    with pytest.raises(StepFailed) as failure:
        run_steps(COMMAND, _after("land_raw_data"), settings, parameters)
    assert (failure.value.step.name, failure.value.code) == ("raw_quality_gate", GATE_FAILED)
    assert "not run: dbt_build, feature_quality_gate" in str(failure.value)
    shown = capsys.readouterr()
    assert "transactions" in shown.err and "amount" in shown.err
    assert not settings.features_dir.exists(), "dbt must not have run"
    assert not settings.sqlite_online_path.exists(), "nothing may reach the online store"
    assert not _registry(settings).exists(), "nothing may reach the model registry"


def test_failing_feature_gate_leaves_the_online_store_and_registry_untouched(
    built: BuiltHome, tmp_path: Path
) -> None:
    settings = built.copy(tmp_path / "home")
    online, registry = settings.sqlite_online_path, _registry(settings)
    before = (online.read_bytes(), registry.read_bytes())
    _null_customer_keys(settings)
    with pytest.raises(StepFailed) as failure:
        run_steps(COMMAND, _after("dbt_build"), settings, PARAMETERS)
    assert (failure.value.step.name, failure.value.code) == ("feature_quality_gate", GATE_FAILED)
    assert (online.read_bytes(), registry.read_bytes()) == before
