"""The real batch pipeline stops at a failing quality gate: nothing after it runs.

These run the same steps as `smartstack run` (generator, Great Expectations, dbt, Feast,
XGBoost in MLflow) on a
small data set, with one corruption injected between two steps.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from smartstack.pipeline import Step, batch_pipeline, run_pipeline_steps
from smartstack.quality.gate import QualityGateFailed
from smartstack.settings import Settings

CUSTOMERS = 600


def _settings(root: Path) -> Settings:
    return Settings(home=root / "home", data_dir=root / "data")


def _registry(settings: Settings) -> Path:
    return Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///"))


def _with_step_after(steps: list[Step], name: str, extra: Step) -> list[Step]:
    index = next(i for i, step in enumerate(steps) if step.name == name)
    return [*steps[: index + 1], extra, *steps[index + 1 :]]


def _negate_amounts(settings: Settings) -> None:
    part = settings.raw_dir / "transactions" / "part-00000.parquet"
    table = pq.read_table(part).to_pandas()
    table.loc[table.index[:5], "amount"] = -table.loc[table.index[:5], "amount"]
    table.to_parquet(part, index=False)


def _null_customer_keys(settings: Settings) -> None:
    mart = settings.data_dir / "features" / "customer_spend_features.parquet"
    frame = pd.read_parquet(mart)
    frame.loc[frame.index[:3], "customer_id"] = None
    frame.to_parquet(mart, index=False)


def test_failing_raw_gate_stops_before_dbt_and_the_online_store(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    steps = _with_step_after(
        batch_pipeline(settings, CUSTOMERS, seed=3),
        "generate",
        Step("corrupt transactions", lambda: _negate_amounts(settings)),
    )
    with pytest.raises(QualityGateFailed, match="transactions") as failure:
        run_pipeline_steps(steps)
    assert "amount" in str(failure.value)
    assert not (settings.data_dir / "features").exists(), "dbt must not have run"
    assert not settings.sqlite_online_path.exists(), "nothing may reach the online store"
    assert not _registry(settings).exists(), "nothing may reach the model registry"


def test_failing_feature_gate_leaves_the_online_store_and_registry_untouched(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    done = run_pipeline_steps(batch_pipeline(settings, CUSTOMERS, seed=3))
    assert done[-2:] == ["promote", "explain top offers"]
    online, registry = settings.sqlite_online_path, _registry(settings)
    before = (online.read_bytes(), registry.read_bytes())

    steps = _with_step_after(
        batch_pipeline(settings, CUSTOMERS, seed=4),
        "dbt build",
        Step("corrupt the spend mart", lambda: _null_customer_keys(settings)),
    )
    with pytest.raises(QualityGateFailed, match="customer_spend_features"):
        run_pipeline_steps(steps)
    assert (online.read_bytes(), registry.read_bytes()) == before
