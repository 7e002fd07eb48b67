"""The private Feast names ``smartstack.featurestore.rows`` uses still do what it relies on.

``rows`` reads Feast's online stores directly, in Feast's own layout, and finds them through
three private names. These checks need no database: they fail at once, with what to do, when a
feast upgrade renames or changes one. Whether the layout itself still matches is checked value
for value by ``test_one_round_trip_rows_equal_feasts_online_read`` in ``test_feature_store.py``.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import feast
import pytest
from feast.repo_config import RepoConfig

# The feast minor series whose private names rows was last checked against, and the
# pyproject.toml pin that holds feast to it.
VERIFIED_SERIES = (0, 67)
PIN = f">={VERIFIED_SERIES[0]}.{VERIFIED_SERIES[1]},<{VERIFIED_SERIES[0]}.{VERIFIED_SERIES[1] + 1}"
EQUIVALENCE_TEST = (
    "tests/featurestore/test_feature_store.py::test_one_round_trip_rows_equal_feasts_online_read"
)


def feast_changed(problem: str) -> str:
    """The failure message of every private-API check: what changed, and the two ways out."""
    return (
        f"feast {feast.__version__} changed what smartstack.featurestore.rows relies on: "
        f"{problem}. rows uses feast.infra.online_stores.helpers._mmh3 (Redis hash fields), "
        "SqliteOnlineStore._get_db_path (the SQLite file) and "
        "RedisOnlineStore._parse_connection_string (the Redis client's arguments) as feast "
        f"{VERIFIED_SERIES[0]}.{VERIFIED_SERIES[1]} defines them. Re-check rows.py against "
        f"helpers.py, sqlite.py and redis.py in feast.infra.online_stores of feast "
        f"{feast.__version__}, make tests/featurestore/test_private_apis.py and {EQUIVALENCE_TEST} "
        "pass (the latter needs PostgreSQL and Redis on 127.0.0.1), then update VERIFIED_SERIES "
        "here and the pin in pyproject.toml together; or pin feast back to "
        f"{PIN} in pyproject.toml."
    )


def private(module: str, name: str) -> Any:
    """``module.name``, failing with the upgrade message when either is gone."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(feast_changed(f"{module}.{name} is gone ({exc})"), pytrace=False)


def static(module: str, owner: str, name: str) -> Any:
    """A static method that rows calls on the class (no store instance), checked to be one."""
    cls = private(module, owner)
    found = inspect.getattr_static(cls, name, None)
    assert isinstance(found, staticmethod), feast_changed(
        f"{owner}.{name} is no longer a static method (found {found!r})"
    )
    return getattr(cls, name)


def test_installed_feast_is_the_series_the_private_api_was_checked_against() -> None:
    installed = tuple(int(part) for part in feast.__version__.split(".")[:2])
    assert installed == VERIFIED_SERIES, feast_changed(
        "its version: only the private API of the pinned series has been checked"
    )


def test_mmh3_is_the_hash_feasts_redis_store_names_fields_with() -> None:
    mmh3 = private("feast.infra.online_stores.helpers", "_mmh3")
    assert private("feast.infra.online_stores.redis", "_mmh3") is mmh3, feast_changed(
        "the Redis online store no longer hashes field names with helpers._mmh3"
    )
    # Murmur3 (32-bit, little-endian bytes) of "<view>:<feature>", as Feast 0.67 writes it.
    assert mmh3("customer_spend:spend_30d") == b"\xbfD\x02=", feast_changed(
        "helpers._mmh3 returns other bytes for the same field name"
    )


def test_get_db_path_resolves_the_sqlite_file_against_the_repo(tmp_path: Path) -> None:
    get_db_path = static("feast.infra.online_stores.sqlite", "SqliteOnlineStore", "_get_db_path")

    def config(path: str) -> RepoConfig:
        return RepoConfig(
            project="smartstack",
            provider="local",
            registry=str(tmp_path / "registry.db"),
            online_store={"type": "sqlite", "path": path},
            repo_path=tmp_path,
            entity_key_serialization_version=3,
        )

    assert get_db_path(config("data/online.db")) == str(tmp_path / "data/online.db"), feast_changed(
        "SqliteOnlineStore._get_db_path no longer joins a relative path to repo_path"
    )
    assert get_db_path(config("/srv/feast/online.db")) == "/srv/feast/online.db", feast_changed(
        "SqliteOnlineStore._get_db_path no longer keeps an absolute path"
    )


def test_parse_connection_string_gives_nodes_and_client_options() -> None:
    parse = static(
        "feast.infra.online_stores.redis", "RedisOnlineStore", "_parse_connection_string"
    )
    # The form smartstack.featurestore.config.redis_connection_string writes.
    nodes, options = parse("cache.internal:6380,db=7,password=s3cret,ssl=true")
    assert nodes == [{"host": "cache.internal", "port": "6380"}], feast_changed(
        f"RedisOnlineStore._parse_connection_string returns nodes {nodes!r}"
    )
    assert options == {"db": 7, "password": "s3cret", "ssl": True}, feast_changed(
        f"RedisOnlineStore._parse_connection_string returns options {options!r}"
    )
