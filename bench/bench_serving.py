"""Benchmark ``POST /rank`` against the common way of serving the same request.

One command builds what it needs and runs everything:

    .venv/bin/python bench/bench_serving.py

1. A data set and online store under ``--home`` (``smartstack run``; reused when present) and a
   stand-in champion in its MLflow registry: XGBoost with 300 trees of depth 6 on the feature
   service's columns (reused when a champion exists).
2. For each online store (SQLite, and Redis in a dedicated ``redis-server`` loaded by
   ``materialize``), up to three services, each one BentoML worker unless ``--workers``:
   - ``ours``: ``bentoml serve serving.service:RankingService``, its ranking cache on (the
     default; each level's hit ratio is read off ``/metrics``), and ``uncached``: the same with
     the cache off (``SMARTSTACK_SERVING_RANKING_CACHE_CUSTOMERS=0``);
   - ``peer``: the common way, a BentoML service (:class:`FeastPeerService`, below) that asks
     Feast's own feature server (``feast serve``) for the feature service over HTTP, then
     scores with the same booster and computes the same approximate reason codes;
   - ``floor``: a BentoML endpoint that parses the same request and returns a constant
     (:class:`FloorService`): what HTTP, BentoML and this machine cost before any ranking.
3. 1 customer × 30 offers, k = 10, explanations on: back to back at concurrency 1, 8 and 32
   from wrk (``bench/wrk_rank.lua``; k6 without wrk), then at fixed arrival rates (100, 300,
   500, 700 requests/s; 100 for the peer) from k6's open-loop executor (``bench/k6_rank.js``).
   Percentiles come from every response time. Each level also records the servers' CPU time
   per request (user + system of their process trees): the cost of an answer, which the shared
   machine's other load inflates far less than it inflates time.

Results are printed as a Markdown table and written to ``<home>/bench_serving.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import bentoml
import httpx
import numpy as np
import psutil

if TYPE_CHECKING:
    from smartstack.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
TIMESTAMP = "2026-06-29T12:00:00Z"  # inside the synthetic offers' validity window
# Our service, with its ranking cache (the default) and without it
OURS = ("ours", "uncached")


@bentoml.service(name="feast_peer", workers=1, threads=8)
class FeastPeerService:
    """The common way: Feast's HTTP feature server, then the model, in a BentoML service."""

    def __init__(self) -> None:
        import mlflow
        import xgboost as xgb

        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        model = mlflow.xgboost.load_model(os.environ["BENCH_MODEL_URI"])
        self.booster = model if isinstance(model, xgb.Booster) else model.get_booster()
        self.booster.set_param({"nthread": 1})
        self.names = self.booster.feature_names
        self.feast = httpx.Client(base_url=os.environ["BENCH_FEAST_URL"], timeout=5)

    @bentoml.api(route="/rank")
    def rank(
        self, customer_id: str, context: dict, candidate_offer_ids: list[str], k: int = 10
    ) -> dict:
        import xgboost as xgb

        n = len(candidate_offer_ids)
        answer = self.feast.post(
            "/get-online-features",
            json={
                "feature_service": "offer_ranking_v1",
                "entities": {
                    "customer_id": [customer_id] * n,
                    "offer_id": candidate_offer_ids,
                    "request_timestamp": [context["timestamp"]] * n,
                },
            },
        ).json()
        position = {name: i for i, name in enumerate(answer["metadata"]["feature_names"])}
        columns = [answer["results"][position[name]]["values"] for name in self.names]
        matrix = np.array(
            [[np.nan if v is None else v for v in column] for column in columns], dtype=float
        ).T
        scores = self.booster.inplace_predict(matrix, validate_features=False)
        top = np.argsort(-scores)[:k]
        contributions = self.booster.predict(
            xgb.DMatrix(matrix[top], nthread=1),
            pred_contribs=True,
            approx_contribs=True,
            validate_features=False,
        )[:, :-1]
        return {
            "offers": [
                {
                    "offer_id": candidate_offer_ids[i],
                    "rank": rank + 1,
                    "score": float(scores[i]),
                    "reasons": [
                        {"feature": self.names[j], "contribution": float(row[j])}
                        for j in np.argsort(-row)[:3]
                    ],
                }
                for rank, (i, row) in enumerate(zip(top, contributions, strict=True))
            ]
        }


@bentoml.service(name="floor", workers=1, logging={"access": {"enabled": False}})
class FloorService:
    """The same request parsed and a constant answered: the cost of HTTP and BentoML alone."""

    @bentoml.api(route="/rank")
    async def rank(
        self, customer_id: str, context: dict, candidate_offer_ids: list[str], k: int = 10
    ) -> dict:
        return {"customer_id": customer_id, "offers": candidate_offer_ids[:k]}


# With --pin (one worker): the services on every core but the last, the load tool on the last,
# so the client never preempts the server or evicts its caches (set in main()).
SERVER_CORES: list[str] = []
CLIENT_CORES: list[str] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def process(
    args: list[str], log: Path, ready_url: str | None = None, **kwargs: object
) -> Iterator[subprocess.Popen]:
    """A subprocess in its own session, waited for (``ready_url`` answers) and killed after."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        try:
            deadline = time.monotonic() + 180
            while ready_url:
                if proc.poll() is not None:
                    raise RuntimeError(f"{args[0]} exited:\n{log.read_text()[-2000:]}")
                try:
                    if httpx.get(ready_url, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{ready_url} not ready")
                time.sleep(0.5)
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def bentoml_serve(
    service: str, port: int, log: Path, cwd: Path, env: dict[str, str]
) -> ContextManager[subprocess.Popen]:
    """``bentoml serve SERVICE`` on 127.0.0.1:PORT (on the server cores), ready when
    ``/readyz`` answers."""
    return process(
        [*SERVER_CORES, str(VENV_BIN / "bentoml"), "serve", service]
        + ["--host", "127.0.0.1", "--port", str(port)],
        log,
        f"http://127.0.0.1:{port}/readyz",
        cwd=cwd,
        env=env,
    )


def ensure_data(home: Path, customers: int) -> None:
    if (home / "data" / "manifest.json").exists() and (home / "feast" / "online.db").exists():
        return
    env = {**os.environ, "SMARTSTACK_HOME": str(home)}
    subprocess.run(
        [str(VENV_BIN / "smartstack"), "run", "--customers", str(customers)], env=env, check=True
    )


def ensure_model(settings: object) -> str:
    """The champion's URI; trains and registers a stand-in of production size if there is none."""
    import mlflow
    import xgboost as xgb
    from mlflow.tracking import MlflowClient

    from smartstack.featurestore import store

    uri = settings.mlflow_tracking_uri
    name = settings.registered_model_name
    client = MlflowClient(uri, uri)
    try:
        version = client.get_model_version_by_alias(name, "champion").version
    except Exception:
        frame = store.training_set(settings)
        names = store.model_feature_names(settings)
        model = xgb.XGBClassifier(n_estimators=300, max_depth=6, n_jobs=2)
        model.fit(frame[names].astype(float), frame["redeemed"].astype(int))
        experiment = client.get_experiment_by_name("bench-serving")
        experiment_id = (
            experiment.experiment_id
            if experiment
            else client.create_experiment("bench-serving", settings.mlflow_artifact_root.as_uri())
        )
        mlflow.set_tracking_uri(uri)
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.xgboost.log_model(model, name="model", registered_model_name=name)
        version = max(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
        client.set_registered_model_alias(name, "champion", str(version))
    return f"models:/{name}/{version}"


def materialized_into_redis(base: Settings, redis_url: str) -> Settings:
    """Settings of ``base``'s marts served from the Redis at ``redis_url`` (a home of their own
    beside ``base``'s), that Redis loaded by ``feast apply`` and a materialization."""
    from smartstack.featurestore import store
    from smartstack.settings import OnlineStore, Settings

    redis_home = base.home / "redis-online"
    settings = Settings(
        home=redis_home,
        data_dir=base.data_dir,
        online_store=OnlineStore.redis,
        redis_url=redis_url,
        mlflow_tracking_uri=base.mlflow_tracking_uri,
    )
    # A fresh registry, so the first materialization loads the new Redis in full.
    shutil.rmtree(redis_home / "feast", ignore_errors=True)
    store.apply(settings)
    store.materialize(settings)
    return settings


def service_authorization(settings: object) -> str:
    """The ``Authorization`` header of a server-to-server caller of ``/rank``."""
    token = settings.auth.service_token  # type: ignore[attr-defined]
    if token is None:
        raise SystemExit("no service token configured (SMARTSTACK_AUTH_SERVICE_TOKEN)")
    return f"Bearer {token.get_secret_value()}"


def k6(
    url: str, seconds: int, workdir: Path, env: dict[str, str], *, rate: int = 0, vus: int = 0
) -> dict:
    """A fixed arrival rate (``rate``, open loop) or ``vus`` back-to-back clients from k6."""
    out = workdir / f"k6-{time.monotonic_ns()}.json"
    load = {"BENCH_RATE": str(rate)} if rate else {"BENCH_VUS": str(vus)}
    subprocess.run(
        [*CLIENT_CORES, str(VENV_BIN / "k6"), "run", "--quiet", str(ROOT / "bench" / "k6_rank.js")],
        env={**env, **load, "BENCH_URL": url, "BENCH_SECONDS": str(seconds), "BENCH_OUT": str(out)},
        check=True,
        capture_output=True,
    )
    result = json.loads(out.read_text())
    return {
        "requests": result["requests"],
        "failures": result["failures"] + result["dropped"],
        "throughput_rps": round(result["requests"] / result["seconds"], 1),
        "p50_ms": round(result["p50_ms"], 2),
        "p95_ms": round(result["p95_ms"], 2),
        "p99_ms": round(result["p99_ms"], 2),
    }


def wrk(url: str, connections: int, seconds: int, workdir: Path, env: dict[str, str]) -> dict:
    """A closed loop of ``connections`` back-to-back clients from wrk (C, one thread): far
    less CPU than Locust on the two cores the service also runs on."""
    out = workdir / f"wrk-{time.monotonic_ns()}.json"
    subprocess.run(
        [
            *CLIENT_CORES,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(ROOT / "bench" / "wrk_rank.lua"),
            url,
        ],
        env={**env, "BENCH_OUT": str(out)},
        check=True,
        capture_output=True,
    )
    result = json.loads(out.read_text())
    return {
        "requests": result["requests"],
        "failures": result["failures"],
        "throughput_rps": round(result["requests"] / (result["duration_us"] / 1e6), 1),
        "p50_ms": round(result["p50_ms"], 2),
        "p95_ms": round(result["p95_ms"], 2),
        "p99_ms": round(result["p99_ms"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, default=ROOT / "var" / "bench" / "serving")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=15, help="per load level")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--rates", default="100,300,500,700", help="fixed rates, requests/s")
    parser.add_argument(
        "--peer-rates", default="100", help="fixed rates for the peer (it saturates far lower)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes of our service (BENTOML_CONFIG)"
    )
    parser.add_argument(
        "--closed-loop-client",
        choices=["wrk", "k6"],
        default="wrk" if shutil.which("wrk") else "k6",
        help="load tool for the concurrency levels (fixed rates always use k6)",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one worker: services on all cores but the last, the load tool on the last (taskset)",
    )
    parser.add_argument("--stores", default="sqlite,redis")
    parser.add_argument("--targets", default="ours,uncached,peer,floor")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    if args.pin and args.workers == 1 and cores >= 2 and shutil.which("taskset"):
        SERVER_CORES.extend(["taskset", "-c", f"0-{cores - 2}"])
        CLIENT_CORES.extend(["taskset", "-c", str(cores - 1)])
    home = args.home.resolve()
    os.environ["SMARTSTACK_HOME"] = str(home)

    from smartstack.featurestore.config import config_yaml
    from smartstack.settings import Settings

    ensure_data(home, args.customers)
    base = Settings(home=home)
    model_uri = ensure_model(base)
    offers = candidate_offers(base)
    customers = customer_ids(base)
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    (work / "customers.txt").write_text("\n".join(customers))
    load_env = {
        **os.environ,
        "BENCH_CUSTOMERS": str(work / "customers.txt"),
        "BENCH_OFFERS": ",".join(offers),
        "BENCH_TIMESTAMP": TIMESTAMP,
        # Every target gets the header /rank needs (the others ignore it), so all pay for it.
        "BENCH_AUTHORIZATION": service_authorization(base),
    }
    bentoml_config = work / "bentoml.yaml"
    bentoml_config.write_text(f"services:\n  offer_ranker:\n    workers: {args.workers}\n")
    results: list[dict] = []
    with ExitStack() as stack:
        redis_port = free_port()
        if "redis" in args.stores:
            stack.enter_context(redis_server(redis_port, work / "redis.log"))
            time.sleep(0.5)
        for store_name in args.stores.split(","):
            settings = base
            env = {
                **os.environ,
                "SMARTSTACK_HOME": str(home),
                "MLFLOW_TRACKING_URI": base.mlflow_tracking_uri,
            }
            if store_name == "redis":
                redis_url = f"redis://127.0.0.1:{redis_port}/0"
                settings = materialized_into_redis(base, redis_url)
                env |= {
                    "SMARTSTACK_HOME": str(settings.home),
                    "SMARTSTACK_DATA_DIR": str(base.data_dir),
                    "SMARTSTACK_ONLINE_STORE": "redis",
                    "REDIS_URL": redis_url,
                }
            repo = work / f"feast-{store_name}"
            repo.mkdir()
            (repo / "feature_store.yaml").write_text(config_yaml(settings))
            for target in args.targets.split(","):
                if target == "floor" and store_name != args.stores.split(",")[0]:
                    continue  # no store behind it: once is enough
                port = free_port()
                url = f"http://127.0.0.1:{port}"
                log = work / f"{target}-{store_name}.log"
                # Each server its own BentoML home: BentoML clears the Prometheus multiprocess
                # folder under it when a server starts.
                env["BENTOML_HOME"] = str(work / f"bentoml-{store_name}-{target}")
                with ExitStack() as servers:
                    started: list[subprocess.Popen] = []
                    if target in OURS:
                        # Caps on, but high enough never to filter the repeated customers.
                        ours_env = env | {
                            "SMARTSTACK_SERVING_FREQUENCY_CAP": "1000000",
                            "BENTOML_CONFIG": str(bentoml_config),
                        }
                        if target == "uncached":
                            ours_env["SMARTSTACK_SERVING_RANKING_CACHE_CUSTOMERS"] = "0"
                        started.append(
                            servers.enter_context(
                                bentoml_serve(
                                    "serving.service:RankingService", port, log, ROOT, ours_env
                                )
                            )
                        )
                    elif target == "floor":
                        started.append(
                            servers.enter_context(
                                bentoml_serve(
                                    "bench_serving:FloorService", port, log, ROOT / "bench", env
                                )
                            )
                        )
                    else:
                        feast_port = free_port()
                        feast = servers.enter_context(
                            process(
                                [
                                    *SERVER_CORES,
                                    str(VENV_BIN / "feast"),
                                    "serve",
                                    "-p",
                                    str(feast_port),
                                    "--no-access-log",
                                ],
                                work / f"feast-{store_name}.log",
                                f"http://127.0.0.1:{feast_port}/health",
                                cwd=repo,
                                env=env,
                            )
                        )
                        peer_env = env | {
                            "BENCH_FEAST_URL": f"http://127.0.0.1:{feast_port}",
                            "BENCH_MODEL_URI": model_uri,
                        }
                        peer = servers.enter_context(
                            bentoml_serve(
                                "bench_serving:FeastPeerService",
                                port,
                                log,
                                ROOT / "bench",
                                peer_env,
                            )
                        )
                        started += [feast, peer]
                    if target in OURS:
                        tier = httpx.post(
                            f"{url}/rank",
                            json=rank_body(customers[0], offers),
                            headers={"Authorization": load_env["BENCH_AUTHORIZATION"]},
                        ).json()["tier"]
                        assert tier == "model", f"the benchmark must exercise the model, got {tier}"
                    k6(url, 5, work, load_env, vus=4)  # warm-up, not recorded
                    rates = args.peer_rates if target == "peer" else args.rates
                    loads = [(f"concurrency {c}", c, 0) for c in _ints(args.concurrency)]
                    loads += [(f"{r} req/s", 0, r) for r in _ints(rates)]
                    for label, clients, rate in loads:
                        lookups = cache_lookups(url) if target in OURS else None
                        cpu_before = cpu_seconds(started)
                        if rate:
                            row = k6(url, args.seconds, work, load_env, rate=rate)
                        elif args.closed_loop_client == "wrk":
                            row = wrk(url, clients, args.seconds, work, load_env)
                        else:
                            row = k6(url, args.seconds, work, load_env, vus=clients)
                        workers = args.workers if target in OURS else 1
                        results.append(
                            {
                                "store": store_name,
                                "target": target,
                                "workers": workers,
                                "load": label,
                                **row,
                                "server_cpu_ms": round(
                                    (cpu_seconds(started) - cpu_before)
                                    * 1000
                                    / max(row["requests"], 1),
                                    3,
                                ),
                                "cache_hit_ratio": hit_ratio(lookups, cache_lookups(url))
                                if lookups is not None
                                else None,
                            }
                        )
                        print(results[-1], flush=True)
    (home / "bench_serving.json").write_text(json.dumps(results, indent=2))
    print(
        "\n| store | service | workers | load | throughput (req/s) | p50 (ms) | p95 (ms) | p99 (ms) | failures | server CPU per request (ms) | cache hits |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        hits = "–" if r["cache_hit_ratio"] is None else f"{r['cache_hit_ratio']:.0%}"
        print(
            f"| {r['store']} | {r['target']} | {r['workers']} | {r['load']} | {r['throughput_rps']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['failures']} | {r['server_cpu_ms']} | {hits} |"
        )


def cpu_seconds(servers: list[subprocess.Popen]) -> float:
    """CPU time (user + system) used so far by the servers' process trees: per request, the
    cost of an answer, which a shared machine's other load does not inflate as it does time."""
    total = 0.0
    for server in servers:
        root = psutil.Process(server.pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
    return total


def cache_lookups(url: str) -> dict[str, float]:
    """The service's ranking-cache lookups so far, by result (hit, miss), from ``/metrics``."""
    found = {"hit": 0.0, "miss": 0.0}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("smartstack_rank_cache_lookups_total{"):
            labels, value = line.rsplit(" ", 1)
            for result in found:
                if f'result="{result}"' in labels:
                    found[result] += float(value)
    return found


def hit_ratio(before: dict[str, float], after: dict[str, float]) -> float | None:
    """Hits among the lookups between two readings (None when nothing was looked up)."""
    hits, misses = (after[r] - before[r] for r in ("hit", "miss"))
    return hits / (hits + misses) if hits + misses else None


def _ints(values: str) -> list[int]:
    return [int(v) for v in values.split(",") if v]


def rank_body(customer_id: str, offers: list[str]) -> dict:
    """The benchmarked request: one customer × ``offers``, top 10, explanations on."""
    return {
        "customer_id": customer_id,
        "context": {"channel": "app", "timestamp": TIMESTAMP},
        "candidate_offer_ids": offers,
        "k": 10,
    }


def candidate_offers(settings: object) -> list[str]:
    """The 30 offers every benchmarked request ranks (the catalogue as the service loads it)."""
    from smartstack.datasets import active
    from smartstack.featurestore import store
    from smartstack.serving.catalog import FeastCatalogue

    catalogue = FeastCatalogue(store.get_store(settings), active(settings)).load()
    return sorted(catalogue.ids)[:30]


def customer_ids(settings: object) -> list[str]:
    import pandas as pd

    return list(
        pd.read_parquet(settings.raw_dir / "customers", columns=["customer_id"]).customer_id
    )


def redis_server(port: int, log: Path) -> ContextManager[None]:
    """A private ``redis-server`` without persistence."""
    return process(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], log)


if __name__ == "__main__":
    sys.exit(main())
