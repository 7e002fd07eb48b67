"""The gate in front of the endpoints that answer about one customer.

An ASGI middleware rather than a check inside each endpoint, for two reasons: BentoML answers
every 401 and 403 an endpoint raises with the same "Authorization error" (a caller could not
tell a missing token from another customer's), and the gate can refuse before the request
reaches the ranking at all. It

- refuses a request without a valid bearer token (401, with ``WWW-Authenticate: Bearer``);
- lets the service token through, for any customer;
- fails closed for a customer token: the body must be JSON (415 otherwise: BentoML would also
  parse a form, which the gate does not read) and an object whose ``customer_id`` is the
  token's own (400 if it names none, 403 if it names another customer);
- marks every answer ``Cache-Control: private, no-store``, so no shared cache keeps one
  customer's offers for another.

Which routes it guards is decided by the service: every API route but the admin ones (which
have their own check), so a new endpoint is guarded unless it is made public on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus

import anyio
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartstack.serving.auth import Caller, Forbidden, Refused, TokenVerifier, Unauthorized

PRIVATE = "private, no-store"
_PRIVATE_HEADER = (b"cache-control", PRIVATE.encode())


class NotJson(Refused):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class NoCustomer(Refused):
    status = HTTPStatus.BAD_REQUEST


class PersonalRoutes:
    """ASGI middleware: the token check, the customer check and the cache header (see the
    module's docstring) on ``routes``; every other path passes untouched."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, routes: Iterable[str]) -> None:
        self.app = app
        self.verifier = verifier
        self.routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.routes:
            await self.app(scope, receive, send)
            return

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [h for h in message.get("headers", []) if h[0] != b"cache-control"]
                message["headers"] = [*kept, _PRIVATE_HEADER]
            await send(message)

        headers = Headers(scope=scope)
        try:
            caller = await self._caller(headers.get("authorization"))
            if caller.is_service:
                await self.app(scope, receive, send_private)
                return
            media_type = headers.get("content-type", "application/json").split(";")[0].strip()
            if media_type.lower() != "application/json":
                raise NotJson(f"a customer's requests are application/json, not {media_type}")
            body, receive = await _buffered(receive)
            asked = _customer_id(body)
            if asked is None:
                raise NoCustomer("customer_id: required (a JSON object naming the customer)")
            if asked != caller.customer_id:
                raise Forbidden(f"customer_id: this token is for another customer than {asked!r}")
        except Refused as refused:
            headers = {"Cache-Control": PRIVATE}
            if isinstance(refused, Unauthorized):
                headers["WWW-Authenticate"] = 'Bearer realm="smartstack"'
            response = JSONResponse({"error": str(refused)}, int(refused.status), headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send_private)

    async def _caller(self, authorization: str | None) -> Caller:
        """The verified caller; off the event loop when verifying may fetch the identity
        provider's keys over the network (the event loop also serves ``/rank``)."""
        if self.verifier.may_fetch_keys:
            return await anyio.to_thread.run_sync(self.verifier.caller, authorization)
        return self.verifier.caller(authorization)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a ``receive`` that hands it to the endpoint again (then
    waits on the connection as the original does)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


def _customer_id(body: bytes) -> str | None:
    """The ``customer_id`` a request asks about; None if the body is not a JSON object naming
    one."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    asked = parsed.get("customer_id") if isinstance(parsed, dict) else None
    return asked if isinstance(asked, str) else None
