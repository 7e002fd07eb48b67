"""`smartstack dbt docs` generates the documentation site on the local target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dbt_build_helpers import run_smartstack

from tests.conftest import BuiltHome

pytestmark = pytest.mark.slow


def test_docs_generate_on_the_local_target(built: BuiltHome, tmp_path: Path) -> None:
    # In a copy: generating docs rewrites dbt's target folder, which other tests read.
    settings = built.copy(tmp_path / "home")
    docs = run_smartstack(["dbt", "docs"], settings.home, settings.data_dir)
    assert docs.returncode == 0, docs.output[-4000:]
    target = settings.home / "dbt" / "target"
    assert (target / "index.html").is_file()
    catalog = json.loads((target / "catalog.json").read_text())
    documented = {node.split(".")[-1] for node in catalog["nodes"]}
    assert {"customer_spend_features", "offer_features", "training_impressions"} <= documented
