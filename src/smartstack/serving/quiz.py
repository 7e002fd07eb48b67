"""Quiz answers for cold start: each customer's latest stated favourite category.

Unknown customers have no row in the online store, yet a new customer often takes the quiz
before the first feature build includes them. A small table (one category per customer who
answered) is loaded from the raw quiz responses at start and kept in memory; the online
``customer_profile`` view carries the same answer for known customers.
"""

from __future__ import annotations

import pandas as pd

from smartstack.settings import Settings


def load_favourites(settings: Settings) -> dict[str, str]:
    path = settings.raw_dir / "quiz_responses"
    if not path.exists():
        return {}
    answers = pd.read_parquet(path, columns=["customer_id", "answered_at", "favourite_category"])
    latest = answers.dropna().sort_values("answered_at").groupby("customer_id").last()
    return latest["favourite_category"].to_dict()
