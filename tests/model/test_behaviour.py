"""Behavioural tests of the trained model (Made-With-ML style): minimum functionality,
invariance, direction, and reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from smartstack.training.baselines import all_baselines
from smartstack.training.evaluate import evaluate_scores, score_booster
from smartstack.training.train import train


@pytest.fixture(scope="module")
def reports(data, model, config):
    scored = score_booster(model.booster, data)
    out = {"xgboost": evaluate_scores(data, scored)}
    for name, baseline in all_baselines(data, config.popularity_prior_weight).items():
        out[name] = evaluate_scores(data, baseline)
    return out


def test_minimum_functionality_beats_the_baselines_and_is_calibrated(reports) -> None:
    model = reports["xgboost"]["all"]
    assert model["ndcg_3"] > reports["smartscore"]["all"]["ndcg_3"] + 0.02
    assert model["ndcg_3"] > reports["popularity"]["all"]["ndcg_3"]
    assert model["ndcg_3"] <= reports["oracle"]["all"]["ndcg_3"] + 0.02
    assert model["auc"] > 0.7
    assert model["ece"] < 0.08  # ~4,000 test rows: 10-bin ECE is noisy at this scale


def test_invariance_a_row_scores_the_same_alone_or_in_any_batch(data, model) -> None:
    x = data.matrix("test")[:60]
    together = model.margin(x)
    alone = np.array([model.margin(x[i : i + 1])[0] for i in range(len(x))])
    shuffled = np.random.default_rng(0).permutation(len(x))
    assert np.allclose(together, alone, atol=1e-6)
    assert np.allclose(model.margin(x[shuffled]), together[shuffled], atol=1e-6)


def _shift(data, model, **changes: float) -> float:
    """Mean change of the score on test rows when features are set to the given values."""
    x = data.matrix("test")
    changed = x.copy()
    for name, value in changes.items():
        changed[:, data.features.index(name)] = value
    return float(np.mean(model.margin(changed) - model.margin(x)))


def test_direction_spend_share_value_and_type_fit_raise_the_score(data, model) -> None:
    # More of the customer's wallet in the offer's category raises that offer's score.
    assert _shift(data, model, offer_category_share_30d=0.6, offer_category_share_90d=0.6) > 0
    assert _shift(data, model, value_score=1.0) > _shift(data, model, value_score=0.4)
    assert _shift(data, model, type_fit=1.0) > _shift(data, model, type_fit=0.0)


def test_missing_values_are_scored_not_rejected(data, model) -> None:
    x = np.full_like(data.matrix("test")[:10], np.nan)
    assert np.isfinite(model.proba(x)).all()


def test_same_seed_same_model_different_seed_different_model(data, model, config) -> None:
    x = data.matrix("test")
    again = train(data, config)
    assert again.best_iteration == model.best_iteration
    assert np.array_equal(again.margin(x), model.margin(x))
    assert again.calibration == model.calibration
    other = train(data, config, seed=config.seed + 1)
    assert not np.array_equal(other.margin(x), model.margin(x))


def test_fewer_histogram_bins_train_a_model_that_uses_them(data, config) -> None:
    """``max_bin`` from the parameters reaches the quantized matrices, not only the booster
    (XGBoost refuses the two disagreeing), so a coarser sketch is a lever that can be pulled."""
    coarse = config.with_overrides(num_boost_round=20, xgboost={**config.xgboost, "max_bin": 16})
    model = train(data, coarse)
    thresholds = model.booster.trees_to_dataframe().groupby("Feature")["Split"].nunique()
    assert 0 < thresholds.drop("Leaf", errors="ignore").max() <= 16


def test_a_large_training_part_takes_the_large_parameters(data, config) -> None:
    """``large.xgboost`` and ``large.early_stopping_rounds`` replace the top level's values
    only from ``large.min_train_rows`` training rows on; the booster is given them and stops
    where their step takes it."""
    rows = int(data.rows("train").sum())
    big_step = {"eta": 0.6}
    patience = config.early_stopping_rounds // 2
    given = {"xgboost": big_step, "early_stopping_rounds": patience}
    small = config.with_overrides(large={"min_train_rows": rows + 1, **given})
    large = config.with_overrides(large={"min_train_rows": rows, **given})
    below, at = train(data, small), train(data, large)
    assert below.params["eta"] == config.xgboost["eta"]
    assert below.early_stopping_rounds == config.early_stopping_rounds
    assert at.params["eta"] == 0.6
    assert at.early_stopping_rounds == patience
    assert at.best_iteration < below.best_iteration
