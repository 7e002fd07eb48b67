"""No Starbucks feature uses an event from on or after the moment the offer is sent.

The sample's transcript is cut at a send time H (hour 504, the first test send): every event at
or after H is dropped except the offers received at H themselves, as if the data ended when
they were sent. The real dbt models and Feast then rebuild the features, and they must equal
those the pipeline built from the full transcript: every feature-mart row as of H or earlier,
and the feature vector of every offer sent at H as Feast joins it for training. A feature that
peeks past the send (a completion counted before it happens, a window that includes the send
hour, a later transaction) changes between the two builds and fails this test.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from starbucks_sample import TRAIN_CUSTOMERS, write_sample

from smartstack.datasets import by_name
from smartstack.datasets.starbucks.reader import ingest
from smartstack.features.dbt import run_dbt
from smartstack.featurestore import store
from smartstack.settings import Settings
from tests.conftest import BuiltHome

pytestmark = pytest.mark.slow

CUT_HOUR = 504
START = pd.Timestamp("2018-08-01")
AS_OF = START + pd.Timedelta(hours=CUT_HOUR)


def starbucks_settings(home: Path) -> Settings:
    return Settings(home=home, data_dir=home / "data", dataset="starbucks")


@pytest.fixture(scope="module")
def cut_home(
    starbucks_source: Path,
    starbucks_transcript: list[str],
    starbucks_customers: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The train sample as it was when the offers of hour 504 went out, built by dbt + Feast."""
    chosen = set(starbucks_customers[:TRAIN_CUSTOMERS])
    kept = [
        line
        for line in starbucks_transcript
        if (r := json.loads(line))["time"] < CUT_HOUR
        or (r["time"] == CUT_HOUR and r["event"] == "offer received")
    ]
    directory = write_sample(
        starbucks_source, tmp_path_factory.mktemp("sb-cut") / "starbucks", chosen, kept
    )
    home = tmp_path_factory.mktemp("sb-cut-home")
    settings = starbucks_settings(home)
    ingest(directory, settings.data_dir, date(2018, 8, 1))
    assert run_dbt(["run"], settings) == 0
    store.apply(settings)
    return home


def marts(home: Path) -> dict[str, pd.DataFrame]:
    folder = home / "data" / "features"
    return {
        name: pd.read_parquet(folder / f"{name}.parquet")
        for name in by_name("starbucks").feature_marts
    }


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("customer_id", "offer_id", "event_timestamp") if c in frame]
    return frame.sort_values(keys).reset_index(drop=True)


def test_feature_rows_as_of_the_send_ignore_everything_after_it(
    built_starbucks: BuiltHome, cut_home: Path
) -> None:
    full, cut = marts(built_starbucks.home), marts(cut_home)
    for name in full:
        before = canonical(full[name][full[name]["event_timestamp"] <= AS_OF])
        rebuilt = canonical(cut[name][cut[name]["event_timestamp"] <= AS_OF])
        assert len(before) > 0 and (before["event_timestamp"] == AS_OF).any(), name
        pd.testing.assert_frame_equal(rebuilt, before, check_exact=False, rtol=1e-12, obj=name)


def test_the_training_features_of_offers_sent_at_the_cut_are_the_same(
    built_starbucks: BuiltHome, cut_home: Path
) -> None:
    def sent_at_cut(home: Path) -> pd.DataFrame:
        settings = starbucks_settings(home)
        names = store.model_feature_names(settings)
        rows = store.training_set(settings)
        rows = rows[rows["event_timestamp"] == AS_OF.tz_localize("UTC")]
        return (
            rows[["customer_id", "offer_id", *names]]
            .sort_values(["customer_id", "offer_id"])
            .reset_index(drop=True)
        )

    full, cut = sent_at_cut(built_starbucks.home), sent_at_cut(cut_home)
    assert len(full) > 50
    # The history features are really filled in: customers had three weeks of events.
    assert (full["offers_received"] > 0).mean() > 0.9 and (full["txn_count_all"] > 0).any()
    pd.testing.assert_frame_equal(cut, full, check_exact=False, rtol=1e-12)


def test_the_cut_really_removed_later_events(cut_home: Path) -> None:
    """Guards the tests above: the cut data hold nothing after the send time."""
    raw = cut_home / "data" / "raw"
    transactions = pd.read_parquet(raw / "transactions")
    impressions = pd.read_parquet(raw / "impressions")
    cut = (START + pd.Timedelta(hours=CUT_HOUR)).tz_localize("UTC")
    assert transactions["event_timestamp"].max() < cut
    assert impressions["shown_at"].max() == cut
    for column in ("viewed_at", "completed_at"):
        assert impressions[column].max() < cut
