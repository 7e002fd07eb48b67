"""Where the latency at a low request rate goes: the same work back to back and spaced out.

``bench_serving.py`` finds ``/rank`` slower at a fixed 100 requests/s than back to back, and so
is its floor, a BentoML endpoint that returns a constant. This script separates the machine from
the service: each of the layers below answers the same number of requests with gaps of 0, 2 and
10 ms between them (10 ms is 100 requests/s), from one paced client that is the same for all:

- ``redis PING``: a round trip to a C server over loopback (``redis-server`` started here), the
  cost of the network and of waking an idle process with almost no code to run;
- ``floor HTTP``: :class:`bench_serving.FloorService`, HTTP and BentoML with a constant answer;
- ``ranking in process``: ``RankingApp.rank`` called directly (features, model, reasons,
  explanations; no HTTP);
- ``ours HTTP``: ``bentoml serve serving.service:RankingService``.

    .venv/bin/python bench/bench_idle.py --home /tmp/lead/benchhome

The home is ``bench_serving.py``'s (built there when missing). Times are measured by the client
(``time.perf_counter`` around each request) and printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import random
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_serving  # noqa: E402  (the sibling script: its services, processes and home)

GAPS_MS = (0.0, 2.0, 10.0)


def paced(call: Callable[[], object], requests: int, gap_s: float) -> dict[str, float]:
    """``call`` ``requests`` times, each starting ``gap_s`` after the previous one ended."""
    for _ in range(50):  # warm up: connections, caches, lazy imports
        call()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
        if gap_s:
            time.sleep(gap_s)
    p50, p90, p99 = np.percentile(np.array(times) * 1000, [50, 90, 99]).tolist()
    return {"p50_ms": round(p50, 3), "p90_ms": round(p90, 3), "p99_ms": round(p99, 3)}


def http_post(port: int, body: Callable[[], bytes], authorization: str) -> Callable[[], object]:
    """One keep-alive connection posting ``/rank``; fails loudly on anything but 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json", "Authorization": authorization}

    def post() -> bytes:
        connection.request("POST", "/rank", body(), headers)
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"/rank answered {response.status}: {data[:300]!r}")
        return data

    return post


def redis_ping(port: int) -> Callable[[], object]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def ping() -> bytes:
        sock.sendall(b"PING\r\n")
        return sock.recv(64)

    return ping


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--home", type=Path, default=bench_serving.ROOT / "var" / "bench" / "serving"
    )
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=1000, help="per layer and gap")
    args = parser.parse_args()
    home = args.home.resolve()
    os.environ["SMARTSTACK_HOME"] = str(home)

    from smartstack.serving.app import RankingApp
    from smartstack.serving.schemas import RankRequest
    from smartstack.settings import Settings

    bench_serving.ensure_data(home, args.customers)
    settings = Settings(home=home)
    bench_serving.ensure_model(settings)
    customers = bench_serving.customer_ids(settings)
    offers = bench_serving.candidate_offers(settings)
    authorization = bench_serving.service_authorization(settings)

    def request() -> dict:
        return bench_serving.rank_body(random.choice(customers), offers)

    work = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "SMARTSTACK_SERVING_FREQUENCY_CAP": "1000000",  # on, but never filtering
    }
    rows: list[dict] = []
    with ExitStack() as stack:
        redis_port, floor_port, ours_port = (bench_serving.free_port() for _ in range(3))
        stack.enter_context(bench_serving.redis_server(redis_port, work / "redis.log"))
        stack.enter_context(
            bench_serving.bentoml_serve(
                "bench_serving:FloorService",
                floor_port,
                work / "floor.log",
                bench_serving.ROOT / "bench",
                env | {"BENTOML_HOME": str(work / "bentoml-floor")},
            )
        )
        stack.enter_context(
            bench_serving.bentoml_serve(
                "serving.service:RankingService",
                ours_port,
                work / "ours.log",
                bench_serving.ROOT,
                env | {"BENTOML_HOME": str(work / "bentoml-ours")},
            )
        )
        time.sleep(0.5)
        uncapped = settings.serving.model_copy(update={"frequency_cap": 1_000_000})
        app = RankingApp(settings.model_copy(update={"serving": uncapped}))
        gc.collect()  # as the service does after start-up (serving/service.py)
        gc.freeze()
        layers: dict[str, Callable[[], object]] = {
            "redis PING": redis_ping(redis_port),
            "floor HTTP": http_post(
                floor_port, lambda: json.dumps(request()).encode(), authorization
            ),
            "ranking in process": lambda: app.rank(
                RankRequest.model_validate_json(json.dumps(request()))
            ),
            "ours HTTP": http_post(
                ours_port, lambda: json.dumps(request()).encode(), authorization
            ),
        }
        for name, call in layers.items():
            for gap in GAPS_MS:
                row = {"layer": name, "gap_ms": gap, **paced(call, args.requests, gap / 1000)}
                rows.append(row)
                print(row, flush=True)
        app.close()
    print("\n| layer | gap between requests (ms) | p50 (ms) | p90 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['layer']} | {r['gap_ms']:g} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} |")


if __name__ == "__main__":
    main()
