"""Both engagement stores: exactly once under concurrency, rule reloads, equal results."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import yaml

from smartstack.engagement.rules import Action, RuleSet, parse_rules
from smartstack.engagement.state import Activity
from smartstack.engagement.store import EngagementStore, differences
from smartstack.paths import ENGAGEMENT_RULES

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
MakeStore = Callable[..., EngagementStore]


def test_a_hundred_concurrent_copies_of_one_event_count_once(make_store: MakeStore) -> None:
    store = make_store()
    redemption = Activity("feedback:dup-1", "C1", Action.redeem, T0, "travel")
    counted: list[int] = []
    barrier = threading.Barrier(100)

    def deliver() -> None:
        barrier.wait()
        counted.append(store.apply([redemption]).new)

    threads = [threading.Thread(target=deliver) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = store.get("C1")
    assert sorted(counted) == [0] * 99 + [1]
    assert state is not None and state.counts == {"redeem": 1} and state.categories == ["travel"]


def test_concurrent_distinct_events_of_one_customer_all_count(make_store: MakeStore) -> None:
    store = make_store()
    threads = [
        threading.Thread(
            target=store.apply,
            args=([Activity(f"feedback:r{n}", "C1", Action.rating, T0 + timedelta(minutes=n))],),
        )
        for n in range(40)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = store.get("C1")
    assert state is not None and state.counts == {"rating": 40}


def test_a_redelivered_batch_changes_nothing(make_store: MakeStore) -> None:
    store = make_store()
    batch = [
        Activity(f"feedback:{n}", f"C{n % 3}", Action.redeem, T0 + timedelta(days=7 * n), "dining")
        for n in range(12)
    ]
    assert store.apply(batch).new == 12
    before = [s.to_json() for s in store.customers()]
    again = store.apply(batch[4:] + batch[:2])
    assert again.new == 0 and again.changed == frozenset()
    assert [s.customer_id for s in again.states] == ["C0", "C1", "C2"]
    assert [s.to_json() for s in store.customers()] == before


def test_the_guardrail_holds_back_only_the_rising_customers(make_store: MakeStore) -> None:
    store = make_store()
    batch = [
        Activity("feedback:a", "RISING", Action.redeem, T0, "travel"),
        Activity("feedback:b", "STEADY", Action.redeem, T0, "travel"),
    ]
    store.apply(batch, rising={"RISING"})
    rising, steady = store.get("RISING"), store.get("STEADY")
    assert rising is not None and steady is not None
    assert (rising.withheld, rising.badges, rising.weeks) == (1, {}, [])
    assert "first_redemption" in steady.badges and steady.withheld == 0


def test_reloading_rules_reevaluates_and_keeps_retired_badges(
    make_store: MakeStore, rules: RuleSet
) -> None:
    store = make_store()
    store.apply(
        [Activity(f"feedback:{n}", "C1", Action.rating, T0 + timedelta(hours=n)) for n in range(3)]
        + [Activity("feedback:x", "C1", Action.redeem, T0, "dining")]
    )
    state = store.get("C1")
    assert state is not None and set(state.badges) == {"first_redemption"}

    raw = yaml.safe_load(ENGAGEMENT_RULES.read_text())
    raw["version"] += 1
    raw["badges"] = [b for b in raw["badges"] if b["id"] != "first_redemption"]  # retired
    raw["badges"].append(
        {
            "id": "rater",
            "title": "Rater",
            "description": "Rated three.",
            "metric": "ratings",
            "target": 3,
        }
    )
    changed = parse_rules(raw, "v2")
    assert store.reevaluate(changed) == 1

    state = store.get("C1")
    assert state is not None and set(state.badges) == {"first_redemption", "rater"}
    assert state.badges["rater"].earned_at == T0 + timedelta(hours=2)  # the last activity
    assert store.rules.version == changed.version


def test_the_embedded_store_and_redis_compute_the_same(make_store: MakeStore) -> None:
    first, second = make_store(), make_store()
    activities = [
        Activity(
            f"feedback:{n}",
            f"C{n % 5}",
            [Action.redeem, Action.rating, Action.click, Action.quiz][n % 4],
            T0 + timedelta(days=3 * n),
            ["dining", "travel", "gas", None][n % 4],
            "America/New_York" if n % 7 == 0 else None,
        )
        for n in range(200)
    ]
    for start in range(0, 200, 37):
        first.apply(activities[start : start + 37])
    second.apply(activities)  # one batch: the same result as many
    assert differences(first, second) == []
    assert len(list(first.customers())) == 5
