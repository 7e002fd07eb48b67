"""The promotion gate in two steps, as the Airflow DAGs run it: ``evaluate`` records a verdict
without moving an alias, ``crown_recorded`` applies a passing one, and only against the
champion it was judged against. Reruns of either step, and of training with ``--reuse``, leave
the registry as the first run left it."""

from __future__ import annotations

import pytest

from smartstack.training import registry
from smartstack.training.job import already_trained, run_training
from smartstack.training.promote import evaluate, promote
from smartstack.training.registry import StaleVerdict, crown_recorded
from tests.model.conftest import registry_settings
from tests.model.test_promotion import shuffled_labels


@pytest.fixture(scope="module")
def weak(config):
    """An honest but small model: quick to train, and it beats SmartScore on this data."""
    return config.with_overrides(num_boost_round=12, xgboost={**config.xgboost, "max_depth": 1})


@pytest.fixture
def fresh(base_settings, config, tmp_path):
    settings = registry_settings(base_settings, tmp_path)
    return settings, registry.configure(settings, config.experiment)


def champion(tracking: registry.Tracking) -> str | None:
    found = registry.version_by_alias(tracking, registry.CHAMPION)
    return None if found is None else str(found.version)


def test_evaluate_records_the_verdict_and_moves_no_alias(fresh, data, weak) -> None:
    settings, tracking = fresh
    version = run_training(weak, settings, data=data).version
    decision = evaluate(weak, settings, data=data)
    assert decision.version == version and decision.passed
    assert decision.reference == "smartscore"
    assert champion(tracking) is None
    tags = tracking.client.get_model_version(tracking.model_name, version).tags
    assert tags[registry.STATUS_TAG] == registry.PASSED
    assert tags["validated_against"] == "smartscore"

    assert crown_recorded(tracking, version) == version
    assert champion(tracking) == version
    # A rerun of the promotion, and of the evaluation after it, change nothing.
    assert crown_recorded(tracking, version) == version
    again = evaluate(weak, settings, data=data)
    assert again.passed and again.reason == "already champion"
    assert champion(tracking) == version


def test_a_rejected_version_cannot_be_promoted(fresh, data, weak) -> None:
    settings, tracking = fresh
    first = run_training(weak, settings, data=data).version
    promote(weak, settings, data=data)
    noise = run_training(weak, settings, data=data, labels=shuffled_labels(data)).version
    decision = evaluate(weak, settings, data=data)
    assert decision.version == noise and not decision.passed
    with pytest.raises(StaleVerdict, match="only a version that passed"):
        crown_recorded(tracking, noise)
    assert champion(tracking) == first


def test_a_verdict_against_an_older_champion_is_not_applied(fresh, data, weak) -> None:
    settings, tracking = fresh
    judged = run_training(weak, settings, data=data).version
    assert evaluate(weak, settings, data=data).passed  # against SmartScore: no champion yet
    reseeded = weak.with_overrides(seed=weak.seed + 1)
    other = run_training(reseeded, settings, data=data).version
    assert promote(reseeded, settings, data=data).passed  # the champion moves meanwhile
    with pytest.raises(StaleVerdict, match="judged against smartscore"):
        crown_recorded(tracking, judged)
    assert champion(tracking) == other


def test_training_again_on_the_same_data_reuses_the_version(fresh, data, weak) -> None:
    settings, _ = fresh
    assert already_trained(weak, data, settings) is None
    version = run_training(weak, settings, data=data).version
    assert already_trained(weak, data, settings) == version
    assert already_trained(weak.with_overrides(seed=weak.seed + 1), data, settings) is None
    assert already_trained(weak, data, settings, tune_first=True) is None
