"""What a ranking reads besides the request's features, as one state that reloads.

The champion (from the model registry), the offer catalogue with each offer's popularity
(through the feature store), the experiments file and the other registry aliases it names
change between deployments: a promotion moves the alias, a pipeline run materializes a new
catalogue, an experiment starts. :class:`ServingStateHolder` loads both at start, checks the
registries every ``poll_seconds`` and on ``POST /admin/reload``, and swaps in a new
:class:`ServingState` with one reference assignment once everything in it is loaded. A request
reads :attr:`ServingStateHolder.current` once and keeps that reference to its end, so it never
mixes two models or two catalogues, and a swap never fails a request in flight.

A registry that cannot be asked, or a version or catalogue that fails to load, keeps what is
served: only an explicit removal of the alias withdraws the model (the rules tier answers then).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from smartstack.experiments.config import SMARTSCORE, unknown_rankers
from smartstack.serving.catalog import OfferCatalog
from smartstack.serving.experiments import ExperimentsSource, LiveExperiments
from smartstack.serving.model import LoadedModel, RegistryAlias, RegistryUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingState:
    model: LoadedModel | None  # None: no champion; the rules rank
    catalog: OfferCatalog
    # When the catalogue's materializations ended, oldest first: the catalogue's version.
    materializations: tuple[datetime, ...] = ()
    experiments: LiveExperiments = LiveExperiments()
    # The other registry aliases the experiments name (challenger, ...), loaded.
    rankers: Mapping[str, LoadedModel] = field(default_factory=dict)

    def ranker(self, alias: str, champion: str) -> LoadedModel | None:
        """The loaded model of a registry alias (the champion's under its own alias)."""
        return self.model if alias == champion else self.rankers.get(alias)

    @property
    def catalogue_as_of(self) -> datetime | None:
        return self.materializations[-1] if self.materializations else None


class CatalogueSource(Protocol):
    """Where the catalogue comes from (:class:`smartstack.serving.catalog.FeastCatalogue`)."""

    def materializations(self) -> tuple[datetime, ...]:
        """When each materialization of the catalogue ended, oldest first."""

    def load(self) -> OfferCatalog:
        """The catalogue as it is now."""


@dataclass(frozen=True)
class Refreshed:
    """What one check of the registries did."""

    model: str
    version: str | None
    model_changed: bool
    offers: int
    catalogue_as_of: datetime | None
    catalogue_changed: bool


class ServingStateHolder:
    """Holds the current :class:`ServingState` and follows the registries in the background."""

    def __init__(
        self,
        champion: RegistryAlias,
        catalogue: CatalogueSource,
        poll_seconds: float,
        on_catalogue_change: Callable[[], None] = lambda: None,
        experiments: ExperimentsSource | None = None,
        on_poll: Callable[[], None] = lambda: None,
        on_experiments_change: Callable[[LiveExperiments], None] = lambda _: None,
    ) -> None:
        self._champion = champion
        self._experiments = experiments
        self._catalogue = catalogue
        self._poll_seconds = poll_seconds
        self._on_catalogue_change = on_catalogue_change
        self._on_poll = on_poll
        self._on_experiments_change = on_experiments_change
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="state-poller", daemon=True)
        self.current = self._initial()

    @property
    def model_name(self) -> str:
        return self._champion.name

    @property
    def champion_alias(self) -> str:
        return self._champion.alias

    def _initial(self) -> ServingState:
        """The catalogue must load (nothing can be ranked without it); the model may be absent."""
        try:
            version = self._champion.version()
        except RegistryUnavailable as exc:
            log.warning("model registry unavailable at start, ranking by rules: %s", exc)
            version = None
        model = None
        if version is not None:
            try:
                model = self._champion.load(version)
            except Exception:
                log.exception("could not load %s version %s", self._champion.name, version)
        experiments, rankers = self._experiments_now(LiveExperiments(), {})
        state = ServingState(
            model,
            self._catalogue.load(),
            self._catalogue.materializations(),
            experiments,
            rankers,
        )
        served = f"version {version}" if model else "no model"
        log.info("serving %s, %d offers", served, len(state.catalog))
        return state

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def refresh(self, *, reload_catalogue: bool = False) -> Refreshed:
        """Check the alias and the catalogue's materialization now; swap in what changed.

        ``reload_catalogue`` reads the catalogue again even if the registry shows no newer
        materialization (an operator's explicit reload).
        """
        with self._lock:
            before = self.current
            model = self._model(self._champion, before.model)
            catalog, loaded = self._catalogue_now(before, reload_catalogue)
            experiments, rankers = self._experiments_now(before.experiments, before.rankers)
            after = ServingState(model, catalog, loaded, experiments, rankers)
            model_changed = _version(after.model) != _version(before.model)
            catalogue_changed = catalog is not before.catalog
            experiments_changed = experiments != before.experiments or any(
                rankers.get(a) is not before.rankers.get(a) for a in {*rankers, *before.rankers}
            )
            if model_changed or catalogue_changed or experiments_changed:
                self.current = after
            if experiments.stamp != before.experiments.stamp:
                try:
                    self._on_experiments_change(experiments)
                except Exception:  # recording the change must not stop following the registries
                    log.exception("could not report the changed experiments file")
            if catalogue_changed:
                self._on_catalogue_change()
                log.info(
                    "catalogue reloaded: %d offers as of %s", len(catalog), after.catalogue_as_of
                )
        return Refreshed(
            self._champion.name,
            _version(after.model),
            model_changed,
            len(after.catalog),
            after.catalogue_as_of,
            catalogue_changed,
        )

    def _experiments_now(
        self, current: LiveExperiments, loaded: Mapping[str, LoadedModel]
    ) -> tuple[LiveExperiments, dict[str, LoadedModel]]:
        """The experiments file (read again if it changed) and the models of the aliases it
        names; a file naming an alias the registry does not have is not used."""
        if self._experiments is None:
            return current, {}
        experiments = self._experiments.load()
        rankers: dict[str, LoadedModel] = {}
        missing: list[str] = []
        for alias in sorted(experiments.rankers() - {SMARTSCORE, self._champion.alias}):
            source = self._champion.with_alias(alias)
            model = self._model(source, loaded.get(alias))
            if model is not None:
                rankers[alias] = model
            elif _gone(source):
                missing.append(alias)
        if missing and experiments.problem is None:
            known = {*rankers, self._champion.alias}
            problem = "; ".join(unknown_rankers(experiments.plan, known))
            if problem != current.problem:
                log.error("experiments file not used, the champion serves everyone: %s", problem)
            experiments = experiments.broken(problem)
        return experiments, rankers

    def _model(self, source: RegistryAlias, current: LoadedModel | None) -> LoadedModel | None:
        name, alias = source.name, source.alias
        try:
            version = source.version()
        except RegistryUnavailable as exc:
            log.warning("model registry unavailable, keeping the current model: %s", exc)
            return current
        if version is None:
            if current is not None:
                log.warning("%s@%s is gone: serving without a model", name, alias)
            return None
        if current is not None and current.version == version:
            return current
        try:
            loaded = source.load(version)
        except Exception:
            log.exception("could not load %s version %s; keeping the current one", name, version)
            return current
        log.info("serving %s version %s", name, version)
        return loaded

    def _catalogue_now(
        self, current: ServingState, reload: bool
    ) -> tuple[OfferCatalog, tuple[datetime, ...]]:
        try:
            loaded = self._catalogue.materializations()
            if not reload and loaded == current.materializations:
                return current.catalog, current.materializations
            return self._catalogue.load(), loaded
        except Exception:
            log.exception("could not reload the catalogue; keeping the current one")
            return current.catalog, current.materializations

    def _poll(self) -> None:
        """Follow the registries, then run the poll's other duty (erased customers)."""
        while not self._stop.wait(self._poll_seconds):
            self.refresh()
            try:
                self._on_poll()
            except Exception:  # the poller must outlive any one duty's failure
                log.exception("the poll's other duty failed; trying again next poll")


def _gone(source: RegistryAlias) -> bool:
    """The registry says the alias does not exist (not merely that it cannot be asked)."""
    try:
        return source.version() is None
    except RegistryUnavailable:
        return False


def _version(model: LoadedModel | None) -> str | None:
    return model.version if model else None
