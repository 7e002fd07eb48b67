"""The web app's side of the service over HTTP: who may ask about whom, the cache headers an
edge cache honours, the app's files and configuration, and the local sign-in."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from conftest import REQUEST_TIME, Dataset, Server
from starlette.testclient import TestClient

from smartstack.serving.auth import TokenVerifier
from smartstack.serving.web import sign_in_app, web_app
from smartstack.settings import Settings


def _bodies(customer: str, offer: str) -> dict[str, dict]:
    """One valid request per endpoint that answers about ``customer``."""
    context = {"channel": "web", "timestamp": REQUEST_TIME}
    return {
        "/rank": {"customer_id": customer, "context": context, "k": 2},
        "/explain": {"customer_id": customer, "offer_id": offer, "context": context},
        "/engagement": {"customer_id": customer, "timestamp": REQUEST_TIME},
        "/feedback": {
            "event_id": uuid.uuid4().hex,
            "kind": "click",
            "customer_id": customer,
            "offer_id": offer,
            "occurred_at": REQUEST_TIME,
            "request_id": "r" * 32,
        },
        "/quiz": {
            "event_id": uuid.uuid4().hex,
            "customer_id": customer,
            "answered_at": REQUEST_TIME,
            "favourite_category": "travel",
            "reward_preference": "rewards",
            "planning_travel": True,
        },
    }


def _token(server: Server, customer: str) -> str:
    response = httpx.post(f"{server.url}/auth/token", json={"customer_id": customer})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    return response.json()["token"]


def test_every_personal_endpoint_wants_a_token_and_refuses_another_customers(
    sqlite_server: Server, dataset: Dataset
) -> None:
    customers = list(dataset.customers.customer_id)
    mine, theirs = customers[-11], customers[-12]
    offer = str(dataset.offers.offer_id.iloc[0])
    token = _token(sqlite_server, mine)
    with httpx.Client(base_url=sqlite_server.url, timeout=10) as browser:
        for route, body in _bodies(theirs, offer).items():
            anonymous = browser.post(route, json=body)
            assert anonymous.status_code == 401, (route, anonymous.text)
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            assert "sign in" in anonymous.json()["error"]
            other = browser.post(route, json=body, headers={"Authorization": f"Bearer {token}"})
            assert other.status_code == 403, (route, other.text)
            assert other.json()["error"].startswith("customer_id: ")
            assert other.headers["cache-control"] == "private, no-store"
        garbled = browser.post("/rank", json={}, headers={"Authorization": "Bearer x.y.z"})
        assert garbled.status_code == 401 and "token" in garbled.json()["error"]
        # Its own customer's answers, marked for no shared cache.
        for route, body in _bodies(mine, offer).items():
            if route == "/explain":
                continue  # may answer 404 (no features); the gate's part is tested above
            own = browser.post(route, json=body, headers={"Authorization": f"Bearer {token}"})
            assert own.status_code == 200, (route, own.text)
            assert own.headers["cache-control"] == "private, no-store"
        # A malformed body with a valid token reaches the endpoint's own validation.
        bad = browser.post(
            "/rank", json={"customer_id": mine}, headers={"Authorization": f"Bearer {token}"}
        )
        assert bad.status_code == 400 and "context" in bad.text


def test_a_customer_token_gets_nothing_the_gate_cannot_read(
    sqlite_server: Server, dataset: Dataset
) -> None:
    """Fails closed: BentoML would also parse a form body, which the gate does not read."""
    mine, theirs = (str(c) for c in dataset.customers.customer_id.iloc[-16:-14])
    auth = {"Authorization": f"Bearer {_token(sqlite_server, mine)}"}
    with httpx.Client(base_url=sqlite_server.url, timeout=10) as browser:
        form = browser.post("/engagement", data={"customer_id": theirs}, headers=auth)
        assert form.status_code == 415 and "application/json" in form.json()["error"]
        multipart = browser.post("/engagement", files={"customer_id": (None, theirs)}, headers=auth)
        assert multipart.status_code == 415
        # Nested deeper than a parser recurses, within serving.max_body_bytes (64 KiB).
        for body in (b"[]", b'{"customer_id": 7}', b"{", b"[" * 60_000):
            response = browser.post(
                "/engagement", content=body, headers={**auth, "Content-Type": "application/json"}
            )
            assert response.status_code == 400, (body[:20], response.text)
            assert response.json()["error"].startswith("customer_id: required")
        odd = browser.post(
            "/engagement", json={"customer_id": mine}, headers={"Authorization": b"Bearer \xe9"}
        )
        assert odd.status_code == 401
        # The service token's form bodies are the endpoint's business (as before).
        service = sqlite_server.http.post("/engagement", json={"customer_id": mine})
        assert service.status_code == 200


def test_every_endpoint_of_the_api_but_the_admin_ones_wants_a_token(sqlite_server: Server) -> None:
    """Deny by default: an endpoint added later is guarded without anyone listing it; the admin
    endpoints check their own caller."""
    spec = httpx.get(f"{sqlite_server.url}/docs.json").json()
    # The API's endpoints: the local sign-in (/auth/token) is public on purpose.
    endpoints = [
        path
        for path, ops in spec["paths"].items()
        if "post" in ops and not path.startswith("/auth/")
    ]
    assert {
        "/rank",
        "/feedback",
        "/engagement",
        "/consent",
        "/admin/reload",
        "/admin/erase",
    } <= set(endpoints)
    for path in endpoints:
        answer = httpx.post(f"{sqlite_server.url}{path}", json={})
        assert (answer.status_code == 401) == (not path.startswith("/admin/")), (path, answer.text)


def test_the_service_token_asks_about_any_customer(sqlite_server: Server, dataset: Dataset) -> None:
    customer = str(dataset.customers.customer_id.iloc[-13])
    response = sqlite_server.rank(customer, k=2)  # the test client carries the service token
    assert response.status_code == 200 and response.json()["customer_id"] == customer
    assert response.headers["cache-control"] == "private, no-store"


def test_ranked_offers_say_what_the_offer_is_and_what_each_reason_means(
    sqlite_server: Server, dataset: Dataset
) -> None:
    response = sqlite_server.rank(str(dataset.customers.customer_id.iloc[-14]), k=3)
    offers = response.json()["offers"]
    assert offers
    raw = dataset.offers.set_index("offer_id")
    for ranked in offers:
        card = ranked["offer"]
        assert card["headline"] == raw.loc[ranked["offer_id"], "headline"]
        assert card["valid_to"].startswith(str(raw.loc[ranked["offer_id"], "valid_to"].date()))
        assert card["value"]
        for reason in ranked["reasons"]:
            assert reason["label"] and "_" not in reason["label"]


def test_the_app_is_served_with_an_edge_cache_policy(
    sqlite_server: Server, web_build: Path
) -> None:
    page = httpx.get(f"{sqlite_server.url}/app/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    assets = re.findall(r'(?:src|href)="(/app/assets/[^"]+)"', page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        response = httpx.get(f"{sqlite_server.url}{asset}")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    config = httpx.get(f"{sqlite_server.url}/app/config.json").json()
    # The data set ends in the past: the app's clock starts before its snapshot.
    assert config["sign_in"] == "local" and config["as_of"] < "2026-06-30"
    missing = httpx.get(f"{sqlite_server.url}/app/assets/nothing-here.js")
    assert missing.status_code == 404


def test_the_sign_in_page_lists_sample_customers_and_checks_its_input(
    sqlite_server: Server, dataset: Dataset
) -> None:
    listed = httpx.get(f"{sqlite_server.url}/auth/customers").json()["customers"]
    assert 0 < len(listed) <= 12
    assert {c["customer_id"] for c in listed} <= set(dataset.customers.customer_id)
    assert all(c["description"] for c in listed)
    bad = httpx.post(f"{sqlite_server.url}/auth/token", json={"customer_id": "not an id!"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("customer_id: ")
    extra = httpx.post(f"{sqlite_server.url}/auth/token", json={"customer": "CUST-1"})
    assert extra.status_code == 400 and "customer_id" in extra.json()["error"]


def test_hashed_assets_are_immutable_and_nothing_else_is(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    for name in ("index.html", "assets/app-1a2b.js", "assets/fonts/x-3c4d.woff2", "img/assets.png"):
        (dist / name).parent.mkdir(parents=True, exist_ok=True)
        (dist / name).write_text("x")
    settings = Settings(_env_file=None, web={"dist_dir": dist, "clock": "wall"})
    with TestClient(web_app(settings)) as client:
        cache = {path: client.get(path).headers.get("cache-control") for path in (
            "/", "/index.html", "/assets/app-1a2b.js", "/assets/fonts/x-3c4d.woff2",
            "/img/assets.png", "/config.json",
        )}  # fmt: skip
        missing = client.get("/assets/gone-5e6f.js")
    immutable = "public, max-age=31536000, immutable"
    assert cache == {
        "/": "no-cache",
        "/index.html": "no-cache",
        "/assets/app-1a2b.js": immutable,
        "/assets/fonts/x-3c4d.woff2": immutable,
        "/img/assets.png": "no-cache",
        "/config.json": "no-cache",
    }
    assert missing.status_code == 404 and missing.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("route", ["/customers", "/token"])
def test_local_sign_in_is_off_in_prod(route: str) -> None:
    settings = Settings(
        _env_file=None, profile="prod", auth={"jwks_url": "https://bank.example/jwks"}
    )
    with TestClient(sign_in_app(settings, TokenVerifier(settings.auth))) as client:
        response = client.request(
            "POST" if route == "/token" else "GET", route, json={"customer_id": "CUST-1"}
        )
    assert response.status_code == 404
    assert "identity provider" in response.json()["error"]
