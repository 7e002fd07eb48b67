"""Exploration: serve an order sampled from the model's scores, and log how likely it was.

A ranker that always sorts its scores never shows most (offer, position) pairs, so its log
cannot tell how another ranker would have done: off-policy evaluation divides by the chance
the logging policy had of showing what the other ranker would show, and that chance must not
be 0. A Plackett–Luce policy samples the order instead, position by position, each offer not
yet shown with probability softmax(score / temperature) over the offers not yet shown: every
order has some chance, the model's favourite the most. The service logs, with what it showed,
the probability of the whole list and, per position, the marginal probability that the policy
puts the offer shown there at that position: the propensities
:mod:`smartstack.experiments.ope` divides by.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Exact marginals enumerate the ordered prefixes before a position: n!/(n-j)! of them for
# position j + 1, each a row of n probabilities. Fine up to 4 positions of about 40 offers
# (59,280 rows of 40 at position 4: 19 MB and about 0.1 s); past that, time and memory grow as
# n^k, too fast for a cost paid on every request.
MAX_EXACT_POSITIONS = 4


@dataclass(frozen=True)
class Explored:
    """An order to serve and the propensities to log with it."""

    order: np.ndarray  # indices into the scores, in the order shown (length k)
    list_propensity: float  # probability of exactly this ordered top k under the policy
    # per shown position j: the probability that the offer shown at j is at j under the policy
    position_propensities: np.ndarray


class PlackettLuce:
    """Sampling orders from scores; the temperature sets how far from sorting it strays (near
    0: almost always the sorted order; large: almost uniform)."""

    def __init__(self, temperature: float) -> None:
        if not temperature > 0:
            raise ValueError(f"the temperature must be positive, not {temperature}")
        self.temperature = float(temperature)

    def sample(self, scores: np.ndarray, k: int, rng: np.random.Generator) -> Explored:
        """An ordered top k drawn from the policy (k clipped to the number of scores)."""
        logits = self._logits(scores)
        k = _clip(k, logits.size)
        # Gumbel-top-k: the k largest of logits plus independent Gumbel noise are, in order,
        # a Plackett–Luce draw of k (one vectorised draw instead of k sequential ones).
        keys = logits + rng.gumbel(size=logits.size)
        order = np.argsort(-keys, kind="stable")[:k]
        return Explored(
            order=order,
            list_propensity=float(np.exp(_log_list_probability(logits, order))),
            position_propensities=_marginals(logits, k)[np.arange(k), order],
        )

    def list_propensity(self, scores: np.ndarray, order: np.ndarray) -> float:
        """The probability that the policy shows exactly ``order`` (indices into the scores)
        first, in that order: what a Plackett–Luce target would have done with a logged list."""
        logits = self._logits(scores)
        order = np.asarray(order, dtype=np.intp)
        if order.ndim != 1 or np.unique(order).size != order.size:
            raise ValueError("an order is a sequence of distinct indices into the scores")
        if np.any(order < 0) or np.any(order >= logits.size):
            raise ValueError(f"an order's indices must be of the {logits.size} scores")
        return float(np.exp(_log_list_probability(logits, order)))

    def marginals(self, scores: np.ndarray, k: int) -> np.ndarray:
        """P(offer i at position j), shape (k, n), exact (k clipped to the number of scores;
        at most :data:`MAX_EXACT_POSITIONS`). Each row sums to 1, each column to at most 1."""
        logits = self._logits(scores)
        return _marginals(logits, _clip(k, logits.size))

    def _logits(self, scores: np.ndarray) -> np.ndarray:
        scores = _scores(scores)
        # Shifted so the largest is 0: exp never overflows, however large the scores or small
        # the temperature; the probabilities are worked out in log space from there.
        with np.errstate(over="ignore"):  # refused just below, with a sentence
            logits = (scores - np.max(scores, initial=-np.inf)) / self.temperature
        if not np.all(np.isfinite(logits)):
            raise ValueError(
                f"scores / temperature overflows at temperature {self.temperature}: "
                "use a larger temperature (or greedy)"
            )
        return logits


def greedy(scores: np.ndarray, k: int) -> Explored:
    """The sorted order (ties by index), shown with certainty: what the service logs when
    exploration is off."""
    scores = _scores(scores)
    order = np.argsort(-scores, kind="stable")[: _clip(k, scores.size)]
    return Explored(order=order, list_propensity=1.0, position_propensities=np.ones(order.size))


def _marginals(logits: np.ndarray, k: int) -> np.ndarray:
    if k > MAX_EXACT_POSITIONS:
        raise ValueError(
            f"exact position propensities are worked out for at most {MAX_EXACT_POSITIONS} "
            f"positions, not {k}"
        )
    n = logits.size
    marginals = np.empty((k, n))
    prefixes = np.empty((1, 0), dtype=np.intp)  # the ordered offers shown before position j
    log_prefix = np.zeros(1)  # their log probabilities
    for j in range(k):
        shown = np.zeros((len(prefixes), n), dtype=bool)
        shown[np.arange(len(prefixes))[:, None], prefixes] = True
        log_next = log_prefix[:, None] + _log_softmax(np.where(shown, -np.inf, logits))
        marginals[j] = np.exp(log_next).sum(axis=0)
        if j + 1 < k:
            rows, offers = np.nonzero(~shown)
            prefixes = np.column_stack([prefixes[rows], offers])
            log_prefix = log_next[rows, offers]
    return marginals


def _log_list_probability(logits: np.ndarray, order: np.ndarray) -> float:
    """Log of the product over positions of the shown offer's softmax among those not shown
    before it."""
    k = order.size
    if k == 0:
        return 0.0  # the empty list, shown with certainty (also when there are no scores)
    before = np.zeros((k, logits.size), dtype=bool)
    before[:, order] = np.tri(k, k, -1, dtype=bool)  # row j: the offers shown before j
    log_next = _log_softmax(np.where(before, -np.inf, logits))
    return float(np.sum(log_next[np.arange(k), order]))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log softmax, -inf for the offers already shown. Shifted by each row's largest
    first, so ties among huge logits (a tiny temperature) still split evenly. (Not scipy's
    log_softmax: its array-API dispatch costs more than the arithmetic at these sizes, and this
    runs once per request.)"""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _scores(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, not of shape {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite")
    return scores


def _clip(k: int, n: int) -> int:
    if k < 0:
        raise ValueError(f"k must be at least 0, not {k}")
    return min(k, n)
