"""Run pipeline steps in order, so that a failing step (a quality gate above all) stops the rest.

The order is generate/ingest -> raw gate -> dbt build -> feature gate -> Feast materialize ->
train -> promote -> explain the top offers. A step is a named callable; the first one that
raises ends the run, the steps after it never start, and the log names them, so bad data cannot
reach the online store or the model registry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from smartstack.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[], object]


def run_pipeline_steps(
    steps: Sequence[Step],
    on_start: Callable[[int, Step], None] | None = None,
    on_done: Callable[[int, Step, float], None] | None = None,
) -> list[str]:
    """Run ``steps`` in order and return the names of those that completed.

    The exception of a failing step propagates unchanged after logging which steps were skipped.
    ``on_start`` and ``on_done`` (with the step's seconds) let a caller show progress.
    """
    done: list[str] = []
    for index, step in enumerate(steps):
        logger.info("step %s: starting", step.name)
        if on_start:
            on_start(index, step)
        started = time.perf_counter()
        try:
            step.run()
        except Exception:
            skipped = [later.name for later in steps[index + 1 :]]
            logger.error(
                "step %s failed; not running: %s", step.name, ", ".join(skipped) or "nothing"
            )
            raise
        done.append(step.name)
        if on_done:
            on_done(index, step, time.perf_counter() - started)
    return done


def batch_pipeline(settings: Settings, customers: int, seed: int) -> list[Step]:
    """The main job on one profile: data → raw gate → dbt → feature gate → Feast → train →
    promote → explanations of each customer's top offers.

    Each step is the same function the CLI subcommand and the Airflow task call. On a data
    set with an ingestion adapter (the ``dataset`` setting, ``smartstack.datasets``), the
    adapter lands the raw tables instead of the generator, and training reads that data set's
    section of params.yaml; the explanation step runs only where explanations speak the data
    set's domain.
    """
    from smartstack.data.generator import GeneratorConfig, generate
    from smartstack.datasets import active
    from smartstack.features.dbt import run_dbt
    from smartstack.featurestore import store
    from smartstack.quality.gate import run_gate
    from smartstack.serving.precompute import precompute_explanations
    from smartstack.training.config import load_config
    from smartstack.training.job import run_training
    from smartstack.training.promote import promote

    def dbt_build() -> None:
        if run_dbt(["build"], settings) != 0:
            raise RuntimeError("dbt build failed: see dbt's output above")

    assert settings.data_dir is not None
    spec = active(settings)
    dataset = spec.name
    if spec.adapter is None:
        land = Step(
            "generate",
            lambda: generate(GeneratorConfig(customers=customers, seed=seed), settings.data_dir),
        )
    else:
        land = Step(f"ingest {dataset}", lambda: _report_ingestion(settings))
    steps = [
        land,
        Step("raw quality gate", lambda: run_gate("raw", settings)),
        Step("dbt build", dbt_build),
        Step("feature quality gate", lambda: run_gate("features", settings)),
        Step("feast apply", lambda: store.apply(settings)),
        Step("feast materialize", lambda: store.materialize(settings)),
        Step("train", lambda: run_training(load_config(dataset=dataset), settings)),
        Step(
            "promote",
            lambda: _report_promotion(promote(load_config(dataset=dataset), settings)),
        ),
    ]
    if spec.explained:
        steps.append(
            Step("explain top offers", lambda: print(precompute_explanations(settings).summary()))
        )
    return steps


def _report_ingestion(settings: Settings) -> None:
    """Land a public data set with its adapter and say what arrived."""
    from smartstack.datasets import active

    manifest = active(settings).land(settings)
    counts = ", ".join(f"{table} {rows:,}" for table, rows in manifest["row_counts"].items())
    print(f"ingested {manifest['source_dir']} from {manifest['start']}: {counts}")


def _report_promotion(decision: object) -> None:
    """Say what the gate decided, in the run's own output."""
    verdict = "promoted to champion" if decision.passed else "rejected"
    print(f"model version {decision.version} {verdict}: {decision.reason}")
