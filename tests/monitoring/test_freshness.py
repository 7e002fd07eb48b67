"""Freshness on real homes: a copy of the session's built home is fresh; the same home with its
materialization held back two days before the snapshot is stale, through the CLI (exit 1, the
views named) and through the ranking service's gauges."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from confluent_kafka import TopicPartition
from prometheus_client import REGISTRY

from smartstack.data.manifest import Manifest
from smartstack.events.processor import StreamProcessor
from smartstack.featurestore.store import get_store
from smartstack.monitoring.freshness import FreshnessWatch, check
from smartstack.privacy.purposes import CONSENT_VIEW
from smartstack.serving.app import RankingApp
from smartstack.settings import Settings
from tests.conftest import SMARTSTACK, BuiltHome, project_environment

HELD_BACK = timedelta(days=2)


def _smartstack(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SMARTSTACK, *args],
        env=project_environment(SMARTSTACK_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def fresh(built: BuiltHome, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return built.copy(tmp_path_factory.mktemp("fresh") / "home")


@pytest.fixture(scope="module")
def held_back(built: BuiltHome, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The built home with a new registry and an empty online store, materialized only up to
    two days before the data set's snapshot (as if the last two daily runs had not loaded)."""
    settings = built.copy(tmp_path_factory.mktemp("held_back") / "home")
    (settings.home / "feast" / "registry.db").unlink()
    settings.sqlite_online_path.unlink()
    snapshot = Manifest.read(settings.data_dir).snapshot
    applied = _smartstack(settings.home, "feast", "apply")
    assert applied.returncode == 0, applied.stderr[-3000:]
    end = (snapshot - HELD_BACK).strftime("%Y-%m-%dT%H:%M:%S")
    loaded = _smartstack(settings.home, "feast", "materialize", "--end", end)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    return settings


def test_a_freshly_built_home_is_fresh(fresh: Settings) -> None:
    done = _smartstack(fresh.home, "monitor", "freshness", "--json")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["clock"] == "dataset"
    assert report["stale"] == []
    views = {v["view"]: v for v in report["views"]}
    assert {CONSENT_VIEW, "customer_spend", "offer_catalog"} <= set(views)
    assert all(v["age_seconds"] < 3600 for v in views.values())
    assert report["champion"]["version"] is not None
    assert report["lag"] is None  # no broker configured


def test_materialization_held_back_two_days_is_stale(held_back: Settings) -> None:
    done = _smartstack(held_back.home, "monitor", "freshness")
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    assert "stale:" in done.stderr
    for view in (CONSENT_VIEW, "customer_spend", "offer_catalog"):
        assert view in done.stderr

    report = check(held_back)
    assert set(report.stale) == {v.view for v in report.views}
    assert {v.age_seconds for v in report.views} == {HELD_BACK.total_seconds()}


def test_the_service_gauges_follow_the_registries(fresh: Settings, held_back: Settings) -> None:
    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    FreshnessWatch(held_back, get_store(held_back))()
    assert sample("smartstack_feature_view_stale", view="customer_spend") == 1
    assert sample("smartstack_feature_view_age_seconds", view="customer_spend") == 2 * 86400
    champion_age = sample("smartstack_champion_age_seconds", model=held_back.registered_model_name)
    assert champion_age is not None and 0 <= champion_age < 86400  # registered this session

    FreshnessWatch(fresh, get_store(fresh))()
    assert sample("smartstack_feature_view_stale", view="customer_spend") == 0
    assert sample("smartstack_feature_view_age_seconds", view="customer_spend") < 3600


def test_a_failing_poll_duty_stops_neither_the_others_nor_forgetting() -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("registry down")

    app = SimpleNamespace(
        forgetting=SimpleNamespace(poll=lambda: ran.append("forget")),
        _duties=(broken, lambda: ran.append("freshness")),
    )
    RankingApp._poll_duties(app)  # type: ignore[arg-type]
    assert ran == ["forget", "freshness"]


def test_the_processor_reports_lag_from_what_its_client_knows() -> None:
    class Client:
        def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
            return [TopicPartition(p.topic, p.partition, 40) for p in partitions]

        def get_watermark_offsets(self, tp: TopicPartition, cached: bool) -> tuple[int, int]:
            assert cached  # no broker round trip on the processing loop
            return (0, 100) if tp.partition == 0 else (-1001, -1001)

    processor = SimpleNamespace(
        _lag_at=0.0,
        assigned=[TopicPartition("transactions", 0), TopicPartition("transactions", 1)],
        _consumer=Client(),
    )
    StreamProcessor._record_lag(processor)  # type: ignore[arg-type]
    lag = {"topic": "transactions", "partition": "0"}
    assert REGISTRY.get_sample_value("smartstack_consumer_lag", lag) == 60
    unknown = {"topic": "transactions", "partition": "1"}
    assert REGISTRY.get_sample_value("smartstack_consumer_lag", unknown) is None
