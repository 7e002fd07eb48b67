"""Streak arithmetic, badges and the guardrail on one customer's state (no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from smartstack.engagement.rules import Action, RuleSet
from smartstack.engagement.state import (
    Activity,
    CustomerEngagement,
    apply,
    iso_week,
    next_badges,
    week_number,
)


def _act(
    n: int, action: Action, at: datetime, category: str | None = None, tz: str | None = None
) -> Activity:
    return Activity(f"e{n}", "C1", action, at, category, tz)


def test_weeks_are_consecutive_across_a_year_boundary() -> None:
    # 2020 has an ISO week 53 (Dec 28 2020 - Jan 3 2021); 2021-W01 starts Jan 4 2021.
    w53 = week_number(datetime(2020, 12, 31, 12, tzinfo=UTC), "UTC")
    w01 = week_number(datetime(2021, 1, 4, 12, tzinfo=UTC), "UTC")
    assert (iso_week(w53), iso_week(w01), w01 - w53) == ("2020-W53", "2021-W01", 1)


def test_a_streak_runs_through_new_year(rules: RuleSet) -> None:
    state = CustomerEngagement("C1")
    days = [
        datetime(2020, 12, 16),
        datetime(2020, 12, 23),
        datetime(2020, 12, 31),
        datetime(2021, 1, 6),
    ]
    for n, day in enumerate(days):
        apply(state, _act(n, Action.rating, day.replace(tzinfo=UTC)), rules, False)
    assert state.longest_streak == 4
    assert state.current_streak(datetime(2021, 1, 8, tzinfo=UTC)) == 4
    # Still alive the week after (this week may yet qualify), broken the week after that.
    assert state.current_streak(datetime(2021, 1, 13, tzinfo=UTC)) == 4
    assert state.current_streak(datetime(2021, 1, 20, tzinfo=UTC)) == 0
    assert "four_week_streak" in state.badges
    assert state.badges["four_week_streak"].earned_at == datetime(2021, 1, 6, tzinfo=UTC)


def test_weeks_follow_the_customers_zone_across_a_daylight_saving_change(rules: RuleSet) -> None:
    # Berlin leaves summer time on Sunday 2026-10-25. Sunday 23:30 local (22:30 UTC, UTC+1) is
    # still in that ISO week; in UTC+2 (the offset of the day before) it would be Monday 00:30.
    sunday_late = datetime(2026, 10, 25, 22, 30, tzinfo=UTC)
    assert week_number(sunday_late, "Europe/Berlin") == week_number(
        datetime(2026, 10, 19, 12, tzinfo=UTC), "Europe/Berlin"
    )
    # Spring forward (2026-03-29): Monday 00:15 local is Sunday 22:15 UTC: the new week.
    monday_early = datetime(2026, 3, 29, 22, 15, tzinfo=UTC)
    assert week_number(monday_early, "Europe/Berlin") == week_number(
        datetime(2026, 4, 1, tzinfo=UTC), "Europe/Berlin"
    )
    # Two actions, a week apart locally, are a 2-week streak only in the customer's zone.
    state = CustomerEngagement("C1")
    apply(
        state,
        _act(1, Action.rating, datetime(2026, 3, 23, 12, tzinfo=UTC), tz="Europe/Berlin"),
        rules,
        False,
    )
    apply(state, _act(2, Action.rating, monday_early), rules, False)
    assert state.timezone == "Europe/Berlin" and state.longest_streak == 2
    in_utc = CustomerEngagement("C2")
    apply(in_utc, _act(3, Action.rating, datetime(2026, 3, 23, 12, tzinfo=UTC)), rules, False)
    apply(in_utc, _act(4, Action.rating, monday_early), rules, False)
    assert in_utc.longest_streak == 1


def test_badges_are_awarded_at_the_event_that_reaches_them(rules: RuleSet) -> None:
    state = CustomerEngagement("C1")
    start = datetime(2026, 5, 4, tzinfo=UTC)
    for n, category in enumerate(["dining", "dining", "travel", "gas"]):
        apply(state, _act(n, Action.redeem, start + timedelta(days=n), category), rules, False)
    assert state.badges["first_redemption"].earned_at == start
    assert state.badges["explorer"].earned_at == start + timedelta(days=3)
    pending = {p.badge.id: p.value for p in next_badges(state, rules)}
    assert "explorer" not in pending and pending["critic"] == 0


def test_the_guardrail_withholds_spending_rewards_only(rules: RuleSet) -> None:
    state = CustomerEngagement("C1")
    at = datetime(2026, 5, 4, tzinfo=UTC)
    apply(state, _act(1, Action.redeem, at, "travel"), rules, spend_rising=True)
    apply(state, _act(2, Action.rating, at), rules, spend_rising=True)
    apply(state, _act(3, Action.quiz, at), rules, spend_rising=True)
    assert state.withheld == 1
    assert state.counts == {"rating": 1, "quiz": 1}
    assert set(state.badges) == {"quiz_taker"}  # no first_redemption
    assert state.longest_streak == 1  # the rating's week, not the redemption's


def test_the_guardrail_rule_compares_against_the_average_month(rules: RuleSet) -> None:
    guard = rules.guardrail
    assert guard is not None
    assert guard.rising(recent=1600.0, baseline=3000.0)  # 1600 > 1.5 × 1000
    assert not guard.rising(recent=1400.0, baseline=3000.0)
    assert not guard.rising(recent=None, baseline=3000.0)  # unknown spend: not rising
