"""`smartstack dbt docs` generates the documentation site on the local target."""

from __future__ import annotations

import json

import pytest
from dbt_build_helpers import Build, run_smartstack

pytestmark = pytest.mark.slow


def test_docs_generate_on_the_local_target(full_build: Build) -> None:
    assert full_build.returncode == 0, full_build.output[-4000:]
    docs = run_smartstack(["dbt", "docs"], full_build.home, full_build.data_dir)
    assert docs.returncode == 0, docs.output[-4000:]
    target = full_build.home / "dbt" / "target"
    assert (target / "index.html").is_file()
    catalog = json.loads((target / "catalog.json").read_text())
    documented = {node.split(".")[-1] for node in catalog["nodes"]}
    assert {"customer_spend_features", "offer_features", "training_impressions"} <= documented
