"""The pipeline's contract, held by every data-set adapter.

One test body per promise, run on each adapter's pipeline run (``built``: the synthetic
generator; ``built_starbucks``: a sample of the Starbucks files). A new adapter joins by adding
its run to ``RUNS``: what it lands, what dbt builds from it, what Feast and MLflow hold and what
the ranking service makes of it are then checked the same way.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from smartstack.data.manifest import Manifest
from smartstack.datasets import ADAPTERS, DatasetAdapter
from smartstack.pipeline import STEPS
from smartstack.serving.app import RankingApp
from smartstack.serving.schemas import Channel, RankRequest, RequestContext, Tier
from tests.conftest import BuiltHome

pytestmark = pytest.mark.slow

RUNS = {"synthetic": "built", "starbucks": "built_starbucks"}
# Marts of what customers do live (feedback, quiz answers): empty until the stream lands some.
FED_BY_EVENTS = {"customer_engagement_features"}


def test_every_adapter_has_a_run_here() -> None:
    assert set(RUNS) == set(ADAPTERS)


@pytest.fixture(params=sorted(ADAPTERS))
def run(request: pytest.FixtureRequest) -> tuple[DatasetAdapter, BuiltHome]:
    return ADAPTERS[request.param], request.getfixturevalue(RUNS[request.param])


def test_every_step_ran_once(run: tuple[DatasetAdapter, BuiltHome]) -> None:
    _, built = run
    skipped = {"reload", "explain_top_offers"}  # no ranking service runs, no LLM is configured
    if built.dataset != "synthetic":
        skipped.add("monitor_outcomes")  # the outcomes mart is the synthetic platform's
    for step in STEPS:
        ended = "skipped" if step.name in skipped else "done"
        assert built.output.count(f"{step.name} {ended} in") == 1, step.name


def test_the_raw_tables_keep_their_contracts(run: tuple[DatasetAdapter, BuiltHome]) -> None:
    adapter, built = run
    manifest = Manifest.read(built.settings.data_dir)
    assert manifest is not None
    for table, contract in adapter.contracts.items():
        landed = pq.read_table(built.settings.raw_dir / table)
        assert landed.num_rows > 0, table
        assert landed.schema.names == contract.names, table
        for field in contract:
            assert landed.schema.field(field.name).type == field.type, (table, field.name)
        assert manifest.values["row_counts"][table] == landed.num_rows, table


def test_every_feast_mart_has_its_key_and_event_time(
    run: tuple[DatasetAdapter, BuiltHome],
) -> None:
    adapter, built = run
    snapshot = Manifest.read(built.settings.data_dir).snapshot
    for mart in adapter.feast_marts:
        # dbt-duckdb writes an empty model as one row of nulls (the columns keep their types).
        frame = pd.read_parquet(built.settings.features_dir / f"{mart}.parquet").dropna(how="all")
        if mart in FED_BY_EVENTS:
            assert frame.empty, mart
            continue
        assert len(frame) > 0, mart
        keys = {"customer_id", "offer_id"} & set(frame.columns)
        assert keys and frame[sorted(keys)].notna().all().all(), mart
        # Every row has its time, and the online store (loaded up to the snapshot) gets some.
        times = pd.to_datetime(frame["event_timestamp"], utc=True)
        assert times.notna().all() and (times <= pd.Timestamp(snapshot)).any(), mart


def test_the_champion_reads_the_data_sets_feature_service(
    run: tuple[DatasetAdapter, BuiltHome],
) -> None:
    adapter, built = run
    uri = built.settings.mlflow_tracking_uri
    champion = MlflowClient(uri, uri).get_model_version_by_alias(
        built.settings.registered_model_name, "champion"
    )
    assert champion.tags["feature_service"] == adapter.feature_service
    assert champion.tags["validation_status"] == "passed"


def test_the_service_ranks_a_real_customer_with_explanations(
    run: tuple[DatasetAdapter, BuiltHome], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The catalogue comes from Feast (every landed offer), the champion from the registry, and
    each ranked offer is explained in the data set's own words."""
    adapter, built = run
    settings = built.copy(tmp_path_factory.mktemp(f"contract-{adapter.name}") / "home")
    raw = settings.raw_dir
    landed_offers = set(pd.read_parquet(raw / "offers")["offer_id"])
    customer = pd.read_parquet(raw / "impressions", columns=["customer_id"])["customer_id"].min()
    at = Manifest.read(settings.data_dir).snapshot - timedelta(days=1)
    app = RankingApp(settings, log_snapshots=False)
    try:
        assert set(app.state.current.catalog.ids) == landed_offers
        response = app.rank(
            RankRequest(
                customer_id=customer,
                context=RequestContext(channel=Channel.app, timestamp=at),
                k=3,
                explain=True,
            )
        )
    finally:
        app.close()
    assert response.tier is Tier.model and response.model.version is not None
    assert len(response.offers) == 3 and {o.offer_id for o in response.offers} <= landed_offers
    scores = [o.score for o in response.offers]
    assert scores == sorted(scores, reverse=True)
    for offer in response.offers:
        assert offer.reasons and offer.explanation is not None and offer.explanation.text.strip()
