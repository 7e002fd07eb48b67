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
from dbt_build_helpers import (
    CUT_AT,
    Build,
    CutThenIncremental,
    assert_unchanged_as_of_the_cut,
)

pytestmark = pytest.mark.slow


def test_features_as_of_the_cut_ignore_everything_after_it(
    full_build: Build, cut_then_incremental: CutThenIncremental
) -> None:
    assert full_build.returncode == 0, full_build.output[-4000:]
    assert_unchanged_as_of_the_cut(full_build.features(), cut_then_incremental.cut_features)


def test_the_cut_really_removed_later_data(cut_then_incremental: CutThenIncremental) -> None:
    """Guards the test above: the cut data set must lack events after the cut date."""
    labels = cut_then_incremental.cut_features["training_impressions"]
    assert labels["event_timestamp"].max() < pd.Timestamp(CUT_AT).tz_localize(None)
