"""Live outcomes end to end: rankings served by the real service code, feedback landed by the
real landing code, the dbt mart built, and its figures checked against pandas over the same
logs, in the CLI's table, its JSON and the Prometheus textfile."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import timedelta

import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families

from smartstack.events.contracts import FeedbackEvent
from smartstack.events.interactions import Interactions
from smartstack.featurestore import store
from smartstack.monitoring.outcomes import LABELS, METRICS_FILE, read_outcomes
from smartstack.serving.app import RankingApp
from smartstack.serving.schemas import RankRequest
from smartstack.serving.snapshots import RANKING_LOG_SCHEMA
from smartstack.settings import Settings
from tests.conftest import SMARTSTACK, project_environment

pytestmark = pytest.mark.slow

KEY = ["served_on", *LABELS]
COUNTS = ["shown", "clicks", "redemptions"]


def _smartstack(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SMARTSTACK, *args],
        env=project_environment(SMARTSTACK_HOME=str(settings.home)),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _build_mart(settings: Settings) -> None:
    done = _smartstack(settings, "dbt", "build", "--select", "+monitoring_outcomes_daily")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def _customers(settings: Settings) -> pd.DataFrame:
    return pq.read_table(
        settings.raw_dir / "customers", columns=["customer_id", "card_product"]
    ).to_pandas()


def _serve(settings: Settings, customers: list[str]) -> list:  # noqa: ANN401 - responses
    at = pc.max(pq.read_table(settings.raw_dir / "transactions")["event_timestamp"]).as_py()
    app = RankingApp(settings)
    try:
        return [
            app.rank(
                RankRequest.model_validate(
                    {"customer_id": c, "k": 4, "context": {"channel": "app", "timestamp": at}},
                    strict=False,
                )
            )
            for c in customers
        ]
    finally:
        app.close()  # flushes the ranking log


def _feedback(responses: list) -> list[FeedbackEvent]:  # noqa: ANN001
    """Clicks and redemptions citing the served lists: several kinds per offer, a duplicate
    click, a redemption without a click, a view (not an outcome) and a click on a request
    that was never served (counted nowhere)."""
    events = []

    def event(kind: str, response, index: int, request_id: str | None = None) -> None:  # noqa: ANN001
        offer = response.offers[index]
        events.append(
            FeedbackEvent(
                event_id=uuid.uuid4().hex,
                kind=kind,
                customer_id=response.customer_id,
                offer_id=offer.offer_id,
                occurred_at=pd.Timestamp.now(tz="UTC").to_pydatetime() + timedelta(minutes=1),
                request_id=request_id or response.request_id,
                channel="app",
                position=index + 1,
            )
        )

    for n, response in enumerate(responses):
        if n % 2 == 0:
            event("click", response, 0)
        if n % 3 == 0:
            event("click", response, 1)
            event("click", response, 1)
            event("redeem", response, 1)
        if n % 5 == 0:
            event("redeem", response, 2)
        event("view", response, 3)
    event("click", responses[0], 0, request_id="never-served")
    return events


def _expected(settings: Settings) -> pd.DataFrame:
    """The mart's figures computed with pandas from the ranking log and feedback parts."""
    log_dir = settings.serving.snapshot_dir or settings.home / "serving" / "snapshots"
    schema = pa_schema()
    log = ds.dataset(log_dir, schema=schema, format="parquet").to_table().to_pandas()
    feedback = ds.dataset(settings.data_dir / "feedback", format="parquet").to_table()
    feedback = feedback.to_pandas().drop_duplicates("event_id")
    flags = (
        feedback[feedback["kind"].isin(["click", "redeem"])]
        .assign(
            clicked=True,
            redeemed=lambda f: f["kind"].eq("redeem"),
        )
        .groupby(["request_id", "offer_id"], as_index=False)[["clicked", "redeemed"]]
        .max()
    )
    frame = log.merge(flags, on=["request_id", "offer_id"], how="left")
    frame = frame.merge(_customers(settings), on="customer_id", how="left")
    frame = frame.assign(
        served_on=frame["served_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize(),
        segment=frame["card_product"].fillna("unknown"),
        clicked=frame["clicked"].eq(True).astype(int),
        redeemed=frame["redeemed"].eq(True).astype(int),
    )
    for column in ("model_name", "model_version", "tier", "experiment", "arm"):
        frame[column] = frame[column].fillna("none")
    grouped = frame.groupby(KEY, as_index=False).agg(
        shown=("offer_id", "size"), clicks=("clicked", "sum"), redemptions=("redeemed", "sum")
    )
    return grouped.assign(
        click_rate=grouped["clicks"] / grouped["shown"],
        redemption_rate=grouped["redemptions"] / grouped["shown"],
    )


def pa_schema():  # noqa: ANN201 - a pyarrow schema
    import pyarrow as pa

    return pa.schema([f for f in RANKING_LOG_SCHEMA if f.name != "features"])


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEY).reset_index(drop=True)


def _metrics(settings: Settings) -> dict[str, dict[tuple[str, ...], float]]:
    text = (settings.monitoring_dir / METRICS_FILE).read_text()
    found: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(text):
        samples = found.setdefault(family.name, {})
        for sample in family.samples:
            labels = sample.labels
            key = (labels["model"], *(labels[c] for c in LABELS[1:]))
            samples[key] = sample.value
    return found


def test_outcomes_match_the_logs_in_the_mart_the_table_and_the_metrics(tmp_path, built) -> None:  # noqa: ANN001
    settings = built.copy(tmp_path / "home")

    # Before anything was served: no ranking log folder at all, an empty mart, a sentence.
    log_dir = settings.serving.snapshot_dir or settings.home / "serving" / "snapshots"
    assert not log_dir.exists()
    _build_mart(settings)
    done = _smartstack(settings, "monitor", "outcomes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No served offers" in done.stdout + done.stderr
    assert all(samples == {} for samples in _metrics(settings).values())  # declared, no samples

    customers = _customers(settings)["customer_id"].sort_values().tolist()[:24]
    customers.append(f"walk-in-{uuid.uuid4().hex[:8]}")  # no customers row: segment 'unknown'
    responses = _serve(settings, customers)
    assert list(log_dir.glob("date=*/part-*.parquet"))
    interactions = Interactions.from_settings(settings, store.get_store(settings))
    try:
        interactions.land(_feedback(responses), [])
    finally:
        interactions.close()
    _build_mart(settings)

    expected = _expected(settings)
    assert expected["clicks"].sum() > 0 and expected["redemptions"].sum() > 0
    assert "unknown" in set(expected["segment"])
    mart = read_outcomes(settings).rows
    pd.testing.assert_frame_equal(
        _sorted(mart)[KEY + COUNTS],
        _sorted(expected)[KEY + COUNTS],
        check_dtype=False,
    )
    for rate in ("click_rate", "redemption_rate"):
        assert _sorted(mart)[rate].tolist() == pytest.approx(_sorted(expected)[rate].tolist())
    assert (mart["redemption_rate"] <= mart["click_rate"]).all()

    # The CLI: the same rows as JSON, the same figures in the table, the newest day as gauges.
    as_json = _smartstack(settings, "monitor", "outcomes", "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = pd.DataFrame(json.loads(as_json.stdout)).assign(
        served_on=lambda f: pd.to_datetime(f["served_on"])
    )
    pd.testing.assert_frame_equal(
        _sorted(rows)[KEY + COUNTS], _sorted(expected)[KEY + COUNTS], check_dtype=False
    )
    table = _smartstack(settings, "monitor", "outcomes", "--days", "1")
    assert table.returncode == 0, table.stderr
    printed = table.stdout + table.stderr
    latest = expected[expected["served_on"] == expected["served_on"].max()]
    for row in latest.itertuples(index=False):
        assert f"{row.click_rate:.4f}" in printed and f"{row.redemption_rate:.4f}" in printed

    metrics = _metrics(settings)
    for name, column in (
        ("smartstack_outcome_click_rate", "click_rate"),
        ("smartstack_outcome_redemption_rate", "redemption_rate"),
        ("smartstack_outcome_shown", "shown"),
    ):
        want = {
            tuple(str(v) for v in r[list(LABELS)]): float(r[column]) for _, r in latest.iterrows()
        }
        assert metrics[name] == pytest.approx(want), name
