"""One customer's engagement, and how one activity changes it: pure functions, no storage.

A week is an ISO week (Monday to Sunday) in the customer's time zone, numbered by
:func:`smartstack.data.weeks.week_of` (consecutive weeks are consecutive integers across year
boundaries). Local days come from the event's UTC time converted with the zone's rules, so a
daylight-saving change moves no event into the wrong week.

Badges are awarded when their metric reaches the target, at the event time of the activity
that reached it; once earned a badge is kept, whatever later happens to its rule. Both stores
(:mod:`smartstack.engagement.store`) keep this state as JSON and apply activities through
:func:`apply`, so the embedded store, Redis and a rebuild all compute the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smartstack.data.weeks import week_of
from smartstack.engagement.rules import METRIC_ACTION, Action, Badge, Metric, RuleSet


@dataclass(frozen=True)
class Activity:
    """One event as engagement sees it. ``event_id`` is unique across sources."""

    event_id: str
    customer_id: str
    action: Action
    occurred_at: datetime  # aware
    category: str | None = None  # of the redeemed offer
    timezone: str | None = None  # the customer's IANA zone, when the client knows it


@dataclass(frozen=True)
class EarnedBadge:
    id: str
    title: str
    earned_at: datetime


@dataclass
class CustomerEngagement:
    customer_id: str
    timezone: str = "UTC"
    weeks: list[int] = field(default_factory=list)  # qualifying week numbers, ascending
    counts: dict[str, int] = field(default_factory=dict)  # by Action
    categories: list[str] = field(default_factory=list)  # redeemed, sorted
    badges: dict[str, EarnedBadge] = field(default_factory=dict)
    withheld: int = 0  # spending actions the guardrail kept from counting
    last_activity_at: datetime | None = None
    last_quiz_at: datetime | None = None

    # -- reading
    def metric(self, metric: Metric) -> int:
        if metric is Metric.redeemed_categories:
            return len(self.categories)
        if metric is Metric.longest_streak:
            return self.longest_streak
        action = METRIC_ACTION[metric]
        return self.counts.get(action.value, 0) if action else 0

    @property
    def longest_streak(self) -> int:
        longest = run = 0
        previous = None
        for week in self.weeks:
            run = run + 1 if previous is not None and week == previous + 1 else 1
            longest = max(longest, run)
            previous = week
        return longest

    def _run_ending(self, week: int) -> int:
        """Qualifying weeks in a row ending at ``week`` (0 when ``week`` does not qualify)."""
        weeks = set(self.weeks)
        run = 0
        while week - run in weeks:
            run += 1
        return run

    @property
    def streak_run(self) -> int:
        """Weeks in a row ending at the last qualifying week (0: never engaged)."""
        return self._run_ending(self.weeks[-1]) if self.weeks else 0

    def current_streak(self, now: datetime) -> int:
        """Weeks in a row up to this week, or up to last week while this one is still open."""
        this_week = week_number(now, self.timezone)
        return self._run_ending(this_week) or self._run_ending(this_week - 1)

    def weeks_since_last(self, now: datetime) -> int | None:
        """Whole weeks since the last qualifying week (0: this week); None: never engaged."""
        if not self.weeks:
            return None
        return max(0, week_number(now, self.timezone) - self.weeks[-1])

    # -- storage
    def to_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "timezone": self.timezone,
            "weeks": self.weeks,
            "counts": self.counts,
            "categories": self.categories,
            "badges": {
                b.id: {"title": b.title, "earned_at": b.earned_at.isoformat()}
                for b in self.badges.values()
            },
            "withheld": self.withheld,
            "last_activity_at": _iso(self.last_activity_at),
            "last_quiz_at": _iso(self.last_quiz_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CustomerEngagement:
        return cls(
            customer_id=data["customer_id"],
            timezone=data["timezone"],
            weeks=list(data["weeks"]),
            counts=dict(data["counts"]),
            categories=list(data["categories"]),
            badges={
                key: EarnedBadge(key, b["title"], datetime.fromisoformat(b["earned_at"]))
                for key, b in data["badges"].items()
            },
            withheld=data["withheld"],
            last_activity_at=_parse(data["last_activity_at"]),
            last_quiz_at=_parse(data["last_quiz_at"]),
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The zone called ``name``; UTC for a name this machine's tz database does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def week_number(moment: datetime, timezone: str) -> int:
    """The week of ``moment`` in ``timezone`` (:func:`~smartstack.data.weeks.week_of`)."""
    return week_of(moment.astimezone(zone(timezone)).date())


def iso_week(number: int) -> str:
    """``2021-W01`` for a week number."""
    year, week, _ = date.fromordinal(number * 7 + 1).isocalendar()
    return f"{year}-W{week:02d}"


def apply(
    state: CustomerEngagement, activity: Activity, rules: RuleSet, spend_rising: bool
) -> None:
    """Count ``activity`` (already known to be new) and award the badges it completes.

    ``spend_rising``: the guardrail found the customer's recent spend rising sharply; their
    spending actions then count for nothing (recorded as withheld).
    """
    if activity.timezone:
        state.timezone = activity.timezone
    at = activity.occurred_at.astimezone(UTC)
    state.last_activity_at = max(at, state.last_activity_at) if state.last_activity_at else at
    action = activity.action
    guard = rules.guardrail
    if spend_rising and guard is not None and action in guard.spending_actions:
        state.withheld += 1
        return
    state.counts[action.value] = state.counts.get(action.value, 0) + 1
    if action is Action.redeem and activity.category and activity.category not in state.categories:
        state.categories = sorted([*state.categories, activity.category])
    if action is Action.quiz:
        state.last_quiz_at = max(at, state.last_quiz_at) if state.last_quiz_at else at
    if action in rules.streak.qualifying:
        week = week_number(at, state.timezone)
        if week not in state.weeks:
            state.weeks = sorted([*state.weeks, week])
    award(state, rules, at)


def award(state: CustomerEngagement, rules: RuleSet, at: datetime) -> list[EarnedBadge]:
    """Award every active badge whose target the state has reached; returns the new ones."""
    new = []
    for badge in rules.active:
        if badge.id not in state.badges and state.metric(badge.metric) >= badge.target:
            earned = state.badges[badge.id] = EarnedBadge(badge.id, badge.title, at)
            new.append(earned)
    return new


@dataclass(frozen=True)
class Progress:
    badge: Badge
    value: int

    @property
    def fraction(self) -> float:
        return min(1.0, self.value / self.badge.target)


def next_badges(state: CustomerEngagement, rules: RuleSet) -> list[Progress]:
    """Active badges not earned yet, closest to done first."""
    pending = [
        Progress(b, state.metric(b.metric)) for b in rules.active if b.id not in state.badges
    ]
    return sorted(pending, key=lambda p: (-p.fraction, p.badge.target, p.badge.id))
