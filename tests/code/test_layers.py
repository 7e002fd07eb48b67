"""Which package may import which: the layering docs/architecture.md draws, enforced.

Every import in every module counts, those inside functions too (a lazy import is still a
dependency). A new import across layers either fits the table below or changes it, in review.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from smartstack.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "src" / "smartstack"
# Everything may import these.
FOUNDATION = {"settings", "paths"}
# Each first-level package of `smartstack` and what it may import besides the foundation.
ALLOWED: dict[str, set[str]] = {
    "paths": set(),
    "settings": set(),
    "pipeline": set(),  # the standard library only: Airflow's environment imports it
    "interpreter": set(),  # how the stack's processes run Python; Airflow's environment too
    "memory": set(),  # handing freed memory back between the peaks of a long job
    "spark": set(),  # the spark warehouse's session, for Feast and XGBoost
    "data": set(),
    "ranking": set(),
    "experiments": set(),
    "privacy": set(),  # consent, suppression, audit: honoured by every layer below the CLI
    # "No such model or alias" vs "the registry could not answer", for every registry reader.
    "registry_errors": set(),
    "datasets": {"data", "privacy"},
    "engagement": {"data", "datasets", "featurestore", "privacy"},
    "events": {"data", "datasets", "engagement", "privacy"},
    "features": {"data", "datasets", "engagement", "privacy"},
    "quality": {"data", "datasets", "memory"},
    "featurestore": {"data", "datasets", "memory", "privacy", "spark"},
    "messaging": {"datasets", "events", "privacy"},
    # The promotion gate's off-policy rule reads logged traffic through `evaluation`.
    "training": {
        "data",
        "datasets",
        "evaluation",
        "experiments",
        "featurestore",
        "memory",
        "ranking",
        "registry_errors",
        "spark",
    },  # fmt: skip
    "serving": {
        "data",
        "datasets",
        "engagement",
        "events",
        "experiments",
        "featurestore",
        "messaging",
        "privacy",
        "ranking",
        "registry_errors",
    },  # fmt: skip
    # Rankers judged on logged traffic: the registry's models and the catalogue as served.
    "evaluation": {
        "data",
        "datasets",
        "events",
        "experiments",
        "featurestore",
        "ranking",
        "serving",
    },  # fmt: skip
    "stack": {"featurestore", "interpreter"},
    # Drift, freshness and live outcomes read every layer's output (docs/monitoring.md); drift
    # reads the champion's training run.
    "monitoring": {
        "data",
        "datasets",
        "events",
        "featurestore",
        "privacy",
        "registry_errors",
        "serving",
        "training",
    },  # fmt: skip
    # Erasure, the privacy scan and retention reach every store the platform writes.
    "erasure": {
        "data",
        "datasets",
        "engagement",
        "events",
        "featurestore",
        "messaging",
        "privacy",
        "serving",
    },  # fmt: skip
    "cli": {
        "data",
        "datasets",
        "engagement",
        "erasure",
        "evaluation",
        "events",
        "experiments",
        "features",
        "featurestore",
        "messaging",
        "monitoring",
        "pipeline",
        "privacy",
        "quality",
        "ranking",
        "serving",
        "stack",
        "training",
    },  # fmt: skip
}


def _package(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """Every module name ``path`` imports, anywhere in the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_package_has_a_place_in_the_table() -> None:
    found = {_package(path) for path in MODULES} - {"__init__"}
    assert found == set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path: Path) -> None:
    own = _package(path)
    if own == "__init__":
        return
    used = {
        name.split(".")[1]
        for name in _imports(path)
        if name.startswith("smartstack.") and name.split(".")[1] != own
    }
    assert used <= ALLOWED[own] | FOUNDATION, f"{own} imports {sorted(used - ALLOWED[own])}"


def test_the_pipeline_definition_needs_nothing_but_the_standard_library() -> None:
    imported = {name.split(".")[0] for name in _imports(PACKAGE / "pipeline.py")}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


def test_only_the_cli_talks_to_the_terminal() -> None:
    """The command line's helpers (typer, rich) live with the command line."""
    for path in MODULES:
        if _package(path) == "cli":
            continue
        terminal = {n for n in _imports(path) if n.split(".")[0] in ("typer", "rich")}
        assert not terminal, f"{path.relative_to(PACKAGE)} imports {sorted(terminal)}"
