"""Team-draft interleaving: which of two rankers customers prefer, from one list per impression.

An A/B test shows each customer one ranker's list and compares click rates between two groups
of customers, so it must see past how the groups differ. Interleaving shows every customer one
list that merges both rankers' picks and credits each click to the ranker that picked the
offer: every impression is a paired comparison on the same customer at the same moment, and a
preference shows in far fewer impressions (Chapelle, Joachims, Radlinski & Yue 2012). Team
draft (Radlinski, Kurup & Joachims 2008) merges like picking sides: the ranker with fewer
picks so far picks next (a coin decides ties), taking its best offer not yet shown, so neither
ranker's offers are favoured by position.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

TEAMS = ("a", "b")
OUTCOMES = (*TEAMS, "tie")


@dataclass(frozen=True)
class Interleaved:
    """The list to show and, per offer, the ranker that picked it."""

    offer_ids: tuple[str, ...]
    teams: tuple[str, ...]  # "a" or "b", one per offer


@dataclass(frozen=True)
class Preference:
    """Which ranker the impressions prefer. ``delta`` is the share of impressions ``a`` won
    minus the share ``b`` won; ``p_value`` that of a sign test over the impressions one of
    them won (ties say nothing about the preference)."""

    wins_a: int
    wins_b: int
    ties: int
    delta: float
    p_value: float
    preferred: str | None  # "a" or "b"; None when the test is not significant at alpha


def team_draft(a: Sequence[str], b: Sequence[str], k: int, rng: np.random.Generator) -> Interleaved:
    """Up to k offers interleaved from rankings ``a`` and ``b`` (best first). When one ranking
    has nothing left to show, the other picks the rest."""
    if k < 0:
        raise ValueError(f"k must be at least 0, not {k}")
    ranked = {"a": list(a), "b": list(b)}
    cursor = dict.fromkeys(TEAMS, 0)  # where each team's next unshown offer may be
    picks = dict.fromkeys(TEAMS, 0)
    offer_ids: list[str] = []
    teams: list[str] = []
    shown: set[str] = set()
    while len(offer_ids) < k:
        for team in TEAMS:
            while cursor[team] < len(ranked[team]) and ranked[team][cursor[team]] in shown:
                cursor[team] += 1
        ready = [team for team in TEAMS if cursor[team] < len(ranked[team])]
        if not ready:
            break
        if len(ready) == 1:
            team = ready[0]
        elif picks["a"] != picks["b"]:
            team = "a" if picks["a"] < picks["b"] else "b"
        else:
            team = "a" if rng.random() < 0.5 else "b"
        offer = ranked[team][cursor[team]]
        offer_ids.append(offer)
        teams.append(team)
        shown.add(offer)
        picks[team] += 1
    return Interleaved(tuple(offer_ids), tuple(teams))


def credit(teams: Sequence[str], clicked: Sequence[bool]) -> str:
    """The impression's winner: the team whose offers got more clicks ("a" or "b"), else
    "tie" (no clicks included)."""
    if len(teams) != len(clicked):
        raise ValueError(f"{len(teams)} teams but {len(clicked)} click flags")
    unknown = set(teams) - set(TEAMS)
    if unknown:
        raise ValueError(f"teams are 'a' or 'b', not {sorted(unknown)}")
    clicks = Counter(team for team, click in zip(teams, clicked, strict=True) if click)
    if clicks["a"] == clicks["b"]:
        return "tie"
    return "a" if clicks["a"] > clicks["b"] else "b"


def preference_test(outcomes: Iterable[str], alpha: float = 0.05) -> Preference:
    """Wins, ties and a two-sided sign test of the wins (binomial, p = 1/2) over impressions'
    outcomes ("a", "b" or "tie", from :func:`credit`)."""
    counts = Counter(outcomes)
    unknown = set(counts) - set(OUTCOMES)
    if unknown:
        raise ValueError(f"outcomes are 'a', 'b' or 'tie', not {sorted(unknown)}")
    wins_a, wins_b, ties = counts["a"], counts["b"], counts["tie"]
    impressions = wins_a + wins_b + ties
    if impressions == 0:
        raise ValueError("no impressions to test")
    decided = wins_a + wins_b
    p_value = float(binomtest(wins_a, decided, 0.5).pvalue) if decided else 1.0
    preferred = None
    if p_value < alpha:
        preferred = "a" if wins_a > wins_b else "b"
    return Preference(
        wins_a=wins_a,
        wins_b=wins_b,
        ties=ties,
        delta=(wins_a - wins_b) / impressions,
        p_value=p_value,
        preferred=preferred,
    )
