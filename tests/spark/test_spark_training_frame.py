"""The rows xgboost.spark is handed: both periods in every stretch of the frame, each in time
order, a ranker's requests whole and numbered in the frame's order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from smartstack.training.distributed import LABEL, QID, VALIDATION, training_frame


@dataclass
class Periods:
    """What training_frame reads of a TrainingData: per period, a matrix, labels and groups."""

    rows: dict[str, int]
    features: tuple[str, ...] = ("f0", "f1")

    def _requests(self, part: str) -> np.ndarray:
        return np.repeat(np.arange(self.rows[part] // 4), 4)  # four offers per request

    def matrix(self, part: str) -> np.ndarray:
        # f0 is the row's position in its period: time order.
        position = np.arange(self.rows[part], dtype=np.float32)
        return np.column_stack([position, np.full_like(position, len(part))])

    def labels(self, part: str) -> np.ndarray:
        return (np.arange(self.rows[part]) % 7 == 0).astype(float)

    def grades(self, part: str) -> np.ndarray:
        return self.labels(part)

    def groups(self, part: str) -> np.ndarray:
        return np.array([f"{part}-{r}" for r in self._requests(part)])


@pytest.mark.parametrize("objective", ["binary", "rank"])
def test_both_periods_are_spread_over_the_frame_in_time_order(objective: str) -> None:
    data = Periods({"train": 8_000, "validation": 1_600})
    frame = training_frame(data, objective)  # type: ignore[arg-type]
    assert len(frame) == 9_600
    assert list(frame.columns[:2]) == ["f0", "f1"] and LABEL in frame
    # Every tenth of the frame (Arrow batches are far smaller than the data) holds both.
    for stretch in np.array_split(frame[VALIDATION].to_numpy(), 10):
        assert 0 < stretch.sum() < len(stretch)
    for is_validation, rows in frame.groupby(VALIDATION):
        assert rows["f0"].is_monotonic_increasing, is_validation
    expected = data.labels("validation")
    assert np.array_equal(frame.loc[frame[VALIDATION], LABEL].to_numpy(), expected)


def test_a_rankers_requests_stay_whole_and_are_numbered_in_order() -> None:
    frame = training_frame(Periods({"train": 8_000, "validation": 1_600}), "rank")  # type: ignore[arg-type]
    qid = frame[QID].to_numpy()
    assert (np.diff(qid) >= 0).all()
    assert pd.Series(qid).value_counts().eq(4).all()
    assert frame.groupby(QID)[VALIDATION].nunique().eq(1).all()
