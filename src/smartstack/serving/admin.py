"""The operator's endpoints: ``POST /admin/reload`` (load the state from the registries now)
and ``POST /admin/erase`` (erase a customer everywhere).

The service follows the ``champion`` alias and the catalogue's materializations by polling
every ``model_poll_seconds``; the pipeline's last task calls this endpoint instead of waiting
for the next poll, so the model it just promoted and the catalogue it just loaded serve the
next request. Only local callers may use it, or callers presenting the
admin token (the ``serving.admin_token`` setting, ``SMARTSTACK_SERVING_ADMIN_TOKEN``) when one is
configured: it is an operator's switch, not part of the public API.

"Local" is the connection's peer address, a loopback one, never a header: a caller on another
address sending ``X-Forwarded-For: 127.0.0.1`` stays remote (uvicorn trusts that header from a
proxy on this machine only). :class:`AdminGate` also makes a request that a local proxy
forwarded remote, whichever forwarding header it sets, and answers refusals with their reason.
Tokens are compared in constant time (:func:`smartstack.serving.auth.same_secret`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable
from datetime import datetime
from http import HTTPStatus
from typing import Any, Literal

from bentoml.exceptions import BentoMLException
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from smartstack.serving.auth import bearer_token, same_secret
from smartstack.serving.client import RELOAD_ROUTE
from smartstack.serving.state import Refreshed

__all__ = [
    "ADMIN_PREFIX",
    "ERASE_ROUTE",
    "RELOAD_ROUTE",
    "EraseRequest",
    "EraseResponse",
    "AdminGate",
    "ReloadResponse",
    "authorize",
    "reload_response",
]

ADMIN_PREFIX = "/admin/"
ERASE_ROUTE = "/admin/erase"


class Forbidden(BentoMLException):
    error_code = HTTPStatus.FORBIDDEN


class CatalogueInfo(BaseModel):
    offers: int = Field(description="Offers in the catalogue the service ranks from now.")
    as_of: datetime | None = Field(
        description="End of the catalogue's latest materialization (null: none recorded)."
    )
    changed: bool = Field(description="Whether this call swapped in another catalogue.")


class ReloadResponse(BaseModel):
    model: str = Field(description="The registered model whose champion the service follows.")
    version: str | None = Field(description="The version serving now; null: no model (fallback).")
    changed: bool = Field(description="Whether this call swapped in another version.")
    catalogue: CatalogueInfo


class EraseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customer_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class EraseResponse(BaseModel):
    status: Literal["accepted", "already_erased"] = Field(
        description="accepted: suppressed now, the stores are being erased (the audit log "
        "records `erasure_completed`; an interruption is finished by `smartstack privacy "
        "erase --pending`, the daily DAG's first task)."
    )
    customer_ref: str = Field(description="How the audit log names the customer.")


def authorize(
    client_host: str | None,
    authorization: str | None,
    admin_token: SecretStr | None,
    *,
    token_required: bool = False,
) -> None:
    """Raise :class:`Forbidden` unless the caller has the admin token or is on this machine.
    ``token_required``: a configured token is asked of local callers too (erasure: a local
    process is not necessarily the operator)."""
    token = admin_token.get_secret_value() if admin_token else None
    presented = bearer_token(authorization)
    if token and presented is not None and same_secret(presented, token):
        return
    local = client_host is not None and _is_loopback(client_host)
    if local and not (token and token_required):
        return
    raise Forbidden(
        "this endpoint needs the admin token (Authorization: Bearer …)"
        if local
        else "admin endpoints accept local callers, or remote ones with the admin token "
        "(Authorization: Bearer …)"
    )


# Headers by which a proxy says whom it forwards for. uvicorn (BentoML's server) trusts
# ``X-Forwarded-For`` from a proxy on this machine (``forwarded_allow_ips``, 127.0.0.1 and ::1)
# and makes the caller the address it names; the others it ignores, so a request a local proxy
# forwards with only ``X-Real-IP`` or ``Forwarded`` would come from 127.0.0.1: a local caller.
FORWARDING_HEADERS = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-real-ip",
        b"x-client-ip",
        b"true-client-ip",
        b"cf-connecting-ip",
        b"fastly-client-ip",
        b"x-cluster-client-ip",
    }
)
PROXIED = "proxied"


class AdminGate:
    """ASGI middleware before the admin endpoints: :func:`authorize` on every ``/admin/*``
    request, a refusal answered here as JSON with its reason (BentoML answers an endpoint's 403
    with a bare "Authorization error"), and a request a proxy on this machine forwarded (its
    peer is loopback, it carries a forwarding header) is no local caller: its client becomes
    ``proxied``, remote to :func:`authorize` (and to the endpoint's own check after it).
    ``token_required``: the routes that ask a configured token of local callers too."""

    def __init__(
        self,
        app: Any,
        admin_token: SecretStr | None,
        token_required: Collection[str] = (ERASE_ROUTE,),
    ) -> None:
        self.app = app
        self.admin_token = admin_token
        self.token_required = frozenset(r.rstrip("/") for r in token_required)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        host = str(client[0]) if client else None
        headers = scope.get("headers") or ()
        if host is not None and _is_loopback(host) and _forwarded(headers):
            host = PROXIED
            scope = {**scope, "client": (PROXIED, 0)}
        try:
            authorize(
                host,
                Headers(scope=scope).get("authorization"),
                self.admin_token,
                token_required=path.rstrip("/") in self.token_required,
            )
        except Forbidden as refused:
            response = JSONResponse(
                {"error": str(refused)},
                HTTPStatus.FORBIDDEN,
                headers={"Cache-Control": "no-store"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _forwarded(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() in FORWARDING_HEADERS for name, _ in headers)


def reload_response(refreshed: Refreshed) -> ReloadResponse:
    """What a reload did, as the endpoint answers it."""
    return ReloadResponse(
        model=refreshed.model,
        version=refreshed.version,
        changed=refreshed.model_changed,
        catalogue=CatalogueInfo(
            offers=refreshed.offers,
            as_of=refreshed.catalogue_as_of,
            changed=refreshed.catalogue_changed,
        ),
    )


def _is_loopback(host: str) -> bool:
    """Whether the connection's peer address is this machine's loopback. An address only: the
    server gives the peer's (forwarding headers change it only for a proxy on this machine,
    uvicorn's ``forwarded_allow_ips``, and then to the address that proxy forwards for), so a
    name such as ``localhost`` is no local caller."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1, a dual-stack socket's
    return address.is_loopback or (mapped is not None and mapped.is_loopback)
