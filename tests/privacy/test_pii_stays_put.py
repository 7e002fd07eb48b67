"""``customer_pii`` never leaves the raw layer: no mart, warehouse relation or feature view has
a PII column, and no request to the LLM carries a PII value. (No value in any store outside
the raw table: ``test_scan.py``.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from smartstack.data.schema import RAW_SCHEMAS
from smartstack.featurestore import store
from smartstack.serving.app import RankingApp
from smartstack.serving.schemas import RankRequest
from smartstack.settings import LLMSettings, Settings
from tests.messaging.openai_server import OpenAICompatibleServer, Reply

PII_COLUMNS = set(RAW_SCHEMAS["customer_pii"].names) - {"customer_id"}


def test_no_mart_warehouse_relation_or_feature_view_has_a_pii_column(built) -> None:  # noqa: ANN001
    settings = built.settings
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as db:
        columns = db.execute(
            "select table_name, column_name from information_schema.columns"
        ).fetchall()
    assert columns and not [c for c in columns if c[1] in PII_COLUMNS]
    marts = sorted(settings.features_dir.glob("*.parquet"))
    assert marts
    for mart in marts:
        assert not PII_COLUMNS & set(pq.read_schema(mart).names), mart.name
    feast = store.get_store(settings)
    fields = {f.name for v in feast.list_all_feature_views() for f in v.features}
    fields |= {f.name for v in feast.list_on_demand_feature_views() for f in v.features}
    assert fields and not PII_COLUMNS & fields
    # The raw table does have them: the check looks at real column names.
    assert PII_COLUMNS <= set(pq.read_schema(next(settings.raw_dir.glob("customer_pii/*"))).names)


@pytest.fixture
def llm() -> Iterator[OpenAICompatibleServer]:
    server = OpenAICompatibleServer()
    server.start()
    server.reset(Reply("Your coffee spending makes this offer a good fit."))
    yield server
    server.stop()


def test_no_llm_request_carries_a_pii_value(
    built, tmp_path: Path, llm: OpenAICompatibleServer  # noqa: ANN001
) -> None:
    settings = Settings(
        home=built.copy(tmp_path / "home").home,
        llm=LLMSettings(base_url=llm.base_url, model="test-model", api_key="sk-test"),
    )
    pii = pq.read_table(settings.raw_dir / "customer_pii")
    customers = sorted(pii["customer_id"].to_pylist())[:8]
    at = pc.max(pq.read_table(settings.raw_dir / "transactions")["event_timestamp"]).as_py()
    app = RankingApp(settings, log_snapshots=False)
    try:
        for customer in customers:
            request = RankRequest.model_validate(
                {
                    "customer_id": customer,
                    "context": {"channel": "app", "timestamp": at - timedelta(hours=1)},
                    "k": 3,
                },
                strict=False,
            )
            app.ranker.rank(request, live_explanations=True, record=False)
    finally:
        app.close()
    bodies = [b.decode() for b in llm.bodies]
    assert len(bodies) >= len(customers)  # the LLM was asked about every customer
    rows = pii.filter(pc.is_in(pii["customer_id"], value_set=pc.cast(customers, "string")))
    values = {str(v) for c in PII_COLUMNS for v in rows[c].to_pylist() if v and len(str(v)) > 4}
    assert values
    assert not [v for v in values if any(v in body for body in bodies)]
