"""Feast: materialization throughput and online read latency (1 customer x 30 offers).

Usage:
  .venv/bin/python bench/bench_feast.py --data-dir DIR [--home DIR] [--reads 3000]
      [--materializations bulk,feast] [--redis-url redis://127.0.0.1:6379/11]

DIR must hold dbt's feature marts (`smartstack generate` + `smartstack dbt build`). For each
online store (SQLite, then Redis at REDIS_URL, whose database is flushed) and each
materialization (the `materialization` setting: `bulk`, smartstack.featurestore.bulk, and
`feast`, Feast's local engine) the script applies the repo into a fresh registry and times the
first materialization, after one untimed warm-up run; after the first materialization of a
store it times warm online reads of the offer_ranking_v1 service: the serving path
(`OnlineFeatureReader`) and Feast's own `get_online_features` for comparison. Prints one JSON
line per store and materialization, then one per store with the throughput ratio of the first
materialization to the second (same data, same process, one after the other).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import duckdb
import numpy as np
import redis
import typer

OFFERS_PER_REQUEST = 30


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    values = np.array(samples_ms)
    return {f"p{q}": round(float(np.percentile(values, q)), 3) for q in (50, 95, 99)}


def main(
    data_dir: Annotated[Path, typer.Option(help="Data folder with raw/ and features/.")],
    home: Annotated[Path | None, typer.Option(help="Scratch home (default: temp).")] = None,
    reads: Annotated[int, typer.Option(min=100)] = 3000,
    redis_url: str = "redis://127.0.0.1:6379/11",
    stores: Annotated[str, typer.Option(help="Comma-separated: sqlite,redis")] = "sqlite,redis",
    materializations: Annotated[
        str, typer.Option(help="Comma-separated: bulk,feast")
    ] = "bulk,feast",
) -> None:
    from smartstack.featurestore import store
    from smartstack.featurestore.online import OnlineFeatureReader
    from smartstack.settings import get_settings

    features = data_dir / "features"
    customers = [
        r[0]
        for r in duckdb.execute(
            f"select distinct customer_id from read_parquet('{features}/customer_spend_features.parquet')"
        ).fetchall()
    ]
    offers = [
        r[0]
        for r in duckdb.execute(
            f"select distinct offer_id from read_parquet('{features}/offer_features.parquet') order by 1"
        ).fetchall()
    ][:OFFERS_PER_REQUEST]
    rng = random.Random(0)
    seconds: dict[tuple[str, str], float] = {}
    entity_rows = duckdb.execute(f"""
        select (select count(distinct customer_id) from read_parquet('{features}/customer_spend_features.parquet')) * 3
             + (select count(distinct offer_id) from read_parquet('{features}/offer_features.parquet'))
    """).fetchone()[0]
    kinds = materializations.split(",")
    runs = [(o, m) for o in stores.split(",") for m in kinds]
    # An untimed first run: the first materialization of a process also imports what Feast
    # loads lazily (ibis' DuckDB backend, data-source modules), about 0.6 s of one core.
    for index, (online, materialization) in enumerate([runs[0], *runs]):
        scratch = Path(tempfile.mkdtemp(prefix=f"bench-feast-{online}-", dir=home))
        os.environ.update(
            {
                "SMARTSTACK_HOME": str(scratch),
                "SMARTSTACK_DATA_DIR": str(data_dir),
                "SMARTSTACK_ONLINE_STORE": online,
                "SMARTSTACK_MATERIALIZATION": materialization,
                "REDIS_URL": redis_url,
            }
        )
        get_settings.cache_clear()
        settings = get_settings()
        if online == "redis":
            redis.Redis.from_url(redis_url).flushdb()
        store.apply(settings)
        started = time.perf_counter()
        store.materialize(settings)
        materialize_s = time.perf_counter() - started
        if index == 0:
            shutil.rmtree(scratch, ignore_errors=True)
            continue
        fs = store.get_store(settings)
        snapshot = store.snapshot_time(settings)
        result = {
            "online_store": online,
            "materialization": materialization,
            "customers": len(customers),
            "materialize_seconds": round(materialize_s, 2),
            "materialized_entity_rows": entity_rows,
            "entity_rows_per_second": round(entity_rows / materialize_s),
        }
        seconds[online, materialization] = materialize_s
        if materialization != kinds[0]:  # reads: once per store
            print(json.dumps(result), flush=True)
            if len(kinds) == 2:
                ratio = seconds[online, kinds[1]] / seconds[online, kinds[0]]
                print(
                    json.dumps({"online_store": online, f"{kinds[0]}/{kinds[1]}": round(ratio, 2)})
                )
            shutil.rmtree(scratch, ignore_errors=True)
            continue

        reader = OnlineFeatureReader(fs)
        when = snapshot + timedelta(minutes=1)
        for _ in range(50):
            reader.read(rng.choice(customers), offers, when)
        ours = []
        for _ in range(reads):
            customer = rng.choice(customers)
            t = time.perf_counter()
            reader.read(customer, offers, when)
            ours.append((time.perf_counter() - t) * 1000)

        service = fs.get_feature_service("offer_ranking_v1")
        theirs = []
        for i in range(min(reads, 500)):
            customer = rng.choice(customers)
            rows = [
                {"customer_id": customer, "offer_id": o, "request_timestamp": when} for o in offers
            ]
            t = time.perf_counter()
            fs.get_online_features(features=service, entity_rows=rows).to_dict()
            if i >= 20:
                theirs.append((time.perf_counter() - t) * 1000)
        result |= {
            "features": len(reader.names),
            "serving_read_ms": _percentiles(ours),
            "feast_get_online_features_ms": _percentiles(theirs),
        }
        print(json.dumps(result), flush=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    typer.run(main)
