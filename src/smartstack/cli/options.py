"""The ``--dataset``, ``--data-dir`` and ``--start-date`` options of the commands that land or
evaluate data.

They are shorthands for the settings ``dataset``, ``source_dir`` and ``source_start_date``
(``SMARTSTACK_DATASET``, ``SMARTSTACK_SOURCE_DIR``, ``SMARTSTACK_SOURCE_START_DATE``): a command
that gets them builds its settings with them, and hands those settings to every step it runs
(in its process, or in a subprocess's environment), never by changing its own environment.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from smartstack.datasets import UnknownDataset, active
from smartstack.settings import Settings

DatasetOption = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        help="Data set to run on: synthetic (generated) or starbucks (the public rewards-offer "
        "data, read from --data-dir). Default: the dataset setting (SMARTSTACK_DATASET).",
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        "--source-dir",
        help="Directory of the data set in its own format (starbucks: portfolio.json, "
        "profile.json, transcript.json[.gz]), read in place. The platform's tables go to the "
        "data_dir setting (default <home>/data). Default: SMARTSTACK_SOURCE_DIR.",
    ),
]
StartDateOption = Annotated[
    str | None,
    typer.Option(
        "--start-date",
        help="UTC day (YYYY-MM-DD) that hour 0 of the data set becomes (starbucks; default "
        "2018-08-01). Default: SMARTSTACK_SOURCE_START_DATE.",
    ),
]


class BadDatasetOptions(ValueError):
    """The options name no known data set or miss what it needs; one sentence."""


def dataset_settings(
    base: Settings,
    dataset: str | None,
    data_dir: Path | None,
    start_date: str | None,
    *,
    needs_source: bool = True,
) -> Settings:
    """``base``, or the environment's settings with the options applied when any is given; a
    data set read from its own files needs its directory unless ``needs_source`` is false."""
    chosen: dict[str, object] = {}
    if start_date is not None:
        try:
            chosen["source_start_date"] = date.fromisoformat(start_date)
        except ValueError:
            raise BadDatasetOptions(
                f"--start-date must be a day as YYYY-MM-DD, not {start_date!r}"
            ) from None
    if data_dir is not None:
        if not data_dir.is_dir():
            raise BadDatasetOptions(f"--data-dir {data_dir} is not a directory")
        chosen["source_dir"] = data_dir
    if dataset is not None:
        chosen["dataset"] = dataset
    settings = Settings(**chosen) if chosen else base
    try:
        adapter = active(settings)
    except UnknownDataset as error:
        raise BadDatasetOptions(str(error)) from None
    if needs_source and adapter.needs_source_dir and settings.source_dir is None:
        raise BadDatasetOptions(
            f"the {adapter.name} data set is read from its own files: pass --data-dir PATH "
            "(or set SMARTSTACK_SOURCE_DIR)"
        )
    return settings
