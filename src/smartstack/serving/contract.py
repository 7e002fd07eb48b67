"""What the ranking service promises over HTTP: the requests it reads and the document it
publishes.

- :class:`RequestBodies` (ASGI middleware, in front of everything else the service adds) reads
  a request body only if it is JSON and small enough: a body over ``serving.max_body_bytes``
  gets 413 before any of it is parsed (by its ``Content-Length`` at once, or as it streams
  in), a media type other than ``application/json`` gets 415 (without one, JSON is assumed,
  as BentoML does). Malformed JSON is BentoML's to refuse (400, ``json_invalid``).
- :func:`published_document` is the OpenAPI document ``GET /docs.json`` answers: BentoML's,
  corrected to say what the service does. It is OpenAPI 3.1 (the pydantic models' JSON Schema
  is 2020-12: ``{"type": "null"}``, numeric ``exclusiveMinimum``), every status an endpoint
  answers is listed with the body it carries (errors are ``{"error": …}``, validation errors
  add ``detail``), the bearer tokens are declared, and the web app's own JSON endpoints are
  in it. tests/serving/test_fuzz.py fuzzes the service against it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCUMENT_PATH = "/docs.json"
JSON = "application/json"
# Methods whose requests carry a body the service reads.
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})

ERROR = "Error"
_REF = "#/components/schemas/{}"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": ERROR,
    "description": "Why the request was not answered. Validation errors (400) say which "
    "field in `detail`; nothing else is ever in an error body.",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What went wrong, in words."},
        "detail": {
            "type": "array",
            "description": "Validation errors (400 only): one per field refused.",
            "items": {
                "type": "object",
                "required": ["type", "loc", "msg"],
                "properties": {
                    "type": {"type": "string", "description": "e.g. missing, json_invalid"},
                    "loc": {
                        "type": "array",
                        "items": {"type": ["string", "integer"]},
                        "description": "Where in the body (empty: the body as a whole).",
                    },
                    "msg": {"type": "string"},
                    "url": {"type": "string"},
                },
            },
        },
    },
}
_ERROR_DESCRIPTIONS = {
    400: "The body is malformed JSON or not what the endpoint takes (`detail` says where).",
    401: "No bearer token, or one that does not verify (`WWW-Authenticate: Bearer`).",
    403: "The token may not have this answer (another customer's, or not the admin token).",
    404: "Nothing known by that id.",
    413: "The body is larger than the service accepts (`serving.max_body_bytes`).",
    415: "The body is not application/json.",
    429: "Too many requests in progress.",
    500: "An unexpected error (the server log has the details; the body never does).",
    503: "Not available now: retry later.",
    504: "Not answered within the service's timeout.",
}


class RequestBodies:
    """ASGI middleware: refuses a request body that is too large (413) or not JSON (415)
    before anything reads it; see the module's docstring."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refused = self._refusal(headers)
        if refused is None:
            body, too_large = await _read(receive, self.max_body_bytes)
            if too_large:
                refused = self._too_large()
            else:
                receive = _replay(body, receive)
        if refused is not None:
            await refused(scope, _drained(), send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, headers: Headers) -> JSONResponse | None:
        """What the headers alone say is refused, if anything."""
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                return _error(400, f"Content-Length is not a number of bytes: {length[:40]!r}")
            if int(length) > self.max_body_bytes:
                return self._too_large()
        content_type = headers.get("content-type")
        if content_type is not None:
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type != JSON:
                shown = media_type[:60] or "an empty Content-Type"
                return _error(415, f"the body must be {JSON}, not {shown}")
        return None

    def _too_large(self) -> JSONResponse:
        return _error(413, f"the body is larger than the {self.max_body_bytes} bytes accepted")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": message}, status, {"Connection": "close"} if status == 413 else None
    )


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole body and False, or nothing and True once the bytes read pass ``limit`` (the
    rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the body read to the app, then waits on the connection."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _drained() -> Receive:
    """A ``receive`` for a refusal: the response does not read the body."""

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    return nothing


class PublishedDocument:
    """ASGI middleware: ``GET /docs.json`` answers :func:`published_document` (built once, on
    the first request); every other request passes untouched."""

    def __init__(self, app: ASGIApp, document: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self._make = document
        self._document: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != DOCUMENT_PATH:
            await self.app(scope, receive, send)
            return
        if self._document is None:
            self._document = json.dumps(self._make()).encode()
        response = JSONResponse(None)
        response.body = self._document
        response.init_headers()
        await response(scope, receive, send)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(statuses: Iterable[int]) -> dict[str, Any]:
    return {str(s): _json(_ref(ERROR), _ERROR_DESCRIPTIONS[s]) for s in statuses}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _faithful(content: dict[str, Any], schemas: dict[str, Any]) -> None:
    """The body's model as a reference to its component: BentoML writes it inline without the
    ``null`` of its optional fields (a request may send null, a response does)."""
    media = content.get("content", {}).get(JSON)
    title = media.get("schema", {}).get("title") if media else None
    if title in schemas:
        media["schema"] = _ref(title)


def published_document(
    bentoml_spec: dict[str, Any],
    *,
    personal: Iterable[str],
    admin: Iterable[str],
    statuses: dict[str, dict[int, str | None]],
    extra_paths: dict[str, Any],
    extra_schemas: dict[str, Any],
) -> dict[str, Any]:
    """BentoML's document (``bentoml_spec``) as the service answers.

    ``personal``: routes behind the customer gate (bearer token; 401, 403, and 415 for a
    customer's non-JSON body); ``admin``: the operator's routes (admin token or a local
    caller; 403). ``statuses``: per route, what it answers besides 200 and the errors every
    endpoint may give: a status and the component schema of its body (``Error`` or a
    model's). ``extra_paths``/``extra_schemas``: the web app's endpoints and their models.
    """
    document = json.loads(json.dumps(bentoml_spec))  # a copy, with JSON's string keys
    document["openapi"] = "3.1.0"
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("InvalidArgument", "NotFound", "InternalServerError", "TaskStatusResponse"):
        schemas.pop(name, None)  # BentoML's error bodies: the service answers `Error`
    schemas[ERROR] = ERROR_SCHEMA
    schemas.update(extra_schemas)
    components["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "A customer's token (JWT: asks about that customer only) or the "
            "service token (server-to-server: any customer).",
        },
        "adminToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "The admin token (`serving.admin_token`); without one configured, "
            "local callers need none.",
        },
    }
    personal, admin = frozenset(personal), frozenset(admin)
    paths = document["paths"]
    common = (400, 413, 415, 429, 500, 504)
    for route, item in paths.items():
        operation = item.get("post")
        if operation is None:  # BentoML's infrastructure endpoints
            continue
        for content in (operation.get("requestBody", {}), operation["responses"]["200"]):
            _faithful(content, schemas)
        responses = {"200": operation["responses"]["200"]}
        responses.update(_errors(common))
        if route in personal:
            responses.update(_errors((401, 403)))
            operation["security"] = [{"bearerAuth": []}]
        elif route in admin:
            responses.update(_errors((403,)))
            operation["security"] = [{"adminToken": []}, {}]
        for status, schema in statuses.get(route, {}).items():
            if schema == ERROR:
                responses.update(_errors((status,)))
            else:  # None: the 200's body
                body = _ref(schema) if schema else responses["200"]["content"][JSON]["schema"]
                responses[str(status)] = _json(body, HTTPStatus(status).phrase)
        operation["responses"] = dict(sorted(responses.items()))
        request = operation.get("requestBody")
        if request is not None and request["content"][JSON]["schema"].get("required"):
            request["required"] = True
    for route in ("/healthz", "/livez"):
        if route in paths:
            paths[route]["get"]["responses"] = {"200": _text("Alive.")}
    if "/readyz" in paths:
        paths["/readyz"]["get"]["responses"] = {
            "200": _text("Ready to answer."),
            "503": _text("Still starting: the model or the catalogue is not loaded yet."),
        }
    if "/metrics" in paths:
        paths["/metrics"]["get"]["responses"] = {
            "200": _text("Prometheus' text exposition format.")
        }
    paths.update(extra_paths)
    return document
