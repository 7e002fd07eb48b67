"""Session fixtures: a generated data set, and the whole pipeline run once on each data set.

- ``small_dataset``: raw and ground-truth tables for 1,500 customers, generated once.
- ``built`` and ``built_starbucks``: ``smartstack run`` (every step of the pipeline, through
  the CLI, in a subprocess) on 1,200 generated customers and on 300 members of the Starbucks
  files: the raw tables, the DuckDB warehouse and the feature marts, the Feast registry and
  SQLite online store, a champion in the MLflow registry, the explanation cache. Tests that
  only read use them as they are; a test that writes takes a copy of the home
  (:meth:`BuiltHome.copy`), so no test sees another's changes. Under pytest-xdist (`make test`
  runs two workers) the first worker to need one builds it and the others wait and share it.

Tests are scheduled on the workers by scope: each module stays on one worker (its module
fixtures are made once), and so does each folder whose tests share a session fixture that is
costly to make twice (one `bentoml serve`, one Starbucks pipeline run, two dbt builds);
the three Airflow modules run apart, each on a copy of one migrated database. The longest
scopes are handed out first (``LONGEST_FIRST``).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
import redis as redis_client

from smartstack.datasets.synthetic.generator import GeneratorConfig, generate
from smartstack.interpreter import OPTIMIZED
from smartstack.settings import DEFAULT_DATASET, Settings
from tests.starbucks import starbucks_sample

SMALL = GeneratorConfig(customers=1_500, seed=11, chunk_size=500)
# Fixtures that build a data set, run the pipeline or start a service: a test using one (even
# through another fixture) is `slow`, and `make test-quick` leaves it out.
HEAVY_FIXTURES = frozenset(
    {
        "built",  # the whole pipeline, once per session
        "airflow_database",  # Airflow's metadata database, migrated
        "broker",  # a Kafka-protocol broker
        "redis",  # a private redis-server
        "built_starbucks",  # the pipeline on a Starbucks sample
        "cut_then_incremental",  # two more dbt builds
        "starbucks",  # a Starbucks sample through dbt (messaging)
    }
)
BUILT_CUSTOMERS, BUILT_SEED = 1_200, 21
SMARTSTACK = str(Path(sys.executable).parent / "smartstack")


def project_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any Smart Stack or MLflow setting, plus ``settings``:
    what a ``smartstack`` subprocess of a test runs with, optimized as the stack runs its own
    (``smartstack.interpreter``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SMARTSTACK_", "MLFLOW_", "OPENAI_", "KAFKA_", "REDIS_URL"))
    }
    return {**env, **OPTIMIZED, **settings}


# Folders whose tests share a costly session fixture: one worker runs each of them whole.
SHARED_FOLDERS = frozenset({"dbt", "serving", "spark", "starbucks"})
# The scopes that take longest (see `--durations` and docs/benchmarks.md), handed out first so
# that no worker starts one while the others are nearly done; the rest follow as collected.
LONGEST_FIRST = (
    "tests/dags/test_daily_run.py",
    "tests/spark",
    "tests/serving",
    "tests/dbt",
    "tests/starbucks",
    "tests/dags/test_failing_gate.py",
    "tests/model/test_promotion.py",
    "tests/model/test_evaluate_then_promote.py",
    "tests/dags/test_dag_integrity.py",
)


def scheduling_scope(nodeid: str) -> str:
    """The unit one worker runs whole: the test's module, or its shared folder."""
    module = nodeid.split("::", 1)[0]  # tests/<folder>/test_x.py
    parts = module.split("/")
    return "/".join(parts[:2]) if parts[1:2] and parts[1] in SHARED_FOLDERS else module


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    first = {scope: rank for rank, scope in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: first.get(scheduling_scope(item.nodeid), len(first)))


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """pytest-xdist's scheduling by module, with the shared folders as one scope each, handed
    out in collection order (not xdist's default, largest number of tests first)."""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndSharedFolders(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scheduling_scope(nodeid)

    config.option.loadscopereorder = False
    return ModulesAndSharedFolders(config, log)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw and ground-truth tables for 1,500 customers (3 chunks), generated once."""
    out = tmp_path_factory.mktemp("generated")
    generate(SMALL, out, workers=2)
    return out


@dataclass(frozen=True)
class BuiltHome:
    """A home the whole pipeline ran in, and what the run printed."""

    home: Path
    returncode: int
    output: str
    dataset: str = DEFAULT_DATASET

    @property
    def settings(self) -> Settings:
        return Settings(home=self.home, dataset=self.dataset)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def copy(self, target: Path) -> Settings:
        """A private copy of the home at ``target``, and its settings.

        The registries record absolute paths; those of the original are moved to the copy, so
        nothing done to the copy reaches the original (Feast's registry would otherwise drop
        the original's online tables when the copy is applied again). The DuckDB warehouse's
        staging views still read the original's raw tables: a test that changes raw data
        rebuilds the views it needs.
        """
        shutil.copytree(self.home, target)
        old, new = str(self.home), str(target)
        _move_paths(target / "mlflow" / "mlflow.db", old, new)
        _move_feast_paths(target / "feast" / "registry.db", old, new)
        return Settings(home=target, dataset=self.dataset)


def _move_feast_paths(registry: Path, old: str, new: str) -> None:
    """Replace the prefix ``old`` by ``new`` in every string of a Feast file registry."""
    from feast.protos.feast.core.Registry_pb2 import Registry
    from google.protobuf import json_format

    proto = Registry.FromString(registry.read_bytes())
    moved = json_format.MessageToJson(proto).replace(old, new)
    registry.write_bytes(json_format.Parse(moved, Registry()).SerializeToString())


def _move_paths(database: Path, old: str, new: str) -> None:
    """Replace the prefix ``old`` by ``new`` in every text value of a SQLite database."""
    with sqlite3.connect(database) as con:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for column in con.execute(f'pragma table_info("{table}")'):
                name, kind = column[1], column[2].upper()
                if "CHAR" in kind or "TEXT" in kind:
                    con.execute(
                        f'update "{table}" set "{name}" = replace("{name}", ?, ?) '
                        f'where "{name}" like ?',
                        (old, new, f"%{old}%"),
                    )


def _run_pipeline(home: Path, dataset: str, *args: str) -> BuiltHome:
    """``smartstack run --dataset DATASET ARGS`` in a subprocess with its own home and no
    inherited settings."""
    done = subprocess.run(
        [SMARTSTACK, "run", "--dataset", dataset, *args],
        env=project_environment(SMARTSTACK_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return BuiltHome(home, done.returncode, done.stdout + done.stderr, dataset)


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """One process at a time, across the session's workers."""
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def once_per_session(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    make: Callable[[Path], dict[str, Any]],
) -> dict[str, Any]:
    """``make(folder)`` once for the whole session, its record (JSON values) returned to every
    caller: under pytest-xdist the first worker to ask makes it in the session's shared folder,
    and the others wait for it and read the record."""
    if not hasattr(request.config, "workerinput"):  # one process: nothing to share
        return make(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent  # the workers' base folders share it
    record = shared / f"{name}.json"
    with _exclusive(shared / f"{name}.lock"):
        if not record.exists():
            record.write_text(json.dumps(make(shared / name)))
        return json.loads(record.read_text())


def _built_once(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    dataset: str,
    *args: str,
) -> BuiltHome:
    def make(folder: Path) -> dict[str, Any]:
        built = _run_pipeline(folder / "home", dataset, *args)
        return {**asdict(built), "home": str(built.home)}

    values = once_per_session(request, tmp_path_factory, name, make)
    built = BuiltHome(**{**values, "home": Path(values["home"])})
    assert built.returncode == 0, built.output[-6000:]
    return built


@pytest.fixture(scope="session")
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> BuiltHome:
    """``smartstack run --customers 1200 --seed 21`` in its own home, once per session."""
    arguments = ("--customers", str(BUILT_CUSTOMERS), "--seed", str(BUILT_SEED))
    return _built_once(request, tmp_path_factory, "built", DEFAULT_DATASET, *arguments)


@pytest.fixture(scope="session")
def starbucks_source() -> Path:
    """The public Starbucks files (skipped with a reason where absent, a failure in CI)."""
    return starbucks_sample.source_dir()


@pytest.fixture(scope="session")
def starbucks_transcript(starbucks_source: Path) -> list[str]:
    return starbucks_sample.transcript_lines(starbucks_source)


@pytest.fixture(scope="session")
def starbucks_customers(starbucks_source: Path) -> list[str]:
    """Every member id, in the fixed order the samples take them from."""
    return starbucks_sample.customer_order(starbucks_source)


@pytest.fixture(scope="session")
def starbucks_train_sample(
    starbucks_source: Path,
    starbucks_transcript: list[str],
    starbucks_customers: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The first 300 members (the lowest id hashes), transcript gzipped as published (see
    tests/starbucks/starbucks_sample.py)."""
    chosen = set(starbucks_customers[: starbucks_sample.TRAIN_CUSTOMERS])
    target = tmp_path_factory.mktemp("sb-train") / "starbucks"
    return starbucks_sample.write_sample(starbucks_source, target, chosen, starbucks_transcript)


@pytest.fixture(scope="session")
def built_starbucks(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    starbucks_train_sample: Path,
) -> BuiltHome:
    """``smartstack run --dataset starbucks --data-dir <sample>``, the README's command, once
    per session: the same steps with the Starbucks adapter in place of the generator."""
    arguments = ("--data-dir", str(starbucks_train_sample))
    return _built_once(request, tmp_path_factory, "built_starbucks", "starbucks", *arguments)


@dataclass(frozen=True)
class RedisProcess:
    """A private redis-server: tests may pause (SIGSTOP) or kill it without touching the
    machine's shared Redis."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed in CI")
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path_factory.mktemp("redis"),
        stdout=subprocess.DEVNULL,
    )
    client = redis_client.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis_client.ConnectionError:
            time.sleep(0.05)
    client.close()
    yield RedisProcess(process, port)
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI "so that subprocesses inherit it";
# in a test session that sends every later `smartstack`, Airflow or BentoML subprocess to the
# registry of whichever test called it last. Tests that start subprocesses pass the URI they
# mean explicitly, so the exported one is dropped after each test.
_MLFLOW_EXPORTS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
_AT_START = {name: os.environ.get(name) for name in _MLFLOW_EXPORTS}


@pytest.fixture(autouse=True)
def _no_exported_mlflow_uri() -> Iterator[None]:
    yield
    for name, value in _AT_START.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# The chaos run's table reaches the CI log: tests/reliability/test_chaos.py records it as a user
# property (it travels from a pytest-xdist worker with the test's report) and the terminal
# summary prints it. Here, not in tests/reliability/: xdist's controller collects nothing, so it
# loads only this conftest.
CHAOS_TABLE = "chaos_table"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for status in ("passed", "failed", "xfailed"):
        for report in terminalreporter.stats.get(status, []):
            for name, value in getattr(report, "user_properties", []):
                if name == CHAOS_TABLE and report.when == "call":
                    terminalreporter.write_sep("=", f"chaos run ({report.nodeid}, {status})")
                    terminalreporter.write_line(str(value))
