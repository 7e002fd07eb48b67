"""``POST /admin/reload``: the pipeline's last task makes the service serve a new champion and a
new catalogue now, not at the next poll; only local callers (or the admin token) may ask; no
service is a skip."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from smartstack.serving.admin import Forbidden, authorize
from tests.conftest import project_environment
from tests.serving.conftest import NEW_OFFER_FROM, Dataset, Server, free_port, publish_offer

SMARTSTACK = str(Path(sys.executable).parent / "smartstack")


def _reload(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SMARTSTACK, "serving", "reload", "--url", url],
        capture_output=True, text=True, timeout=60, env=project_environment(),
    )  # fmt: skip


def served_version(server: Server, customer: str) -> str | None:
    response = server.rank(customer)
    assert response.status_code == 200, response.text
    return response.json()["model"]["version"]


def test_reload_serves_the_new_champion_at_once(sqlite_server: Server, dataset: Dataset) -> None:
    customer = str(dataset.customers.customer_id.iloc[3])
    champion = sqlite_server.registry.champion()
    assert served_version(sqlite_server, customer) == champion
    version = sqlite_server.registry.register(
        dataset.training_frame, dataset.feature_names, trees=6
    )
    sqlite_server.registry.set_champion(version)
    try:
        # The service polls the registry once an hour: nothing changes by itself.
        assert served_version(sqlite_server, customer) == champion
        done = _reload(sqlite_server.url)
        assert done.returncode == 0, done.stderr
        served = json.loads(done.stdout.strip().splitlines()[-1])
        assert (served["model"], served["version"], served["changed"]) == (
            "offer-ranker", version, True
        )
        assert served["catalogue"]["offers"] == len(dataset.offers)
        assert served_version(sqlite_server, customer) == version
        again = sqlite_server.reload()
        assert (again["version"], again["changed"]) == (version, False)
    finally:
        sqlite_server.registry.set_champion(champion)
        sqlite_server.reload()


def test_a_new_offer_is_rankable_after_a_reload_without_a_restart(
    sqlite_server: Server, dataset: Dataset
) -> None:
    offer_id = "OFR-NEW-1"
    customer = str(dataset.customers.customer_id.iloc[8])
    context = {"channel": "app", "timestamp": (NEW_OFFER_FROM + timedelta(days=2)).isoformat()}
    asked = {"candidate_offer_ids": [offer_id], "context": context}
    unknown = sqlite_server.rank(customer, **asked)
    assert unknown.status_code == 400 and offer_id in unknown.text

    publish_offer(sqlite_server.settings, offer_id, NEW_OFFER_FROM)
    reloaded = sqlite_server.reload()
    assert reloaded["catalogue"]["changed"] is True
    assert reloaded["catalogue"]["offers"] == len(dataset.offers) + 1

    ranked = sqlite_server.rank(customer, **asked)
    assert ranked.status_code == 200, ranked.text
    body = ranked.json()
    assert body["tier"] == "model"
    assert [o["offer_id"] for o in body["offers"]] == [offer_id]
    assert body["offers"][0]["reasons"], "scored by the model from its materialized features"


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
        ("10.1.2.3", "bearer  s3cret ", "s3cret", True),
        ("10.1.2.3", "s3cret", "s3cret", False),
        ("10.1.2.3", "Bearer s3cre\u00e9", "s3cret", False),  # compare_digest: no TypeError
        ("10.1.2.3", "Bearer \udcff", "s3cret", False),
        ("10.1.2.3", "Bearer s3cret", "s3cr\u00e9t", False),
        ("10.1.2.3", "Bearer s3cr\u00e9t", "s3cr\u00e9t", True),
        ("localhost", None, None, False),  # a peer is an address; a name is no local caller
        ("::ffff:127.0.0.1", None, None, True),
        ("::ffff:10.1.2.3", None, None, False),
        (None, None, "s3cret", False),
    ],
)
def test_only_local_callers_or_the_token_may_reload(host, authorization, token, allowed) -> None:
    secret = SecretStr(token) if token else None
    if allowed:
        authorize(host, authorization, secret)
    else:
        with pytest.raises(Forbidden, match="local callers"):
            authorize(host, authorization, secret)
