"""Time and peak memory of each step of a training run: the retrieval, the split, the fit and
the evaluation, with the retrieval's DuckDB limit and chunk size as options.

Usage:
  SMARTSTACK_HOME=... .venv/bin/python -O bench/bench_train_steps.py \
      [--retrieval-memory-limit 1GB] [--chunk-rows 250000] [--only-retrieval]

Reads the active settings (a home with `smartstack generate`, `dbt build` and `feast apply`
done). A thread polls the process's resident memory every 20 ms and keeps each step's peak,
which the kernel's own peak (`ru_maxrss`) cannot give per step. Prints one line per step.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Annotated

import typer

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_gib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**30


class Steps:
    """The current step's name and each step's peak resident memory, polled in a thread."""

    def __init__(self) -> None:
        self.name = "imports"
        self.peaks: dict[str, float] = {}
        self.started = time.perf_counter()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while True:
            name = self.name
            self.peaks[name] = max(self.peaks.get(name, 0.0), _rss_gib())
            time.sleep(0.02)

    def next(self, name: str) -> None:
        time.sleep(0.05)  # one more poll of the step that ends
        seconds = time.perf_counter() - self.started
        print(
            f"{self.name:<11} {seconds:7.1f} s  peak {self.peaks.get(self.name, 0.0):.2f} GiB"
            f"  end {_rss_gib():.2f} GiB",
            flush=True,
        )
        self.name, self.started = name, time.perf_counter()


def main(
    retrieval_memory_limit: Annotated[str | None, typer.Option(help="e.g. 1GB")] = None,
    chunk_rows: Annotated[int | None, typer.Option(min=1)] = None,
    only_retrieval: Annotated[bool, typer.Option(help="Stop after the retrieval.")] = False,
) -> None:
    steps = Steps()
    from smartstack.settings import get_settings
    from smartstack.training import dataset, job
    from smartstack.training.train import train

    settings = get_settings()
    training = settings.training.with_overrides(
        retrieval_memory_limit=retrieval_memory_limit, chunk_rows=chunk_rows
    )
    settings = settings.model_copy(update={"training": training})
    config = settings.training
    print(f"retrieval_memory_limit {config.retrieval_memory_limit}, chunk_rows {config.chunk_rows}")
    steps.next("retrieval")
    frame, features = dataset.load_frame(settings)
    steps.next("split")
    if only_retrieval:
        return
    data = dataset.build(settings, frame=frame, features=features)
    del frame
    steps.next("fit")
    model = train(data, config)
    steps.next("evaluation")
    job._evaluate_candidate(config, settings, data, model)
    steps.next("end")


if __name__ == "__main__":
    typer.run(main)
