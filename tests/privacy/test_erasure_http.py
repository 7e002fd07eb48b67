"""``POST /admin/erase`` on a real ``bentoml serve``: the admin token, bad input, an unknown id,
and a customer the worker holds in memory erased everywhere while it serves."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pandas as pd
import pytest

from smartstack.erasure.scan import Needles, scan
from smartstack.privacy.audit import AuditLog
from smartstack.settings import Settings
from tests.conftest import BuiltHome
from tests.serving.conftest import TEST_SERVING, Server, configured

pytestmark = pytest.mark.slow

ADMIN = "test-admin-token"


@pytest.fixture(scope="module")
def server(built: BuiltHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("erasure-http")
    settings = configured(
        built.copy(folder / "home"),
        serving={**TEST_SERVING, "admin_token": ADMIN, "model_poll_seconds": 1.0},
    )
    server = Server(settings, folder / "bentoml.log")
    yield server
    server.stop()


def _erase(server: Server, body: object, token: str | None = ADMIN):  # noqa: ANN202
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return server.http.post("/admin/erase", json=body, headers=headers)


def _customers(settings: Settings) -> list[str]:
    return sorted(pd.read_parquet(settings.raw_dir / "customers")["customer_id"])


def test_erasure_needs_the_admin_token_even_locally(server: Server) -> None:
    customer = _customers(server.settings)[0]
    for token in (None, "wrong"):
        refused = _erase(server, {"customer_id": customer}, token)
        assert refused.status_code == 403, refused.text
    assert customer not in "".join(
        str(r) for r in AuditLog.from_settings(server.settings).records()
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "customer_id"), ({"customer_id": ""}, "customer_id"), ({"customer_id": 7}, "customer_id"),
     ({"customer_id": "a b"}, "customer_id"), ({"customer_id": "x", "extra": 1}, "extra")],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field(server: Server, body: object, field: str) -> None:
    response = _erase(server, body)
    assert response.status_code == 400, response.text
    assert field in response.text


def test_an_unknown_id_is_a_404_and_nothing_is_recorded(server: Server) -> None:
    before = list(AuditLog.from_settings(server.settings).records())
    response = _erase(server, {"customer_id": "NOBODY-123"})
    assert response.status_code == 404
    assert "unknown to every store" in response.text
    assert list(AuditLog.from_settings(server.settings).records()) == before


def test_a_served_customer_is_erased_from_every_store_and_every_memory(server: Server) -> None:
    settings = server.settings
    customer = _customers(settings)[-1]
    needles = Needles.for_customer(settings, customer)
    ranked = server.rank(customer)
    assert ranked.status_code == 200 and ranked.json()["tier"] == "model"
    assert scan(settings, needles)  # the customer is there before

    accepted = _erase(server, {"customer_id": customer})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "accepted"
    audit = AuditLog.from_settings(settings)
    deadline = time.monotonic() + 120
    while not any(r["action"] == "erasure_completed" for r in audit.records()):
        assert time.monotonic() < deadline, list(audit.records())
        time.sleep(0.5)

    # Asked again while it serves: answered without anything personal, and nothing kept.
    again = server.rank(customer)
    assert again.status_code == 200 and again.json()["tier"] == "popularity"
    time.sleep(1.5)  # the ranking log's flush interval
    # A name may be another customer's too: the id and the values that are the customer's own.
    found = scan(settings, needles)
    assert [f for f in found if f.needle_kind != "full_name"] == [], found
    assert _erase(server, {"customer_id": customer}).json()["status"] == "already_erased"
    assert audit.verify() == []
    assert [r["actor"] for r in audit.records() if r["action"] == "erasure_requested"] == [
        "admin@127.0.0.1"
    ]


def test_reloads_are_audited(server: Server) -> None:
    response = server.http.post("/admin/reload", json={})
    assert response.status_code == 200, response.text
    reloads = [
        r for r in AuditLog.from_settings(server.settings).records() if r["action"] == "reload"
    ]
    assert reloads and reloads[-1]["details"]["version"] == response.json()["version"]
