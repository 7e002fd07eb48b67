"""The Feast repository configuration, built from the Smart Stack settings.

Feast is configured in code rather than with one hand-kept ``feature_store.yaml`` per
environment: the two profiles already live in :mod:`smartstack.settings`, and deriving the Feast
config from them keeps one source of truth. ``smartstack feast config`` prints the equivalent
YAML for the Feast CLI and UI.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlparse

import yaml
from feast.repo_config import RepoConfig

from smartstack.featurestore.bulk.engine import ENGINE as BULK_ENGINE
from smartstack.paths import FEATURE_REPO_DIR
from smartstack.settings import OnlineStore, Settings, Warehouse, get_settings
from smartstack.spark import spark_conf

PROJECT = "smartstack"
FEATURE_SERVICE = "offer_ranking_v1"
REPO_PATH = FEATURE_REPO_DIR


_applying: ContextVar[Settings | None] = ContextVar("applying", default=None)


@contextmanager
def applying(settings: Settings) -> Iterator[None]:
    """Make ``settings`` the ones the definitions in ``feature_repo/`` see while Feast parses
    them, so ``apply(settings)`` registers sources for exactly those settings."""
    token = _applying.set(settings)
    try:
        yield
    finally:
        _applying.reset(token)


def definition_settings() -> Settings:
    """The settings ``feature_repo/`` builds its data sources from."""
    return _applying.get() or get_settings()


def redis_connection_string(url: str) -> str:
    """``redis://host:port/db`` → Feast's ``host:port,db=N[,password=…]`` form."""
    parsed = urlparse(url)
    parts = [f"{parsed.hostname or 'localhost'}:{parsed.port or 6379}"]
    db = parsed.path.lstrip("/")
    if db:
        parts.append(f"db={db}")
    if parsed.password:
        parts.append(f"password={parsed.password}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def registry_path(settings: Settings) -> str:
    """A file registry locally; a SQL registry on Postgres when one is configured."""
    if settings.postgres_url:
        scheme, rest = settings.postgres_url.split("://", 1)
        return (
            f"postgresql+psycopg://{rest}"
            if scheme.startswith("postgres")
            else settings.postgres_url
        )
    return str(settings.home / "feast" / "registry.db")


def config_dict(settings: Settings) -> dict:
    """The Feast configuration for the active profile, as the YAML mapping Feast reads."""
    registry = registry_path(settings)
    online: dict
    if settings.online_store is OnlineStore.redis:
        online = {"type": "redis", "connection_string": redis_connection_string(settings.redis_url)}
    else:
        online = {"type": "sqlite", "path": str(settings.sqlite_online_path)}
    offline: dict
    if settings.warehouse is Warehouse.bigquery:
        offline = {"type": "bigquery", "dataset": settings.bigquery_dataset}
        if settings.bigquery_project:
            offline["project_id"] = settings.bigquery_project
    elif settings.warehouse is Warehouse.spark:
        offline = {"type": "spark", "spark_conf": spark_conf(settings)}
    else:
        offline = {"type": "duckdb"}
    return {
        "project": PROJECT,
        "provider": "local",
        "registry": {
            "registry_type": "sql" if registry.startswith("postgresql") else "file",
            "path": registry,
            # Load once per process: the serving path must never re-read the registry on a
            # request. `feast apply` from another process is picked up by `refresh_registry()`.
            "cache_ttl_seconds": 0,
        },
        "online_store": online,
        "offline_store": offline,
        # Feast's engine with the bulk online write, unless the settings ask for Feast's own.
        "batch_engine": BULK_ENGINE if settings.materialization == "bulk" else "local",
        "entity_key_serialization_version": 3,
    }


def repo_config(settings: Settings) -> RepoConfig:
    config = RepoConfig(**config_dict(settings))
    config.repo_path = REPO_PATH
    return config


def config_yaml(settings: Settings) -> str:
    return yaml.safe_dump(config_dict(settings), sort_keys=False)
