"""The data sets the platform runs on, and everything that differs between them.

The ``dataset`` setting (``SMARTSTACK_DATASET``) picks one. Every layer runs the same code on
either; what differs is declared here, once:

- ``synthetic``: the seeded generator (``smartstack generate``), the ``offer_ranking_v1``
  feature service, labels from ``training_impressions``, requests of six offers.
- ``starbucks``: the public Starbucks rewards-offer data (:mod:`smartstack.data.starbucks`),
  the ``offer_completion_starbucks_v1`` feature service, labels from
  ``starbucks_offer_receipts``, two targets (A: viewed then completed; B: completed within the
  window, for offers that can be completed), NDCG over each customer's offers.

Hyper-parameters and the time split stay in ``training/params.yaml`` (``datasets:`` section);
feature names stay in ``feature_repo/feature_services.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Literal

from smartstack.settings import Settings


class UnknownDataset(ValueError):
    """The ``dataset`` setting names no data set this platform knows; one sentence."""


@dataclass(frozen=True)
class Target:
    """What a model predicts, on which rows, and how its ranking is graded.

    ``label`` is a 0/1 column of the labelled mart; ``rows`` (a 0/1 column) restricts the rows
    the target is defined on; ``grade`` is the NDCG gain: the synthetic engagement grade of
    ``relevance`` (0 shown/viewed, 1 clicked, 2 redeemed) or the label itself.
    """

    name: str
    label: str
    rows: str | None = None
    grade: Literal["engagement", "label"] = "engagement"
    description: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    feature_service: str  # default; the feature_service setting overrides it
    labelled_mart: str  # the dbt mart of labelled rows (the training set's entity frame)
    raw_tables: tuple[str, ...]  # raw tables dbt reads; customer_pii is deliberately absent
    ingest_command: str  # how to land the raw tables, for error messages
    feature_marts: tuple[str, ...]  # marts Feast reads (checked before materializing)
    targets: tuple[Target, ...]  # the first is the registered model's; others are companions
    ranking_group: str  # rows ranked together for NDCG/MAP
    evaluation_columns: tuple[str, ...] = ()  # labelled-mart columns kept for evaluation only
    segments: tuple[str, ...] = ()  # columns whose values are reported (and gated) apart
    # Named subsets of the test rows reported beside "all": column -> required value.
    subsets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    demographic_view: str | None = None  # feature view of the demographic-only baseline
    dbt_vars: Mapping[str, Any] = field(default_factory=dict)
    # The module whose ``land(settings)`` ingests the data set from ``source_dir`` (its own
    # format, read in place); None: the synthetic generator writes every raw table.
    adapter: str | None = None
    explained: bool = True  # the messaging layer's explanations speak this data set's domain

    @property
    def source_dir_required(self) -> bool:
        return self.adapter is not None

    def land(self, settings: Settings) -> dict[str, Any]:
        """Ingest the data set with its adapter; returns the manifest it wrote."""
        if self.adapter is None:
            raise ValueError(f"the {self.name} data set is generated, not ingested")
        return import_module(self.adapter).land(settings)

    @property
    def primary(self) -> Target:
        return self.targets[0]


REDEEMED = Target(
    name="redeemed",
    label="redeemed",
    description="redeemed after being shown (the generator's funnel)",
)

DATASETS: dict[str, DatasetSpec] = {
    "synthetic": DatasetSpec(
        name="synthetic",
        description="the seeded synthetic card-offer data set",
        feature_service="offer_ranking_v1",
        labelled_mart="training_impressions",
        raw_tables=(
            "customers", "transactions", "offers", "impressions", "clickstream", "quiz_responses",
        ),
        ingest_command="smartstack generate",
        feature_marts=("customer_spend_features", "customer_profile_features", "offer_features"),
        targets=(REDEEMED,),
        ranking_group="request_id",
        segments=("card_product", "tenure", "drift"),
    ),
    "starbucks": DatasetSpec(
        name="starbucks",
        description="the public Starbucks rewards-offer data set",
        feature_service="offer_completion_starbucks_v1",
        labelled_mart="starbucks_offer_receipts",
        raw_tables=("customers", "offers", "impressions", "transactions"),
        ingest_command="smartstack ingest --dataset starbucks --data-dir PATH",
        feature_marts=(
            "starbucks_customer_demographics",
            "starbucks_customer_activity",
            "starbucks_customer_offer_history",
            "starbucks_offer_features",
        ),
        targets=(
            Target(
                name="A",
                label="redeemed",
                grade="label",
                description="viewed, then completed within the offer's window (every offer "
                "received; informational offers never succeed)",
            ),
            Target(
                name="B",
                label="completed",
                rows="completable",
                grade="label",
                description="completed within the offer's window, viewed or not (BOGO and "
                "discount offers)",
            ),
        ),
        ranking_group="customer_id",
        evaluation_columns=("completed", "completable", "censored", "offer_type", "profile"),
        segments=("offer_type", "profile"),
        subsets={
            "observed": {"censored": 0},
            "completable": {"completable": 1},
            "completable_observed": {"completable": 1, "censored": 0},
        },
        demographic_view="starbucks_customer_demographics",
        dbt_vars={"feature_interval_days": 1},
        adapter="smartstack.data.starbucks",
        explained=False,
    ),
}


def spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDataset(
            f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}"
        ) from None


def active(settings: Settings) -> DatasetSpec:
    """The data set the settings point at."""
    return spec(settings.dataset)


def feature_service_name(settings: Settings) -> str:
    """The feature service training and serving read: the setting, else the data set's."""
    return settings.feature_service or active(settings).feature_service
