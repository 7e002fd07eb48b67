"""The data sets the platform runs on, by name: the ``dataset`` setting picks one.

Every layer asks :func:`active` for the adapter (:mod:`smartstack.datasets.adapter`) instead of
branching on the name; a new data set is a new module and one line here.
"""

from __future__ import annotations

from smartstack.datasets.adapter import DatasetAdapter, UnknownDataset
from smartstack.datasets.starbucks import StarbucksAdapter
from smartstack.datasets.synthetic import SyntheticAdapter
from smartstack.settings import Settings

ADAPTERS: dict[str, DatasetAdapter] = {
    adapter.name: adapter for adapter in (SyntheticAdapter(), StarbucksAdapter())
}


def by_name(name: str) -> DatasetAdapter:
    """The adapter of the data set called ``name``; :class:`UnknownDataset` names the others."""
    try:
        return ADAPTERS[name]
    except KeyError:
        raise UnknownDataset(
            f"unknown data set {name!r}: choose one of {', '.join(ADAPTERS)}"
        ) from None


def active(settings: Settings) -> DatasetAdapter:
    """The adapter of the data set the settings point at."""
    return by_name(settings.dataset)


def feature_service_name(settings: Settings) -> str:
    """The feature service training and serving read: the setting, else the data set's."""
    return settings.feature_service or active(settings).feature_service
