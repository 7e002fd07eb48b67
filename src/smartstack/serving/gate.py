"""The gate in front of the endpoints that answer about one customer.

An ASGI middleware rather than a check inside each endpoint, for two reasons: BentoML answers
every 401 and 403 an endpoint raises with the same "Authorization error" (a caller could not
tell a missing token from another customer's), and the gate can refuse before the request
reaches the ranking at all. It

- refuses a request without a valid bearer token (401, with ``WWW-Authenticate: Bearer``);
- lets the service token through, for any customer;
- reads a customer token's request body and refuses (403) one whose ``customer_id`` is another
  customer's; a body it cannot read passes on to the endpoint's own validation (400);
- marks every answer ``Cache-Control: private, no-store``, so no shared cache keeps one
  customer's offers for another.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartstack.serving.auth import Forbidden, Refused, TokenVerifier, Unauthorized

PRIVATE = "private, no-store"
_PRIVATE_HEADER = (b"cache-control", PRIVATE.encode())


class PersonalRoutes:
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

        try:
            caller = self.verifier.caller(Headers(scope=scope).get("authorization"))
            if caller.is_service:
                await self.app(scope, receive, send_private)
                return
            body, receive = await _buffered(receive)
            asked = _customer_id(body)
            if asked is not None and asked != caller.customer_id:
                raise Forbidden(f"customer_id: this token is for another customer than {asked!r}")
        except Refused as refused:
            headers = {"Cache-Control": PRIVATE}
            if isinstance(refused, Unauthorized):
                headers["WWW-Authenticate"] = 'Bearer realm="smartstack"'
            response = JSONResponse({"error": str(refused)}, int(refused.status), headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send_private)


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
    """The ``customer_id`` a request asks about; None if the body is not an object naming one
    (the endpoint then rejects it with the field's name)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    asked = parsed.get("customer_id") if isinstance(parsed, dict) else None
    return asked if isinstance(asked, str) else None
