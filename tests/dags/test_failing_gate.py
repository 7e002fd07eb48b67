"""A run of the daily DAG on landed data with a corrupted raw table, with ``airflow dags test``:
it must stop at the raw quality gate, without retries, so nothing reaches dbt, the online store
or the registry."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from smartstack.datasets.synthetic.generator import GeneratorConfig, generate
from tests.dags.airflow_helpers import airflow_home, dag_test


def test_a_failing_quality_gate_stops_the_run_before_materialization(
    tmp_path: Path, airflow_database: Path
) -> None:
    home = airflow_home(tmp_path, airflow_database)
    settings = home.settings
    generate(GeneratorConfig(customers=300, seed=3), settings.data_dir, workers=1)
    part = settings.raw_dir / "transactions" / "part-00000.parquet"
    table = pq.read_table(part).to_pandas()
    table.loc[table.index[:5], "amount"] = -table.loc[table.index[:5], "amount"]
    table.to_parquet(part, index=False)

    run = dag_test(home, {"source": "landed"}, timeout=600)

    assert not run.succeeded
    assert run.states["ingest.land_raw_data"] == "success"
    assert run.states["ingest.raw_quality_gate"] == "failed"
    assert "transactions" in run.output and "amount" in run.output
    assert "(not retried)" in run.output
    after_gate = {t: s for t, s in run.states.items() if not t.startswith("ingest.")}
    assert set(after_gate.values()) == {"upstream_failed"}
    assert not (settings.data_dir / "features").exists(), "dbt must not have run"
    assert not settings.sqlite_online_path.exists(), "nothing may reach the online store"
    assert not Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///")).exists()
