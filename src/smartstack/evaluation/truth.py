"""The true value of a ranker's lists, from the synthetic generator's hidden model: what an
off-policy estimate is checked against (synthetic data only, evaluation only)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smartstack.datasets.synthetic.truth import HiddenUtility


def true_click_rate(truth: HiddenUtility, requests: pd.DataFrame, target: pd.DataFrame) -> float:
    """The expected clicks per slot of ``target``'s lists (request_id, position, offer_id) for
    ``requests`` (request_id, customer_id, request_timestamp, channel): the mean over requests
    of the sum of the slots' click probabilities, over the slots."""
    rows = target.merge(requests, on="request_id", how="inner")
    p_click = truth.p_click(
        rows["customer_id"].to_numpy(),
        rows["offer_id"].to_numpy(),
        rows["request_timestamp"],
        rows["channel"].to_numpy(),
        rows["position"].to_numpy(),
    )
    per_request = pd.Series(p_click).groupby(rows["request_id"].to_numpy()).agg(["sum", "size"])
    return float(np.mean(per_request["sum"] / per_request["size"]))
