"""The training set's retrieval: Feast's own ``to_df`` of the feature service against ours
(the same join, on-demand views applied column-wise), per chunk size, in one run.

Usage:
  .venv/bin/python bench/bench_training_set.py --paths feast,ours --chunk-rows 250000,1000000

Reads the active settings (a scratch SMARTSTACK_HOME with `smartstack generate`, `dbt build`
and `feast apply` done). Each (path, chunk size) runs in its own process, so its peak resident
memory is its own: the labelled rows are split into chunks of whole customers, each chunk is
retrieved, its model features kept as float32 (what `smartstack train` keeps) and the chunks
concatenated. Prints one JSON line per measurement and a Markdown table.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Annotated

import typer

PATHS = ("feast", "ours")


def _retrieve(path: str, chunk_rows: int) -> dict:
    import warnings

    import numpy as np
    import pandas as pd

    warnings.simplefilter("ignore")
    from smartstack.featurestore import store
    from smartstack.settings import get_settings

    settings = get_settings()
    features = store.model_feature_names(settings)
    labelled = store.labelled_impressions(settings)
    customers = labelled["customer_id"].drop_duplicates().sort_values().to_numpy()
    chunks = np.array_split(customers, max(1, -(-len(labelled) // chunk_rows)))
    started = time.perf_counter()
    parts = []
    for chunk in chunks:
        rows = labelled[labelled["customer_id"].isin(chunk)]
        if path == "feast":
            frame = (
                store.get_store(settings)
                .get_historical_features(entity_df=rows, features=store.feature_service(settings))
                .to_df()
            )
        else:
            frame = store.training_frame(rows, settings)
        parts.append(frame[["impression_id", *features]].astype(dict.fromkeys(features, "float32")))
        del frame
    frame = pd.concat(parts, ignore_index=True)
    return {
        "path": path,
        "chunk_rows": chunk_rows,
        "chunks": len(chunks),
        "rows": len(frame),
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(
    paths: Annotated[str, typer.Option(help="comma-separated: feast, ours")] = "feast,ours",
    chunk_rows: Annotated[str, typer.Option(help="comma-separated labelled rows per chunk")] = (
        "250000"
    ),
    one: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    if one is not None:
        path, rows = one.split(":")
        print(json.dumps(_retrieve(path, int(rows))))
        return
    runs = [(p.strip(), int(c)) for c in chunk_rows.split(",") for p in paths.split(",")]
    unknown = [p for p, _ in runs if p not in PATHS]
    if unknown:
        raise typer.BadParameter(f"unknown path(s) {unknown}; known: {list(PATHS)}")
    results = []
    for path, rows in runs:
        out = subprocess.run(
            [sys.executable, __file__, "--one", f"{path}:{rows}"],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["load_average"] = round(os.getloadavg()[0], 2)
        results.append(result)
        print(json.dumps(result), flush=True)
    print("\n| path | chunk rows | chunks | rows | seconds | peak RSS | load |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['path']} | {r['chunk_rows']:,} | {r['chunks']} | {r['rows']:,} | "
            f"{r['seconds']} s | {r['peak_rss_mib']:,} MiB | {r['load_average']} |"
        )


if __name__ == "__main__":
    typer.run(main)
