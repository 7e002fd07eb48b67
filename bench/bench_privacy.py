"""What privacy costs: the consent read on the ranking path, the erased-customer check, one
erasure store by store, one scan, and ingestion with customers suppressed.

    .venv/bin/python bench/bench_privacy.py [--customers 10000] [--home DIR] [--rounds 5]

Builds a home with ``smartstack run`` if ``DIR`` has none. The consent read is timed as
``OnlineFeatureReader.read`` for one customer and 30 offers with and without the consent view
in its round trip (SQLite), the two taking turns for ``--rounds`` rounds so machine-load drift
spreads over both; the figure is the median over rounds of each round's median, and the ratio
is to the read without the view in the same round. Erasure and scan run on a copy of the home.
Results go to ``<home>/bench_privacy.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SMARTSTACK = ROOT / ".venv" / "bin" / "smartstack"


def ensure_home(home: Path, customers: int) -> None:
    if (home / "feast" / "registry.db").exists():
        return
    env = {**os.environ, "SMARTSTACK_HOME": str(home)}
    subprocess.run(
        [str(SMARTSTACK), "run", "--customers", str(customers)], env=env, check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def consent_read(home: Path, rounds: int, reads: int) -> dict[str, object]:
    from smartstack.datasets import feature_service_name
    from smartstack.featurestore import store
    from smartstack.featurestore.online import OnlineFeatureReader
    from smartstack.privacy.purposes import CONSENT_VIEW
    from smartstack.settings import Settings

    settings = Settings(home=home)
    feature_store = store.get_store(settings)
    service = feature_service_name(settings)
    readers = {
        "without consent": OnlineFeatureReader(feature_store, service),
        "with consent": OnlineFeatureReader(
            feature_store, service, extra_customer_views=(CONSENT_VIEW,)
        ),
    }
    customers = pq.read_table(home / "data" / "raw" / "customers")["customer_id"].to_pylist()
    offers = pq.read_table(home / "data" / "raw" / "offers")["offer_id"].to_pylist()[:30]
    at = datetime(2026, 6, 29, 12, tzinfo=UTC)
    rng = np.random.default_rng(7)
    medians: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(rounds):
        for name, reader in readers.items():
            picked = rng.choice(customers, reads)
            reader.read(str(picked[0]), offers, at)  # warm: offer rows cached
            times = []
            for customer in picked:
                started = time.perf_counter()
                reader.read(str(customer), offers, at)
                times.append(time.perf_counter() - started)
            medians[name].append(statistics.median(times) * 1e6)
    ratios = [
        w / wo for w, wo in zip(medians["with consent"], medians["without consent"], strict=True)
    ]
    return {
        "median_us": {name: statistics.median(values) for name, values in medians.items()},
        "ratio_per_round": ratios,
        "ratio": statistics.median(ratios),
    }


def erased_check(home: Path, suppressed: int) -> dict[str, float]:
    from smartstack.privacy.suppression import SuppressionList
    from smartstack.serving.forgetting import Forgetting

    suppression = SuppressionList(home / "bench-suppression.sqlite", b"bench-key")
    for n in range(suppressed):
        suppression.add(f"ERASED-{n}")
    forgetting = Forgetting(suppression, [])
    started = time.perf_counter()
    calls = 100_000
    for n in range(calls):
        forgetting.erased(f"CUST-{n:07d}")
    per_call = (time.perf_counter() - started) / calls * 1e6
    forgetting.close()
    return {"suppressed": suppressed, "us_per_check": per_call}


def erasure(home: Path, customer: str) -> dict[str, object]:
    from smartstack.erasure.erase import erase_customer
    from smartstack.erasure.scan import Needles, scan
    from smartstack.settings import Settings

    settings = Settings(home=home)
    needles = Needles.for_customer(settings, customer)
    started = time.perf_counter()
    found = scan(settings, needles)
    scan_before = time.perf_counter() - started
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    report = erase_customer(
        settings, customer, "bench", lambda s: marks.append((s.name, time.perf_counter()))
    )
    total = time.perf_counter() - started
    ends = [m[1] for m in marks[1:]] + [started + total]
    per_store = {
        name: round(end - begin, 3) for (name, begin), end in zip(marks, ends, strict=True)
    }
    started = time.perf_counter()
    left = scan(settings, needles)
    return {
        "scan_s": scan_before,
        "stores_found_before": sorted({f.store for f in found}),
        "erase_s": total,
        "per_store_s": per_store,
        "removed": {r.store: r.removed for r in report.results},
        "scan_after_s": time.perf_counter() - started,
        # A shared value (a common name) is found in other customers' rows too.
        "found_after": sorted({(f.store, f.needle_kind, f.location) for f in left}),
    }


def ingest_with_suppressed(home: Path, customers: list[str]) -> dict[str, float]:
    from smartstack.datasets.landing import leave_out_suppressed
    from smartstack.privacy.suppression import SuppressionList
    from smartstack.settings import Settings

    settings = Settings(home=home)
    suppression = SuppressionList.from_settings(settings)
    for customer in customers:
        suppression.add(customer)
    suppression.close()
    started = time.perf_counter()
    removed = leave_out_suppressed(settings)
    return {
        "suppressed": len(customers),
        "rows_removed": removed,
        "seconds": time.perf_counter() - started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "bench-privacy")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reads", type=int, default=2_000)
    args = parser.parse_args()
    ensure_home(args.home, args.customers)
    results: dict[str, object] = {"load_average": os.getloadavg(), "customers": args.customers}
    results["consent_read"] = consent_read(args.home, args.rounds, args.reads)
    results["erased_check"] = erased_check(Path(tempfile.mkdtemp()), 10_000)
    copy = Path(tempfile.mkdtemp()) / "home"
    shutil.copytree(args.home, copy)
    try:
        customers = sorted(
            pq.read_table(copy / "data" / "raw" / "customers")["customer_id"].to_pylist()
        )
        results["erasure"] = erasure(copy, customers[len(customers) // 2])
        results["ingest_leave_out"] = ingest_with_suppressed(copy, customers[:100])
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)
    results["load_average_after"] = os.getloadavg()
    (args.home / "bench_privacy.json").write_text(json.dumps(results, indent=2))
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
