"""Logged slots: what a logging policy showed in the top k of each request, with what it led to
and how likely the policy was to show it there.

Two sources, one shape (one row per request and slot, ``position`` 1..k):

- ``service``: the ranking log of the running service joined with the feedback table. Only
  rankings whose propensities were logged below 1 somewhere (exploration on) carry
  information about other rankers; sorted rankings (propensity 1) are kept for the readouts.
- ``generator``: the synthetic data set's own impressions, shown by a uniform-random logging
  policy: the propensity of an offer at a slot is 1 / (offers it could have shown), which needs
  the candidates (:mod:`smartstack.evaluation.candidates`) and is filled in there.

Generator requests whose clicks the snapshot may not have seen yet (its last ``settle_days``)
are left out: an unobserved click is not a skip. For the service's log, ``settle_hours`` leaves
out the rankings served in the last hours (0 by default: the simulator's feedback is in at once;
live traffic wants a day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from smartstack.events.feedback_table import FeedbackTable
from smartstack.serving.snapshots import RANKING_LOG_SCHEMA
from smartstack.settings import Settings

SLOT_COLUMNS = [
    "request_id",
    "customer_id",
    "request_timestamp",
    "channel",
    "position",
    "offer_id",
    "clicked",
    "redeemed",
    "logged_propensity",
]


class NoLoggedTraffic(LookupError):
    """Nothing to evaluate: the message says what is missing and how to get it."""


@dataclass(frozen=True)
class LoggedSlots:
    """One row per (request, slot) of complete top-k lists: :data:`SLOT_COLUMNS`, plus the
    experiment columns for service logs."""

    frame: pd.DataFrame
    source: str
    k: int

    @property
    def requests(self) -> int:
        return int(self.frame["request_id"].nunique())


def _complete(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """Slots 1..k of requests that showed at least k offers, in (request, position) order."""
    frame = frame[frame["position"] <= k]
    sizes = frame.groupby("request_id")["position"].transform("size")
    return frame[sizes == k].sort_values(["request_id", "position"], ignore_index=True)


def sample_requests(frame: pd.DataFrame, max_requests: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_requests`` whole requests of ``frame``, a seeded sample."""
    if max_requests is None:
        return frame
    ids = frame["request_id"].drop_duplicates()
    if len(ids) <= max_requests:
        return frame
    keep = ids.sample(max_requests, random_state=seed)
    return frame[frame["request_id"].isin(keep)].reset_index(drop=True)


def generator_slots(
    settings: Settings,
    k: int,
    *,
    settle_days: float = 3.0,
    max_requests: int | None = None,
    seed: int = 0,
) -> LoggedSlots:
    """The synthetic data set's uniform-random impressions (propensities not yet known)."""
    from smartstack.featurestore import store

    try:
        labelled = store.labelled_impressions(settings)
    except FileNotFoundError as error:
        raise NoLoggedTraffic(f"{error}") from None
    if "position" not in labelled or labelled["position"].isna().all():
        raise NoLoggedTraffic("this data set's impressions have no positions to evaluate")
    end = labelled["event_timestamp"].max() - timedelta(days=settle_days)
    # The labelled mart's request time is its event time.
    frame = labelled[labelled["event_timestamp"] <= end].drop(columns="event_timestamp")
    frame = _complete(frame.assign(position=frame["position"].astype(int)), k)
    frame = sample_requests(frame, max_requests, seed)
    frame["logged_propensity"] = np.nan
    frame["clicked"] = frame["clicked"].astype(bool)
    frame["redeemed"] = frame["redeemed"].astype(bool)
    return LoggedSlots(frame[SLOT_COLUMNS].copy(), "generator", k)


def read_ranking_log(settings: Settings) -> pd.DataFrame:
    """The service's ranking log without the feature vectors."""
    directory = settings.ranking_log_dir
    if not directory.exists() or not any(directory.rglob("*.parquet")):
        raise NoLoggedTraffic(f"no ranking log at {directory}: serve some rankings first")
    # The writer's schema, not the first file's: parts written before a column existed read
    # as nulls in it.
    schema = pa.schema([f for f in RANKING_LOG_SCHEMA if f.name != "features"])
    dataset = ds.dataset(directory, schema=schema, format="parquet", exclude_invalid_files=True)
    return dataset.to_table().to_pandas()


def outcomes(settings: Settings) -> pd.DataFrame:
    """Clicked and redeemed per (request, offer), from the feedback table."""
    table = FeedbackTable.from_settings(settings)
    try:
        events = table.read().to_pandas()
    finally:
        table.close()
    events = events[events["request_id"].notna()]
    events = events[events["kind"].isin(["click", "redeem"])]
    flags = pd.crosstab([events["request_id"], events["offer_id"]], events["kind"])
    flags = flags.reindex(columns=["click", "redeem"], fill_value=0) > 0  # a kind not seen yet
    return flags.rename(columns={"click": "clicked", "redeem": "redeemed"}).reset_index()


def service_slots(settings: Settings, k: int, *, settle_hours: float = 0.0) -> LoggedSlots:
    """The service's served top-k lists with their logged propensities and outcomes."""
    log = read_ranking_log(settings)
    log = log[log["tier"].isin(["model", "smartscore"])]
    if settle_hours:
        log = log[log["served_at"] <= pd.Timestamp.now(tz="UTC") - timedelta(hours=settle_hours)]
    frame = log.rename(columns={"rank": "position", "propensity": "logged_propensity"})
    frame = frame.assign(position=frame["position"].astype(int))
    frame = _complete(frame, k)
    frame = frame.merge(outcomes(settings), on=["request_id", "offer_id"], how="left")
    frame[["clicked", "redeemed"]] = frame[["clicked", "redeemed"]].eq(True)  # no event: False
    frame = frame.rename(columns={"request_time": "request_timestamp"})
    extra = ["experiment", "arm", "ranker", "team", "list_propensity", "model_version"]
    return LoggedSlots(frame[SLOT_COLUMNS + extra].copy(), "service", k)
