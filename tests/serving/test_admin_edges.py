"""The admin endpoints' edges over real HTTP, on a ``bentoml serve`` listening on every
address: a caller on another address of this machine is remote (whatever forwarding headers
it sends), the admin token is compared as a secret (wrong, odd or non-ASCII: a 403, never a
500), a local caller is still local, and no answer carries a traceback or a path of ours."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from smartstack.paths import PROJECT_ROOT
from tests.conftest import BuiltHome
from tests.serving.conftest import TEST_SERVING, Server, configured

pytestmark = pytest.mark.slow

ADMIN = "edge-admin-token-5f1c"
SPOOFS = [
    {"X-Forwarded-For": "127.0.0.1"},
    {"X-Forwarded-For": "127.0.0.1, 127.0.0.1"},
    {"Forwarded": "for=127.0.0.1"},
    {"Forwarded": 'for="[::1]"'},
    {"X-Real-IP": "127.0.0.1"},
    {"X-Forwarded-Host": "localhost", "X-Client-IP": "127.0.0.1"},
    {"Host": "localhost"},
    {"Host": "127.0.0.1", "X-Forwarded-For": "::1", "Forwarded": "for=localhost"},
]


def _external_address() -> str:
    """An address of this machine that is not a loopback one (the caller it gives is remote
    to the service, though on the same machine)."""
    candidates = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    for address in candidates:
        if ":" in address:
            continue
        try:
            with socket.create_connection((address, 9), timeout=0.2):
                pass
        except ConnectionRefusedError:
            return address  # reachable (nothing listens on 9): a usable address
        except OSError:
            continue
    if os.environ.get("CI") == "true":
        pytest.fail("no non-loopback IPv4 address on this machine: remote callers untestable")
    pytest.skip("no non-loopback IPv4 address on this machine")


# Secrets the service holds besides the admin token, each a marker its log must not show.
SECRETS = {
    "llm": {"api_key": SecretStr("MARK-llm-key-e1")},
    "privacy": {"hash_key": SecretStr("MARK-hash-key-e2")},
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("admin-edges")


@pytest.fixture(scope="module")
def exposed(built: BuiltHome, folder: Path) -> Iterator[Server]:
    home = built.copy(folder / "home")
    settings = configured(
        home.model_copy(update={"redis_url": "redis://:MARK-redis-pass-e3@127.0.0.1:9/0"}),
        serving={**TEST_SERVING, "admin_token": ADMIN, "model_poll_seconds": 3600},
        **SECRETS,
    )
    server = Server(settings, folder / "bentoml.log", host="0.0.0.0")  # noqa: S104
    yield server
    server.stop()


@pytest.fixture(scope="module")
def remote(exposed: Server) -> Iterator[httpx.Client]:
    """A client whose requests reach the service from a non-loopback address."""
    address = _external_address()
    with httpx.Client(base_url=f"http://{address}:{exposed.port}", timeout=30) as client:
        yield client


def _leaks(response: httpx.Response) -> list[str]:
    body = response.text
    return [
        m for m in ("Traceback", str(PROJECT_ROOT), "/work/", '.py"', ".py'", 'File "') if m in body
    ]


def test_a_remote_caller_is_seen_as_remote(remote: httpx.Client) -> None:
    refused = remote.post("/admin/reload", json={})
    assert refused.status_code == 403, refused.text


@pytest.mark.parametrize("headers", SPOOFS, ids=lambda h: ",".join(h))
def test_forwarding_headers_do_not_make_a_remote_caller_local(
    remote: httpx.Client, headers: dict[str, str]
) -> None:
    refused = remote.post("/admin/reload", json={}, headers=headers)
    assert refused.status_code == 403, refused.text
    assert not _leaks(refused)


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {ADMIN}x",
        f"Bearer {ADMIN[:-1]}",
        ADMIN,
        f"Basic {ADMIN}",
        "Bearer",
        "Bearer " + "A" * 4000,
        f"Bearer {ADMIN}\u00e9".encode("latin-1"),
        f"Bearer {ADMIN[:-1]}\u00ff".encode("latin-1"),
        b"Bearer \xe2\x82\xac",
    ],
    ids=repr,
)
def test_a_wrong_admin_token_is_a_403_never_a_500(
    remote: httpx.Client, exposed: Server, authorization: str | bytes
) -> None:
    headers = {"Authorization": authorization}
    for response in (
        remote.post("/admin/reload", json={}, headers=headers),
        remote.post("/admin/erase", json={"customer_id": "CUST-0000001"}, headers=headers),
        # A local caller's token is checked too where one is required (erasure).
        exposed.http.post("/admin/erase", json={"customer_id": "CUST-0000001"}, headers=headers),
    ):
        assert response.status_code == 403, response.text
        assert "error" in response.text and not _leaks(response)
        assert ADMIN not in response.text


@pytest.mark.parametrize("authorization", [f"Bearer {ADMIN}", f"bearer  {ADMIN}"])
def test_the_admin_token_admits_a_remote_caller(remote: httpx.Client, authorization: str) -> None:
    headers = {"Authorization": authorization, "X-Forwarded-For": "198.51.100.7"}
    reloaded = remote.post("/admin/reload", json={}, headers=headers)
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["model"] == "offer-ranker"


def test_a_local_caller_is_still_local(exposed: Server) -> None:
    local = httpx.post(f"{exposed.url}/admin/reload", json={}, timeout=30)
    assert local.status_code == 200, local.text


def test_a_remote_request_a_local_proxy_forwards_is_remote(exposed: Server) -> None:
    """A proxy on this machine that says whom it forwards for (X-Forwarded-For, appended to
    whatever the client claimed) forwards a remote caller: refused without the token."""
    for forwarded in ("203.0.113.9", "127.0.0.1, 203.0.113.9"):
        refused = httpx.post(
            f"{exposed.url}/admin/reload",
            json={},
            headers={"X-Forwarded-For": forwarded},
            timeout=30,
        )
        assert refused.status_code == 403, refused.text


@pytest.mark.parametrize(
    ("method", "path", "content", "headers"),
    [
        ("POST", "/admin/reload", b"{", {"Content-Type": "application/json"}),
        ("POST", "/admin/erase", b"\xff\xfe", {"Content-Type": "application/json"}),
        ("POST", "/admin/erase", b"[]", {"Content-Type": "application/json"}),
        ("POST", "/admin/erase", b'{"customer_id": "x"}', {"Content-Type": "text/plain"}),
        ("GET", "/admin/erase", b"", {}),
        ("POST", "/admin/nothing-here", b"{}", {}),
        ("POST", "/rank", b"{", {"Content-Type": "application/json"}),
        ("POST", "/rank", b'{"customer_id": {"$ne": 1}}', {"Content-Type": "application/json"}),
        ("POST", "/rank", b"{}", {"Authorization": "Bearer not.a.jwt"}),
        ("POST", "/rank", b"{}", {"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}),
        ("POST", "/explain", b"\x00" * 64, {"Content-Type": "application/json"}),
        ("GET", "/auth/token", b"", {}),
        ("POST", "/auth/token", b"{", {"Content-Type": "application/json"}),
    ],
)
def test_no_answer_shows_a_traceback_or_a_path(
    exposed: Server,
    remote: httpx.Client,
    method: str,
    path: str,
    content: bytes,
    headers: dict[str, str],
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"} if path.startswith("/admin/") else {}
    for client in (remote, exposed.http):
        response = client.request(method, path, content=content, headers={**admin, **headers})
        assert response.status_code < 500 or response.status_code == 503, response.text
        assert not _leaks(response), response.text


def test_the_service_log_shows_no_secret(
    exposed: Server, remote: httpx.Client, folder: Path
) -> None:
    """Refusals and failures are logged (BentoML logs each with its traceback): never with the
    token a caller presented or a secret of the settings."""
    wrong = {"Authorization": f"Bearer {ADMIN}-MARK-guess-e4"}
    assert remote.post("/admin/reload", json={}, headers=wrong).status_code == 403
    assert remote.post("/admin/erase", content=b"{", headers=wrong).status_code in (400, 403)
    granted = {"Authorization": f"Bearer {ADMIN}"}
    assert remote.post("/admin/reload", json={}, headers=granted).status_code == 200
    assert exposed.http.post("/rank", content=b"{").status_code == 400
    log = (folder / "bentoml.log").read_text(errors="replace")
    assert "Application startup complete" in log or "Starting production" in log, log[-2000:]
    markers = [ADMIN, "MARK-llm-key-e1", "MARK-hash-key-e2", "MARK-redis-pass-e3", "MARK-guess"]
    assert not [m for m in markers if m in log], log[-3000:]
    auth = exposed.settings.auth
    for secret in (auth.signing_key, auth.service_token):
        assert secret is not None and secret.get_secret_value() not in log
