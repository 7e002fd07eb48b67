""":class:`AdminGate`: a request a proxy on this machine forwards is not a local caller of the
admin endpoints, and a refusal says why.

Over real HTTP, on uvicorn configured as BentoML configures it (its default proxy headers:
``X-Forwarded-For`` trusted from 127.0.0.1 and ::1), with admin endpoints that ask
:func:`authorize` as the ranking service's do. The peer is loopback, as a local proxy's is;
what the proxy says about whom it forwards for decides."""

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

from smartstack.serving.admin import ERASE_ROUTE, RELOAD_ROUTE, AdminGate, Forbidden, authorize
from tests.conftest import free_port

TOKEN = "proxied-admin-token"


def _endpoint(token_required: bool):  # noqa: ANN202
    async def endpoint(request: Request) -> JSONResponse:
        """The endpoint's own check, as the service's ``_admin`` makes it."""
        client = request.client
        try:
            authorize(
                client.host if client else None,
                request.headers.get("authorization"),
                SecretStr(TOKEN),
                token_required=token_required,
            )
        except Forbidden:
            return JSONResponse({"error": "Authorization error"}, status_code=403)  # BentoML's
        return JSONResponse({"caller": client.host if client else None})

    return endpoint


def _admin_app() -> Starlette:
    return Starlette(
        routes=[
            Route(RELOAD_ROUTE, _endpoint(token_required=False), methods=["POST"]),
            Route(ERASE_ROUTE, _endpoint(token_required=True), methods=["POST"]),
        ]
    )


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
    yield from _serve(AdminGate(_admin_app(), SecretStr(TOKEN)))


@pytest.fixture(scope="module")
def unguarded() -> Iterator[str]:
    yield from _serve(_admin_app())


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
    assert "admin token" in refused.json()["error"]  # the reason, not "Authorization error"
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


def test_a_refusal_says_why(guarded: str) -> None:
    wrong = {"Authorization": "Bearer not-the-token"}
    for url, headers, reason in [
        (f"{guarded}{ERASE_ROUTE}", {}, "this endpoint needs the admin token"),
        (f"{guarded}{ERASE_ROUTE}", wrong, "this endpoint needs the admin token"),
        (f"{guarded}{RELOAD_ROUTE}", {"X-Real-IP": "203.0.113.9", **wrong}, "local callers"),
    ]:
        refused = httpx.post(url, headers=headers)
        assert refused.status_code == 403, refused.text
        assert reason in refused.json()["error"]
        assert TOKEN not in refused.text
    granted = httpx.post(f"{guarded}{ERASE_ROUTE}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert granted.status_code == 200, granted.text
