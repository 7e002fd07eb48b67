"""Training on the spark warehouse: xgboost.spark fits the booster on Spark's executors.

The same rows, labels, parameters and early stopping as :func:`smartstack.training.train.train`:
the train and validation periods go to Spark as one DataFrame with a validation column, and
XGBoost's workers (one per Spark task slot, ``local[2]``: two) build each tree together, every
worker holding its share of the rows. The fitted booster comes back to this process and is
trimmed and calibrated as a single-node one is, so MLflow logging, the promotion gate and
serving do not know which engine fitted it. Trees differ from a single-node fit's (the workers
sketch their own quantiles), so equal quality, not equal trees, is what tests hold.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from smartstack.settings import Settings, TrainingSettings
from smartstack.spark import spark_session
from smartstack.training.dataset import TrainingData
from smartstack.training.train import (
    TrainedModel,
    booster_params,
    early_stopping_rounds,
    finished,
    label_of,
    qid_of,
)

# XGBoost's parameters that xgboost.spark sets itself: threads per worker are `spark.task.cpus`,
# and the objective is the estimator's (binary:logistic for the classifier, rank:ndcg for the
# ranker: booster_params' own).
_SPARK_OWNED = ("nthread", "n_jobs", "objective")
LABEL, VALIDATION, QID, SHARE = "label", "is_validation", "qid", "share_of_period"


def training_frame(data: TrainingData, objective: str) -> pd.DataFrame:
    """The train and validation rows: the features (float32, NaN for missing), the label,
    whether the row is for validation, and for ranking the request's number.

    The two periods' rows are interleaved: xgboost.spark fails on an Arrow batch without a
    training or without a validation row (it reads the empty part's features under the wrong
    column name), and in time order the first batches hold only training rows. Each period's
    rows keep their time order and are spread evenly over the whole (a row at a share s of its
    period sits at a share s of the frame); a ranker's requests keep their rows together, so
    whole requests are spread the same way.
    """
    parts = []
    for part in ("train", "validation"):
        frame = pd.DataFrame(data.matrix(part), columns=data.features, copy=False)
        frame[LABEL] = label_of(data, part, objective)
        frame[VALIDATION] = part == "validation"
        groups = qid_of(data, part)
        if objective == "rank":  # one number per request across both periods
            frame[QID] = 2 * groups + (part == "validation")
        # Where the row's request falls in its period, from 0 to 1.
        frame[SHARE] = (groups + 0.5) / (groups.max() + 1)
        parts.append(frame)
    frame = pd.concat(parts, ignore_index=True, copy=False)
    frame = frame.sort_values(SHARE, kind="stable", ignore_index=True)
    if objective == "rank":
        # Renumbered in the frame's order, which xgboost.spark's ranker sorts its rows by.
        frame[QID] = pd.factorize(frame[QID])[0]
    return frame.drop(columns=SHARE)


def train_on_spark(
    data: TrainingData,
    config: TrainingSettings,
    settings: Settings,
    seed: int | None = None,
    overrides: dict | None = None,
) -> TrainedModel:
    """Fit with xgboost.spark, stop early on validation, calibrate on validation."""
    from xgboost.spark import SparkXGBClassifier, SparkXGBRanker

    started = time.perf_counter()
    seed = config.seed if seed is None else seed
    train_rows = int(data.rows("train").sum())
    params = booster_params(config, seed, overrides, train_rows)
    patience = early_stopping_rounds(config, train_rows)
    spark = spark_session(settings)
    frame = spark.createDataFrame(training_frame(data, config.objective))
    workers = spark.sparkContext.defaultParallelism
    booster_only = {k: v for k, v in params.items() if k not in _SPARK_OWNED}
    estimator_type = SparkXGBRanker if config.objective == "rank" else SparkXGBClassifier
    estimator = estimator_type(
        features_col=list(data.features),
        label_col=LABEL,
        validation_indicator_col=VALIDATION,
        num_workers=workers,
        n_estimators=config.num_boost_round,
        early_stopping_rounds=patience,
        missing=np.nan,
        verbose=False,  # no line per round in the log (the result is logged to MLflow)
        **({"qid_col": QID} if config.objective == "rank" else {}),
        **booster_only,
    )
    # Rows in turn to each worker, a ranker's by request (a request's rows stay together).
    rank = config.objective == "rank"
    model = estimator.fit(frame.repartition(workers, QID) if rank else frame.repartition(workers))
    booster = model.get_booster()
    redeemed = data.labels("validation")
    return finished(booster, data, config, params, patience, started, redeemed, "xgboost.spark")
