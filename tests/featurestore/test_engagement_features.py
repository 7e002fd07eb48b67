"""Feature service ``offer_ranking_v2``: version 1 plus the engagement signals, read online from
what the stream processor pushes and joined point in time from the dbt mart for training."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from smartstack.engagement.state import week_number
from smartstack.events.feedback_table import FeedbackTable
from smartstack.features.dbt import run_dbt
from smartstack.featurestore import store
from smartstack.featurestore.online import OnlineFeatureReader
from smartstack.featurestore.transforms import engagement_signals
from smartstack.settings import Settings
from tests.conftest import BuiltHome
from tests.events.helpers import feedback_event

V2 = "offer_ranking_v2"
SIGNALS = ["streak_weeks", "weeks_since_engagement", "badge_count"]
ENGAGED = "CUST-0000010"  # with landed feedback
OTHER = "CUST-0000011"  # without
OFFERS = ["OFR-001", "OFR-012", "OFR-023"]
# Redemptions and ratings of ENGAGED, in weeks 2026-W19, W20, W21 and W23.
FEEDBACK = [
    ("redeem", "OFR-001", "2026-05-04 10:00"),
    ("rating", "OFR-001", "2026-05-12 10:00"),
    ("redeem", "OFR-012", "2026-05-19 10:00"),
    ("rating", "OFR-012", "2026-06-02 10:00"),
]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def v2(built: BuiltHome, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the session's built home with feedback landed and the engagement mart rebuilt,
    the v2 service applied over it and the online store loaded."""
    copy = built.copy(tmp_path_factory.mktemp("engagement-v2") / "home")
    settings = Settings(home=copy.home, dataset=copy.dataset, feature_service=V2)
    table = FeedbackTable(settings.data_dir / "feedback")
    try:
        table.append(
            [
                feedback_event(f"fb-{n}", kind, ENGAGED, offer, _at(at))
                for n, (kind, offer, at) in enumerate(FEEDBACK)
            ]
        )
    finally:
        table.close()
    build = [
        "build",
        "--select",
        "+customer_engagement_features",
        "--indirect-selection",
        "cautious",
    ]
    assert run_dbt(build, settings) == 0
    store.apply(settings)
    store.materialize(settings)
    return settings


def test_v2_is_v1_plus_the_engagement_signals(built: BuiltHome, v2: Settings) -> None:
    """The built home serves v1 (the default), which is unchanged."""
    names = store.model_feature_names(v2)
    assert names == [*store.model_feature_names(built.settings), *SIGNALS]
    reader = OnlineFeatureReader(store.get_store(v2), service_name=V2)
    try:
        assert reader.names == names
    finally:
        reader.close()


def test_pushed_engagement_is_read_at_the_requests_week(v2: Settings) -> None:
    """Rows written as the stream processor writes them: a streak whose last week was last week
    is alive, one a week older is broken; a customer with no row gets 0, NaN and 0."""
    fs = store.get_store(v2)
    when = _at("2026-06-30 09:00")
    this_week = week_number(when, "UTC")
    alive, broken = "CUST-0000020", "CUST-0000021"
    pushed = pd.DataFrame(
        {
            "customer_id": [alive, broken],
            "event_timestamp": [pd.Timestamp(when) - pd.Timedelta(minutes=5)] * 2,
            "engagement_last_week": [this_week - 1, this_week - 2],
            "engagement_streak_run": [6, 4],
            "engagement_badge_count": [3, 2],
        }
    )
    fs.write_to_online_store("customer_engagement", pushed)
    reader = OnlineFeatureReader(fs, service_name=V2)
    try:
        columns = [reader.names.index(n) for n in SIGNALS]
        expected = {alive: [6, 1, 3], broken: [0, 2, 2], "CUST-9999999": [0, np.nan, 0]}
        for customer, values in expected.items():
            read = reader.read(customer, OFFERS, when)
            np.testing.assert_array_equal(read.matrix[:, columns], [values] * len(OFFERS))
    finally:
        reader.close()
    # Feast's own online read runs the registered transformation to the same values.
    theirs = fs.get_online_features(
        features=store.feature_service(v2),
        entity_rows=[{"customer_id": alive, "offer_id": OFFERS[0], "request_timestamp": when}],
    ).to_dict()
    assert [theirs[n][0] for n in SIGNALS] == [6, 1.0, 3]


def test_training_rows_get_the_marts_engagement_as_of_their_time(v2: Settings) -> None:
    """Each training row sees the mart's latest row at or before it, through the same
    transformation; before any feedback, and for a customer without any, 0, NaN and 0."""
    times = pd.to_datetime(
        ["2026-05-03 12:00", "2026-05-10 12:00", "2026-05-25 12:00", "2026-06-29 12:00"], utc=True
    )
    rows = pd.DataFrame(
        [(c, OFFERS[0], t) for c in (ENGAGED, OTHER) for t in times],
        columns=["customer_id", "offer_id", "event_timestamp"],
    )
    rows["request_timestamp"] = rows["event_timestamp"]
    joined = store.training_frame(rows, v2).sort_values(["customer_id", "event_timestamp"])

    mart = pd.read_parquet(v2.features_dir / "customer_engagement_features.parquet")
    mart = mart[mart.customer_id == ENGAGED].sort_values("event_timestamp")
    assert len(mart) > 0
    mart["event_timestamp"] = (
        mart["event_timestamp"].dt.tz_localize(UTC).astype(rows.dtypes.event_timestamp)
    )
    known = pd.merge_asof(
        rows.sort_values("event_timestamp"), mart, on="event_timestamp", by="customer_id"
    ).sort_values(["customer_id", "event_timestamp"])
    expected = engagement_signals(
        {
            "request_timestamp": [t.to_pydatetime() for t in known.request_timestamp],
            **{
                c: [None if pd.isna(v) else int(v) for v in known[c]]
                for c in ("engagement_last_week", "engagement_streak_run", "engagement_badge_count")
            },
        }
    )
    for name in SIGNALS:
        np.testing.assert_array_equal(joined[name].to_numpy(dtype=float), expected[name], name)
    engaged = joined[joined.customer_id == ENGAGED]
    # Nothing before the first redemption (W19); W19 to W21 alive on the Monday of W22; W23
    # broken by W27.
    assert engaged.streak_weeks.tolist() == [0, 1, 3, 0]
    assert engaged.weeks_since_engagement.tolist()[1:] == [0.0, 1.0, 4.0]
    assert engaged.badge_count.tolist()[-1] == 1  # first_redemption
    other = joined[joined.customer_id == OTHER]
    assert other.streak_weeks.tolist() == [0] * 4 and other.weeks_since_engagement.isna().all()
