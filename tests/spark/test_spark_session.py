"""A process that starts Spark still ends its output with what it printed last.

The Airflow tasks return a command's last output line (stdout and stderr together) and the
promotion branch reads the evaluation's JSON from it. py4j logs at INFO when its gateway closes,
at the interpreter's exit, so a command logging at INFO (``smartstack evaluate``) ended on
"Closing down clientserver connection" on the spark warehouse and the branch failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import project_environment

pytestmark = pytest.mark.slow

STARTS_SPARK_THEN_PRINTS_JSON = """
import json, logging, sys
from pathlib import Path
from smartstack.settings import Settings, Warehouse
from smartstack.spark import spark_session

logging.basicConfig(level=logging.INFO, format="%(message)s")
session = spark_session(Settings(home=Path(sys.argv[1]), warehouse=Warehouse.spark))
print(json.dumps({"rows": session.range(3).count()}))
"""


def test_a_command_that_started_spark_ends_on_its_own_last_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", STARTS_SPARK_THEN_PRINTS_JSON, str(tmp_path)],
        env=project_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    last = [line for line in done.stdout.splitlines() if line.strip()][-1]
    assert json.loads(last) == {"rows": 3}, done.stdout[-3000:]
