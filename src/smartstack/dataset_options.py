"""The ``--dataset``, ``--data-dir`` and ``--start-date`` options of the commands that land data.

They are shorthands for the settings ``SMARTSTACK_DATASET``, ``SMARTSTACK_SOURCE_DIR`` and
``SMARTSTACK_SOURCE_START_DATE``: a command sets them in its own environment before anything
reads the settings, so every step it runs (and every subprocess, dbt included) sees the same
data set, exactly as when an Airflow task gets them from its environment.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from smartstack.datasets import UnknownDataset, active, spec
from smartstack.settings import Settings, get_settings

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


def use_dataset(
    dataset: str | None,
    data_dir: Path | None,
    start_date: str | None,
    *,
    needs_source: bool = True,
) -> Settings:
    """Put the options into the environment and return the settings they give; a data set
    read from its own files needs them unless ``needs_source`` is false."""
    if start_date is not None:
        try:
            date.fromisoformat(start_date)
        except ValueError:
            raise BadDatasetOptions(
                f"--start-date must be a day as YYYY-MM-DD, not {start_date!r}"
            ) from None
    if data_dir is not None and not data_dir.is_dir():
        raise BadDatasetOptions(f"--data-dir {data_dir} is not a directory")
    if dataset is not None:
        try:
            spec(dataset)
        except UnknownDataset as error:
            raise BadDatasetOptions(str(error)) from None
    for name, value in (
        ("SMARTSTACK_DATASET", dataset),
        ("SMARTSTACK_SOURCE_DIR", None if data_dir is None else str(data_dir.resolve())),
        ("SMARTSTACK_SOURCE_START_DATE", start_date),
    ):
        if value is not None:
            os.environ[name] = value
    get_settings.cache_clear()
    settings = get_settings()
    try:
        chosen = active(settings)
    except UnknownDataset as error:  # from the environment, not from the options
        raise BadDatasetOptions(str(error)) from None
    if needs_source and chosen.source_dir_required and settings.source_dir is None:
        raise BadDatasetOptions(
            f"the {chosen.name} data set is read from its own files: pass --data-dir PATH "
            "(or set SMARTSTACK_SOURCE_DIR)"
        )
    return settings
