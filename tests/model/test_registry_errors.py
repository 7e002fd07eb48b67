"""A registry that cannot answer is not a registry without a champion.

Promotion judges a challenger against the champion, or against SmartScore when there is none;
reading an unreachable registry as "none" would let the challenger replace a better model.
Against a real MLflow registry: a missing alias and a missing model read as None (and an empty
version list); an MLflow server that stopped answering raises.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from smartstack.training import registry


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # released on close: nothing listens there


def test_a_missing_alias_or_model_is_none(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    absent = registry.Tracking(client, "0", "offer-ranker")
    assert registry.version_by_alias(absent, registry.CHAMPION) is None  # no such model
    assert registry.versions_tagged(absent, {"validation_status": "passed"}) == []
    client.create_registered_model("offer-ranker")
    assert registry.version_by_alias(absent, registry.CHAMPION) is None  # no such alias


def test_an_unreachable_registry_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    uri = f"http://127.0.0.1:{_closed_port()}"
    down = registry.Tracking(MlflowClient(tracking_uri=uri, registry_uri=uri), "0", "offer-ranker")
    with pytest.raises(MlflowException):
        registry.version_by_alias(down, registry.CHAMPION)
    with pytest.raises(MlflowException):
        registry.versions_tagged(down, {"validation_status": "passed"})
