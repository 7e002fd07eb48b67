"""Run a stage's suites as Great Expectations checkpoints and stop the pipeline on bad data.

The pipeline calls ``run_gate("raw")`` after ingestion and ``run_gate("features")`` after
``dbt build``. Each table of the stage is one GX checkpoint (a validation definition over a
whole-dataframe batch) whose result GX stores, or past the ``quality_max_cells`` setting one
checkpoint per batch of columns (``batches.py``), reported as one table; the Data Docs pages
of the gate's tables and the site's index are built once at the end. Results, suites and Data
Docs are kept in a file-backed GX context under ``<home>/quality/``. A failed *blocking*
(``critical``) expectation raises ``QualityGateFailed``, whose message names the table, the
expectation and sample offending values, plus the path of the Data Docs report; *warning*
failures are logged. Row counts are remembered only after a run without blocking failures, and
the reference profile is written by the first such run (see ``state.py``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.data_context import FileDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.datasource.fluent import PandasDatasource
from great_expectations.execution_engine import pandas_execution_engine
from great_expectations.expectations import Expectation

from smartstack.memory import heap_frozen, release_freed_memory
from smartstack.paths import EXPECTATIONS_DIR
from smartstack.quality.batches import Batch, column_batches, splittable, with_placeholders
from smartstack.quality.checks import BLOCKING
from smartstack.quality.state import QualityState, TableProfile, profile_table
from smartstack.quality.suites import (
    Derived,
    Stage,
    StageSuites,
    SuiteInputs,
    Window,
    load_stage,
)
from smartstack.quality.tables import TableMissing, load_table, table_path, table_shape
from smartstack.settings import Settings, get_settings

logger = logging.getLogger(__name__)

DOCS_SITE = "local_site"
SAMPLE_SIZE = 5
DEFAULT_EXPECTATIONS_DIR = EXPECTATIONS_DIR


@dataclass(frozen=True)
class Failure:
    """One failed expectation, with what is needed to find the bad rows."""

    table: str
    expectation: str  # GX expectation type, e.g. expect_column_values_to_not_be_null
    column: str | None
    blocking: bool
    check: str  # family from meta: schema, keys, range, categories, freshness, ...
    unexpected_count: int | None = None
    samples: tuple[Any, ...] = ()

    def describe(self) -> str:
        where = f" on {self.column}" if self.column else ""
        count = f"{self.unexpected_count:,} unexpected, " if self.unexpected_count else ""
        shown = ", ".join(_show(v) for v in self.samples) or "none"
        return f"{self.table}: {self.expectation}{where}: {count}e.g. {shown}"


@dataclass(frozen=True)
class TableReport:
    table: str
    rows: int | None  # None when the table is missing
    evaluated: int
    failures: tuple[Failure, ...] = ()


@dataclass(frozen=True)
class GateResult:
    stage: Stage
    tables: tuple[TableReport, ...]
    docs_path: Path | None = None
    failures: tuple[Failure, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "failures", tuple(f for report in self.tables for f in report.failures)
        )

    @property
    def blocking(self) -> tuple[Failure, ...]:
        return tuple(f for f in self.failures if f.blocking)

    @property
    def warnings(self) -> tuple[Failure, ...]:
        return tuple(f for f in self.failures if not f.blocking)

    @property
    def passed(self) -> bool:
        return not self.blocking


class QualityGateFailed(RuntimeError):
    """A blocking expectation failed: the steps after this gate must not run."""

    def __init__(self, result: GateResult) -> None:
        self.result = result
        lines = [
            f"{result.stage} quality gate failed: {len(result.blocking)} blocking "
            f"expectation(s) failed.",
            *(f"  - {failure.describe()}" for failure in result.blocking),
            f"Data Docs: {result.docs_path}",
        ]
        super().__init__("\n".join(lines))


def run_gate(
    stage: Stage,
    settings: Settings | None = None,
    *,
    tables: Sequence[str] | None = None,
    expectations_dir: Path = DEFAULT_EXPECTATIONS_DIR,
    max_age: timedelta | None = None,
    raise_on_blocking: bool = True,
) -> GateResult:
    """Validate every table of ``stage`` (or the given ones) and report, or raise on blocking.

    ``max_age`` overrides the freshness age of every suite for this run.
    """
    settings = settings or get_settings()
    stage_suites = load_stage(stage, expectations_dir)
    suites = stage_suites.for_dataset(settings.dataset)
    selected = list(tables or suites)
    unknown = sorted(set(selected) - set(suites))
    if unknown:
        raise ValueError(
            f"no {stage} suite for table(s) {', '.join(unknown)} of the {settings.dataset} "
            "data set"
        )

    root = settings.home / "quality"
    state = QualityState(root, stage)
    window = Window.from_manifest(settings.data_dir)
    previous, reference = state.row_counts(), state.reference()
    context = _context(root)
    datasource = context.data_sources.add_or_update_pandas(name=stage)

    reports: list[TableReport] = []
    counts: dict[str, int] = {}
    profiles: dict[str, TableProfile] = {}
    pages: list[ValidationResultIdentifier | ExpectationSuiteIdentifier] = []
    for table in selected:
        inputs = SuiteInputs(
            table=table,
            window=window,
            previous_rows=previous.get(table),
            reference=reference.get(table, {}),
            max_age=max_age,
        )
        try:
            with heap_frozen():
                checked = _check_table(
                    context, datasource, stage_suites, table, suites[table](inputs), settings
                )
        except TableMissing:
            reports.append(_missing(stage, table, settings.data_dir))
            continue
        reports.append(checked.report)
        pages += checked.pages
        counts[table] = checked.rows
        profiles[table] = checked.profile

    # Once per gate, not per table: each build rewrites the index from every stored result.
    if pages:
        context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=pages)
    result = GateResult(stage=stage, tables=tuple(reports), docs_path=_docs_index(root))
    _log(result)
    if result.passed:
        state.write_row_counts(counts)
        first = {t: p for t, p in profiles.items() if p and t not in reference}
        if first:
            state.write_reference(first)
            logger.info("wrote the %s reference profile of %s", stage, ", ".join(sorted(first)))
    if raise_on_blocking and not result.passed:
        raise QualityGateFailed(result)
    return result


@dataclass(frozen=True)
class _CheckedTable:
    report: TableReport
    rows: int
    profile: TableProfile
    pages: list[ValidationResultIdentifier | ExpectationSuiteIdentifier]


def _check_table(
    context: FileDataContext,
    datasource: PandasDatasource,
    stage_suites: StageSuites,
    table: str,
    expectations: list[Expectation],
    settings: Settings,
) -> _CheckedTable:
    """Validate one table: whole, or past ``quality_max_cells`` a few columns at a time
    (:mod:`smartstack.quality.batches`), as one report."""
    stage, data_dir = stage_suites.stage, settings.data_dir
    rows, names = table_shape(stage, table, data_dir)
    derived = stage_suites.derived.get(table)
    profiled = tuple(stage_suites.profiled.get(table, ()))
    whole = rows * len(names) <= settings.quality_max_cells or not splittable(expectations)
    batches = [Batch(tuple(names), tuple(expectations))] if whole else column_batches(expectations)
    validations: list[ExpectationSuiteValidationResult] = []
    pages: list[ValidationResultIdentifier | ExpectationSuiteIdentifier] = []
    profile: TableProfile = {}
    for batch in batches:
        if whole:
            frame = load_table(stage, table, data_dir)
            frame = derived.prepare(frame) if derived else frame
            name = f"{stage}.{table}"
        else:
            frame = _batch_frame(stage, table, data_dir, names, rows, batch, derived)
            name = f"{stage}.{table}.{'_'.join(batch.columns) or 'table'}"
        suite = gx.ExpectationSuite(name=name, expectations=list(batch.expectations))
        identifier, validation = _validate(context, datasource, suite, frame)
        validations.append(validation)
        pages += [identifier, ExpectationSuiteIdentifier(name=suite.name)]
        profile |= profile_table(frame, tuple(c for c in profiled if whole or c in batch.columns))
        del frame
        # GX's run leaves cycles holding whole columns, and glibc keeps freed copies: both are
        # handed back before the next batch loads.
        release_freed_memory()
    return _CheckedTable(_report(table, rows, validations), rows, profile, pages)


def _batch_frame(
    stage: Stage,
    table: str,
    data_dir: Path,
    names: Sequence[str],
    rows: int,
    batch: Batch,
    derived: Derived | None,
) -> pd.DataFrame:
    """The table's ``batch.columns`` with every other column a placeholder. A derived column
    the batch checks is computed from its ``reads``, which are then dropped unless the batch
    checks them too. A column the table lacks stays missing, for its expectations to fail as
    they do on the whole table."""
    computed = derived if derived and set(batch.columns) & set(derived.writes) else None
    wanted = set(batch.columns) | set(computed.reads if computed else ())
    frame = load_table(stage, table, data_dir, [name for name in names if name in wanted])
    if computed:
        frame = computed.prepare(frame)
        frame = frame.drop(columns=[c for c in frame if c not in batch.columns])
    return with_placeholders(frame, names, rows)


def write_reference(
    stage: Stage,
    settings: Settings | None = None,
    *,
    expectations_dir: Path = DEFAULT_EXPECTATIONS_DIR,
) -> dict[str, TableProfile]:
    """Profile the current data and make it the reference (after an accepted change)."""
    settings = settings or get_settings()
    stage_suites = load_stage(stage, expectations_dir)
    suites = stage_suites.for_dataset(settings.dataset)
    profiles: dict[str, TableProfile] = {}
    for table, profiled in stage_suites.profiled.items():
        if table not in suites:
            continue
        # Only the profiled columns (and what a derived one is computed from): a large
        # table's whole would not fit.
        rows, names = table_shape(stage, table, settings.data_dir)
        frame = _batch_frame(
            stage, table, settings.data_dir, names, rows, Batch(tuple(profiled), ()),
            stage_suites.derived.get(table),
        )
        profiles[table] = profile_table(frame, tuple(profiled))
    QualityState(settings.home / "quality", stage).write_reference(profiles)
    return profiles


# -- Great Expectations wiring -------------------------------------------------------------------
def _context(root: Path) -> FileDataContext:
    """A file-backed context in ``<root>/gx`` whose Data Docs go to ``<root>/data_docs``."""
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=root)
    context.update_data_docs_site(
        DOCS_SITE,
        {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(root / "data_docs"),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.save()
    return context


VERDICT_ONLY = {"result_format": "BOOLEAN_ONLY"}
WITH_SAMPLES = {"result_format": "BASIC", "partial_unexpected_count": 20}


def _validate(
    context: FileDataContext,
    datasource: PandasDatasource,
    suite: gx.ExpectationSuite,
    frame: pd.DataFrame,
) -> tuple[ValidationResultIdentifier, ExpectationSuiteValidationResult]:
    """Run the suite on the frame; the result is stored (its Data Docs page is built later)."""
    asset = datasource.add_dataframe_asset(name=suite.name)
    batch = asset.add_batch_definition_whole_dataframe("whole table")
    # Replace rather than ``add_or_update``: GX 1.24 matches every new expectation against every
    # stored one, which takes tens of seconds for the wide spend mart's few hundred expectations.
    for factory in (context.checkpoints, context.validation_definitions, context.suites):
        if any(item.name == suite.name for item in factory.all()):
            factory.delete(name=suite.name)
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=suite)
    )
    # Pass or fail first, then the failures' counts and sample values only if something failed:
    # for a sample, GX's pandas engine copies the whole frame once per column expectation, which
    # on a wide mart of millions of rows costs minutes where the verdict costs seconds.
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=suite.name, validation_definitions=[definition], result_format=VERDICT_ONLY
        )
    )
    with _no_fingerprint():
        outcome = checkpoint.run(batch_parameters={"dataframe": frame})
        if not outcome.success:
            checkpoint.result_format = WITH_SAMPLES
            checkpoint.save()
            outcome = checkpoint.run(batch_parameters={"dataframe": frame})
    _forget_batches(datasource)
    return next(iter(outcome.run_results.items()))


@contextmanager
def _no_fingerprint() -> Iterator[None]:
    """Skip GX's fingerprint of the batch (an MD5 of ``pd.util.hash_pandas_object`` over every
    cell, taken of any frame under ``HASH_THRESHOLD``, 1 GB): it turns Arrow strings into Python
    objects, so it was the largest allocation of a batch of 99 million rows, and the gate never
    reads it. GX 1.24 has no setting for it, only the module's threshold."""
    saved = pandas_execution_engine.HASH_THRESHOLD
    pandas_execution_engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        pandas_execution_engine.HASH_THRESHOLD = saved


def _forget_batches(datasource: PandasDatasource) -> None:
    """Drop what the datasource's execution engine keeps after a run: every batch's frame, by
    id, and every metric it computed, whole-column masks among them. Kept, they made a gate
    hold every table or batch it had validated. GX 1.24 has no public call for the metrics."""
    engine = datasource.get_execution_engine()
    engine.batch_manager.reset_batch_cache()
    engine.batch_manager.batch_data_cache.clear()
    engine._metric_cache.clear()


def _docs_index(root: Path) -> Path | None:
    index = root / "data_docs" / "index.html"
    return index if index.exists() else None


# -- results -----------------------------------------------------------------------------------
def _report(
    table: str, rows: int, validations: Sequence[ExpectationSuiteValidationResult]
) -> TableReport:
    results = [result for validation in validations for result in validation.results]
    failures = tuple(_failure(table, result) for result in results if not result.success)
    ordered = tuple(sorted(failures, key=lambda f: (not f.blocking, f.check != "schema")))
    return TableReport(table, rows, len(results), ordered)


def _failure(table: str, result: ExpectationValidationResult) -> Failure:
    config = result.expectation_config
    assert config is not None
    kwargs = config.kwargs
    column = kwargs.get("column") or ", ".join(
        kwargs.get("column_list") or [kwargs[k] for k in ("column_A", "column_B") if k in kwargs]
    )
    outcome = result.result or {}
    return Failure(
        table=table,
        expectation=config.type,
        column=column or None,
        blocking=config.severity == BLOCKING,
        check=(config.meta or {}).get("check", ""),
        unexpected_count=outcome.get("unexpected_count"),
        samples=_samples(result),
    )


def _samples(result: ExpectationValidationResult) -> tuple[Any, ...]:
    """Offending values, else the observed statistic, else why the check could not run."""
    outcome = result.result or {}
    if outcome.get("partial_unexpected_list"):
        return tuple(outcome["partial_unexpected_list"][:SAMPLE_SIZE])
    mismatched = (outcome.get("details") or {}).get("mismatched")
    if mismatched:
        return tuple(f"{kind}: {', '.join(map(str, names))}" for kind, names in mismatched.items())
    if "observed_value" in outcome:
        return (outcome["observed_value"],)
    return tuple(_exception_messages(result.exception_info))[:1]


def _exception_messages(info: Any) -> list[str]:
    if not isinstance(info, dict):
        return []
    if "exception_message" in info:
        return [str(info["exception_message"])] if info.get("raised_exception") else []
    return [m for value in info.values() for m in _exception_messages(value)]


def _missing(stage: Stage, table: str, data_dir: Path) -> TableReport:
    failure = Failure(
        table=table,
        expectation="table_exists",
        column=None,
        blocking=True,
        check="schema",
        samples=(f"missing: {table_path(stage, table, data_dir)}",),
    )
    return TableReport(table, None, 1, (failure,))


def _log(result: GateResult) -> None:
    for failure in result.warnings:
        logger.warning("%s quality warning: %s", result.stage, failure.describe())
    for failure in result.blocking:
        logger.error("%s quality gate: %s", result.stage, failure.describe())
    logger.info("%s quality Data Docs: %s", result.stage, result.docs_path)


def _show(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
