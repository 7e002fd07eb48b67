"""What one ranking-cache hit costs in process: wall and CPU time of ``RankingApp.rank``.

``bench_serving.py`` measures ``/rank`` over HTTP, where BentoML and a shared machine's other
load move the figures by more than a change to the hit path does. This times the hit alone:
``RankingApp.rank`` on ``--customers`` customers ranked once (the cache warm), then ``--hits``
requests cycling over them, ``--rounds`` times, each round's wall and CPU time per hit
(``time.process_time``: this process only, so a ``redis-server`` on the other core is not in it).
Frequency caps are on and never filter, as in ``bench_serving.py``, so every hit reads and
records them; each round adds a serving per offer shown, as a day of traffic would.

    .venv/bin/python bench/bench_rank_hits.py --home /tmp/lead/benchhome --store redis

The home is ``bench_serving.py``'s (built there when missing). With ``--store redis`` a
``redis-server`` of its own is started and the home's marts materialized into it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_serving  # noqa: E402  (the sibling script: its services, processes and home)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=bench_serving.ROOT / "var/bench/serving")
    parser.add_argument("--store", choices=("sqlite", "redis"), default="redis")
    parser.add_argument("--customers", type=int, default=200, help="customers cycled over")
    parser.add_argument("--hits", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    home = args.home.resolve()
    os.environ["SMARTSTACK_HOME"] = str(home)

    from smartstack.serving.app import RankingApp
    from smartstack.serving.schemas import RankRequest
    from smartstack.settings import Settings

    bench_serving.ensure_data(home, 2000)
    base = Settings(home=home)
    bench_serving.ensure_model(base)
    work = Path(tempfile.mkdtemp(prefix="bench-hits-"))
    port = bench_serving.free_port()
    with bench_serving.redis_server(port, work / "redis.log"):
        time.sleep(0.5)
        settings = base
        if args.store == "redis":
            settings = bench_serving.materialized_into_redis(base, f"redis://127.0.0.1:{port}/0")
        uncapped = settings.serving.model_copy(update={"frequency_cap": 1_000_000})
        app = RankingApp(settings.model_copy(update={"serving": uncapped}))
        offers = bench_serving.candidate_offers(base)
        requests = [
            RankRequest.model_validate_json(json.dumps(bench_serving.rank_body(c, offers)))
            for c in bench_serving.customer_ids(base)[: args.customers]
        ]
        for request in requests:  # each customer's ranking kept
            app.rank(request)
        gc.collect()  # as the service does after start-up (serving/service.py)
        gc.freeze()
        print("| store | round | wall per hit (ms) | CPU per hit (ms) |")
        print("|---|---:|---:|---:|")
        for round_ in range(1, args.rounds + 1):
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(args.hits):
                app.rank(requests[i % len(requests)])
            wall_ms = (time.perf_counter() - wall) / args.hits * 1000
            cpu_ms = (time.process_time() - cpu) / args.hits * 1000
            print(f"| {args.store} | {round_} | {wall_ms:.3f} | {cpu_ms:.3f} |", flush=True)
        app.close()


if __name__ == "__main__":
    main()
