"""Off-policy estimates: in a simulated world whose truth is known, the intervals hold it.

The world is item-position, as the synthetic generator's clicks are: each request has offers
with true click probabilities, and the chance of a click at a slot is the offer's probability
times a position factor. A log is drawn under one policy (uniformly random, or Plackett–Luce
exploration), the estimators value a deterministic target ranker from it, and the truth is the
target's expected click rate over the same requests.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from smartstack.experiments.exploration import PlackettLuce
from smartstack.experiments.ope import ESTIMATORS, Estimate, Rounds, clears, evaluate

K, OFFERS, REQUESTS = 3, 10, 3000
VIEW = 0.97 ** np.arange(K)  # the position factor
SEEDS = range(20)
# Fewer resamples than the default keep the 20-seed runs quick; 1000 is plenty for a 95%
# percentile interval.
RESAMPLES = 1000


def clicks(seed: int, requests: int = REQUESTS) -> np.ndarray:
    """True click probabilities, (requests, offers): mostly low, a few good offers each."""
    return np.random.default_rng(seed).beta(1.0, 4.0, size=(requests, OFFERS))


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def ranker(p: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """Each request's top K by a noisy view of the truth (noise on the logit scale)."""
    scores = logit(p) + noise * np.random.default_rng(seed).normal(size=p.shape)
    return np.argsort(-scores, axis=1, kind="stable")[:, :K]


def at(p: np.ndarray, shown: np.ndarray) -> np.ndarray:
    return np.take_along_axis(p, shown, axis=1)


def true_value(p: np.ndarray, target: np.ndarray) -> float:
    return float((VIEW * at(p, target)).mean())


def uniform_log(p: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """K offers without replacement, uniformly: each logged offer was at its slot w.p. 1/n."""
    rng = np.random.default_rng(seed)
    logged = np.argsort(rng.random(p.shape), axis=1)[:, :K]
    return logged, np.full(logged.shape, 1 / OFFERS)


def plackett_luce_log(p: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Exploration around a logging model (a noisy view of the truth), as the service would
    serve it: each request's order sampled, with its position propensities."""
    rng = np.random.default_rng(seed)
    scores = logit(p) + rng.normal(size=p.shape)
    policy = PlackettLuce(temperature=2.0)
    explored = [policy.sample(row, K, rng) for row in scores]
    return (
        np.stack([e.order for e in explored]),
        np.stack([e.position_propensities for e in explored]),
    )


def rounds(
    p: np.ndarray,
    logged: np.ndarray,
    propensity: np.ndarray,
    target: np.ndarray,
    model: np.ndarray,
    seed: int,
) -> Rounds:
    """The log's rounds, its clicks drawn from the truth, valued for ``target`` with the reward
    model ``model`` (click probabilities, like ``p``)."""
    requests = len(p)
    reward = np.random.default_rng(seed).random(logged.shape) < VIEW * at(p, logged)
    return Rounds(
        request=np.repeat(np.arange(requests), K),
        position=np.tile(np.arange(K), requests),
        reward=reward.ravel().astype(float),
        logged_propensity=propensity.ravel(),
        target_propensity=(target == logged).ravel().astype(float),
        q_logged=(VIEW * at(model, logged)).ravel(),
        q_target=(VIEW * at(model, target)).ravel(),
    )


def imperfect(p: np.ndarray, seed: int) -> np.ndarray:
    """A reward model that is wrong in places: the truth seen through noise and shrunk."""
    noisy = logit(p) * 0.7 + 0.5 * np.random.default_rng(seed).normal(size=p.shape)
    return 1 / (1 + np.exp(-noisy))


def coverage(log: str, seeds: range, requests: int) -> dict[str, int]:
    """Per estimator, the seeds whose 95% interval holds the target's true value."""
    covered = dict.fromkeys(ESTIMATORS, 0)
    for seed in seeds:
        p = clicks(seed, requests)
        target = ranker(p, noise=0.5, seed=seed + 1000)
        draw = uniform_log if log == "uniform" else plackett_luce_log
        logged, propensity = draw(p, seed + 2000)
        log_rounds = rounds(p, logged, propensity, target, imperfect(p, seed + 3000), seed + 4000)
        truth = true_value(p, target)
        for name, estimate in evaluate(log_rounds, k=K, resamples=RESAMPLES, seed=seed).items():
            covered[name] += estimate.low <= truth <= estimate.high
    return covered


def test_uniform_logging_intervals_cover_the_truth() -> None:
    covered = coverage("uniform", SEEDS, REQUESTS)
    print(f"uniform logging, 95% intervals holding the truth in {len(SEEDS)} seeds: {covered}")
    # 19 of 20 expected; 16 or more is 80%.
    assert all(count >= 16 for count in covered.values()), covered


def test_plackett_luce_logging_intervals_cover_the_truth() -> None:
    # Fewer seeds and requests: sampling each request's order is the slow part.
    seeds = range(10)
    covered = coverage("plackett-luce", seeds, requests=2000)
    print(
        f"Plackett–Luce logging, 95% intervals holding the truth in {len(seeds)} seeds: {covered}"
    )
    assert all(count >= 8 for count in covered.values()), covered


def test_doubly_robust_with_a_perfect_reward_model_is_narrower_than_ips() -> None:
    p = clicks(0)
    target = ranker(p, noise=0.5, seed=1)
    logged, propensity = uniform_log(p, seed=2)
    estimates = evaluate(rounds(p, logged, propensity, target, p, seed=3), k=K, resamples=RESAMPLES)
    width = {name: e.high - e.low for name, e in estimates.items()}
    assert width["dr"] < 0.9 * width["ips"], width
    assert estimates["dr"].low <= true_value(p, target) <= estimates["dr"].high


def test_a_truly_better_ranker_clears_a_worse_one() -> None:
    p = clicks(5)
    logged, propensity = uniform_log(p, seed=6)
    better, worse = ranker(p, noise=0.2, seed=7), ranker(p, noise=3.0, seed=8)
    assert true_value(p, better) > true_value(p, worse)
    model = imperfect(p, seed=9)
    valued = {
        name: evaluate(
            rounds(p, logged, propensity, target, model, seed=10), k=K, resamples=RESAMPLES
        )
        for name, target in (("better", better), ("worse", worse))
    }
    for estimator in ESTIMATORS:
        challenger, champion = valued["better"][estimator], valued["worse"][estimator]
        assert clears(challenger, champion), (challenger, champion)
        assert not clears(champion, challenger), (champion, challenger)


def test_the_same_log_and_seed_give_the_same_intervals() -> None:
    p = clicks(11, requests=500)
    logged, propensity = uniform_log(p, seed=12)
    log_rounds = rounds(p, logged, propensity, ranker(p, 0.5, 13), p, seed=14)
    first = evaluate(log_rounds, k=K, resamples=200, seed=1)
    assert evaluate(log_rounds, k=K, resamples=200, seed=1) == first
    assert first["ips"] == Estimate(
        "ips", first["ips"].value, first["ips"].low, first["ips"].high, 500
    )


def test_the_value_is_the_click_rate_per_slot() -> None:
    # Two requests of two slots, all logged with certainty and all kept by the target: the
    # value is the plain click rate, 3 clicks in 4 slots.
    log = Rounds(
        request=np.array([0, 0, 1, 1]),
        position=np.array([1, 0, 0, 1]),
        reward=np.array([1.0, 1.0, 0.0, 1.0]),
        logged_propensity=np.ones(4),
        target_propensity=np.ones(4),
        q_logged=np.full(4, 0.5),
        q_target=np.full(4, 0.5),
    )
    for estimate in evaluate(log, k=2, resamples=200).values():
        assert estimate.value == pytest.approx(0.75)
        assert estimate.low <= 0.75 <= estimate.high
        assert estimate.requests == 2


def test_clears_compares_the_lower_bound_with_the_champions_estimate() -> None:
    champion = Estimate("dr", value=0.10, low=0.08, high=0.12, requests=1000)
    assert clears(Estimate("dr", 0.13, 0.105, 0.15, 1000), champion)
    assert not clears(Estimate("dr", 0.13, 0.10, 0.15, 1000), champion)


def simple(**changes: object) -> Rounds:
    fields: dict[str, object] = {
        "request": np.array([0, 0, 1, 1, 2, 2]),
        "position": np.array([0, 1, 0, 1, 0, 1]),
        "reward": np.array([1.0, 0, 0, 1, 0, 0]),
        "logged_propensity": np.full(6, 0.5),
        "target_propensity": np.array([1.0, 0, 1, 1, 0, 1]),
    }
    return Rounds(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reward": np.zeros(5)}, "of one length"),
        ({"logged_propensity": np.array([0.5, 0.5, 0.0, 0.5, 0.5, 0.5])}, r"in \(0, 1\]"),
        ({"logged_propensity": np.full(6, -0.1)}, r"in \(0, 1\]"),
        ({"target_propensity": np.full(6, 1.5)}, r"in \[0, 1\]"),
        ({"request": np.array([0.0, 0, 1, 1, 2, 2])}, "integers"),
        ({"reward": np.array([1.0, np.nan, 0, 1, 0, 0])}, "finite"),
        ({"q_logged": np.zeros(6)}, "both or neither"),
    ],
)
def test_bad_rounds_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simple(**changes)


@pytest.mark.parametrize(
    ("changes", "k", "message"),
    [
        ({"position": np.array([0, 1, 0, 1, 1, 1])}, 2, "request 2 has 0 rounds at slot 0"),
        ({"position": np.array([0, 1, 0, 0, 0, 1])}, 2, "request 1 has 2 rounds at slot 0"),
        ({}, 3, "request 0 has 0 rounds at slot 2"),
        ({"position": np.array([0, 1, 0, 2, 0, 1])}, 2, r"top 2 \(0 to 1\)"),
        ({}, 0, "k must be at least 1"),
    ],
)
def test_every_request_must_show_its_k_slots(changes: dict, k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(simple(**changes), k=k, estimators=("ips",))


def test_evaluate_refuses_what_it_cannot_estimate() -> None:
    with pytest.raises(ValueError, match="needs q_logged and q_target"):
        evaluate(simple(), k=2)
    with pytest.raises(ValueError, match="unknown estimators"):
        evaluate(simple(), k=2, estimators=("ips", "switch"))
    with pytest.raises(ValueError, match="at least 2 requests"):
        evaluate(
            simple(request=np.zeros(6, dtype=int), position=np.arange(6)), k=6, estimators=("ips",)
        )
    with pytest.raises(ValueError, match="confidence"):
        evaluate(simple(), k=2, confidence=1.0, estimators=("ips",))


def test_snips_warns_about_a_slot_the_target_never_agrees_on() -> None:
    log = simple(target_propensity=np.array([1.0, 0, 1, 0, 0, 0]))
    with pytest.warns(RuntimeWarning, match=r"slot\(s\) \[1\]"):
        estimates = evaluate(log, k=2, resamples=200, estimators=("snips",))
    # slot 0: 1 click in 2 weighted rounds; slot 1 counts as 0
    assert estimates["snips"].value == pytest.approx(0.25)


def test_clusters_resample_whole_customers() -> None:
    """Rewards that share a customer's taste are not independent: resampling customers widens
    the interval; one cluster per request is the request bootstrap itself."""
    rng = np.random.default_rng(0)
    n, customers = 3000, 60
    customer = rng.integers(0, customers, n)
    taste = rng.random(customers)
    rounds = Rounds(
        request=np.arange(n),
        position=np.zeros(n, dtype=int),
        reward=(rng.random(n) < taste[customer]).astype(float),
        logged_propensity=np.ones(n),
        target_propensity=np.ones(n),
    )
    by_request = evaluate(rounds, k=1, estimators=("ips",), resamples=500)["ips"]
    by_customer = evaluate(
        replace(rounds, cluster=customer), k=1, estimators=("ips",), resamples=500
    )["ips"]
    own = evaluate(replace(rounds, cluster=np.arange(n)), k=1, estimators=("ips",), resamples=500)
    assert by_customer.value == pytest.approx(by_request.value)
    assert by_customer.high - by_customer.low > 2 * (by_request.high - by_request.low)
    assert (own["ips"].low, own["ips"].high) == (by_request.low, by_request.high)
