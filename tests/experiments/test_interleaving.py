"""Team-draft interleaving: fair merges, and a preference seen sooner than an A/B test sees it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from scipy.stats import binomtest, norm

from smartstack.experiments.interleaving import (
    Interleaved,
    Preference,
    credit,
    preference_test,
    team_draft,
)

K, OFFERS = 3, 10
VIEW = 0.97 ** np.arange(K)  # the position factor of a click
OFFER_IDS = np.array([f"offer-{i}" for i in range(OFFERS)])


def test_a_merge_shows_each_offer_once_as_its_team_would_pick_it() -> None:
    pool = [f"o{i}" for i in range(12)]
    for seed in range(300):
        rng = np.random.default_rng(seed)
        a = list(rng.permutation(pool)[: rng.integers(0, 8)])
        b = list(rng.permutation(pool)[: rng.integers(0, 8)])
        k = int(rng.integers(0, 10))
        merged = team_draft(a, b, k, rng)
        assert len(merged.offer_ids) == len(merged.teams)
        assert len(set(merged.offer_ids)) == len(merged.offer_ids)
        assert len(merged.offer_ids) == min(k, len(set(a) | set(b)))
        for i, (offer, team) in enumerate(zip(merged.offer_ids, merged.teams, strict=True)):
            # the team's best offer not shown before it
            ranking = a if team == "a" else b
            assert offer == next(o for o in ranking if o not in merged.offer_ids[:i])


def test_offers_in_one_list_only_are_shown_once_the_other_runs_out() -> None:
    merged = team_draft(["x"], ["y", "z", "w"], 4, np.random.default_rng(0))
    assert sorted(merged.offer_ids) == ["w", "x", "y", "z"]
    assert merged.teams.count("a") == 1
    assert team_draft([], [], 3, np.random.default_rng(0)) == Interleaved((), ())
    assert team_draft(["x"], ["y"], 0, np.random.default_rng(0)) == Interleaved((), ())
    with pytest.raises(ValueError, match="at least 0"):
        team_draft(["x"], ["y"], -1, np.random.default_rng(0))


def test_with_identical_rankings_each_team_holds_each_position_half_the_time() -> None:
    ranking = [f"o{i}" for i in range(6)]
    draws, k = 4000, 4
    held_by_a = np.zeros(k)
    for seed in range(draws):
        merged = team_draft(ranking, ranking, k, np.random.default_rng(seed))
        assert merged.offer_ids == tuple(ranking[:k])  # both would pick the same
        assert merged.teams.count("a") == k // 2  # one pick each per round
        held_by_a += np.array(merged.teams) == "a"
    # within 4.5 standard errors of a half at every position
    assert np.all(np.abs(held_by_a / draws - 0.5) <= 4.5 * np.sqrt(0.25 / draws)), held_by_a


@pytest.mark.parametrize(
    ("clicked", "winner"),
    [
        ((True, False, False, False), "a"),
        ((False, True, False, False), "b"),
        ((True, True, False, False), "tie"),
        ((False, False, False, False), "tie"),
        ((False, True, True, True), "b"),
        ((True, False, True, False), "a"),
    ],
)
def test_the_team_with_more_clicked_offers_wins(clicked: tuple[bool, ...], winner: str) -> None:
    assert credit(("a", "b", "a", "b"), clicked) == winner


def test_credit_refuses_mismatched_or_unknown_teams() -> None:
    with pytest.raises(ValueError, match="2 teams but 3 click flags"):
        credit(("a", "b"), (True, False, False))
    with pytest.raises(ValueError, match="not \\['c'\\]"):
        credit(("a", "c"), (True, False))


def test_the_preference_test_counts_and_signs() -> None:
    outcomes = ["a"] * 60 + ["b"] * 35 + ["tie"] * 105
    preference = preference_test(iter(outcomes))
    assert preference == Preference(
        wins_a=60,
        wins_b=35,
        ties=105,
        delta=25 / 200,
        p_value=binomtest(60, 95, 0.5).pvalue,
        preferred="a",
    )
    assert preference.p_value < 0.05
    assert preference_test(outcomes, alpha=preference.p_value / 2).preferred is None
    assert preference_test(["b"] * 20).preferred == "b"
    assert preference_test(["tie"] * 5) == Preference(0, 0, 5, 0.0, 1.0, None)
    with pytest.raises(ValueError, match="no impressions"):
        preference_test([])
    with pytest.raises(ValueError, match="not \\['draw'\\]"):
        preference_test(["a", "draw"])


# A simulated world: each impression offers OFFERS candidates with true click probabilities;
# ranker A orders them by the truth, ranker B by a noisy view of it. A slot's offer is clicked
# with its probability times the position factor.


def impressions(seed: int, noise: float) -> Iterator[tuple[np.ndarray, list[str], list[str]]]:
    """Endless impressions: the offers' true click probabilities and A's and B's rankings."""
    rng = np.random.default_rng(seed)
    while True:
        p = rng.beta(1.0, 4.0, size=OFFERS)
        a = np.argsort(-p, kind="stable")
        b = np.argsort(-(np.log(p / (1 - p)) + noise * rng.normal(size=OFFERS)), kind="stable")
        yield p, list(OFFER_IDS[a]), list(OFFER_IDS[b])


def click(
    p: np.ndarray, shown: list[str] | tuple[str, ...], rng: np.random.Generator
) -> np.ndarray:
    truth = p[[int(offer.removeprefix("offer-")) for offer in shown]]
    return rng.random(len(shown)) < VIEW[: len(shown)] * truth


def interleaved_outcomes(seed: int, noise: float, count: int) -> list[str]:
    rng, world = np.random.default_rng(seed + 1), impressions(seed, noise)
    outcomes = []
    for _ in range(count):
        p, a, b = next(world)
        merged = team_draft(a, b, K, rng)
        outcomes.append(credit(merged.teams, click(p, merged.offer_ids, rng)))
    return outcomes


def ab_clicks(seed: int, noise: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per impression, its arm (True: A) and its clicks in the top K; arms alternate."""
    rng, world = np.random.default_rng(seed + 1), impressions(seed, noise)
    arm_a, clicks = np.zeros(count, dtype=bool), np.zeros(count)
    for i in range(count):
        p, a, b = next(world)
        arm_a[i] = i % 2 == 0
        clicks[i] = click(p, a[:K] if arm_a[i] else b[:K], rng).sum()
    return arm_a, clicks


def ab_p_value(arm_a: np.ndarray, clicks: np.ndarray) -> float:
    """Two-sided two-proportion z-test of the arms' click rates per slot in the top K."""
    slots_a, slots_b = K * arm_a.sum(), K * (~arm_a).sum()
    rate_a, rate_b = clicks[arm_a].sum() / slots_a, clicks[~arm_a].sum() / slots_b
    pooled = clicks.sum() / (slots_a + slots_b)
    se = np.sqrt(pooled * (1 - pooled) * (1 / slots_a + 1 / slots_b))
    return float(2 * norm.sf(abs(rate_a - rate_b) / se))


def test_interleaving_prefers_the_ranker_that_follows_the_truth() -> None:
    preference = preference_test(interleaved_outcomes(seed=1, noise=1.5, count=2000))
    assert preference.preferred == "a", preference
    assert preference.delta > 0


def test_with_identical_rankers_interleaving_prefers_neither() -> None:
    neither = sum(
        preference_test(interleaved_outcomes(seed, noise=0.0, count=400)).preferred is None
        for seed in range(50)
    )
    print(f"identical rankers: no preference in {neither} of 50 seeds")
    assert neither >= 45


def needed(p_values: list[float], sizes: range) -> int | None:
    """The fewest impressions from which the test stays significant (p < 0.05) at every larger
    size tried: a first dip below 0.05 can be luck."""
    first = None
    for size, p_value in zip(sizes, p_values, strict=True):
        if p_value >= 0.05:
            first = None
        elif first is None:
            first = size
    return first


def test_interleaving_needs_fewer_impressions_than_an_ab_test() -> None:
    seed, noise, sizes = 4, 0.7, range(100, 10_001, 100)
    outcomes = interleaved_outcomes(seed, noise, sizes[-1])
    arm_a, clicks = ab_clicks(seed, noise, sizes[-1])
    interleaving = needed([preference_test(outcomes[:n]).p_value for n in sizes], sizes)
    ab = needed([ab_p_value(arm_a[:n], clicks[:n]) for n in sizes], sizes)
    print(f"impressions to stay at p < 0.05: interleaving {interleaving}, A/B {ab}")
    assert interleaving is not None and ab is not None
    assert interleaving < ab
