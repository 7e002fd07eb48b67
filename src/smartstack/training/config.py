"""Training configuration: ``training/params.yaml`` read into typed dataclasses.

Hyper-parameters and promotion margins are versioned with the code, logged to every MLflow run
as parameters, and can be pointed elsewhere with ``SMARTSTACK_TRAINING_PARAMS`` (tests do).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from smartstack.paths import PROJECT_ROOT

TRAINING_DIR = PROJECT_ROOT / "training"
DEFAULT_PARAMS = TRAINING_DIR / "params.yaml"
MODEL_CARD_TEMPLATE = TRAINING_DIR / "model_card.md"

Objective = Literal["binary", "rank"]


@dataclass(frozen=True)
class SplitConfig:
    """By shares of requests in time order (default), or by send time when
    ``train_before_hour`` is set: rows sent before that hour since the data set's start train
    (``validation_customers`` of their customers validate), later rows are the test period."""

    train: float = 0.70  # share of requests, oldest first
    validation: float = 0.15  # the next share; the test set is the latest remainder
    train_before_hour: float | None = None
    validation_customers: float = 0.2


@dataclass(frozen=True)
class PromotionConfig:
    metric: str = "ndcg_3"
    min_improvement: float = 0.002  # over the champion, on the same test set
    min_lift_over_smartscore: float = 0.0  # first run, when there is no champion
    segment_tolerance: float = 0.02  # largest allowed drop of `metric` in any segment
    min_segment_rows: int = 600  # smaller segments are reported, not gated (too noisy)


@dataclass(frozen=True)
class TuningConfig:
    trials: int = 20
    timeout_seconds: int = 1800


@dataclass(frozen=True)
class TrainingConfig:
    seed: int = 42
    objective: Objective = "binary"
    nthread: int = 2
    num_boost_round: int = 3000
    early_stopping_rounds: int = 60
    xgboost: dict[str, Any] = field(default_factory=dict)
    split: SplitConfig = SplitConfig()
    promotion: PromotionConfig = PromotionConfig()
    tuning: TuningConfig = TuningConfig()
    popularity_prior_weight: float = 20.0
    experiment: str = "offer-ranker"

    def with_overrides(self, **changes: Any) -> TrainingConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def flat(self) -> dict[str, Any]:
        """Every setting as ``section.key`` → value, for ``mlflow.log_params``."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, dict):
                out |= {f"{key}.{k}": v for k, v in value.items()}
            else:
                out[key] = value
        return out


def load_config(path: Path | None = None, dataset: str | None = None) -> TrainingConfig:
    """Read the YAML (default: ``training/params.yaml`` or ``$SMARTSTACK_TRAINING_PARAMS``).

    The file's ``datasets.<name>`` section (``dataset``, default: the ``dataset`` setting)
    overrides the top-level values for that data set, section by section.
    """
    path = path or Path(os.environ.get("SMARTSTACK_TRAINING_PARAMS", DEFAULT_PARAMS))
    raw = yaml.safe_load(path.read_text()) or {}
    if dataset is None:
        from smartstack.settings import get_settings

        dataset = get_settings().dataset
    for key, value in (raw.pop("datasets", None) or {}).get(dataset, {}).items():
        merge = isinstance(value, dict) and isinstance(raw.get(key), dict)
        raw[key] = {**raw[key], **value} if merge else value
    return TrainingConfig(
        **{k: v for k, v in raw.items() if k not in {"split", "promotion", "tuning"}},
        split=SplitConfig(**raw.get("split", {})),
        promotion=PromotionConfig(**raw.get("promotion", {})),
        tuning=TuningConfig(**raw.get("tuning", {})),
    )
