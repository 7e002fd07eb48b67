"""The caps' read and the customer rows' version in one round trip (``serving.read_ahead``).

Two rankers read one Redis online store (a private redis-server, db 0) and rank the same
requests. One counts its frequency caps in db 0 too, so its caps' read brings the version back in
the same pipeline; the other counts them in db 1, so its reads stay apart, as before. Each has
its own caps, breakers, last-served rankings and ranking cache, so the same requests must get
the same answers from both, and count the same errors, while the first makes one round trip
fewer per request: on a hit, two (caps and version, caps' update) instead of three. Round
trips are counted on the client (every command or pipeline written to a connection), commands
on the server (``INFO commandstats``).
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import pytest
import redis as redis_client
from redis.connection import AbstractConnection

from smartstack.datasets import active, feature_service_name
from smartstack.featurestore import store
from smartstack.featurestore.guarded import GuardedReader
from smartstack.featurestore.online import OnlineFeatureReader, OnlineFeatures
from smartstack.featurestore.rows import RedisRows
from smartstack.privacy.purposes import CONSENT_VIEW
from smartstack.ranking import smartscore
from smartstack.serving.caps import FrequencyCaps, LastServed, RedisFrequencyCaps
from smartstack.serving.catalog import FeastCatalogue
from smartstack.serving.metrics import ERRORS, RANK_CACHE
from smartstack.serving.model import RegistryAlias
from smartstack.serving.ranker import Ranker, Ranking
from smartstack.serving.ranking_cache import RankingCache
from smartstack.serving.read_ahead import read_ahead
from smartstack.serving.schemas import RankRequest, RankResponse, Tier
from smartstack.serving.state import ServingStateHolder
from smartstack.settings import OnlineStore, Settings
from tests.conftest import BuiltHome, RedisProcess
from tests.serving.conftest import MODEL, REQUEST_TIME, Dataset

CAP = 3  # servings of an offer per customer: the fourth request of a customer ranks others
# Every client's deadline: one a loaded 2-core machine keeps (the paused server waits it out)
DEADLINE_S = 0.25
ERROR_KINDS = (
    "caps_unavailable",
    "feature_store_timeout",
    "feature_store_error",
    "feature_store_circuit_open",
)


@dataclass
class Store:
    settings: Settings
    redis: RedisProcess
    reader: OnlineFeatureReader
    state: ServingStateHolder


@pytest.fixture(scope="module")
def redis_store(
    built: BuiltHome,
    dataset: Dataset,
    redis: RedisProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Store:
    copied = built.copy(tmp_path_factory.mktemp("read-ahead") / "home")
    settings = copied.model_copy(update={"online_store": OnlineStore.redis, "redis_url": redis.url})
    (settings.home / "feast" / "registry.db").unlink()  # the copy's records the SQLite loads
    store.apply(settings)
    store.materialize(settings)
    feature_store = store.get_store(settings)
    reader = OnlineFeatureReader(
        feature_store, feature_service_name(settings), timeout_s=DEADLINE_S,
        extra_customer_views=(CONSENT_VIEW,),
    )  # fmt: skip
    state = ServingStateHolder(
        RegistryAlias(settings.mlflow_tracking_uri, MODEL, "champion", dataset.feature_names),
        FeastCatalogue(feature_store, active(settings)),
        poll_seconds=3600,
    )
    return Store(settings, redis, reader, state)


class Failing:
    """The features' reads, failing while ``on`` though Redis answers (the caps' circuit stays
    closed): the version read too, so the features' circuit opens as after failed reads."""

    def __init__(
        self,
        read: Callable[[str, Sequence[str], datetime], OnlineFeatures],
        version: Callable[[str], Hashable],
    ) -> None:
        self.on = False
        self.versions_asked = 0
        self._read = read
        self._version = version

    def read(self, customer: str, offers: Sequence[str], at: datetime) -> OnlineFeatures:
        if self.on:
            raise OSError("features unreadable")
        return self._read(customer, offers, at)

    def version(self, customer: str) -> Hashable:
        self.versions_asked += 1
        if self.on:
            raise OSError("features unreadable")
        return self._version(customer)


@dataclass
class Side:
    ranker: Ranker
    caps: RedisFrequencyCaps
    failing: Failing

    def rank(self, customer: str, **body: object) -> RankResponse:
        return self.ranker.rank(rank_request(customer, **body))


@dataclass
class Pair:
    ahead: Side  # caps in the store's db: caps and version in one pipeline
    apart: Side  # caps in another db: the reads apart, as before

    def both(self, customer: str, **body: object) -> RankResponse:
        """Both rankers' answers to one request, asserted equal, with the same lookups and
        errors counted; the reading-ahead one's returned."""
        answers, counts = [], []
        for side in (self.ahead, self.apart):
            before = counted()
            answers.append(side.rank(customer, **body))
            counts.append(counted() - before)
        assert answer(answers[0]) == answer(answers[1])
        assert counts[0] == counts[1]
        return answers[0]


def side(redis_store: Store, db: int) -> Side:
    url = redis_store.redis.url.rsplit("/", 1)[0] + f"/{db}"
    caps = RedisFrequencyCaps(url, CAP, 3600, timeout_s=DEADLINE_S)
    reader = redis_store.reader
    # The reader's own rows, as RankingApp passes them (it keeps them private).
    ahead = read_ahead(caps, reader._customers, reader.version)
    failing = Failing(reader.read, reader.version if ahead is None else ahead.version)
    guarded = GuardedReader(failing.read, breaker_reset_s=0.5, version=failing.version)
    ranker = Ranker(
        read_features=guarded,
        state=redis_store.state,
        rules=smartscore.smartscore,
        rules_version=smartscore.VERSION,
        favourite=None,
        caps=caps,
        last_served=LastServed(100),
        snapshots=None,
        reasons_per_offer=3,
        cache=RankingCache[Ranking](100),
        read_version=guarded.version,
        read_ahead=ahead,
    )
    return Side(ranker, caps, failing)


@pytest.fixture
def pair(redis_store: Store) -> Iterator[Pair]:
    """Fresh rankers (breakers closed, caches empty) and no caps counted yet."""
    for db in (0, 1):
        client = redis_client.Redis(port=redis_store.redis.port, db=db)
        stale = list(client.scan_iter(match="smartstack:caps:*"))
        if stale:
            client.delete(*stale)
        client.close()
    pair = Pair(ahead=side(redis_store, 0), apart=side(redis_store, 1))
    assert pair.apart.ranker._read_ahead is None  # another db: not the store's server
    yield pair
    for each in (pair.ahead, pair.apart):
        each.caps.close()


def rank_request(customer: str, **body: object) -> RankRequest:
    payload = {
        "customer_id": customer,
        "k": 5,
        "context": {"channel": "app", "timestamp": REQUEST_TIME},
    }
    return RankRequest.model_validate_json(json.dumps(payload | body))


def answer(response: RankResponse) -> dict:
    """Everything of a ranking but its request id."""
    return response.model_dump(mode="json", exclude={"request_id"})


def counted() -> Counter[str]:
    """The cache's lookups and the errors this module provokes, as counted so far."""
    values = {f"cache_{r}": RANK_CACHE.labels(result=r)._value.get() for r in ("hit", "miss")}
    values |= {kind: ERRORS.labels(kind=kind)._value.get() for kind in ERROR_KINDS}
    return Counter(values)


def personal_customers(redis_store: Store, dataset: Dataset, first: int, n: int) -> list[str]:
    """``n`` customers the model ranks, from the ``first``-th on (each test takes its own)."""
    probe = Ranker(
        read_features=GuardedReader(redis_store.reader.read),
        state=redis_store.state,
        rules=smartscore.smartscore,
        rules_version=smartscore.VERSION,
        favourite=None,
        caps=FrequencyCaps(0, 3600, 1),
        last_served=LastServed(1),
        snapshots=None,
        reasons_per_offer=3,
    )
    found = []
    for customer in dataset.customers.customer_id.astype(str):
        if probe.rank(rank_request(customer), record=False).tier is Tier.model:
            found.append(customer)
            if len(found) == first + n:
                return found[first:]
    raise AssertionError("not enough customers ranked by the model")


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Round trips: each write of one command, or of a whole pipeline, to a Redis connection
    (keyed by the first command written)."""
    written: Counter[str] = Counter()
    send = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        first = command[0] if isinstance(command, list) else command
        name = bytes(first).split(b"\r\n")[2].decode().lower()
        written[name] += 1
        send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return written


def commands(redis_store: Store) -> Counter[str]:
    """Commands the server ran, by name (``INFO commandstats``)."""
    client = redis_client.Redis(port=redis_store.redis.port)
    stats = client.info("commandstats")
    client.close()
    return Counter({k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()})


def test_a_hit_reads_caps_and_version_in_one_round_trip(
    pair: Pair, redis_store: Store, dataset: Dataset, writes: Counter[str]
) -> None:
    (customer,) = personal_customers(redis_store, dataset, 0, 1)
    pair.both(customer)  # kept: the next request is a hit
    per_side = []
    for each in (pair.ahead, pair.apart):
        hits = counted()["cache_hit"]
        before = commands(redis_store)
        writes.clear()
        response = each.rank(customer)
        written = dict(writes)
        ran = commands(redis_store) - before
        assert counted()["cache_hit"] == hits + 1
        assert response.tier is Tier.model
        per_side.append((written, ran["hmget"], ran["evalsha"]))
    ahead, apart = per_side
    # The same commands on the server: two reads and the caps' update...
    assert ahead[1:] == apart[1:] == (2, 1)
    # ...in two round trips instead of three: the caps' read and the version as one pipeline.
    assert ahead[0] == {"hmget": 1, "evalsha": 1}
    assert apart[0] == {"hmget": 2, "evalsha": 1}


def test_answers_equal_the_reads_apart(pair: Pair, redis_store: Store, dataset: Dataset) -> None:
    """Hits, misses, caps that run out (the fourth request ranks other offers) and customers
    the store does not know: the same answers and counts both ways."""
    customers = personal_customers(redis_store, dataset, 1, 3)
    shown = [o.offer_id for o in pair.both(customers[0]).offers]
    for _ in range(CAP + 1):
        for customer in customers:
            pair.both(customer)
    capped = pair.both(customers[0], candidate_offer_ids=shown)
    assert capped.offers == []  # each served CAP times already
    pair.both("never-seen-customer")
    assert pair.both("never-seen-customer").tier is Tier.popularity


def test_an_open_features_circuit_refuses_the_version_read_ahead(
    pair: Pair, redis_store: Store, dataset: Dataset
) -> None:
    """The features' reads failing while Redis answers: the caps' pipeline still brings the
    version, but it fails through the features' breaker as a read would, the request falls
    back (its last ranking) though a ranking is kept, and once the circuit is open the version
    is refused without being asked for; after the reset, a trial read closes it again."""
    (regular,) = personal_customers(redis_store, dataset, 4, 1)
    pair.both(regular)
    pair.both(regular)  # kept
    for each in (pair.ahead, pair.apart):
        each.failing.on = True
    for failures in range(1, 7):
        before = counted()
        asked = pair.ahead.failing.versions_asked
        assert pair.both(regular).tier is Tier.last_served
        # pybreaker answers the failure that opens the circuit (the fifth) as open
        kind = "feature_store_error" if failures < 5 else "feature_store_circuit_open"
        assert counted() - before == Counter({kind: 2})
        assert pair.ahead.failing.versions_asked == asked + (failures <= 5)
    for each in (pair.ahead, pair.apart):
        each.failing.on = False
    time.sleep(0.6)  # the breakers' reset: the next version read is the trial
    assert pair.both(regular).tier is Tier.model


def test_failing_caps_fail_open_and_the_version_still_counts(
    pair: Pair, redis_store: Store, dataset: Dataset, writes: Counter[str]
) -> None:
    """The customer's caps unreadable (their key holds another type): the caps fail open
    under the caps' breaker, and the version is read alone and still keeps the ranking;
    once the caps' circuit is open, no pipeline is sent: the version alone, as before."""
    (customer,) = personal_customers(redis_store, dataset, 5, 1)
    for db in (0, 1):
        client = redis_client.Redis(port=redis_store.redis.port, db=db)
        client.set(RedisFrequencyCaps.key(customer), "not a hash")
        client.close()
    first = pair.both(customer)
    before = counted()
    for _ in range(4):  # the caps' read and update fail on each: open after the fifth
        assert answer(pair.both(customer)) == answer(first)
    assert (counted() - before)["cache_hit"] == 8
    writes.clear()
    pair.ahead.rank(customer)
    assert writes == Counter(hmget=1)  # the version alone; the caps' circuit is open


def test_a_paused_redis_fails_each_read_as_before(
    pair: Pair, redis_store: Store, dataset: Dataset
) -> None:
    """Redis stops answering: both reads time out, caps fail open and the request falls back,
    with the same errors counted per request both ways as the breakers open in turn."""
    regular, newcomer = personal_customers(redis_store, dataset, 6, 2)
    pair.both(regular)
    process = redis_store.redis.process
    process.send_signal(signal.SIGSTOP)
    try:
        for _ in range(6):
            assert pair.both(regular).tier is Tier.last_served
        assert pair.both(newcomer).tier is Tier.popularity
    finally:
        process.send_signal(signal.SIGCONT)


def test_reads_stay_apart_unless_on_the_stores_server(redis_store: Store) -> None:
    rows = redis_store.reader._customers
    assert isinstance(rows, RedisRows)
    version = redis_store.reader.version
    url = redis_store.redis.url
    assert read_ahead(RedisFrequencyCaps(url, CAP, 60), rows, version) is not None
    other_db = url.rsplit("/", 1)[0] + "/3"
    assert read_ahead(RedisFrequencyCaps(other_db, CAP, 60), rows, version) is None
    other_port = url.replace(f":{redis_store.redis.port}/", f":{redis_store.redis.port + 1}/")
    assert read_ahead(RedisFrequencyCaps(other_port, CAP, 60), rows, version) is None
    assert read_ahead(FrequencyCaps(CAP, 60, 10), rows, version) is None
