"""The drift job on generated worlds: the dining-to-travel drift is flagged in the features
that carry it and raises the alarm; worlds without drift (``foodie_drift_rate=0``, five seeds)
raise none. Each world is generated, landed and built by dbt (the customer marts only) in its
own home; the reference window is passed explicitly (no champion needed)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smartstack.datasets.synthetic.generator import GeneratorConfig, generate
from smartstack.monitoring import drift
from smartstack.settings import Settings
from tests.conftest import SMARTSTACK, project_environment

pytestmark = pytest.mark.slow

CUSTOMERS = 2_000
# The train part of a share split over the generated impressions (the champion's window).
WINDOW = (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 12, tzinfo=UTC))
MARTS = "+customer_spend_features +customer_profile_features +customer_recent_spend"
# Observed (seed 42, 2,000 customers): the foodies who moved to travel shift these.
CARRY_THE_DRIFT = {
    "share_dining_30d",
    "share_dining_90d",
    "share_travel_90d",
    "spend_travel_30d",
    "txn_count_travel_30d",
    "txn_count_travel_90d",
}


def _world(home: Path, seed: int, rate: float) -> Settings:
    settings = Settings(home=home)
    config = GeneratorConfig(customers=CUSTOMERS, seed=seed, foodie_drift_rate=rate)
    generate(config, settings.data_dir, workers=1)
    env = project_environment(SMARTSTACK_HOME=str(home))
    for args in (["ingest", "--source", "landed"], ["dbt", "build", "--select", MARTS]):
        subprocess.run([SMARTSTACK, *args], env=env, check=False, capture_output=True, timeout=600)
    return settings


def test_the_drifting_segment_is_flagged_in_its_features(tmp_path: Path) -> None:
    settings = _world(tmp_path / "drift", seed=42, rate=GeneratorConfig.foodie_drift_rate)
    verdict = drift.check(settings, reference_window=WINDOW, log_to_mlflow=False)
    assert CARRY_THE_DRIFT <= set(verdict.drifted), verdict.comparisons[0].scores
    assert verdict.alarm
    assert verdict.recommendation.startswith(f"retrain: {len(verdict.drifted)} features drifted")
    day = settings.monitoring_dir / "drift" / verdict.day
    assert (day / "features_marts.html").exists() and (day / "verdict.json").exists()
    assert drift.latest_verdict(settings)["alarm"] is True


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_no_drift_no_alarm(tmp_path: Path, seed: int) -> None:
    settings = _world(tmp_path / f"still{seed}", seed=seed, rate=0.0)
    verdict = drift.check(settings, reference_window=WINDOW, log_to_mlflow=False)
    assert not verdict.alarm, verdict.recommendation
    assert not CARRY_THE_DRIFT & set(verdict.drifted)
