"""Feast: materialization throughput and online read latency (1 customer x 30 offers).

Usage:
  .venv/bin/python bench/bench_feast.py --data-dir DIR [--home DIR] [--reads 3000]

DIR must hold dbt's feature marts (`smartstack generate` + `smartstack dbt build`). For each
online store (SQLite, then Redis at REDIS_URL) the script applies the repo into a fresh registry,
times the first materialization, then times warm online reads of the offer_ranking_v1 service:
the serving path (`OnlineFeatureReader`) and Feast's own `get_online_features` for comparison.
Prints one JSON line per store.
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
    for online in stores.split(","):
        scratch = Path(tempfile.mkdtemp(prefix=f"bench-feast-{online}-", dir=home))
        os.environ.update(
            {
                "SMARTSTACK_HOME": str(scratch),
                "SMARTSTACK_DATA_DIR": str(data_dir),
                "SMARTSTACK_ONLINE_STORE": online,
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
        fs = store.get_store(settings)
        snapshot = store.snapshot_time(settings)
        entity_rows = duckdb.execute(f"""
            select (select count(distinct customer_id) from read_parquet('{features}/customer_spend_features.parquet')) * 3
                 + (select count(distinct offer_id) from read_parquet('{features}/offer_features.parquet'))
        """).fetchone()[0]

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
        print(
            json.dumps(
                {
                    "online_store": online,
                    "customers": len(customers),
                    "features": len(reader.names),
                    "materialize_seconds": round(materialize_s, 1),
                    "materialized_entity_rows": entity_rows,
                    "entity_rows_per_second": round(entity_rows / materialize_s),
                    "serving_read_ms": _percentiles(ours),
                    "feast_get_online_features_ms": _percentiles(theirs),
                }
            )
        )
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    typer.run(main)
