"""The drift job on generated worlds: the dining-to-travel drift is flagged in the features
that carry it and raises the alarm; worlds without drift (``foodie_drift_rate=0``, five seeds)
raise none. Each world is generated, landed and built by dbt (the customer marts only) in its
own home; the reference window is passed explicitly (no champion needed)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smartstack.datasets.synthetic.generator import GeneratorConfig, generate
from smartstack.monitoring import drift
from smartstack.serving.snapshots import ServedRecord, SnapshotWriter
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


@pytest.fixture(scope="module")
def drifting(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("drift")
    return _world(home, seed=42, rate=GeneratorConfig.foodie_drift_rate)


def test_the_drifting_segment_is_flagged_in_its_features(drifting: Settings) -> None:
    settings = drifting
    verdict = drift.check(settings, reference_window=WINDOW, log_to_mlflow=False)
    assert CARRY_THE_DRIFT <= set(verdict.drifted), verdict.comparisons[0].scores
    assert verdict.alarm
    assert verdict.recommendation.startswith(f"retrain: {len(verdict.drifted)} features drifted")
    day = settings.monitoring_dir / "drift" / verdict.day
    assert (day / "features_marts.html").exists() and (day / "verdict.json").exists()
    assert drift.latest_verdict(settings)["alarm"] is True


def test_a_sample_of_the_reference_still_flags_the_drift(drifting: Settings) -> None:
    """Past ``drift_sample_rows`` a side is sampled: here the reference (about 12,000 mart rows
    in the window), not the current side (2,000 customers)."""
    monitoring = drifting.monitoring.model_copy(update={"drift_sample_rows": 3_000})
    capped = drifting.model_copy(update={"monitoring": monitoring})
    # The features that carry the drift only: Evidently's time is mostly per feature.
    features = sorted(CARRY_THE_DRIFT)
    full = drift.check(drifting, WINDOW, features, log_to_mlflow=False).comparisons[0]
    verdict = drift.check(capped, WINDOW, features, log_to_mlflow=False)
    sampled = verdict.comparisons[0]
    assert full.reference_rows > sampled.reference_rows == 3_000
    assert sampled.rows == full.rows == CUSTOMERS
    assert set(verdict.drifted) == CARRY_THE_DRIFT, sampled.scores


def test_the_warehouse_draws_each_side_the_same_way_every_run(drifting: Settings) -> None:
    """DuckDB draws the sides before pandas sees them: the drawn rows are rows of the whole
    join, inside the window (the reference) or as of the newest date (the current side), and a
    second run draws the same rows."""
    window = tuple(drift._naive_utc(t) for t in WINDOW)
    whole = drift._mart_sides(drifting, window, rows=10**9, score_customers=50)
    drawn = drift._mart_sides(drifting, window, rows=500, score_customers=50)
    again = drift._mart_sides(drifting, window, rows=500, score_customers=50)
    keys = ["customer_id", "event_timestamp"]
    for side in ("reference", "current"):
        part, full = getattr(drawn, side), getattr(whole, side)
        assert len(part) == 500 < len(full)
        assert list(part.columns) == list(full.columns)
        expected = full.merge(part[keys], on=keys).sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(part.sort_values(keys).reset_index(drop=True), expected)
        assert getattr(again, side)[keys].equals(part[keys])
    assert drawn.reference["event_timestamp"].between(*window).all()
    assert (drawn.current["event_timestamp"] == whole.current["event_timestamp"].max()).all()
    assert drawn.score_customers == whole.score_customers and len(drawn.score_customers) == 50


@pytest.mark.parametrize("min_rows", [20, 21])
def test_served_snapshots_are_compared_from_enough_rankings_on_the_features_they_hold(
    drifting: Settings, tmp_path: Path, min_rows: int
) -> None:
    """20 rankings served: compared when ``drift_served_min_rows`` allows 20, else left out with
    a note. A feature none of them holds is left out of the comparison instead of failing it."""
    served = ["spend_travel_30d", "share_dining_30d"]
    log = tmp_path / "ranking_log"
    settings = drifting.model_copy(
        update={
            "serving": drifting.serving.model_copy(update={"snapshot_dir": log}),
            "monitoring": drifting.monitoring.model_copy(
                update={"drift_served_min_rows": min_rows}
            ),
        }
    )
    writer = SnapshotWriter(log, served, flush_rankings=1, flush_seconds=0.1, buffer_size=100)
    writer.start()
    now = datetime.now(UTC)
    for i in range(20):
        writer.log(
            ServedRecord(
                request_id=f"r{i}", customer_id=f"c{i}", served_at=now, request_time=now,
                channel="app", tier="personalized", model_name="m", model_version="1",
                offer_ids=["o1"], scores=[0.5], features=np.array([[100.0 + i, np.nan]]),
            )
        )  # fmt: skip
    writer.close()
    verdict = drift.check(settings, WINDOW, served, log_to_mlflow=False)
    by_name = {c.name: c for c in verdict.comparisons}
    assert "share_dining_30d" in by_name["marts"].scores
    if min_rows <= 20:
        assert set(by_name["served"].scores) == {"spend_travel_30d"}
        assert verdict.served_note.startswith("compared: 20 rankings")
    else:
        assert "served" not in by_name
        assert verdict.served_note.startswith("not compared: 20 rankings")
        assert "drift_served_min_rows (21)" in verdict.served_note


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_no_drift_no_alarm(tmp_path: Path, seed: int) -> None:
    settings = _world(tmp_path / f"still{seed}", seed=seed, rate=0.0)
    verdict = drift.check(settings, reference_window=WINDOW, log_to_mlflow=False)
    assert not verdict.alarm, verdict.recommendation
    assert not CARRY_THE_DRIFT & set(verdict.drifted)


def test_the_command_on_the_champion(built, tmp_path: Path) -> None:
    """On a copy of the session's home: the champion's window is the reference, the verdict is
    printed as JSON, written beside the reports and logged to MLflow with the version; the
    champion's scores of the same customers then and now are compared; the task's result (the
    links) goes to stderr with --json."""
    import json

    import mlflow

    settings = built.copy(tmp_path / "home")
    env = project_environment(SMARTSTACK_HOME=str(settings.home))
    done = subprocess.run(
        [SMARTSTACK, "monitor", "drift", "--json"], env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-2000:]
    verdict = json.loads(done.stdout[done.stdout.index("{") :])
    assert (done.returncode == 1) == verdict["alarm"]
    assert verdict["champion"].startswith(f"{settings.registered_model_name} v")
    assert verdict["comparisons"][0]["name"] == "marts" and verdict["comparisons"][0]["scores"]
    assert verdict["score_drift"] is not None and verdict["score_drift"] >= 0
    assert verdict["score_drifted"] == (verdict["score_drift"] >= verdict["score_threshold"])
    assert Path(verdict["reports"]["score.html"]).exists()
    # The reference is the train window the champion's run logged.
    uri = settings.mlflow_tracking_uri  # this home's, not another test's global registry
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version_by_alias(settings.registered_model_name, "champion")
    logged = json.loads(
        Path(
            client.download_artifacts(version.run_id, "evaluation/dataset.json", str(tmp_path))
        ).read_text()
    )["train_window"]
    assert [x[:19] for x in verdict["reference_window"]] == [x[:19] for x in logged]
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert result["alarm"] == verdict["alarm"] and result["mlflow_run"] == verdict["mlflow_run"]
    assert result["snapshot"].startswith(result["dashboard"] + "/reports/")
    # Tagged `drift`: the dashboard's Drift panels plot only the snapshots so tagged.
    snapshot = result["snapshot"].rsplit("/", 1)[1]
    (stored,) = (settings.monitoring_dir / "workspace").glob(f"*/snapshots/{snapshot}.json")
    assert json.loads(stored.read_text())["tags"] == ["drift"]
    assert drift.latest_verdict(settings)["day"] == verdict["day"]
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    runs = mlflow.search_runs(experiment_names=[drift.EXPERIMENT], output_format="list")
    # The pipeline's own monitor_drift step logged one run; this command another.
    mine = [r for r in runs if r.info.run_id == verdict["mlflow_run"]]
    assert len(runs) == 2 and len(mine) == 1
    assert mine[0].data.tags["model_version"] == verdict["champion"].rsplit(" v", 1)[1]
    assert mine[0].data.metrics["score_drift"] == pytest.approx(verdict["score_drift"])


def test_no_champion_is_nothing_to_do(tmp_path: Path) -> None:
    """Exit 75, which the daily DAG's task turns into a skip (a first run whose model the gate
    refused)."""
    env = project_environment(SMARTSTACK_HOME=str(tmp_path))
    done = subprocess.run(
        [SMARTSTACK, "monitor", "drift"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 75, done.stdout + done.stderr
    assert "nothing to compare with" in done.stderr


def test_the_promotion_gate_refuses_after_a_drift_alarm(tmp_path: Path) -> None:
    """``monitoring.block_promotion_on_drift``: an alarm measured after the version was
    registered refuses it, one before it does not, and a missing verdict refuses (closed)."""
    import json
    from types import SimpleNamespace

    from smartstack.training.promote import drift_rule

    settings = Settings(home=tmp_path, monitoring={"block_promotion_on_drift": True})
    registered_ms = datetime(2026, 7, 1, tzinfo=UTC).timestamp() * 1000
    version = SimpleNamespace(creation_timestamp=registered_ms)
    client = SimpleNamespace(get_model_version=lambda name, v: version)
    tracking = SimpleNamespace(client=client, model_name="offer-ranker")
    assert not drift_rule(settings, tracking, "3")[0]  # no verdict yet: closed
    latest = settings.monitoring_dir / "drift" / drift.LATEST
    latest.parent.mkdir(parents=True)
    for measured, alarm, passes in (
        ("2026-07-02T00:00:00+00:00", True, False),
        ("2026-06-30T00:00:00+00:00", True, True),
        ("2026-07-02T00:00:00+00:00", False, True),
    ):
        latest.write_text(
            json.dumps({"measured_at": measured, "alarm": alarm, "day": measured[:10],
                        "recommendation": "retrain: 8 features drifted"})
        )  # fmt: skip
        assert drift_rule(settings, tracking, "3")[0] is passes, (measured, alarm)


def test_the_score_check_builds_both_sides_alike(built) -> None:
    """The champion scores the same customers against the same offers on both sides: at the
    same instant the two sides are identical, and the offers' own features (which age towards
    expiry) are those held at the reference's values."""
    settings = built.settings
    champion = drift.champion_reference(settings)
    held = drift._offer_only_features(settings)
    assert "days_to_expiry" in held and "share_dining_90d" not in held
    # A window that ends after the newest as-of date: both sides are as of the newest.
    everything = (pd.Timestamp("2000-01-01"), pd.Timestamp("2100-01-01"))
    sides = drift._mart_sides(settings, everything, rows=100, score_customers=50)
    newest, customers = sides.newest, sides.score_customers
    assert sides.reference_as_of == newest and len(customers) == 50
    before, after = drift.champion_scores(
        settings, champion, customers, pd.Timestamp(newest), pd.Timestamp(newest)
    )
    assert len(before) == len(after) > len(customers)
    assert (before == after).all()


def test_the_feature_threshold_follows_the_sample_size() -> None:
    """As calibrated at drift_threshold_rows; half at four times the rows (a distance between
    samples is noisy as one over the square root of their size); never below the floor."""
    cfg = Settings().monitoring
    base, rows, floor = cfg.drift_threshold, cfg.drift_threshold_rows, cfg.drift_threshold_floor
    assert drift.scaled_threshold(base, rows, floor, rows) == pytest.approx(base)
    assert drift.scaled_threshold(base, rows, floor, 4 * rows) == pytest.approx(base / 2)
    assert drift.scaled_threshold(base, rows, floor, rows // 4) == pytest.approx(2 * base)
    assert drift.scaled_threshold(base, rows, floor, 10**9) == floor
