"""Plackett–Luce exploration: the logged propensities are the probabilities of what was shown."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from smartstack.experiments.exploration import MAX_EXACT_POSITIONS, PlackettLuce, greedy

SCORES = np.array([0.3, -1.2, 2.0, 0.9, 0.4])  # five offers, no ties
TEMPERATURES = [1e-3, 0.3, 1.0, 100.0]


def lists(n: int, k: int) -> list[tuple[int, ...]]:
    return list(permutations(range(n), k))


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_the_propensities_of_every_ordered_top_k_sum_to_1(temperature: float) -> None:
    policy = PlackettLuce(temperature)
    total = sum(policy.list_propensity(SCORES, order) for order in lists(5, 3))
    assert total == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_marginals_are_the_sums_of_the_lists_with_the_offer_at_the_position(
    temperature: float,
) -> None:
    policy = PlackettLuce(temperature)
    expected = np.zeros((3, 5))
    for order in lists(5, 3):
        propensity = policy.list_propensity(SCORES, order)
        for position, offer in enumerate(order):
            expected[position, offer] += propensity
    np.testing.assert_allclose(policy.marginals(SCORES, 3), expected, rtol=0, atol=1e-12)


def test_marginal_rows_sum_to_1_and_columns_to_at_most_1() -> None:
    scores = np.random.default_rng(3).normal(size=12)
    marginals = PlackettLuce(0.7).marginals(scores, MAX_EXACT_POSITIONS)
    assert marginals.shape == (MAX_EXACT_POSITIONS, 12)
    np.testing.assert_allclose(marginals.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(marginals.sum(axis=0) <= 1 + 1e-12)
    assert np.all(marginals >= 0)


def test_sampled_orders_come_as_often_as_their_propensities_say() -> None:
    policy, draws, k = PlackettLuce(1.0), 20_000, 3
    rng = np.random.default_rng(20260715)
    at = np.zeros((k, SCORES.size))
    seen: dict[tuple[int, ...], int] = {}
    for _ in range(draws):
        explored = policy.sample(SCORES, k, rng)
        at[np.arange(k), explored.order] += 1
        order = tuple(int(i) for i in explored.order)
        seen[order] = seen.get(order, 0) + 1

    marginals = policy.marginals(SCORES, k)
    # Every cell within 4.5 binomial standard errors (one failing in ~10^5 by chance; the
    # seed is fixed, so this is deterministic).
    se = np.sqrt(marginals * (1 - marginals) / draws)
    assert np.all(np.abs(at / draws - marginals) <= 4.5 * se + 1e-9)
    for order in lists(SCORES.size, k):
        p = policy.list_propensity(SCORES, order)
        assert abs(seen.get(order, 0) / draws - p) <= 4.5 * np.sqrt(p * (1 - p) / draws) + 1e-9


def test_a_sample_logs_its_own_list_and_position_propensities() -> None:
    policy, rng = PlackettLuce(0.5), np.random.default_rng(7)
    marginals = policy.marginals(SCORES, 3)
    for _ in range(20):
        explored = policy.sample(SCORES, 3, rng)
        assert len(set(explored.order.tolist())) == 3
        assert explored.list_propensity == pytest.approx(
            policy.list_propensity(SCORES, explored.order), rel=1e-12
        )
        np.testing.assert_allclose(
            explored.position_propensities, marginals[np.arange(3), explored.order], rtol=1e-12
        )


def test_a_small_temperature_approaches_greedy() -> None:
    policy, rng = PlackettLuce(1e-3), np.random.default_rng(1)
    shown = greedy(SCORES, 3).order
    np.testing.assert_allclose(policy.marginals(SCORES, 3), np.eye(5)[shown], rtol=0, atol=1e-40)
    explored = policy.sample(SCORES, 3, rng)
    np.testing.assert_array_equal(explored.order, shown)
    assert explored.list_propensity == pytest.approx(1.0, abs=1e-12)


def test_large_scores_and_a_tiny_temperature_neither_overflow_nor_lose_ties() -> None:
    scores = np.array([1e9, 1e9 - 1, 1e9 - 1, 3.0])
    policy = PlackettLuce(1e-6)
    marginals = policy.marginals(scores, 3)
    # First the top offer; then the two tied runners-up, each first half the time.
    np.testing.assert_allclose(
        marginals, [[1, 0, 0, 0], [0, 0.5, 0.5, 0], [0, 0.5, 0.5, 0]], rtol=0, atol=1e-12
    )
    explored = policy.sample(scores, 3, np.random.default_rng(2))
    assert explored.list_propensity == pytest.approx(0.5, rel=1e-12)
    np.testing.assert_allclose(explored.position_propensities, [1, 0.5, 0.5], rtol=1e-12)


def test_a_large_temperature_approaches_uniform() -> None:
    marginals = PlackettLuce(1e6).marginals(SCORES, 3)
    np.testing.assert_allclose(marginals, 1 / SCORES.size, rtol=0, atol=1e-5)


def test_k_is_clipped_to_the_number_of_offers() -> None:
    policy, rng = PlackettLuce(1.0), np.random.default_rng(0)
    scores = np.array([0.5, 0.1, 0.9])
    explored = policy.sample(scores, 10, rng)
    assert sorted(explored.order.tolist()) == [0, 1, 2]
    # With every offer shown, each is somewhere: the marginals are doubly stochastic.
    marginals = policy.marginals(scores, 10)
    assert marginals.shape == (3, 3)
    np.testing.assert_allclose(marginals.sum(axis=0), 1.0, rtol=0, atol=1e-12)
    assert len(greedy(scores, 10).order) == 3


def test_one_offer_and_no_positions() -> None:
    policy, rng = PlackettLuce(1.0), np.random.default_rng(0)
    one = policy.sample(np.array([4.2]), 3, rng)
    assert one.order.tolist() == [0]
    assert one.list_propensity == 1.0
    assert one.position_propensities.tolist() == [1.0]

    for scores in (SCORES, np.array([4.2]), np.array([])):
        none = policy.sample(scores, 0, rng)
        assert none.order.shape == (0,)
        assert none.position_propensities.shape == (0,)
        assert none.list_propensity == 1.0
        assert policy.marginals(scores, 0).shape == (0, scores.size)


def test_greedy_sorts_ties_by_index_and_logs_certainty() -> None:
    explored = greedy(np.array([1.0, 3.0, 3.0, 2.0]), 3)
    assert explored.order.tolist() == [1, 2, 3]
    assert explored.list_propensity == 1.0
    assert explored.position_propensities.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_the_temperature_must_be_positive(temperature: float) -> None:
    with pytest.raises(ValueError, match="temperature must be positive"):
        PlackettLuce(temperature)


def test_exact_marginals_stop_at_four_positions() -> None:
    policy, scores = PlackettLuce(1.0), np.arange(6.0)
    with pytest.raises(ValueError, match="at most 4 positions"):
        policy.marginals(scores, MAX_EXACT_POSITIONS + 1)
    with pytest.raises(ValueError, match="at most 4 positions"):
        policy.sample(scores, MAX_EXACT_POSITIONS + 1, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("scores", "k", "message"),
    [
        (np.array([1.0, np.nan]), 1, "finite"),
        (np.ones((2, 2)), 1, "one-dimensional"),
        (SCORES, -1, "at least 0"),
        (np.array([0.0, 1e308]), 1, "overflows"),
    ],
)
def test_bad_input_is_refused(scores: np.ndarray, k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PlackettLuce(1e-10).marginals(scores, k)


def test_a_list_must_be_distinct_indices_of_the_scores() -> None:
    policy = PlackettLuce(1.0)
    with pytest.raises(ValueError, match="distinct"):
        policy.list_propensity(SCORES, [1, 1])
    with pytest.raises(ValueError, match="of the 5 scores"):
        policy.list_propensity(SCORES, [0, 5])
