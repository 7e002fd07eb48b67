"""The session's built data set, applied and materialized per store configuration here."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from smartstack.featurestore import store
from smartstack.settings import Settings, get_settings
from tests.conftest import BuiltHome


@pytest.fixture(scope="session")
def feature_data(built: BuiltHome) -> Path:
    """Raw data and dbt feature marts of the session's built data set (read only)."""
    return built.data_dir


def reachable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_service(name: str, host: str, port: int) -> None:
    """Skip with a reason when a service is missing, except in CI where it must be there."""
    if not reachable(host, port):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not reachable at {host}:{port} in CI")
        pytest.skip(f"{name} is not reachable at {host}:{port}")


@pytest.fixture(scope="module")
def use_settings() -> Iterator[callable]:
    """Point the process-wide settings at a configuration for one test module."""
    with pytest.MonkeyPatch.context() as patch:

        def configure(**env: str) -> Settings:
            for key, value in env.items():
                patch.setenv(key, value)
            get_settings.cache_clear()
            return get_settings()

        yield configure
    get_settings.cache_clear()


def fresh_postgres_database(name: str) -> str:
    """An empty database on the local PostgreSQL server, as a SQLAlchemy URL for Feast."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as con:
        con.execute(f'drop database if exists "{name}"')
        con.execute(f'create database "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def build_store(settings: Settings) -> None:
    store.apply(settings)
    store.materialize(settings)
