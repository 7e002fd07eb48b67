"""Building blocks the suite files are written with.

Every expectation carries a GX ``severity``: ``critical`` (called *blocking* here) stops the
pipeline, ``warning`` is only reported. ``meta["check"]`` names the family of the check (schema,
keys, range, categories, freshness, row_count, distribution) for the summary and Data Docs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import great_expectations.expectations as gxe
import pyarrow as pa
from great_expectations.expectations import Expectation
from great_expectations.expectations.metadata_types import FailureSeverity

from smartstack.quality.suites import SuiteInputs

BLOCKING = FailureSeverity.CRITICAL
WARNING = FailureSeverity.WARNING

# The pandas dtype names GX compares against, per Arrow type of the raw contracts. Strings are
# loaded as Arrow-backed pandas strings (whose scalar type is ``str``), dates as datetime64.
_ARROW_TO_PANDAS: dict[pa.DataType, str] = {
    pa.string(): "str",
    pa.int64(): "int64",
    pa.int32(): "int32",
    pa.float64(): "float64",
    pa.bool_(): "bool",
    pa.date32(): "datetime64",
}
NUMERIC_TYPES: tuple[str, ...] = ("int8", "int16", "int32", "int64", "float32", "float64")


class ExpectColumnQuantilesToBeBetween(gxe.ExpectColumnQuantileValuesToBeBetween):
    """``ExpectColumnQuantileValuesToBeBetween`` whose result can be stored.

    In GX 1.24 with NumPy 2 the core expectation returns ``numpy.bool_`` flags, which the
    validation-results store cannot serialize, so a checkpoint using it crashes. This subclass
    only converts the result to plain Python values.
    """

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: Any = None,
    ) -> dict:
        outcome = super()._validate(metrics, runtime_configuration, execution_engine)
        result = outcome["result"]
        result["details"]["success_details"] = [
            bool(flag) for flag in result["details"]["success_details"]
        ]
        result["observed_value"]["values"] = [
            None if v is None else float(v) for v in result["observed_value"]["values"]
        ]
        return {**outcome, "success": bool(outcome["success"])}


def _meta(check: str) -> dict[str, str]:
    return {"check": check}


# -- schema ------------------------------------------------------------------------------------
def arrow_schema(schema: pa.Schema) -> list[Expectation]:
    """Exactly these columns, each of its contract type (raw tables have a fixed contract)."""
    types = {field.name: _pandas_type(field.type) for field in schema}
    return [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(types), exact_match=True, severity=BLOCKING, meta=_meta("schema")
        ),
        *(
            gxe.ExpectColumnValuesToBeOfType(
                column=name, type_=type_, severity=BLOCKING, meta=_meta("schema")
            )
            for name, type_ in types.items()
        ),
    ]


def columns(
    *, strings: Iterable[str] = (), numbers: Iterable[str] = (), timestamps: Iterable[str] = ()
) -> list[Expectation]:
    """At least these columns, by kind (feature marts may gain columns without breaking).

    Timestamps are compared as tz-aware (``tables.load_table`` makes mart times UTC). Numbers
    accept any int or float width: DuckDB and BigQuery choose widths differently.
    """
    strings, numbers, timestamps = list(strings), list(numbers), list(timestamps)
    single = {**{name: "str" for name in strings}, **{name: "Timestamp" for name in timestamps}}
    return [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*strings, *numbers, *timestamps],
            exact_match=False,
            severity=BLOCKING,
            meta=_meta("schema"),
        ),
        *(
            gxe.ExpectColumnValuesToBeOfType(
                column=name, type_=type_, severity=BLOCKING, meta=_meta("schema")
            )
            for name, type_ in single.items()
        ),
        *(
            gxe.ExpectColumnValuesToBeInTypeList(
                column=name, type_list=list(NUMERIC_TYPES), severity=BLOCKING,
                meta=_meta("schema"),
            )
            for name in numbers
        ),
    ]


def _pandas_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "Timestamp"
    return _ARROW_TO_PANDAS[arrow_type]


# -- keys --------------------------------------------------------------------------------------
def key(*names: str) -> list[Expectation]:
    """A primary key: never null, and unique (as a compound when it has several columns)."""
    unique: Expectation = (
        gxe.ExpectColumnValuesToBeUnique(column=names[0], severity=BLOCKING, meta=_meta("keys"))
        if len(names) == 1
        else gxe.ExpectCompoundColumnsToBeUnique(
            column_list=list(names), severity=BLOCKING, meta=_meta("keys")
        )
    )
    return [*not_null(*names), unique]


def not_null(*names: str, severity: FailureSeverity = BLOCKING) -> list[Expectation]:
    return [
        gxe.ExpectColumnValuesToNotBeNull(column=name, severity=severity, meta=_meta("keys"))
        for name in names
    ]


# -- values ------------------------------------------------------------------------------------
def in_set(
    column: str, values: Iterable[Any], severity: FailureSeverity = BLOCKING
) -> Expectation:
    """Accepted categories: anything else would silently become an unseen one-hot or join."""
    return gxe.ExpectColumnValuesToBeInSet(
        column=column, value_set=list(values), severity=severity, meta=_meta("categories")
    )


def between(
    column: str,
    min_value: float | None = None,
    max_value: float | None = None,
    *,
    strict_min: bool = False,
    severity: FailureSeverity = BLOCKING,
) -> Expectation:
    return gxe.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=min_value,
        max_value=max_value,
        strict_min=strict_min,
        severity=severity,
        meta=_meta("range"),
    )


def ordered(
    later: str, earlier: str, severity: FailureSeverity = BLOCKING
) -> Expectation:
    """``later >= earlier`` wherever both are set (a funnel or a validity period)."""
    return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=later,
        column_B=earlier,
        or_equal=True,
        ignore_row_if="either_value_is_missing",
        severity=severity,
        meta=_meta("range"),
    )


def pattern(column: str, regex: str, severity: FailureSeverity = BLOCKING) -> Expectation:
    return gxe.ExpectColumnValuesToMatchRegex(
        column=column, regex=regex, severity=severity, meta=_meta("range")
    )


# -- time --------------------------------------------------------------------------------------
def freshness(
    inputs: SuiteInputs,
    column: str,
    max_age: timedelta,
    *,
    since: datetime | None = None,
    lead: timedelta = timedelta(0),
    severity: FailureSeverity = BLOCKING,
) -> list[Expectation]:
    """The newest value is at most ``max_age`` before the snapshot, and no value lies after it.

    ``inputs.max_age`` (from the command line) overrides the suite's default age. ``lead``
    allows values slightly after the snapshot (feature as-of dates are rounded up to midnight);
    ``since`` is the earliest acceptable value, when the data set declares one.
    """
    snapshot = inputs.window.snapshot
    age = inputs.max_age or max_age
    return [
        gxe.ExpectColumnMaxToBeBetween(
            column=column,
            min_value=snapshot - age,
            max_value=snapshot + lead,
            severity=severity,
            meta={**_meta("freshness"), "max_age_hours": age.total_seconds() / 3600},
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column=column,
            min_value=since,
            max_value=snapshot + lead,
            severity=BLOCKING,
            meta=_meta("freshness"),
        ),
    ]


# -- volume and distribution ---------------------------------------------------------------------
def row_count(inputs: SuiteInputs, tolerance: float) -> list[Expectation]:
    """Never empty (blocking); within ``tolerance`` of the last good run's count (warning)."""
    checks: list[Expectation] = [
        gxe.ExpectTableRowCountToBeBetween(min_value=1, severity=BLOCKING, meta=_meta("row_count"))
    ]
    if inputs.previous_rows:
        checks.append(
            gxe.ExpectTableRowCountToBeBetween(
                min_value=math.floor(inputs.previous_rows * (1 - tolerance)),
                max_value=math.ceil(inputs.previous_rows * (1 + tolerance)),
                severity=WARNING,
                meta={**_meta("row_count"), "previous_rows": inputs.previous_rows},
            )
        )
    return checks


def distribution(
    inputs: SuiteInputs,
    profiled: Sequence[str],
    tolerance: float,
    *,
    mean_severity: FailureSeverity = BLOCKING,
    quantile_severity: FailureSeverity = WARNING,
) -> list[Expectation]:
    """Mean and quantiles of key columns near the reference profile (none until one exists).

    Each statistic may move by ``tolerance`` times its reference value, or times a tenth of the
    reference standard deviation when that is larger (so statistics near zero still get room).
    """
    checks: list[Expectation] = []
    for column in profiled:
        reference = inputs.reference.get(column)
        if reference is None:
            continue
        mean_low, mean_high = _band(reference.mean, reference.std, tolerance)
        checks.append(
            gxe.ExpectColumnMeanToBeBetween(
                column=column,
                min_value=mean_low,
                max_value=mean_high,
                severity=mean_severity,
                meta={**_meta("distribution"), "reference_mean": reference.mean},
            )
        )
        checks.append(
            ExpectColumnQuantilesToBeBetween(
                column=column,
                quantile_ranges=_quantile_ranges(reference.quantiles, reference.std, tolerance),
                severity=quantile_severity,
                meta={**_meta("distribution"), "reference_quantiles": reference.quantiles},
            )
        )
    return checks


def _band(value: float, std: float, tolerance: float) -> tuple[float, float]:
    slack = tolerance * max(abs(value), 0.1 * (0.0 if math.isnan(std) else std))
    return value - slack, value + slack


def _quantile_ranges(
    quantiles: Mapping[str, float], std: float, tolerance: float
) -> dict[str, list]:
    ordered_qs = sorted(quantiles, key=float)
    return {
        "quantiles": [float(q) for q in ordered_qs],
        "value_ranges": [list(_band(quantiles[q], std, tolerance)) for q in ordered_qs],
    }
