"""The pipeline's steps, defined once: name, command, what each reads and writes.

``smartstack run`` runs them in order in one process (:mod:`smartstack.cli.steps`), both
Airflow DAGs build one task per step from them (``dags/smartstack_airflow/groups.py``, the dbt
step as one Cosmos task per model), and ``smartstack evaluate-dataset`` runs the steps up to
``feast_apply`` on the directory it evaluates. A step is a ``smartstack`` command, so each runs
the same code whoever starts it; its exit code says what happened (see :class:`Step`).

Only the standard library is imported here: Airflow, which lives in its own environment with
this package installed without its dependencies, reads this module when it parses the DAGs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Exit codes every step command uses (sysexits' EX_TEMPFAIL for "nothing to do now").
GATE_FAILED = 1  # a blocking quality check, a failing dbt test, a stale verdict or view
BAD_INPUT = 2  # bad options or missing inputs: the command says which
NOTHING_TO_DO = 75  # e.g. no ranking service runs to reload

# What the steps hand each other (Airflow shows them as assets).
RAW_TABLES = "raw_tables"
FEEDBACK_EVENTS = "feedback_events"  # written by the stream processor, outside the pipeline
FEATURE_MARTS = "feature_marts"
ONLINE_FEATURES = "online_features"
CHAMPION_MODEL = "champion_model"
EXPLANATIONS = "explanations"


@dataclass(frozen=True)
class Condition:
    """Run a step only if a key of an earlier step's result (its last output line, JSON) is
    true; otherwise the step is skipped and the result's ``reason`` says why."""

    step: str
    key: str


@dataclass(frozen=True)
class Step:
    """One step of the pipeline.

    ``command`` is the ``smartstack`` arguments; ``{name}`` in one is a parameter of the run
    (:data:`PARAMETERS`). Exit codes: 0 done; one of ``final`` means the data or the input is
    wrong, so the step fails without a retry; one of ``skip`` means there is nothing to do;
    anything else fails and may be retried.
    """

    name: str
    group: str  # the layer: the Airflow task group
    command: tuple[str, ...]
    description: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    final: tuple[int, ...] = (BAD_INPUT,)
    skip: tuple[int, ...] = ()
    timeout_minutes: int = 30
    only_if: Condition | None = None
    per_dbt_model: bool = False  # Airflow runs it as one task per dbt model, with its tests
    # The steps this one waits for (earlier in STEPS); None: the step just before it. Airflow
    # runs steps that do not wait for each other side by side; ``smartstack run`` runs STEPS
    # in order, which these never contradict.
    after: tuple[str, ...] | None = None

    def argv(self, parameters: Mapping[str, object]) -> list[str]:
        """The command with the run's parameters filled in."""
        return [part.format(**parameters) for part in self.command]


# The parameters a run fills in, with their defaults.
PARAMETERS: dict[str, object] = {"source": "dataset", "customers": 10_000, "seed": 42}

STEPS: tuple[Step, ...] = (
    Step(
        "apply_erasures",
        "ingest",
        ("privacy", "erase", "--pending"),
        "Finish the erasures asked for by an event or the admin endpoint (or interrupted) "
        "before anything is loaded; exit 1 (a store busy) is retried and resumes.",
        timeout_minutes=60,
    ),
    Step(
        "land_raw_data",
        "ingest",
        ("ingest", "--source", "{source}", "--customers", "{customers}", "--seed", "{seed}"),
        "Land the data set's raw tables (its adapter), or check the ones already landed.",
        inputs=(FEEDBACK_EVENTS,),
        outputs=(RAW_TABLES,),
    ),
    Step(
        "raw_quality_gate",
        "ingest",
        ("quality", "validate", "--stage", "raw"),
        "Great Expectations on the raw tables; a blocking failure stops the run here.",
        inputs=(RAW_TABLES,),
        final=(GATE_FAILED, BAD_INPUT),
    ),
    Step(
        "dbt_build",
        "dbt",
        ("dbt", "build"),
        "Every dbt model with its data and unit tests, the relationships between them last.",
        inputs=(RAW_TABLES, FEEDBACK_EVENTS),
        final=(GATE_FAILED, BAD_INPUT),
        per_dbt_model=True,
    ),
    Step(
        "feature_quality_gate",
        "quality",
        ("quality", "validate", "--stage", "features"),
        "Great Expectations on the marts; nothing reaches Feast past a failure.",
        outputs=(FEATURE_MARTS,),
        final=(GATE_FAILED, BAD_INPUT),
    ),
    Step(
        "feast_apply",
        "feature_store",
        ("feast", "apply"),
        "Register the data set's feature service, catalogue and the views they read.",
        inputs=(FEATURE_MARTS,),
    ),
    Step(
        "feast_materialize",
        "feature_store",
        ("feast", "materialize"),
        "Load the online store up to the data set's snapshot (incrementally after the first).",
        inputs=(FEATURE_MARTS,),
        outputs=(ONLINE_FEATURES,),
    ),
    Step(
        "train",
        "model",
        ("train", "--reuse"),
        "Train a challenger on the Feast training set and register it in MLflow.",
        inputs=(FEATURE_MARTS,),
        timeout_minutes=120,
    ),
    Step(
        "evaluate",
        "model",
        ("evaluate", "--json"),
        "Judge the challenger against the champion on the same held-out rows; record it.",
    ),
    Step(
        "promote",
        "model",
        ("promote", "--recorded"),
        "Move `champion` to the challenger on its passing verdict.",
        outputs=(CHAMPION_MODEL,),
        final=(GATE_FAILED, BAD_INPUT),
        only_if=Condition("evaluate", "passed"),
    ),
    # After promotion two lanes run side by side: serving (explanations, reload, readouts) and
    # monitoring (outcomes, drift, freshness). Neither writes what the other reads; retention,
    # which deletes from the logs both read, waits for both of their readers.
    Step(
        "explain_top_offers",
        "serving",
        ("explanations", "precompute"),
        "Explain each customer's top offers with the LLM into the cache `/rank` reads. "
        "Skipped (75) with no LLM configured: `/rank` renders the templates itself.",
        inputs=(ONLINE_FEATURES, CHAMPION_MODEL),
        outputs=(EXPLANATIONS,),
        skip=(NOTHING_TO_DO,),
        after=("promote",),
    ),
    Step(
        "reload",
        "serving",
        ("serving", "reload"),
        "Make the running ranking service load the champion and the catalogue now.",
        inputs=(ONLINE_FEATURES, CHAMPION_MODEL),
        skip=(NOTHING_TO_DO,),
        timeout_minutes=5,
    ),
    Step(
        "experiment_readouts",
        "serving",
        ("experiments", "readout"),
        "Read out every live experiment (rates per arm, sample-ratio check, interleaving "
        "preference, shadow agreement) into MLflow; a broken split fails the task.",
        final=(GATE_FAILED, BAD_INPUT),
        timeout_minutes=30,
    ),
    # Monitoring reads what the run left; the step that cannot alarm goes first in its lane, so
    # the day's outcomes are recorded even when freshness then fails the run.
    Step(
        "monitor_outcomes",
        "monitoring",
        ("monitor", "outcomes"),
        "Click and redemption rates of served offers per day, model version, tier, arm and "
        "segment; the newest day as Prometheus gauges (outcomes.prom) and a dashboard snapshot. "
        "Skipped (75) on a data set without the outcomes mart (Starbucks).",
        skip=(NOTHING_TO_DO,),
        timeout_minutes=10,
        after=("promote",),
    ),
    Step(
        "monitor_drift",
        "monitoring",
        ("monitor", "drift", "--no-fail-on-alarm"),
        "Feature and score drift of the newest marts and served snapshots against the "
        "champion's train window (Evidently): HTML and JSON reports, an MLflow run tagged with "
        "its version and a dashboard snapshot; an alarm is a retrain recommendation in the "
        "task's result (and blocks promotion with monitoring.block_promotion_on_drift). "
        "Skipped (75) without a champion.",
        inputs=(FEATURE_MARTS, CHAMPION_MODEL),
        skip=(NOTHING_TO_DO,),
        timeout_minutes=30,
    ),
    Step(
        "enforce_retention",
        "serving",
        ("privacy", "retention"),
        "Remove what is past its retention (privacy.retention) from the ranking and shadow "
        "logs, the landed feedback, quiz and consent events and the explanation cache; audited. "
        "After the readouts and the drift job, which read the logs.",
        inputs=(FEEDBACK_EVENTS, EXPLANATIONS),
        timeout_minutes=30,
        after=("experiment_readouts", "monitor_drift"),
    ),
    Step(
        "monitor_freshness",
        "monitoring",
        ("monitor", "freshness"),
        "The age of each feature view in the online store, the champion's age and the stream's "
        "lag, pushed to the dashboard; a stale view fails the task (exit 1, no retry).",
        inputs=(ONLINE_FEATURES, CHAMPION_MODEL),
        final=(GATE_FAILED, BAD_INPUT),
        timeout_minutes=10,
        after=("monitor_drift",),
    ),
)


def step(name: str) -> Step:
    for candidate in STEPS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no pipeline step {name!r}: the steps are {', '.join(s.name for s in STEPS)}")


def predecessors(of: Step, steps: Sequence[Step] = STEPS) -> tuple[Step, ...]:
    """The steps ``of`` waits for: its ``after``, else the one before it (none for the first)."""
    names = [s.name for s in steps]
    if of.after is not None:
        return tuple(steps[names.index(name)] for name in of.after)
    index = names.index(of.name)
    return tuple(steps[index - 1 : index])


def steps_through(last: str, steps: Sequence[Step] = STEPS) -> tuple[Step, ...]:
    """The steps from the first up to and including ``last``."""
    names = [s.name for s in steps]
    return tuple(steps[: names.index(step(last).name) + 1])
