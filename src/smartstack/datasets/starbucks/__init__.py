"""The public Starbucks rewards-offer data set, read in place from its own JSON files.

:mod:`.reader` turns ``portfolio.json``, ``profile.json`` and ``transcript.json[.gz]`` into the
raw tables; the ``offer_completion_starbucks_v1`` feature service scores each offer a member
receives, labelled from ``starbucks_offer_receipts`` for two targets (A: viewed, then completed;
B: completed within the window, on offers that can be completed), with NDCG over each member's
offers and figures with and without the receipts whose window the data cut off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartstack.datasets.adapter import (
    DatasetAdapter,
    FeatureRef,
    Landed,
    LandOptions,
    SourceError,
    Target,
)

if TYPE_CHECKING:
    from smartstack.datasets.vocabulary import Vocabulary
    from smartstack.settings import Settings


class StarbucksAdapter(DatasetAdapter):
    name = "starbucks"
    description = "the public Starbucks rewards-offer data set"
    raw_tables = ("customers", "offers", "impressions", "transactions")
    land_command = "smartstack ingest --dataset starbucks --data-dir PATH"
    needs_source_dir = True
    dbt_vars = {"feature_interval_days": 1}
    feature_marts = (
        "starbucks_customer_demographics",
        "starbucks_customer_activity",
        "starbucks_customer_offer_history",
        "starbucks_offer_features",
    )
    serving_marts = ("starbucks_offer_catalog",)
    feature_service = "offer_completion_starbucks_v1"
    catalogue_view = "starbucks_offer_catalog"
    popularity = FeatureRef("starbucks_offer_stats", "success_rate_smoothed")
    labelled_mart = "starbucks_offer_receipts"
    targets = (
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
    )
    ranking_group = "customer_id"
    evaluation_columns = ("completed", "completable", "censored", "offer_type", "profile")
    segments = ("offer_type", "profile")
    subsets = {
        "observed": {"censored": 0},
        "completable": {"completable": 1},
        "completable_observed": {"completable": 1, "censored": 0},
    }
    demographic_view = "starbucks_customer_demographics"

    @property
    def vocabulary(self) -> Vocabulary:
        from smartstack.datasets.starbucks.vocabulary import VOCABULARY

        return VOCABULARY

    def land(self, settings: Settings, options: LandOptions) -> Landed:
        from smartstack.datasets.starbucks.reader import DEFAULT_START, ingest

        if settings.source_dir is None:
            raise SourceError(
                "the Starbucks data set is read from its own directory: pass --data-dir PATH "
                "(or set SMARTSTACK_SOURCE_DIR)"
            )
        start = settings.source_start_date or DEFAULT_START
        manifest = ingest(settings.source_dir, settings.data_dir, start)
        return Landed(manifest["row_counts"], f"{manifest['source_dir']} from {manifest['start']}")
