"""A request a proxy on this machine forwards is not a local caller of the admin endpoints.

Over real HTTP, on uvicorn configured as BentoML configures it (its default proxy headers:
``X-Forwarded-For`` trusted from 127.0.0.1 and ::1): an app whose ``/admin/reload`` asks
:func:`authorize` exactly as the ranking service does. The peer is loopback, as a local
proxy's is; what the proxy says about whom it forwards for decides."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from smartstack.serving.admin import Forbidden, ProxiedIsRemote, authorize
from tests.conftest import free_port

TOKEN = "proxied-admin-token"


async def _reload(request: Request) -> JSONResponse:
    client = request.client
    try:
        authorize(
            client.host if client else None,
            request.headers.get("authorization"),
            SecretStr(TOKEN),
        )
    except Forbidden as refused:
        return JSONResponse({"error": str(refused)}, status_code=403)
    return JSONResponse({"caller": client.host if client else None})


def _serve(app: object) -> Iterator[str]:
    port = free_port()
    # As _bentoml_impl/worker/service.py builds it: proxy_headers and forwarded_allow_ips left
    # at uvicorn's defaults.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()


@pytest.fixture(scope="module")
def guarded() -> Iterator[str]:
    yield from _serve(
        ProxiedIsRemote(Starlette(routes=[Route("/admin/reload", _reload, methods=["POST"])]))
    )


@pytest.fixture(scope="module")
def unguarded() -> Iterator[str]:
    yield from _serve(Starlette(routes=[Route("/admin/reload", _reload, methods=["POST"])]))


FORWARDED_FOR_A_REMOTE_CALLER = [
    {"X-Real-IP": "203.0.113.9"},
    {"Forwarded": "for=203.0.113.9;proto=https"},
    {"X-Forwarded-For": "203.0.113.9"},
    {"X-Forwarded-For": "127.0.0.1"},  # a proxy passing on what the caller claimed
    {"x-client-ip": "203.0.113.9"},
    {"True-Client-IP": "203.0.113.9"},
]


@pytest.mark.parametrize("headers", FORWARDED_FOR_A_REMOTE_CALLER, ids=lambda h: str(h))
def test_a_request_a_local_proxy_forwards_needs_the_token(
    guarded: str, headers: dict[str, str]
) -> None:
    refused = httpx.post(f"{guarded}/admin/reload", headers=headers)
    assert refused.status_code == 403, refused.text
    assert "admin token" in refused.json()["error"]
    admitted = httpx.post(
        f"{guarded}/admin/reload", headers={**headers, "Authorization": f"Bearer {TOKEN}"}
    )
    assert admitted.status_code == 200, admitted.text


def test_a_local_caller_without_a_proxy_is_local(guarded: str) -> None:
    local = httpx.post(f"{guarded}/admin/reload", headers={"Host": "localhost"})
    assert local.status_code == 200, local.text
    assert local.json()["caller"] == "127.0.0.1"


def test_without_the_middleware_only_x_forwarded_for_is_understood(unguarded: str) -> None:
    """Why the middleware: uvicorn makes an X-Forwarded-For's remote address the caller, but a
    proxy that says it another way forwards a 'local' caller."""
    remote = httpx.post(f"{unguarded}/admin/reload", headers={"X-Forwarded-For": "203.0.113.9"})
    assert remote.status_code == 403, remote.text
    for headers in ({"X-Real-IP": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
        passed = httpx.post(f"{unguarded}/admin/reload", headers=headers)
        assert passed.status_code == 200, passed.text
        assert passed.json()["caller"] == "127.0.0.1"
