"""The catalogue is read from several threads of one process at once (the serving state's
poller, feedback threads looking up offer categories): Feast's local offline store shares one
DuckDB connection per process, which refuses concurrent calls, so the reads take turns."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from smartstack.datasets import active
from smartstack.featurestore import store
from smartstack.featurestore.catalogue import catalogue_frame
from tests.conftest import BuiltHome


def test_concurrent_catalogue_reads_all_succeed_with_the_same_catalogue(built: BuiltHome) -> None:
    settings = built.settings
    feature_store, dataset = store.get_store(settings), active(settings)
    with ThreadPoolExecutor(8) as pool:
        frames = list(pool.map(lambda _: catalogue_frame(feature_store, dataset), range(32)))
    first = frames[0].sort_values("offer_id", ignore_index=True)
    assert len(first) > 0
    for frame in frames[1:]:
        assert frame.sort_values("offer_id", ignore_index=True).equals(first)
