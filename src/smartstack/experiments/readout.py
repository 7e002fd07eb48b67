"""Checks on an experiment's traffic before anyone reads its outcomes."""

from __future__ import annotations

from collections.abc import Mapping

from scipy.stats import chisquare


def sample_ratio_mismatch(observed: Mapping[str, int], shares: Mapping[str, float]) -> float:
    """The p-value of the arms' counts under their configured shares (chi-square goodness of
    fit): a small one (below 0.01, say) means the split is broken (a bug in assignment or in
    logging), and no outcome of the experiment can be trusted."""
    arms = sorted(shares)
    counts = [observed.get(arm, 0) for arm in arms]
    total = sum(counts)
    if total == 0:
        raise ValueError("no assignments to check")
    expected = [shares[arm] * total for arm in arms]
    return float(chisquare(counts, expected).pvalue)
