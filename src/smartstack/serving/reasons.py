"""Reason codes: the features that raised each ranked offer's score most.

Computed from the leaves each offer reached in the model's trees (Saabas path attributions,
:meth:`smartstack.serving.model.LoadedModel.contributions`), only for the offers shown, and
only where a model scored them: the rules and the non-personal tiers give none.
"""

from __future__ import annotations

import numpy as np

from smartstack.serving.model import LoadedModel
from smartstack.serving.schemas import Reason
from smartstack.serving.treepaths import Leaves


def reason_codes(
    model: LoadedModel, matrix: np.ndarray, leaves: Leaves, n: int, per_offer: int
) -> list[list[Reason]]:
    """The ``per_offer`` strongest features of each of the first ``n`` rows of ``matrix``."""
    if n == 0 or per_offer == 0:
        return [[] for _ in range(n)]
    contributions = model.contributions(leaves.take(slice(0, n)))[:, :-1]  # last: bias
    strongest = np.argsort(-contributions, axis=1)[:, :per_offer]
    # Gathered as arrays and converted once: per-element NumPy scalars cost more than the rest.
    shares = np.take_along_axis(contributions, strongest, axis=1).tolist()
    values = np.take_along_axis(matrix[:n], model.columns[strongest], axis=1)
    seen = np.where(np.isnan(values), None, values).tolist()
    names = model.feature_names
    # Built without validation: every field comes from the model's own arrays and names.
    return [
        [
            Reason.model_construct(feature=names[j], contribution=c, value=v)
            for j, c, v in zip(best, row_shares, row_values, strict=True)
        ]
        for best, row_shares, row_values in zip(strongest.tolist(), shares, seen, strict=True)
    ]
