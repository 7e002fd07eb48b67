"""Run the dbt feature project with the environment it expects.

dbt reads every path and secret from environment variables (see ``dbt_project/profiles.yml``),
so one function turns the typed settings into that environment and the data set's manifest into
dbt vars. dbt runs as a subprocess of the ``dbt`` executable installed beside this Python: the
same call an Airflow task makes, and a failing model cannot take the caller's process down.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from smartstack.data.manifest import Manifest
from smartstack.datasets import active
from smartstack.engagement.rules import RuleFileError, load_rules
from smartstack.privacy.locks import building, building_until_exit
from smartstack.settings import Settings, Warehouse

# Manifest keys passed to dbt as vars of the same name.
MANIFEST_VARS: tuple[str, ...] = ("impression_start", "snapshot")


class FeatureBuildError(Exception):
    """A problem the user can fix before dbt runs; the message is one sentence."""


def project_dir(settings: Settings) -> Path:
    """The dbt project (``dbt_project/`` of this repository unless the setting moves it)."""
    path = settings.dbt_project_dir
    if not (path / "dbt_project.yml").is_file():
        raise FeatureBuildError(
            f"no dbt project at {path}: set SMARTSTACK_DBT_PROJECT_DIR to the dbt_project folder"
        )
    return path


def dbt_executable() -> str:
    """The ``dbt`` beside the running interpreter (the project venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.is_file():
        return str(beside)
    found = shutil.which("dbt")
    if found is None:
        raise FeatureBuildError("dbt is not installed: install the project with `pip install -e .`")
    return found


# The profiles.yml target of each warehouse.
TARGETS: dict[Warehouse, str] = {
    Warehouse.duckdb: "local",
    Warehouse.bigquery: "bigquery",
    Warehouse.spark: "spark",
}
# The targets that read the landed Parquet files in place.
_FILE_TARGETS = frozenset({"local", "spark"})


def default_target(settings: Settings) -> str:
    """The profiles.yml target for the configured warehouse."""
    return TARGETS[settings.warehouse]


def landed_tables(settings: Settings) -> list[str]:
    """The event tables with at least one landed Parquet part, for the spark target's
    ``has_landed`` (Spark SQL cannot list a folder; DuckDB globs it itself). The folders are
    those of ``profile_environment``; the ranking log keeps its parts in a folder per day."""
    folders = {
        table: (settings.data_dir / table, "*.parquet")
        for table in ("feedback", "quiz_answers", "consent_events")
    }
    folders["ranking_log"] = (settings.ranking_log_dir, "*/*.parquet")
    return [table for table, (folder, parts) in folders.items() if any(folder.glob(parts))]


def check_raw_data(settings: Settings) -> None:
    """Fail with one sentence, before dbt starts, when the data set's raw tables are missing."""
    dataset = active(settings)
    raw = settings.raw_dir
    missing = [t for t in dataset.raw_tables if not any((raw / t).glob("*.parquet"))]
    if missing:
        every = len(missing) == len(dataset.raw_tables)
        what = "" if every else f" (missing {', '.join(missing)})"
        raise FeatureBuildError(f"no raw data at {raw}{what}: run `{dataset.land_command}` first")


def manifest_vars(settings: Settings) -> dict[str, str]:
    """The feature window of the data set (its manifest.json), as dbt vars; empty without one,
    so that dbt falls back to the defaults in dbt_project.yml."""
    manifest = Manifest.read(settings.data_dir)
    if manifest is None:
        return {}
    return {key: manifest.values[key] for key in MANIFEST_VARS if key in manifest.values}


def dbt_environment(settings: Settings) -> dict[str, str]:
    """The process environment plus every variable profiles.yml and the sources read.

    dbt's target/ and logs/ go under ``<home>/dbt`` so that runs on different data sets (tests,
    benchmarks) never share compiled state and the repository stays clean.
    """
    project = project_dir(settings)
    env = dict(os.environ)
    env.update(
        DBT_PROJECT_DIR=str(project),
        DBT_PROFILES_DIR=str(project),
        DBT_TARGET_PATH=str(settings.home / "dbt" / "target"),
        DBT_LOG_PATH=str(settings.home / "dbt" / "logs"),
        **profile_environment(settings),
    )
    return env


def profile_environment(settings: Settings) -> dict[str, str]:
    """Only the variables that profiles.yml and the sources read: where the data and the
    warehouse are. Tools that run dbt in a project folder of their own (Cosmos) add just these."""
    env = {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "SMARTSTACK_RAW_DIR": str(settings.raw_dir),
        "SMARTSTACK_FEEDBACK_DIR": str(settings.data_dir / "feedback"),
        "SMARTSTACK_QUIZ_ANSWERS_DIR": str(settings.data_dir / "quiz_answers"),
        # The ranking service's log (`events.ranking_log`): not a landed table, so not beside
        # the feedback folder.
        "SMARTSTACK_RANKING_LOG_DIR": str(settings.ranking_log_dir),
        "SMARTSTACK_FEATURES_DIR": str(settings.features_dir),
        "SMARTSTACK_DUCKDB_PATH": str(settings.duckdb_path),
        "SMARTSTACK_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "SMARTSTACK_BIGQUERY_DATASET": settings.bigquery_dataset,
        "SMARTSTACK_SPARK_MASTER": settings.spark_master,
        "SMARTSTACK_SPARK_DRIVER_MEMORY": settings.spark_driver_memory,
        "SMARTSTACK_SPARK_SHUFFLE_PARTITIONS": str(settings.spark_shuffle_partitions),
        "SMARTSTACK_SPARK_DIR": str(settings.spark_dir),
    }
    if settings.bigquery_project:
        env["SMARTSTACK_BIGQUERY_PROJECT"] = settings.bigquery_project
    if settings.bigquery_keyfile:
        env["SMARTSTACK_BIGQUERY_KEYFILE"] = str(settings.bigquery_keyfile)
    return env


def dbt_command(
    command: Sequence[str],
    settings: Settings,
    target: str | None = None,
    extra_vars: Mapping[str, object] | None = None,
) -> list[str]:
    """The full dbt command line: the subcommand and its options, then target and vars."""
    args = [dbt_executable(), *command, "--target", target or default_target(settings)]
    if variables := dbt_vars(settings, extra_vars):
        args += ["--vars", json.dumps(variables)]
    return args


def dbt_vars(
    settings: Settings, extra_vars: Mapping[str, object] | None = None
) -> dict[str, object]:
    """The vars every dbt command of the project gets (``smartstack dbt`` and ``smartstack-dbt``
    alike): which data set it is (it enables that data set's models) and its own vars, the
    feature window, the engagement rules, then ``extra_vars``."""
    dataset = {"dataset": settings.dataset, **active(settings).dbt_vars}
    spark = (
        {"landed_tables": landed_tables(settings)} if settings.warehouse is Warehouse.spark else {}
    )
    return {
        **dataset,
        **spark,
        **manifest_vars(settings),
        **engagement_vars(settings),
        **(extra_vars or {}),
    }


def engagement_vars(settings: Settings) -> dict[str, object]:
    """The engagement rules file as the vars ``customer_engagement_features`` counts with: the
    actions that make a week count and the active badges. Read here, not copied into
    dbt_project.yml, so the offline features follow the file the live store follows. None for
    a data set without engagement."""
    if active(settings).engagement_view is None:
        return {}
    try:
        rules = load_rules(settings.engagement.rules)
    except RuleFileError as error:
        raise FeatureBuildError(str(error)) from None
    return {
        "engagement_streak_qualifying": sorted(action.value for action in rules.streak.qualifying),
        "engagement_badges": [
            {"id": badge.id, "metric": badge.metric.value, "target": badge.target}
            for badge in rules.active
        ],
    }


def run_dbt(
    command: Sequence[str],
    settings: Settings,
    target: str | None = None,
    extra_vars: Mapping[str, object] | None = None,
) -> int:
    """Run one dbt command (e.g. ``["build", "--select", "marts"]``) and return its exit code.

    dbt's own progress goes straight to the terminal. On the local target the raw data must
    exist, and the DuckDB file's and feature files' folders are created first.
    """
    target = target or default_target(settings)
    if target in _FILE_TARGETS:
        check_raw_data(settings)
        _prepare_local_dirs(settings)
    args = dbt_command(command, settings, target, extra_vars)
    with building(settings):  # no erasure rewrites what dbt reads while it runs
        return subprocess.run(args, env=dbt_environment(settings), check=False).returncode


def _prepare_local_dirs(settings: Settings) -> None:
    """The DuckDB file's, the Spark metastore's and the feature files' folders, which neither
    dbt-duckdb nor dbt-spark creates."""
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    settings.spark_dir.mkdir(parents=True, exist_ok=True)
    settings.features_dir.mkdir(parents=True, exist_ok=True)


# dbt subcommands that take no --vars.
_WITHOUT_VARS = frozenset({"clean", "debug", "deps", "init", "retry"})
# dbt subcommands that write nothing to the warehouse (Cosmos lists the project at DAG parse).
_READ_ONLY = frozenset({"clean", "debug", "deps", "init", "list", "ls", "parse", None})


def _option(args: Sequence[str], name: str) -> str | None:
    """The value of ``--name value`` or ``--name=value`` in a dbt command line."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def wrapped_command(args: Sequence[str], settings: Settings) -> list[str]:
    """The dbt command line ``smartstack-dbt`` runs for ``args``: the data set's feature window
    added as vars (unless the caller passed its own), after checking that a ``--target`` the
    caller chose is the one the warehouse setting implies."""
    args = list(args)
    target = _option(args, "--target")
    if target is not None and target != default_target(settings):
        raise FeatureBuildError(
            f"dbt target {target!r} does not match the warehouse setting "
            f"({settings.warehouse.value}, target {default_target(settings)!r}): run dbt with "
            f"--target {default_target(settings)} or change SMARTSTACK_WAREHOUSE"
        )
    subcommand = next((a for a in args if not a.startswith("-")), None)
    if subcommand and subcommand not in _WITHOUT_VARS and _option(args, "--vars") is None:
        if variables := dbt_vars(settings):
            args += ["--vars", json.dumps(variables)]
    return [dbt_executable(), *args]


def exec_main() -> None:
    """``smartstack-dbt ARGS``: dbt with the environment and vars of the project settings.

    For tools that build the dbt command line themselves, such as Cosmos in the Airflow DAGs:
    they run this instead of ``dbt`` and get the same warehouse, data and feature window as
    ``smartstack dbt``. The process is replaced by dbt, so its exit code is dbt's.
    """
    from smartstack.settings import get_settings

    settings = get_settings()
    try:
        command = wrapped_command(sys.argv[1:], settings)
    except FeatureBuildError as error:
        print(f"error: {error}.", file=sys.stderr)
        raise SystemExit(2) from None
    subcommand = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if subcommand not in _READ_ONLY:
        building_until_exit(settings)  # dbt inherits it: no erasure while it builds
        if default_target(settings) in _FILE_TARGETS:
            _prepare_local_dirs(settings)
    os.execve(command[0], command, {**os.environ, **profile_environment(settings)})
