"""`smartstack dbt build` on generated data: models, data tests and unit tests all pass, and the
feature files carry the contract the Feast layer relies on."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from dbt_build_helpers import Build

from smartstack.data.schema import MERCHANT_CATEGORIES, RAW_SCHEMAS

FEATURE_TABLES = (
    "customer_spend_features",
    "customer_profile_features",
    "offer_features",
    "customer_category_affinity",
    "training_impressions",
)
pytestmark = pytest.mark.slow


def test_dbt_build_passes_through_the_cli(full_build: Build) -> None:
    assert full_build.returncode == 0, full_build.output[-4000:]
    assert "Completed successfully" in full_build.output


def test_unit_tests_ran_and_passed(full_build: Build) -> None:
    results = json.loads((full_build.home / "dbt" / "target" / "run_results.json").read_text())
    unit = {r["unique_id"].split(".")[-1]: r["status"] for r in results["results"]
            if r["unique_id"].startswith("unit_test.")}
    assert set(unit.values()) == {"pass"}
    names = " ".join(unit)
    for topic in ("windows", "ratios", "null_before_any_impression", "without_spend",
                  "own_time", "latest_before"):
        assert topic in names


def test_feature_tables_have_entities_and_event_timestamps(full_build: Build) -> None:
    features = full_build.features()
    assert set(FEATURE_TABLES) <= set(features)
    for name in FEATURE_TABLES:
        frame = features[name]
        assert len(frame) > 0, name
        assert pd.api.types.is_datetime64_any_dtype(frame["event_timestamp"]), name
        assert frame["event_timestamp"].notna().all(), name


def test_spend_features_are_wide_per_category_and_window(full_build: Build) -> None:
    columns = set(full_build.features()["customer_spend_features"].columns)
    for category in MERCHANT_CATEGORIES:
        assert f"trend_{category}" in columns
        for window in (7, 30, 90):
            for stem in ("spend", "txn_count", "share"):
                assert f"{stem}_{category}_{window}d" in columns
    assert {"days_since_last_txn", "txn_count_90d", "spend_90d", "avg_ticket_90d"} <= columns


def test_one_row_per_entity_and_as_of_date(full_build: Build) -> None:
    features = full_build.features()
    customers = features["customer_profile_features"]["customer_id"].nunique()
    as_of = features["customer_spend_features"]["event_timestamp"].drop_duplicates()
    # Every 7 days from 2026-05-01, plus the snapshot 2026-06-30.
    assert as_of.dt.strftime("%Y-%m-%d").tolist() == [
        "2026-05-01", "2026-05-08", "2026-05-15", "2026-05-22", "2026-05-29", "2026-06-05",
        "2026-06-12", "2026-06-19", "2026-06-26", "2026-06-30"]
    assert len(features["customer_spend_features"]) == customers * len(as_of)
    assert len(features["customer_category_affinity"]) == (
        customers * len(as_of) * len(MERCHANT_CATEGORIES))


def test_no_direct_identifier_reaches_a_feature(full_build: Build) -> None:
    pii = set(RAW_SCHEMAS["customer_pii"].names) - {"customer_id"}
    for name, frame in full_build.features().items():
        assert not pii & set(frame.columns), name


def test_spend_features_match_a_direct_computation(full_build: Build) -> None:
    """An independent pandas computation of one window and the trend agrees with dbt at every
    as-of date (the marts compute each date on its own: the per_as_of_date macro)."""
    raw = pd.read_parquet(full_build.data_dir / "raw" / "transactions")
    coffee_raw = raw[raw["merchant_category"] == "coffee_shops"]
    features = full_build.features()["customer_spend_features"]
    as_of_dates = sorted(features["event_timestamp"].unique())
    assert len(as_of_dates) > 2
    for as_of_naive in as_of_dates:
        as_of = pd.Timestamp(as_of_naive).tz_localize("UTC")
        row = features[features["event_timestamp"] == as_of_naive].set_index("customer_id")
        ts = coffee_raw["event_timestamp"]
        last30 = coffee_raw[(ts >= as_of - pd.Timedelta(days=30)) & (ts < as_of)]
        prior = coffee_raw[(ts >= as_of - pd.Timedelta(days=120))
                           & (ts < as_of - pd.Timedelta(days=30))]
        coffee = last30.groupby("customer_id")["amount"].sum()
        coffee_prior = prior.groupby("customer_id")["amount"].sum()
        expected = coffee.reindex(row.index, fill_value=0.0)
        pd.testing.assert_series_equal(row["spend_coffee_shops_30d"], expected,
                                       check_names=False, obj=f"spend as of {as_of}")
        both = coffee.index.intersection(coffee_prior.index)
        trend = (coffee[both] / (coffee_prior[both] / 3)).clip(upper=10.0)
        pd.testing.assert_series_equal(row.loc[both, "trend_coffee_shops"], trend,
                                       check_names=False, obj=f"trend as of {as_of}")
