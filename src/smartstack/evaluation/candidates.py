"""Every offer each logged request could have shown, with the feature values it had then, and
the top k each ranker would have shown from them.

A target ranker's list is worked out again from the feature store's point-in-time values (the
same retrieval as training), so any registered version, alias or SmartScore can be judged on
traffic it never served. The candidates are the offers valid at the request and open to the
customer's card: what the synthetic generator's uniform logger chose among, and what the
service ranks before frequency caps (a capped offer a target would show has no logged support:
keep caps out of an exploration period, see ``docs/experiments.md``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import numpy as np
import pandas as pd

from smartstack.evaluation.logs import LoggedSlots
from smartstack.experiments.config import SMARTSCORE
from smartstack.ranking import smartscore
from smartstack.serving.catalog import OfferCatalog
from smartstack.serving.model import LoadedModel, RegistryAlias
from smartstack.settings import Settings

KEYS = ["request_id", "customer_id", "request_timestamp", "channel"]


_FOREVER = datetime(9999, 1, 1, tzinfo=UTC)


def _naive_utc(moments: list[datetime]) -> np.ndarray:
    return pd.to_datetime(moments, utc=True).tz_localize(None).to_numpy("datetime64[us]")


class UnknownRanker(LookupError):
    """A ranker that is neither a registry alias nor SmartScore."""


@dataclass(frozen=True)
class Candidates:
    """One row per (request, candidate offer): :data:`KEYS`, ``offer_id`` and the feature
    service's columns (``names``) as of the request."""

    frame: pd.DataFrame
    names: list[str]

    def matrix(self) -> np.ndarray:
        return self.frame[self.names].to_numpy(dtype=np.float64)


def catalogue(settings: Settings) -> OfferCatalog:
    from smartstack.datasets import active
    from smartstack.featurestore import store
    from smartstack.serving.catalog import FeastCatalogue

    return FeastCatalogue(store.get_store(settings), active(settings)).load()


def candidates(settings: Settings, slots: LoggedSlots, catalog: OfferCatalog) -> Candidates:
    """The valid, eligible offers of every logged request with their point-in-time features."""
    from smartstack.featurestore import store

    requests = slots.frame.drop_duplicates("request_id")[KEYS].reset_index(drop=True)
    offers = catalog.ids
    valid_from = _naive_utc([catalog[o].valid_from for o in offers])
    valid_to = _naive_utc([catalog[o].valid_to or _FOREVER for o in offers])
    at = requests["request_timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    at = at.to_numpy(dtype="datetime64[us]")[:, None]
    request_index, offer_index = np.nonzero((valid_from[None, :] <= at) & (at < valid_to[None, :]))
    entity = requests.iloc[request_index].reset_index(drop=True)
    entity["offer_id"] = np.array(offers)[offer_index]
    entity["event_timestamp"] = entity["request_timestamp"]
    names = store.model_feature_names(settings)
    frame = store.training_frame(entity, settings)
    cards = frame["card_product"].astype(object).where(frame["card_product"].notna(), None)

    @cache
    def open_to(offer: str, card: str | None) -> bool:
        return bool(catalog.eligible([offer], card))

    eligible = [open_to(o, c) for o, c in zip(frame["offer_id"], cards, strict=True)]
    frame = frame[eligible].sort_values(["request_id", "offer_id"], ignore_index=True)
    return Candidates(frame[[*KEYS, "offer_id", *names]].copy(), names)


def uniform_propensities(slots: LoggedSlots, pool: Candidates) -> LoggedSlots:
    """Fill a uniform logger's propensities: 1 / candidates at each slot. Slots whose offer is
    not among the request's candidates (a catalogue that changed since) are dropped with their
    requests."""
    sizes = pool.frame.groupby("request_id").size().rename("candidates")
    known = pool.frame[["request_id", "offer_id"]].assign(known=True)
    frame = slots.frame.drop(columns="logged_propensity").merge(sizes, on="request_id", how="left")
    frame = frame.merge(known, on=["request_id", "offer_id"], how="left")
    complete = frame.groupby("request_id")["known"].transform(lambda s: s.notna().all())
    frame = frame[complete].copy()
    frame["logged_propensity"] = 1.0 / frame["candidates"]
    return LoggedSlots(frame[slots.frame.columns].reset_index(drop=True), slots.source, slots.k)


@dataclass(frozen=True)
class Scorer:
    """A ranker to judge: a registry alias's model, or SmartScore."""

    name: str
    model: LoadedModel | None
    version: str | None

    def scores(self, matrix: np.ndarray, names: list[str]) -> np.ndarray:
        if self.model is None:
            return smartscore.smartscore(matrix, names)
        return self.model.score(matrix)[0]


def scorers(settings: Settings, rankers: list[str], names: list[str]) -> dict[str, Scorer]:
    """The rankers to judge, loaded: registry aliases of the registered model, versions
    (``v7``), or SmartScore."""
    found: dict[str, Scorer] = {}
    model = settings.registered_model_name
    for ranker in rankers:
        if ranker == SMARTSCORE:
            found[ranker] = Scorer(ranker, None, smartscore.VERSION)
            continue
        source = RegistryAlias(settings.mlflow_tracking_uri, model, ranker, names)
        numbered = re.fullmatch(r"v(\d+)", ranker)
        version = numbered.group(1) if numbered else source.version()
        if version is None:
            raise UnknownRanker(
                f"'{ranker}' is neither an alias of {model}, a version (v7) nor '{SMARTSCORE}'"
            )
        try:
            found[ranker] = Scorer(ranker, source.load(version), version)
        except Exception as error:  # MLflow says what it could not find
            raise UnknownRanker(
                f"{model} version {version} could not be loaded ({error})"
            ) from None
    return found


def top_k(pool: Candidates, scores: np.ndarray, k: int) -> pd.DataFrame:
    """Each request's top ``k`` by ``scores`` (ties: offer id): request_id, position, offer_id."""
    frame = pool.frame[["request_id", "offer_id"]].assign(score=scores)
    frame = frame.sort_values(
        ["request_id", "score", "offer_id"], ascending=[True, False, True], kind="stable"
    )
    frame["position"] = frame.groupby("request_id").cumcount() + 1
    return frame[frame["position"] <= k][["request_id", "position", "offer_id", "score"]]


def target_lists(
    pool: Candidates, rankers: Mapping[str, Scorer], k: int
) -> dict[str, pd.DataFrame]:
    """Each ranker's top ``k`` of every request."""
    matrix = pool.matrix()
    return {name: top_k(pool, r.scores(matrix, pool.names), k) for name, r in rankers.items()}
