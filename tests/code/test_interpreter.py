"""The stack's processes run optimized (``smartstack.interpreter``): Feast imports without
typeguard's instrumentation there, from bytecode ``make setup`` compiled at that level."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import feast.feature_view

from tests.conftest import project_environment

# Imports Feast and tells whether typeguard instrumented FeatureView's constructor: an
# instrumented function is compiled from a re-parsed copy of its module's source, so its
# code object checks its arguments against their annotations (names from typeguard's
# generated code appear among its global names).
PROBE = """
import feast.feature_view, json, sys
code = feast.feature_view.FeatureView.__init__.__code__
print(json.dumps({"optimize": sys.flags.optimize,
                  "instrumented": any("typeguard" in name for name in code.co_names)}))
"""


def _probe(env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout


def test_feast_is_instrumented_by_typeguard_only_outside_the_stacks_processes() -> None:
    assert '"instrumented": true' in _probe(project_environment(PYTHONOPTIMIZE=""))
    optimized = _probe(project_environment())
    assert '"optimize": 1' in optimized and '"instrumented": false' in optimized


def test_the_optimized_bytecode_of_the_environment_is_compiled() -> None:
    """Without it, each optimized process would compile every module it imports again."""
    source = Path(feast.feature_view.__file__)
    assert Path(importlib.util.cache_from_source(str(source), optimization=1)).exists(), source
