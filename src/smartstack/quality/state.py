"""What a gate remembers between runs: row counts and reference profiles.

Row counts are rolling (each run that passes replaces them), so the row-count check compares a
table with the last good run. Reference profiles are fixed: the first run that passes writes
them and later runs compare against that baseline, so slow drift cannot move its own reference.
``smartstack quality reference`` rewrites them when a change in the data is accepted.
Both are small JSON files under ``<home>/quality/`` (never in the repository).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class ColumnProfile:
    """Mean, spread and quantiles of one numeric column."""

    mean: float
    std: float
    quantiles: dict[str, float]  # JSON keys: "0.1" -> value

    @classmethod
    def of(cls, values: pd.Series) -> ColumnProfile:
        import pandas as pd  # only where a gate runs: `smartstack --help` stays fast

        numbers = pd.to_numeric(values, errors="coerce").dropna().astype(float)
        return cls(
            mean=float(numbers.mean()),
            std=float(numbers.std(ddof=0)) if len(numbers) else math.nan,
            quantiles={str(q): float(numbers.quantile(q)) for q in QUANTILES},
        )


TableProfile = dict[str, ColumnProfile]


def profile_table(frame: pd.DataFrame, columns: tuple[str, ...]) -> TableProfile:
    """Profiles of the given columns that exist in ``frame`` and hold at least one number."""
    profiles = {name: ColumnProfile.of(frame[name]) for name in columns if name in frame}
    return {name: p for name, p in profiles.items() if not math.isnan(p.mean)}


class QualityState:
    """Row counts and reference profiles of one stage, stored under ``<home>/quality``."""

    def __init__(self, root: Path, stage: str) -> None:
        self.counts_path = root / "row_counts" / f"{stage}.json"
        self.reference_path = root / "reference" / f"{stage}.json"

    def row_counts(self) -> dict[str, int]:
        return _read(self.counts_path) or {}

    def write_row_counts(self, counts: dict[str, int]) -> None:
        _write(self.counts_path, {**self.row_counts(), **counts})

    def reference(self) -> dict[str, TableProfile]:
        raw = _read(self.reference_path) or {}
        return {
            table: {column: ColumnProfile(**values) for column, values in columns.items()}
            for table, columns in raw.items()
        }

    def write_reference(self, profiles: dict[str, TableProfile]) -> None:
        """Set the reference of the given tables, keeping that of the others."""
        merged = {**self.reference(), **profiles}
        _write(self.reference_path, {
            table: {column: asdict(p) for column, p in columns.items()}
            for table, columns in merged.items()
        })


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _write(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
