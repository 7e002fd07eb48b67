"""The promotion gate's margin at its boundary, and the gate without a challenger, on a real
MLflow registry (SQLite in a temporary folder) with versions trained on the session's data.

Shown here:

- the margin is inclusive: a challenger whose gain over the reference equals the margin
  setting exactly passes (and is crowned by ``promote``), one whose gain falls short of it by
  the smallest representable amount is rejected, one that clears it by that amount passes;
  against SmartScore (no champion yet, ``min_lift_over_smartscore``) and against a champion
  (``min_improvement``) alike. The gain is measured first exactly as the gate measures it (both
  models scored on the same test rows), and each margin is set from it;
- with no version aliased ``challenger``, ``promote`` and ``evaluate`` raise ``NoChallenger``
  and change nothing in the registry, and ``smartstack promote`` says so in a sentence
  (exit 2, no traceback).
"""

from __future__ import annotations

import math
import subprocess

import pytest

from smartstack.settings import Settings, TrainingSettings
from smartstack.training import dataset, registry
from smartstack.training.baselines import smartscore_baseline
from smartstack.training.evaluate import evaluate_booster, evaluate_scores
from smartstack.training.job import run_training
from smartstack.training.promote import NoChallenger, evaluate, promote
from tests.conftest import SMARTSTACK, project_environment
from tests.model.conftest import registry_settings


def with_margins(config: TrainingSettings, **margins: float) -> TrainingSettings:
    """The gate judged on its margin alone: no segment tolerance to trip, no off-policy rule."""
    promotion = config.promotion.model_copy(
        update={"segment_tolerance": 1.0, "off_policy": False, **margins}
    )
    return config.with_overrides(promotion=promotion)


def champion(tracking: registry.Tracking) -> str | None:
    found = registry.version_by_alias(tracking, registry.CHAMPION)
    return None if found is None else str(found.version)


def status(tracking: registry.Tracking, version: str) -> str:
    tags = tracking.client.get_model_version(tracking.model_name, version).tags
    return tags[registry.STATUS_TAG]


@pytest.fixture
def fresh(base_settings: Settings, config: TrainingSettings, tmp_path) -> tuple:  # noqa: ANN001
    settings = registry_settings(base_settings, tmp_path)
    return settings, registry.configure(settings, config.experiment)


def weak(config: TrainingSettings) -> TrainingSettings:
    """An honest but small model: quick to train, and it beats SmartScore on this data."""
    return config.with_overrides(num_boost_round=12, xgboost={**config.xgboost, "max_depth": 1})


def test_the_margin_over_smartscore_is_inclusive(
    fresh: tuple, data: dataset.TrainingData, config: TrainingSettings
) -> None:
    settings, tracking = fresh
    metric = config.promotion.metric
    version = run_training(weak(config), settings, data=data).version
    # The lift exactly as the gate measures it: both scored now, on the same test rows.
    challenger = evaluate_booster(registry.load_booster(tracking, version), data)
    reference = evaluate_scores(data, smartscore_baseline(data))
    lift = challenger["all"][metric] - reference["all"][metric]
    assert lift > 0, "the weak model beats SmartScore on this data"

    short = evaluate(with_margins(config, min_lift_over_smartscore=math.nextafter(lift, math.inf)),
                     settings, data=data)  # fmt: skip
    assert short.challenger["all"][metric] - short.reference_report["all"][metric] == lift
    assert not short.passed and "below the margin" in short.reason
    assert status(tracking, version) == registry.REJECTED and champion(tracking) is None

    above = evaluate(
        with_margins(config, min_lift_over_smartscore=math.nextafter(lift, -math.inf)),
        settings,
        data=data,
    )
    assert above.passed, above.reason

    exact = promote(with_margins(config, min_lift_over_smartscore=lift), settings, data=data)
    assert exact.passed and exact.reference == "smartscore", exact.reason
    assert champion(tracking) == version and status(tracking, version) == registry.PASSED


def test_the_margin_over_the_champion_is_inclusive(
    fresh: tuple, data: dataset.TrainingData, config: TrainingSettings
) -> None:
    settings, tracking = fresh
    metric = config.promotion.metric
    first = run_training(weak(config), settings, data=data).version
    assert promote(with_margins(config), settings, data=data).passed
    assert champion(tracking) == first
    second = run_training(config, settings, data=data).version
    new = evaluate_booster(registry.load_booster(tracking, second), data)
    old = evaluate_booster(registry.load_booster(tracking, first), data)
    gain = new["all"][metric] - old["all"][metric]
    assert gain > 0, "the full model beats the weak one"

    short = evaluate(
        with_margins(config, min_improvement=math.nextafter(gain, math.inf)), settings, data=data
    )
    assert short.challenger["all"][metric] - short.reference_report["all"][metric] == gain
    assert short.reference == f"champion v{first}"
    assert not short.passed and "below the margin" in short.reason
    assert status(tracking, second) == registry.REJECTED and champion(tracking) == first
    # The rejected verdict is what `promote --recorded` would apply: it refuses to crown.
    with pytest.raises(RuntimeError, match="cannot be champion"):
        registry.crown(tracking, second)

    above = evaluate(
        with_margins(config, min_improvement=math.nextafter(gain, -math.inf)), settings, data=data
    )
    assert above.passed, above.reason
    assert champion(tracking) == first  # evaluate moves no alias

    exact = promote(with_margins(config, min_improvement=gain), settings, data=data)
    assert exact.passed, exact.reason
    assert (exact.champion_before, exact.champion_after) == (first, second)
    assert champion(tracking) == second and status(tracking, second) == registry.PASSED


def test_no_challenger_raises_and_changes_nothing(
    fresh: tuple, data: dataset.TrainingData, config: TrainingSettings
) -> None:
    settings, tracking = fresh
    for judge in (promote, evaluate):
        with pytest.raises(NoChallenger, match="alias 'challenger'"):
            judge(config, settings, data=data)
    assert champion(tracking) is None

    # A champion but no challenger (the alias removed once it was crowned, say).
    version = run_training(weak(config), settings, data=data).version
    assert promote(with_margins(config), settings, data=data).passed
    tracking.client.delete_registered_model_alias(tracking.model_name, registry.CHALLENGER)
    runs = len(tracking.client.search_runs([tracking.experiment_id]))
    tags = tracking.client.get_model_version(tracking.model_name, version).tags
    for judge in (promote, evaluate):
        with pytest.raises(NoChallenger):
            judge(config, settings, data=data)
    assert champion(tracking) == version
    assert tracking.client.get_model_version(tracking.model_name, version).tags == tags
    assert len(tracking.client.search_runs([tracking.experiment_id])) == runs  # no verdict run


def test_promote_without_a_challenger_is_a_sentence(base_settings: Settings, tmp_path) -> None:  # noqa: ANN001
    settings = registry_settings(base_settings, tmp_path)
    done = subprocess.run(
        [SMARTSTACK, "promote"],
        env=project_environment(
            SMARTSTACK_HOME=str(settings.home),
            SMARTSTACK_DATA_DIR=str(settings.data_dir),
            SMARTSTACK_MLFLOW_TRACKING_URI=settings.mlflow_tracking_uri,
            SMARTSTACK_MLFLOW_ARTIFACT_ROOT=str(settings.mlflow_artifact_root),
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    shown = done.stdout + done.stderr
    assert done.returncode == 2, shown
    assert "alias 'challenger'" in shown and "smartstack train" in shown
    assert "Traceback" not in shown
