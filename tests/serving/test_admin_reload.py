"""``POST /admin/reload``: the pipeline's last task makes the service serve a new champion now,
not at the next poll; only local callers (or the admin token) may ask; no service is a skip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartstack.serving.admin import AdminConfig, Forbidden, authorize
from tests.serving.conftest import Dataset, Server, free_port, online_store

SMARTSTACK = str(Path(sys.executable).parent / "smartstack")


@pytest.fixture(scope="module")
def slow_polling_server(
    dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A service that would not notice a new champion for an hour by itself."""
    home = tmp_path_factory.mktemp("serving-reload")
    env = {**online_store(home, dataset), "SMARTSTACK_SERVING_MODEL_POLL_SECONDS": "3600"}
    server = Server(env, home / "server.log")
    yield server
    server.stop()


def _reload(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SMARTSTACK, "serving", "reload", "--url", url],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip


def served_version(server: Server, customer: str) -> str | None:
    response = server.rank(customer)
    assert response.status_code == 200, response.text
    return response.json()["model"]["version"]


def test_reload_serves_the_new_champion_at_once(slow_polling_server: Server, dataset: Dataset):
    customer = str(dataset.customers.customer_id.iloc[3])
    before = served_version(slow_polling_server, customer)
    client = dataset.registry.client()
    champion = client.get_model_version_by_alias("offer-ranker", "champion").version
    version = dataset.registry.register(dataset.training_frame, dataset.feature_names, trees=6)
    dataset.registry.set_champion(version)
    try:
        assert served_version(slow_polling_server, customer) == before
        done = _reload(slow_polling_server.url)
        assert done.returncode == 0, done.stderr
        served = json.loads(done.stdout.strip().splitlines()[-1])
        assert served == {"model": "offer-ranker", "version": version, "changed": True}
        assert served_version(slow_polling_server, customer) == version
        again = slow_polling_server.http.post("/admin/reload", json={}).json()
        assert again == {"model": "offer-ranker", "version": version, "changed": False}
    finally:
        dataset.registry.set_champion(champion)


def test_reload_without_a_service_is_exit_75_with_a_sentence() -> None:
    done = _reload(f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 75
    assert "not running" in done.stderr and "nothing to reload" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("host", "authorization", "token", "allowed"),
    [
        ("127.0.0.1", None, None, True),
        ("::1", None, None, True),
        ("10.1.2.3", None, None, False),
        ("10.1.2.3", "Bearer s3cret", None, False),
        ("10.1.2.3", "Bearer s3cret", "s3cret", True),
        ("10.1.2.3", "Bearer guess", "s3cret", False),
        (None, None, "s3cret", False),
    ],
)
def test_only_local_callers_or_the_token_may_reload(host, authorization, token, allowed) -> None:
    config = AdminConfig(admin_token=token)
    if allowed:
        authorize(host, authorization, config)
    else:
        with pytest.raises(Forbidden, match="local callers"):
            authorize(host, authorization, config)
