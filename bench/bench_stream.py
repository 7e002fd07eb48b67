"""Stream processor throughput: transactions/s from Kafka into the online store.

Usage:
  .venv/bin/python bench/bench_stream.py --data-dir DIR [--events 300000] [--stores sqlite,redis]

DIR must hold a generated data set (`smartstack generate --out DIR`). The script starts a local tansu broker on a free port, publishes the
first N transactions of the data set in event-time order, then for each online store (SQLite,
then Redis at --redis-url) applies the Feast repo into a fresh registry and runs the stream
processor from an empty state until it has applied all N: validation, window state, one Feast
push per micro-batch, the state commit (SQLite) and the Kafka offset commit. The clock starts
at the first consumed batch (the consumer-group join is not counted) and stops after the last
commit. It also times Feast's own push of one row and of a 5,000-row DataFrame, for comparison.
Prints one JSON line per measurement.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import redis
import typer

warnings.filterwarnings("ignore", message="Stream feature views are experimental")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _push_costs(fs, rows: int = 5_000, singles: int = 100) -> dict[str, float]:  # noqa: ANN001
    from feast.data_source import PushMode

    from smartstack.data.schema import MERCHANT_CATEGORIES
    from smartstack.events.online_writer import PUSH_SOURCE

    names = [f"recent_spend_{c}" for c in MERCHANT_CATEGORIES]
    now = datetime.now(UTC)
    frame = pd.DataFrame(
        {
            "customer_id": [f"BENCH-{i}" for i in range(rows)],
            "event_timestamp": [now] * rows,
            **{n: [1.0] * rows for n in names},
        }
    )
    fs.push(PUSH_SOURCE, frame.head(1), to=PushMode.ONLINE)  # warm
    started = time.perf_counter()
    for i in range(singles):
        fs.push(PUSH_SOURCE, frame.iloc[i : i + 1], to=PushMode.ONLINE)
    single_ms = (time.perf_counter() - started) / singles * 1000
    started = time.perf_counter()
    fs.push(PUSH_SOURCE, frame, to=PushMode.ONLINE)
    batch = time.perf_counter() - started
    return {"push_one_row_ms": round(single_ms, 2), "push_rows_per_s": round(rows / batch)}


def main(
    data_dir: Annotated[Path, typer.Option(help="Data folder with raw/ (smartstack generate).")],
    events: Annotated[int, typer.Option(min=1000, help="Transactions to process.")] = 300_000,
    stores: Annotated[str, typer.Option(help="Comma-separated: sqlite,redis")] = "sqlite,redis",
    redis_url: str = "redis://127.0.0.1:6379/12",
    max_batch: Annotated[int, typer.Option(min=1)] = 50_000,
    home: Annotated[Path | None, typer.Option(help="Scratch home (default: temp).")] = None,
) -> None:
    from smartstack.events.contracts import Topic
    from smartstack.events.feedback_table import FeedbackTable
    from smartstack.events.interactions import Interactions
    from smartstack.events.kafka import start_broker
    from smartstack.events.online_quiz import OnlineQuizWriter
    from smartstack.events.online_writer import OnlineSpendWriter
    from smartstack.events.processor import StreamProcessor
    from smartstack.events.producers import replay
    from smartstack.events.quiz_table import QuizAnswerTable
    from smartstack.events.recent_spend import RecentSpendState
    from smartstack.featurestore import store
    from smartstack.settings import OnlineStore, Settings

    scratch = home or Path(tempfile.mkdtemp(prefix="bench-stream-"))
    port = _free_port()
    broker = start_broker("127.0.0.1", port, scratch / "broker.log")
    servers = f"127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        sent = replay(data_dir / "raw", servers, [Topic.transactions], limit=events)
        publish = time.perf_counter() - started
        print(json.dumps({"published": sent, "publish_per_s": round(sent / publish)}))
        for kind in stores.split(","):
            run_home = scratch / kind
            shutil.rmtree(run_home, ignore_errors=True)
            settings = Settings(
                home=run_home,
                data_dir=data_dir,
                online_store=OnlineStore(kind),
                redis_url=redis_url,
            )
            if kind == "redis":
                redis.Redis.from_url(redis_url).flushdb()
            store.apply(settings)
            fs = store.get_store(settings)
            state = RecentSpendState(run_home / "events" / "state.sqlite")
            processor = StreamProcessor(
                servers,
                state,
                OnlineSpendWriter(fs),
                Interactions(
                    FeedbackTable(run_home / "feedback"),
                    QuizAnswerTable(run_home / "quiz"),
                    OnlineQuizWriter(fs),
                    None,
                ),
                group=f"bench-{kind}-{time.time_ns()}",
                max_batch=max_batch,
            )
            first: list[float] = []

            def done(totals, first=first) -> bool:  # noqa: ANN001
                if totals.consumed and not first:
                    first.append(time.perf_counter() - totals.seconds_applying)
                return totals.consumed >= sent

            totals = processor.run(until=done)
            elapsed = time.perf_counter() - first[0]
            state.close()
            print(
                json.dumps(
                    {
                        "store": kind,
                        "events": totals.consumed,
                        "seconds": round(elapsed, 2),
                        "events_per_s": round(totals.consumed / elapsed),
                        "batches": totals.batches,
                        "online_rows": totals.online_rows,
                        "applying_share": round(totals.seconds_applying / elapsed, 2),
                        **_push_costs(fs),
                    }
                )
            )
    finally:
        broker.terminate()
        broker.wait()
        if home is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    typer.run(main)
