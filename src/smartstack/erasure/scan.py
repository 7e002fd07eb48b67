"""The privacy scan: where a customer's id and personal values still are, in every store.

It proves erasure (plant a marker for one customer everywhere, erase, scan: nothing) and that
``customer_pii`` values never leave the raw layer. It is generic on purpose, so that a new store
cannot hide from it: it does not ask each store's module what it keeps but reads every file
under the platform's folders by what the file *is*:

- Parquet (``PAR1``): every column, batch by batch with pyarrow.compute (nested columns by their
  leaf values);
- SQLite (``SQLite format 3``): every column of every table, compared as bytes (``instr``), then
  the file's own bytes, for values deleted from a table but still in a free page or the WAL;
- DuckDB (``DUCK`` at byte 8, or ``.duckdb``): every column of every base table of every schema
  cast to ``VARCHAR``, opened read-only (views are skipped: they read other files, which are
  scanned themselves);
- anything else as bytes (logs, JSON, YAML, HTML Data Docs, pickles, model files), each needle
  in its UTF-8, JSON-escaped and HTML-escaped forms.

Plus the network stores the settings name: every key of the Redis database (Feast's online
store, engagement, frequency caps) when the online store is Redis, and every non-internal Kafka
topic from its first offset when a broker is configured.

A value matches where it occurs whole: a needle that starts or ends with a digit must not touch
another digit (``CUST-0000012`` is not in ``CUST-00000123``, a card number is not in a longer
run of digits). A store that cannot be read is reported as ``unscanned``, never passed over:
a scan that could not look proves nothing.
"""

from __future__ import annotations

import html
import json
import mmap
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from smartstack.settings import OnlineStore, Settings, mask_url

# Columns of ``customer_pii`` that identify a customer on their own. ``city`` and
# ``postal_code`` are quasi-identifiers shared by thousands of people: a city name or a
# five-digit code occurs in any text or numeric column, so finding one says nothing about the
# customer (they are erased with the row, never searched for).
IDENTIFYING_COLUMNS = ("full_name", "email", "phone", "card_number", "street_address")
# A personal value shorter than this is too common to search for.
MIN_PII_LENGTH = 5
BATCH_ROWS = 65_536
# Column × needle tests in one SQL condition.
MAX_TERMS = 200
UNSCANNED = "unscanned"
NOT_COMPACTED = "retained until the topic's retention; dropped on replay by the suppression list"

ProgressFn = Callable[[int, int, str], None]  # (done, total, what is being scanned)


# --- what to look for ----------------------------------------------------------------------


@dataclass(frozen=True)
class Needle:
    """One value to look for, and what it is (``customer_id``, a PII column, ``value``)."""

    kind: str
    value: str

    @property
    def raw(self) -> bytes:
        return self.value.encode()

    def forms(self) -> tuple[bytes, ...]:
        """The value as text files hold it: UTF-8, JSON-escaped (``\\u00e9``), HTML-escaped."""
        escaped = json.dumps(self.value, ensure_ascii=True)[1:-1].encode()
        markup = html.escape(self.value).encode()
        return tuple(dict.fromkeys((self.raw, escaped, markup)))

    def count_in(self, data: bytes | memoryview | mmap.mmap, form: bytes | None = None) -> int:
        """Whole occurrences of the value (or one of its ``forms``) in ``data``."""
        form = form or self.raw
        found, start = 0, 0
        while (at := data.find(form, start)) != -1:
            if _whole(data, at, at + len(form), form):
                found += 1
            start = at + 1
        return found

    def in_text(self, text: str) -> bool:
        return self.count_in(text.encode()) > 0


def _is_digit(byte: int) -> bool:
    return 0x30 <= byte <= 0x39


def _whole(data: bytes | memoryview | mmap.mmap, start: int, end: int, form: bytes) -> bool:
    """No digit run continues the match on either side of a needle edge that is a digit."""
    if _is_digit(form[0]) and start > 0 and _is_digit(data[start - 1]):
        return False
    return not (_is_digit(form[-1]) and end < len(data) and _is_digit(data[end]))


@dataclass(frozen=True)
class Needles:
    """Everything to look for about one customer."""

    customer_id: str
    items: tuple[Needle, ...]

    @classmethod
    def for_customer(
        cls, settings: Settings, customer_id: str, extra: Iterable[str] = ()
    ) -> Needles:
        """The id, the identifying values of the customer's raw ``customer_pii`` row (if the
        row is still there) and ``extra`` values (markers) found with ``--value``."""
        customer_id = customer_id.strip()
        if not customer_id:
            raise ValueError("the customer id is empty")
        items = [Needle("customer_id", customer_id)]
        items += [Needle(k, v) for k, v in pii_values(settings, customer_id).items()]
        items += [Needle("value", v) for v in extra if v]
        return cls(customer_id, tuple(dict.fromkeys(items)))

    def without_id(self) -> Needles:
        """Only the personal values: the ``customer_pii stays put`` check."""
        return Needles(self.customer_id, tuple(n for n in self.items if n.kind != "customer_id"))

    def __iter__(self) -> Iterator[Needle]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def pii_values(settings: Settings, customer_id: str) -> dict[str, str]:
    """The customer's identifying values from raw ``customer_pii``; empty if no row (erased,
    or a data set without the table)."""
    folder = settings.raw_dir / "customer_pii"
    if not folder.exists():
        return {}
    dataset = ds.dataset(folder, format="parquet")
    columns = [c for c in IDENTIFYING_COLUMNS if c in dataset.schema.names]
    rows = dataset.to_table(
        columns=columns, filter=pc.field("customer_id") == customer_id
    ).to_pylist()
    if not rows:
        return {}
    return {
        column: value.strip()
        for column, value in rows[0].items()
        if isinstance(value, str) and len(value.strip()) >= MIN_PII_LENGTH
    }


# --- what was found ------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One needle in one place: ``store`` is a stable name (:data:`STORES`), ``location`` the
    file and column, table or key inside it, ``detail`` how many and what it means."""

    store: str
    location: str
    needle_kind: str
    detail: str


# The store names a finding can carry, stable for reports and tests.
STORES = (
    "raw",
    "warehouse",
    "marts",
    "online_store",
    "ranking_log",
    "shadow_log",
    "feedback",
    "quiz_answers",
    "consent_events",
    "engagement",
    "frequency_caps",
    "explanation_cache",
    "mlflow",
    "quality",
    "logs",
    "stream_state",
    "privacy",
    "kafka",
    "other",
)


def store_prefixes(settings: Settings) -> list[tuple[Path, str]]:
    """Path prefix → store name, longest prefix first; a path under none is ``other``."""
    home, data = settings.home, settings.data_dir
    table = [
        (settings.raw_dir, "raw"),
        (data / "ground_truth", "raw"),  # the generator's hidden truth, landed with raw
        (data / "manifest.json", "raw"),
        (data / ".staging", "raw"),
        (settings.features_dir, "marts"),
        (data / "feedback", "feedback"),
        (data / "quiz_answers", "quiz_answers"),
        (data / "consent_events", "consent_events"),
        (settings.duckdb_path, "warehouse"),
        (settings.spark_dir, "warehouse"),
        (settings.sqlite_online_path, "online_store"),
        (home / "feast", "online_store"),
        (settings.ranking_log_dir, "ranking_log"),
        (settings.shadow_log_dir, "shadow_log"),
        (home / "engagement", "engagement"),
        (home / "messaging", "explanation_cache"),
        (home / "mlflow", "mlflow"),
        (settings.mlflow_artifact_root, "mlflow"),
        (home / "quality", "quality"),
        (settings.stream_state_path, "stream_state"),
        (home / "events", "logs"),  # the local broker's log
        (home / "logs", "logs"),
        (home / "dbt", "logs"),  # dbt's log and run artefacts
        (home / "airflow" / "logs", "logs"),
        (settings.privacy_dir, "privacy"),
    ]
    if settings.engagement.store_path is not None:
        table.append((settings.engagement.store_path, "engagement"))
    mlflow_db = _sqlite_path(settings.mlflow_tracking_uri)
    if mlflow_db is not None:
        table.append((mlflow_db, "mlflow"))
    return sorted(table, key=lambda entry: len(entry[0].parts), reverse=True)


def store_of(path: Path, prefixes: Sequence[tuple[Path, str]]) -> str:
    for prefix, name in prefixes:
        if path == prefix or path.is_relative_to(prefix):
            return name
    return "other"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


# --- the scan ------------------------------------------------------------------------------


@dataclass
class _Scan:
    settings: Settings
    needles: Needles
    prefixes: list[tuple[Path, str]]
    findings: list[Finding] = field(default_factory=list)

    def where(self, path: Path) -> tuple[str, str]:
        """The store of a file and its name in reports (relative to the root it is under)."""
        return store_of(path, self.prefixes), _shown(path, self.settings)

    def add(self, store: str, location: str, needle: Needle | str, detail: str) -> None:
        kind = needle.kind if isinstance(needle, Needle) else needle
        self.findings.append(Finding(store, location, kind, detail))


def roots(settings: Settings) -> list[Path]:
    """The folders and files to scan: the home, and every configured path outside it."""
    candidates = [
        settings.home,
        settings.data_dir,
        settings.mlflow_artifact_root,
        settings.privacy_dir,
        settings.duckdb_path,
        settings.sqlite_online_path,
        settings.serving.snapshot_dir,
        settings.experiments.shadow_dir,
        settings.engagement.store_path,
        _sqlite_path(settings.mlflow_tracking_uri),
    ]
    chosen: list[Path] = []
    for path in (Path(p).resolve() for p in candidates if p is not None):
        if path.exists() and not any(path.is_relative_to(r) for r in chosen):
            chosen = [r for r in chosen if not r.is_relative_to(path)] + [path]
    return chosen


def files_to_scan(settings: Settings, *, exclude_raw_pii: bool = False) -> list[Path]:
    """Every regular file under :func:`roots` (symlinks not followed), sorted."""
    skipped = (settings.raw_dir / "customer_pii").resolve() if exclude_raw_pii else None
    found: set[Path] = set()
    for root in roots(settings):
        paths = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())
        for path in paths:
            if path.is_symlink() or (skipped is not None and path.is_relative_to(skipped)):
                continue
            found.add(path)
    return sorted(found)


def scan(
    settings: Settings,
    needles: Needles,
    *,
    exclude_raw_pii: bool = False,
    progress: ProgressFn | None = None,
) -> list[Finding]:
    """Every place any of ``needles`` occurs: files under the platform's folders, then Redis
    and Kafka when the settings use them. ``exclude_raw_pii`` leaves out raw ``customer_pii``
    (the one table personal values belong in)."""
    state = _Scan(settings, needles, store_prefixes(settings))
    files = files_to_scan(settings, exclude_raw_pii=exclude_raw_pii)
    companions = {p for p in files if _companion_of(p, files) is not None}
    network = int(settings.online_store == OnlineStore.redis) + int(
        bool(settings.kafka_bootstrap_servers)
    )
    total = len(files) - len(companions) + network
    done = 0
    for path in files:
        if path in companions:
            continue
        if progress is not None:
            progress(done, total, _shown(path, settings))
        _scan_file(state, path, [c for c in companions if _companion_of(c, files) == path])
        done += 1
    if settings.online_store == OnlineStore.redis:
        if progress is not None:
            progress(done, total, f"redis {mask_url(settings.redis_url)}")
        _scan_redis(state)
        done += 1
    if settings.kafka_bootstrap_servers:
        if progress is not None:
            progress(done, total, f"kafka {settings.kafka_bootstrap_servers}")
        _scan_kafka(state)
        done += 1
    if progress is not None:
        progress(total, total, "done")
    return state.findings


def stores_of(findings: Iterable[Finding]) -> list[str]:
    """The stores the findings are in, in :data:`STORES` order."""
    names = {f.store for f in findings}
    return [s for s in STORES if s in names] + sorted(names - set(STORES))


def _shown(path: Path, settings: Settings) -> str:
    for root in (settings.home, *roots(settings)):
        if path.is_relative_to(root) and path != root:
            return str(path.relative_to(root))
    return str(path)


# --- files ---------------------------------------------------------------------------------

_SQLITE_COMPANIONS = ("-wal", "-journal", "-shm")


def _companion_of(path: Path, files: Sequence[Path]) -> Path | None:
    """The database a write-ahead log or journal belongs to (scanned with it)."""
    name = path.name
    for suffix in (*_SQLITE_COMPANIONS, ".wal"):
        if name.endswith(suffix):
            base = path.with_name(name.removesuffix(suffix))
            if base in files:
                return base
    return None


def _kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head[8:12] == b"DUCK" or path.suffix == ".duckdb":
        return "duckdb"
    if head.startswith(b"PAR1"):
        return "parquet"
    return "bytes"


def _scan_file(state: _Scan, path: Path, companions: Sequence[Path]) -> None:
    store, shown = state.where(path)
    try:
        kind = _kind(path)
        if kind == "parquet":
            _scan_parquet(state, path, store, shown)
            return
        if kind in ("sqlite", "duckdb"):
            reader = _scan_sqlite if kind == "sqlite" else _scan_duckdb
            found = reader(state, path, store, shown)
            # What no table holds but the file still does: deleted rows not yet overwritten.
            for part in (path, *companions):
                for needle in state.needles:
                    if needle in found:
                        continue
                    count = _count_in_file(part, needle)
                    if count:
                        state.add(
                            store,
                            _shown(part, state.settings),
                            needle,
                            f"{count} in the file's bytes but in no table: deleted rows not "
                            "yet overwritten (vacuum or checkpoint the database)",
                        )
            return
        _scan_bytes(state, path, store, shown)
    except Exception as error:  # noqa: BLE001 - an unreadable store is reported, not skipped
        state.add(store, shown, UNSCANNED, f"could not be read: {error!r}")


def _count_in_file(path: Path, needle: Needle) -> int:
    if path.stat().st_size == 0:
        return 0
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return sum(needle.count_in(data, form) for form in needle.forms())


def _scan_bytes(state: _Scan, path: Path, store: str, shown: str) -> None:
    if path.stat().st_size == 0:
        return
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for needle in state.needles:
            count = sum(needle.count_in(data, form) for form in needle.forms())
            if count:
                state.add(store, shown, needle, f"{count} occurrence(s) in the file")


def _scan_parquet(state: _Scan, path: Path, store: str, shown: str) -> None:
    file = pq.ParquetFile(path)
    counts: dict[tuple[str, Needle], int] = {}
    for batch in file.iter_batches(batch_size=BATCH_ROWS):
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            leaves = _string_leaves(column)
            if not leaves:
                continue
            for needle in state.needles:
                rows = sum(_count_rows(leaf, needle) for leaf in leaves)
                if rows:
                    counts[(name, needle)] = counts.get((name, needle), 0) + rows
    for (name, needle), rows in counts.items():
        state.add(store, f"{shown}:{name}", needle, f"{rows} value(s)")


def _string_leaves(array: pa.Array) -> list[pa.Array]:
    """The text and binary values inside a column, nested ones included (numbers and dates
    cannot hold a text needle)."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        return _string_leaves(array.dictionary_decode())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return [array]
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return [array]
    if pa.types.is_fixed_size_binary(kind):
        return [array.cast(pa.binary())]
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _string_leaves(pc.list_flatten(array))
    if pa.types.is_map(kind):
        return _string_leaves(array.keys) + _string_leaves(array.items)
    if pa.types.is_struct(kind):
        return [leaf for i in range(kind.num_fields) for leaf in _string_leaves(array.field(i))]
    return []


def _count_rows(values: pa.Array, needle: Needle) -> int:
    hits = pc.match_substring(values, needle.value)
    if not pc.any(hits).as_py():
        return 0
    found = pc.filter(values, hits).to_pylist()
    return sum(1 for v in found if needle.count_in(v if isinstance(v, bytes) else v.encode()))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _scan_sqlite(state: _Scan, path: Path, store: str, shown: str) -> set[Needle]:
    """Every column of every table as bytes; returns the needles found."""
    found: set[Needle] = set()
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as con:
        tables = [
            r[0]
            for r in con.execute("select name from sqlite_master where type = 'table'")
            if not r[0].startswith("sqlite_")
        ]
        for table in tables:
            columns = [r[1] for r in con.execute(f"pragma table_info({_quote(table)})")]
            hits = _query_hits(
                con.execute,
                table=_quote(table),
                columns=columns,
                needles=list(state.needles),
                text=lambda c: f"cast({_quote(c)} as blob)",
                contains=lambda expr, i: f"instr({expr}, cast(?{i} as blob)) > 0",
                placeholder=lambda i: i,
            )
            for (column, needle), rows in hits.items():
                found.add(needle)
                state.add(store, f"{shown}:{table}.{column}", needle, f"{rows} row(s)")
    return found


def _scan_duckdb(state: _Scan, path: Path, store: str, shown: str) -> set[Needle]:
    """Every column of every base table, cast to text; returns the needles found."""
    import duckdb

    found: set[Needle] = set()
    warehouse = path == state.settings.duckdb_path.resolve()
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select database_name, schema_name, table_name from duckdb_tables() "
            "where not internal and not temporary"
        ).fetchall()
        for database, schema, table in tables:
            columns = [
                r[0]
                for r in con.execute(
                    "select column_name from duckdb_columns() where database_name = ? and "
                    "schema_name = ? and table_name = ? order by column_index",
                    [database, schema, table],
                ).fetchall()
            ]
            qualified = ".".join(_quote(p) for p in (database, schema, table))
            hits = _query_hits(
                lambda sql, params: con.execute(sql, params).fetchall(),
                table=qualified,
                columns=columns,
                needles=list(state.needles),
                text=lambda c: f"cast({_quote(c)} as varchar)",
                contains=lambda expr, i: f"contains({expr}, ${i})",
                placeholder=lambda i: i,
            )
            for (column, needle), rows in hits.items():
                found.add(needle)
                where = f"{schema}.{table}.{column}"
                state.add(
                    store, where if warehouse else f"{shown}:{where}", needle, f"{rows} row(s)"
                )
    finally:
        con.close()
    return found


def _query_hits(
    execute: Callable[[str, Sequence[str]], Iterable[Sequence[object]]],
    *,
    table: str,
    columns: Sequence[str],
    needles: Sequence[Needle],
    text: Callable[[str], str],
    contains: Callable[[str, int], str],
    placeholder: Callable[[int], int],
) -> dict[tuple[str, Needle], int]:
    """One pass over a table: the rows where any column contains any needle, then which
    column holds which needle whole, counted by row."""
    if not columns or not needles:
        return {}
    terms = [(c, i) for c in columns for i in range(len(needles))]
    selected = ", ".join(text(c) for c in columns)
    params = [n.value for n in needles]
    hits: dict[tuple[str, Needle], int] = {}
    # A bounded condition per query (SQLite refuses an expression deeper than 1,000).
    for start in range(0, len(terms), MAX_TERMS):
        part = terms[start : start + MAX_TERMS]
        used = sorted({i for _, i in part})
        number = {i: k + 1 for k, i in enumerate(used)}
        condition = " or ".join(contains(text(c), placeholder(number[i])) for c, i in part)
        rows = execute(
            f"select {selected} from {table} where {condition}", [params[i] for i in used]
        )
        wanted = {(c, i) for c, i in part}
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                if value is None:
                    continue
                data = value if isinstance(value, bytes) else str(value).encode()
                for i, needle in enumerate(needles):
                    if (column, i) in wanted and needle.count_in(data):
                        hits[(column, needle)] = hits.get((column, needle), 0) + 1
    return hits


# --- network stores ------------------------------------------------------------------------

CAPS_PREFIX = b"smartstack:caps:"


def _redis_store(key: bytes, settings: Settings) -> str:
    from smartstack.featurestore.config import PROJECT

    if key.startswith(settings.engagement.redis_prefix.encode()):
        return "engagement"
    if key.startswith(CAPS_PREFIX):
        return "frequency_caps"
    if key.endswith(PROJECT.encode()):
        return "online_store"  # Feast: the serialized entity key, then the project
    return "other"


def _scan_redis(state: _Scan) -> None:
    """Every key of the configured database (not only the platform's prefixes: a store added
    later has nowhere to hide), by key bytes and value bytes."""
    import redis

    settings = state.settings
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=3)
    try:
        keys = list(client.scan_iter(count=1_000))
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            with client.pipeline(transaction=False) as pipe:
                for key in chunk:
                    pipe.type(key)
                kinds = pipe.execute()
            with client.pipeline(transaction=False) as pipe:
                for key, kind in zip(chunk, kinds, strict=True):
                    _read_redis_value(pipe, key, kind)
                values = pipe.execute()
            for key, value in zip(chunk, values, strict=True):
                _match_redis(state, key, value)
    except redis.RedisError as error:
        state.add(
            "online_store",
            mask_url(settings.redis_url),
            UNSCANNED,
            f"Redis did not answer: {error}",
        )
    finally:
        client.close()


def _read_redis_value(pipe: object, key: bytes, kind: bytes) -> None:
    readers = {
        b"string": lambda: pipe.get(key),  # type: ignore[attr-defined]
        b"hash": lambda: pipe.hgetall(key),  # type: ignore[attr-defined]
        b"set": lambda: pipe.smembers(key),  # type: ignore[attr-defined]
        b"zset": lambda: pipe.zrange(key, 0, -1),  # type: ignore[attr-defined]
        b"list": lambda: pipe.lrange(key, 0, -1),  # type: ignore[attr-defined]
    }
    readers.get(kind, lambda: pipe.echo(b""))()  # type: ignore[attr-defined]


def _redis_bytes(value: object) -> list[bytes]:
    if value is None:
        return []
    if isinstance(value, bytes):
        return [value]
    if isinstance(value, dict):
        return [b for pair in value.items() for b in pair]
    if isinstance(value, (list, set, tuple)):
        return [v for v in value if isinstance(v, bytes)]
    return [str(value).encode()]


def _match_redis(state: _Scan, key: bytes, value: object) -> None:
    store = _redis_store(key, state.settings)
    shown = key.decode("utf-8", "backslashreplace")
    parts = _redis_bytes(value)
    for needle in state.needles:
        if needle.count_in(key):
            state.add(store, shown, needle, "in the key")
        elif any(needle.count_in(p) for p in parts):
            state.add(store, shown, needle, "in the value")


def _scan_kafka(state: _Scan, timeout_s: float = 10.0) -> None:
    """Every non-internal topic from its first offset up to its end at the start of the scan."""
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource

    from smartstack.events.kafka import NoBroker, check_broker

    servers = state.settings.kafka_bootstrap_servers or ""
    try:
        check_broker(servers, timeout=3.0)
    except NoBroker as error:
        state.add("kafka", servers, UNSCANNED, str(error))
        return
    admin = AdminClient({"bootstrap.servers": servers, "log_level": 2})
    topics = [t for t in admin.list_topics(timeout=5).topics if not t.startswith("__")]
    compacted = _compacted(admin, topics, ConfigResource)
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": f"smartstack-privacy-scan-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "log_level": 2,
        }
    )
    try:
        metadata = consumer.list_topics(timeout=5)
        ends: dict[tuple[str, int], int] = {}
        assignment = []
        for topic in topics:
            for partition in metadata.topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=5
                )
                if high > low:
                    ends[(topic, partition)] = high
                    assignment.append(TopicPartition(topic, partition, low))
        if not assignment:
            return
        consumer.assign(assignment)
        deadline = time.monotonic() + timeout_s
        hits: dict[tuple[str, int, Needle], tuple[int, int]] = {}  # → (first offset, count)
        while ends and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            for needle in state.needles:
                if any(needle.count_in(b) for b in (message.key(), message.value()) if b):
                    first, count = hits.get((topic, partition, needle), (offset, 0))
                    hits[(topic, partition, needle)] = (first, count + 1)
            if offset + 1 >= ends.get((topic, partition), 0):
                ends.pop((topic, partition), None)
        for (topic, partition, needle), (first, count) in hits.items():
            detail = f"{count} message(s), the first at offset {first}"
            if not compacted.get(topic):
                detail += f"; {NOT_COMPACTED}"
            state.add("kafka", f"{topic}[{partition}]@{first}", needle, detail)
        for topic, partition in ends:
            state.add("kafka", f"{topic}[{partition}]", UNSCANNED, "not read to its end in time")
    finally:
        consumer.close()


def _compacted(admin: object, topics: Sequence[str], resource: type) -> dict[str, bool]:
    """Which topics are compacted (a broker that cannot say: none, the cautious answer)."""
    try:
        futures = admin.describe_configs(  # type: ignore[attr-defined]
            [resource(resource.Type.TOPIC, t) for t in topics]
        )
        answer = {}
        for res, future in futures.items():
            policy = future.result(timeout=5).get("cleanup.policy")
            answer[res.name] = policy is not None and "compact" in str(policy.value)
        return answer
    except Exception:  # noqa: BLE001 - unknown means not compacted
        return {}
