"""The ``manifest.json`` a landing writes beside the raw tables: the data set's time frame.

The generator and every ingestion adapter record when the data set starts, from when offers
were shown and its snapshot (the end: nothing happens at or after it). dbt's feature window,
Feast's materialization end, the quality gates' freshness, send-time splits and the
explanation precompute all count from these instants, read here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

FILE = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    snapshot: datetime
    start: datetime | None
    impression_start: datetime | None
    values: dict[str, Any]  # everything the landing recorded (row counts, source files, ...)

    @classmethod
    def read(cls, data_dir: Path) -> Manifest | None:
        """The manifest under ``data_dir``, or None before anything landed there."""
        path = data_dir / FILE
        if not path.is_file():
            return None
        values = json.loads(path.read_text())
        return cls(
            snapshot=datetime.fromisoformat(values["snapshot"]),
            start=_time(values.get("start")),
            impression_start=_time(values.get("impression_start")),
            values=values,
        )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def publish(staging: Path, out_dir: Path, values: dict[str, Any], parts: Sequence[str]) -> None:
    """Write the manifest into ``staging``, then move it and ``parts`` over ``out_dir``'s.

    A landing writes everything into ``staging`` first, so a failure never leaves half a data
    set where the pipeline reads; each part replaces the previous one whole, so no table of an
    earlier landing survives next to the new ones.
    """
    (staging / FILE).write_text(json.dumps(values, indent=2) + "\n")
    for part in (*parts, FILE):
        target = out_dir / part
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        (staging / part).rename(target)
    staging.rmdir()
