"""Real Starbucks feature rows and offer terms, built once from a sample of the public files.

A sample of members (the lowest id hashes, as ``tests/starbucks`` cuts them) is landed with the
Starbucks reader and turned into the feature marts by the real dbt models; each member's row is
the three customer feature views joined as the online store serves them (demographics
included, so that tests can show explanations never use them), as of the data set's last day.
Offers are the catalogue mart's rows in the terms serving hands to explanations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from smartstack.datasets.starbucks.reader import ingest
from smartstack.features.dbt import run_dbt
from smartstack.serving.catalog import OFFER_TERMS
from smartstack.settings import Settings
from tests.starbucks.starbucks_sample import (
    customer_order,
    source_dir,
    transcript_lines,
    write_sample,
)

MEMBERS = 150
CUSTOMER_VIEWS = (
    "starbucks_customer_activity",
    "starbucks_customer_offer_history",
    "starbucks_customer_demographics",
)
KEYS = ["customer_id", "event_timestamp"]


@dataclass(frozen=True)
class StarbucksRows:
    rows: list[dict[str, Any]]  # one per member, as of the last day
    offers: list[dict[str, Any]]  # the catalogue, as explanation terms


def build(tmp: Path) -> StarbucksRows:
    """Sample, land, run dbt and read the marts back (about 15 s, most of it dbt starting)."""
    source = source_dir()
    members = set(customer_order(source)[:MEMBERS])
    sample = write_sample(source, tmp / "starbucks", members, transcript_lines(source))
    settings = Settings(home=tmp / "home", dataset="starbucks", source_dir=sample)
    ingest(sample, settings.data_dir, date(2018, 8, 1))
    assert run_dbt(["run"], settings) == 0
    marts = settings.features_dir
    frames = [pd.read_parquet(marts / f"{view}.parquet") for view in CUSTOMER_VIEWS]
    joined = frames[0]
    for frame in frames[1:]:
        joined = joined.merge(frame, on=KEYS)
    last = joined[joined["event_timestamp"] == joined["event_timestamp"].max()]
    catalogue = pd.read_parquet(marts / "starbucks_offer_catalog.parquet")
    offers = [
        {term: row[column] for column, term in OFFER_TERMS.items()}
        for row in catalogue.to_dict("records")
    ]
    return StarbucksRows(last.drop(columns="event_timestamp").to_dict("records"), offers)
