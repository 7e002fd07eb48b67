"""Engagement stores of both kinds: the embedded SQLite file and a private Redis server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_client

from smartstack.engagement.rules import RuleSet, load_rules
from smartstack.engagement.store import (
    EngagementStore,
    RedisEngagementStore,
    SqliteEngagementStore,
)
from smartstack.paths import ENGAGEMENT_RULES
from tests.conftest import RedisProcess


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    return load_rules(ENGAGEMENT_RULES)


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path, rules: RuleSet) -> Iterator:
    """A factory of empty stores of one kind (each call: a new, separate store)."""
    opened: list[EngagementStore] = []

    def make(rule_set: RuleSet = rules) -> EngagementStore:
        if request.param == "sqlite":
            store: EngagementStore = SqliteEngagementStore(
                tmp_path / f"{uuid.uuid4().hex}.sqlite", rule_set
            )
        else:
            server: RedisProcess = request.getfixturevalue("redis")
            client = redis_client.Redis.from_url(server.url)
            store = RedisEngagementStore(client, rule_set, prefix=f"test:{uuid.uuid4().hex}")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
