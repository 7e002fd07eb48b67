"""No feature uses data from on or after its as-of date.

The raw data is cut at a date S as if the pipeline had run then (later events dropped, later
outcomes of earlier impressions unknown) and rebuilt: every feature row with event_timestamp <= S
must be identical to the row built from the full data. A feature that peeks past its as-of date
(a window that includes the as-of day, a redemption counted at the time the offer was shown, a
quiz answer given later) changes between the two builds and fails this test.
"""

from __future__ import annotations

import pandas as pd
import pytest
from dbt_build_helpers import CUT_AT, EVENT_TABLES, LABEL_TABLES, Build, CutThenIncremental

pytestmark = pytest.mark.slow


def test_features_as_of_the_cut_ignore_everything_after_it(
    full_build: Build, cut_then_incremental: CutThenIncremental
) -> None:
    assert full_build.returncode == 0, full_build.output[-4000:]
    full = full_build.features()
    cut = cut_then_incremental.cut_features
    cut_at = pd.Timestamp(CUT_AT).tz_localize(None)
    compared = 0
    for name, frame in full.items():
        if name in LABEL_TABLES or name in EVENT_TABLES:
            continue
        before = frame[frame["event_timestamp"] <= cut_at].reset_index(drop=True)
        from_cut = cut[name][cut[name]["event_timestamp"] <= cut_at].reset_index(drop=True)
        assert len(before) > 0, name
        pd.testing.assert_frame_equal(from_cut, before, check_exact=False, rtol=1e-9,
                                      obj=name)
        compared += 1
    assert compared >= 4


def test_the_cut_really_removed_later_data(cut_then_incremental: CutThenIncremental) -> None:
    """Guards the test above: the cut data set must lack events after the cut date."""
    labels = cut_then_incremental.cut_features["training_impressions"]
    assert labels["event_timestamp"].max() < pd.Timestamp(CUT_AT).tz_localize(None)
