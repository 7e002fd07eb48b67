"""Incremental models give the same result as a full refresh.

The cut data set is built first; then the rest of the events arrive (including outcomes of
impressions shown before the cut) and `smartstack dbt build` runs incrementally. Its incremental
tables and every feature file must equal those of a full-refresh build of the complete data.
"""

from __future__ import annotations

import pandas as pd
import pytest
from dbt_build_helpers import Build, CutThenIncremental

INCREMENTAL_MODELS = (
    "int_transactions_aggregated_daily",
    "int_impression_events_unpivoted",
    "int_clickstream_events_aggregated_daily",
)
pytestmark = pytest.mark.slow


def test_incremental_run_equals_full_refresh(
    full_build: Build, cut_then_incremental: CutThenIncremental
) -> None:
    incremental = cut_then_incremental.incremental
    assert incremental.returncode == 0, incremental.output[-4000:]
    assert "incremental model" in incremental.output
    for model in INCREMENTAL_MODELS:
        pd.testing.assert_frame_equal(incremental.table(model), full_build.table(model),
                                      check_exact=False, rtol=1e-9, obj=model)
    full = full_build.features()
    updated = incremental.features()
    assert set(updated) == set(full)
    for name, frame in full.items():
        pd.testing.assert_frame_equal(updated[name], frame, check_exact=False, rtol=1e-9,
                                      obj=name)
