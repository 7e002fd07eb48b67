"""The seeded synthetic card-offer data set: generated, with its hidden truth kept apart.

The generator (:mod:`.generator`) writes every raw table from the synthetic world
(:mod:`.world`); the ``offer_ranking_v1`` feature service ranks requests of six offers, labelled
from ``training_impressions``; card product, tenure and the generator's drifting customers are
the segments, and the ground truth's ``p_redeem`` is the oracle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from smartstack.data.schema import CARD_PRODUCTS
from smartstack.datasets.adapter import DatasetAdapter, FeatureRef, Landed, LandOptions, Target

if TYPE_CHECKING:
    import pandas as pd

    from smartstack.datasets.vocabulary import Vocabulary
    from smartstack.settings import Settings

REDEEMED = Target(
    name="redeemed",
    label="redeemed",
    description="redeemed after being shown (the generator's funnel)",
)


class SyntheticAdapter(DatasetAdapter):
    name = "synthetic"
    description = "the seeded synthetic card-offer data set"
    raw_tables = (
        "customers",
        "customer_pii",
        "transactions",
        "offers",
        "impressions",
        "clickstream",
        "quiz_responses",
    )
    land_command = "smartstack ingest"
    feature_marts = (
        "customer_spend_features",
        "customer_profile_features",
        "offer_features",
    )
    serving_marts = ("offer_catalog", "customer_quiz_answers", "customer_engagement_features")
    feature_service = "offer_ranking_v1"
    catalogue_view = "offer_catalog"
    popularity = FeatureRef("offer_stats", "redemption_rate_smoothed")
    quiz_view = "customer_quiz"
    engagement_view = "customer_engagement"
    card_products = CARD_PRODUCTS
    labelled_mart = "training_impressions"
    targets = (REDEEMED,)
    ranking_group = "request_id"
    segments = ("card_product", "tenure", "drift")

    @property
    def vocabulary(self) -> Vocabulary:
        from smartstack.datasets.synthetic.vocabulary import VOCABULARY

        return VOCABULARY

    def land(self, settings: Settings, options: LandOptions) -> Landed:
        from smartstack.datasets.synthetic.generator import GeneratorConfig, generate

        config = GeneratorConfig(customers=options.customers, seed=options.seed)
        counts = generate(config, settings.data_dir)
        return Landed(counts, f"generated {options.customers:,} customers, seed {options.seed}")

    def evaluation_frame(self, frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
        """Segments (card product, new or tenured, drifting or stable) and the oracle's
        ``p_redeem`` from the hidden ground truth, for evaluation only.

        Columns are looked up by key and added to a shallow copy: at 100,000 customers the
        frame is 1.6 GiB, and a merge per column would copy all of it each time. The segments
        made here row by row are categoricals: as Python strings each took 2.3 million
        objects (about 130 MiB) at 100,000 customers, as codes a byte per row.
        """
        import numpy as np
        import pandas as pd

        out = frame.copy(deep=False)
        customers = _read(settings.raw_dir / "customers", ["customer_id", "card_product"])
        if customers is not None:
            out["card_product"] = _lookup(out["customer_id"], customers)
        if "is_new_customer" in out:
            new = pd.to_numeric(out["is_new_customer"], errors="coerce")
            tenure = np.where(new.isna(), None, np.where(new == 1, "new", "tenured"))
            out["tenure"] = pd.Categorical(tenure)
        truth = settings.data_dir / "ground_truth"
        drifting = _read(truth / "customer_truth", ["customer_id", "is_drifting"])
        if drifting is not None:
            is_drifting = _lookup(out["customer_id"], drifting).fillna(False).astype(bool)
            out["drift"] = pd.Categorical(np.where(is_drifting, "drifting", "stable"))
        oracle = _read(truth / "impression_truth", ["impression_id", "p_redeem"])
        if oracle is not None:
            out["p_redeem"] = _lookup(out["impression_id"], oracle)
        return out


def _lookup(keys: pd.Series, table: pd.DataFrame) -> pd.Series:
    """``table``'s second column for each key in its first (a left join on a unique key)."""
    key, value = table.columns
    return keys.map(table.set_index(key)[value])


def _read(path: Path, columns: list[str]) -> pd.DataFrame | None:
    import pandas as pd

    return pd.read_parquet(path, columns=columns) if path.exists() else None
