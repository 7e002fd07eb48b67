"""`bentoml build` makes a Bento of the ranking service with every endpoint and the pinned lock."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from smartstack.paths import PROJECT_ROOT

BIN = PROJECT_ROOT / ".venv" / "bin"


def test_bento_builds_with_the_service_endpoints_and_the_lock(tmp_path: Path) -> None:
    subprocess.run(
        [str(BIN / "uv"), "build", "-q", "--wheel", "--out-dir", "serving/wheels"],
        cwd=PROJECT_ROOT,
        check=True,
    )
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml")}
    built = subprocess.run(
        [str(BIN / "bentoml"), "build", "-f", "serving/bentofile.yaml", "."],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (bento,) = [
        p
        for p in (tmp_path / "bentoml" / "bentos" / "offer_ranker").iterdir()
        if p.name != "latest"
    ]
    manifest = yaml.safe_load((bento / "bento.yaml").read_text())
    routes = {api["route"] for service in manifest["services"] for api in service.get("apis", [])}
    routes |= {route["route"] for route in manifest.get("schema", {}).get("routes", [])}
    assert {"/rank", "/explain"} <= routes
    requirements = (bento / "env" / "python" / "requirements.txt").read_text()
    lock = (PROJECT_ROOT / "requirements" / "project.lock").read_text()
    pinned = [line for line in lock.splitlines() if "==" in line and not line.startswith("#")]
    assert pinned and all(line in requirements for line in pinned[:20])
    assert (bento / "src" / "serving" / "service.py").exists()
    assert list((bento / "env" / "python" / "wheels").glob("smartstack-*.whl"))
