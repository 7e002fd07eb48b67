"""Loading the suite files of ``expectations/`` and the run-time facts they are built from.

Suites are Python files kept beside ``dbt_project/`` and ``feature_repo/`` rather than inside the
package, so that reviewers read data contracts in one place; like Feast's repository they are
loaded by path. A suite file for a stage (``expectations/raw.py``, ``expectations/features.py``)
defines three mappings keyed by table name:

- ``SUITES``: a function ``SuiteInputs -> list[Expectation]`` per table;
- ``PROFILED``: the key numeric columns whose mean and quantiles are compared with the reference;
- ``PREPARE``: optional, a :class:`Derived` per table: columns computed before validation from
  columns the table holds (for checks that are not expressible on a single column, such as
  shares summing to one);
- ``DATASET_SUITES``: optional, per data set other than the synthetic one (the ``dataset``
  setting), the suites of the tables that data set provides, in place of ``SUITES``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Literal

from smartstack.data.manifest import Manifest
from smartstack.quality.state import TableProfile

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.expectations import Expectation

Stage = Literal["raw", "features"]
STAGES: tuple[Stage, ...] = ("raw", "features")


@dataclass(frozen=True)
class Window:
    """The time frame of a data set: from its manifest, or ending now when there is none."""

    snapshot: datetime
    start: datetime | None = None
    impression_start: datetime | None = None

    @classmethod
    def from_manifest(cls, data_dir: Path) -> Window:
        manifest = Manifest.read(data_dir)
        if manifest is None:
            return cls(snapshot=datetime.now(UTC))
        return cls(manifest.snapshot, manifest.start, manifest.impression_start)


@dataclass(frozen=True)
class SuiteInputs:
    """What a suite needs to know beyond the data: the time frame and the previous run."""

    table: str
    window: Window
    previous_rows: int | None
    reference: TableProfile
    max_age: timedelta | None = None  # overrides the suite file's default when set


SuiteBuilder = Callable[[SuiteInputs], "list[Expectation]"]


@dataclass(frozen=True)
class Derived:
    """Columns a suite checks that the table does not hold: ``prepare`` adds ``writes`` to a
    frame that holds ``reads``. Declaring both lets the gate of a table too large to load whole
    load only ``reads`` for the batches that check a written column."""

    prepare: Callable[[pd.DataFrame], pd.DataFrame]
    reads: tuple[str, ...]
    writes: tuple[str, ...]


@dataclass(frozen=True)
class StageSuites:
    """The contents of one suite file."""

    stage: Stage
    path: Path
    suites: Mapping[str, SuiteBuilder]
    profiled: Mapping[str, tuple[str, ...]]
    derived: Mapping[str, Derived]  # the file's PREPARE: columns computed before the checks
    dataset_suites: Mapping[str, Mapping[str, SuiteBuilder]] = field(default_factory=dict)

    def for_dataset(self, dataset: str) -> Mapping[str, SuiteBuilder]:
        """The suites of the tables ``dataset`` provides (``SUITES`` unless it has its own)."""
        return self.dataset_suites.get(dataset, self.suites)


def load_stage(stage: Stage, expectations_dir: Path) -> StageSuites:
    """Import ``<expectations_dir>/<stage>.py`` and check that it defines what the gate needs."""
    path = (expectations_dir / f"{stage}.py").resolve()
    if not path.exists():
        raise FileNotFoundError(f"no suite file for stage {stage!r} at {path}")
    module = _import(path, f"smartstack_expectations_{stage}")
    missing = [name for name in ("SUITES", "PROFILED") if not hasattr(module, name)]
    if missing:
        raise AttributeError(f"{path} does not define {', '.join(missing)}")
    return StageSuites(
        stage=stage,
        path=path,
        suites=module.SUITES,
        profiled=module.PROFILED,
        derived=getattr(module, "PREPARE", {}),
        dataset_suites=getattr(module, "DATASET_SUITES", {}),
    )


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

