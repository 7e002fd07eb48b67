"""The customer's web app next to the API: its files, its configuration and the local sign-in.

Mounted into the BentoML service (``serving/service.py``) so the app and the API share one
origin (no CORS, one URL to print):

- ``/app/``: the built app (``web/dist``), with headers an edge cache such as Cloudflare honours:
  Vite's content-hashed ``assets/`` are immutable for a year, everything else (``index.html``)
  is revalidated on every load, so a new build reaches browsers at once;
- ``/app/config.json``: how to sign in and which clock to show offers for;
- ``/auth/customers``, ``/auth/token``: the local profile's sign-in page lists sample customers
  and signs a token for the one picked; off (404) unless ``auth.local_sign_in``.

"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pyarrow.dataset as ds
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from smartstack.events.contracts import CustomerId, describe
from smartstack.serving.auth import TokenVerifier
from smartstack.serving.gate import PRIVATE
from smartstack.settings import Settings

APP_PATH = "/app"
AUTH_PATH = "/auth"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Sample customers the local sign-in page lists.
SAMPLE_CUSTOMERS = 12
# The dataset clock starts this long before the data set's snapshot (its last moment), so
# offers that end with the snapshot are still valid when the app opens.
DATASET_CLOCK_LEAD = timedelta(hours=12)


class CachedStaticFiles(StaticFiles):
    """Static files with the cache policy of a Vite build: hashed assets forever, the rest
    revalidated."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
        status_code: int = 200,
    ) -> Response:  # fmt: skip
        response = super().file_response(full_path, stat_result, scope, status_code)
        served = Path(full_path).resolve().relative_to(Path(self.directory).resolve())
        hashed = served.parts[0] == "assets" and status_code == 200
        response.headers["Cache-Control"] = IMMUTABLE if hashed else REVALIDATE
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        """A missing file is not cached either: the next deploy may bring it."""
        try:
            return await super().get_response(path, scope)
        except HTTPException as missing:
            headers = {**(missing.headers or {}), "Cache-Control": "no-store"}
            raise HTTPException(missing.status_code, missing.detail, headers) from None


class AppConfig(BaseModel):
    """``GET /app/config.json``: what the app needs to know before it signs anyone in."""

    sign_in: Literal["local", "external"] = Field(
        description="local: this service's sign-in page; external: the identity provider's."
    )
    customer_claim: str = Field(description="The token claim that names the customer.")
    as_of: datetime | None = Field(
        description="The clock to show offers for (null: now); the data set's, locally."
    )
    channel: str


class SampleCustomer(BaseModel):
    customer_id: str
    card_product: str
    description: str


class SampleCustomers(BaseModel):
    """``GET /auth/customers``: whom the local sign-in page offers."""

    customers: list[SampleCustomer]


class IssuedTokenOut(BaseModel):
    """``POST /auth/token``: a signed token for the customer asked for."""

    token: str
    customer_id: str
    expires_at: datetime


def app_config(settings: Settings) -> dict[str, Any]:
    """What the app needs to know before it signs anyone in."""
    return {
        "sign_in": "local" if settings.auth.local_sign_in else "external",
        "customer_claim": settings.auth.customer_claim,
        "as_of": _dataset_now(settings).isoformat() if settings.web.clock == "dataset" else None,
        "channel": "web",
    }


def _dataset_now(settings: Settings) -> datetime:
    from smartstack.featurestore.store import snapshot_time

    return snapshot_time(settings) - DATASET_CLOCK_LEAD


def web_app(settings: Settings) -> Starlette:
    """``/app``: the built app and its configuration."""

    async def config(_: Request) -> Response:
        return JSONResponse(app_config(settings), headers={"Cache-Control": REVALIDATE})

    routes: list[Route | Mount] = [Route("/config.json", config)]
    dist = settings.web.dist_dir
    if (dist / "index.html").is_file():
        routes.append(Mount("/", CachedStaticFiles(directory=dist, html=True)))
    else:

        async def not_built(_: Request) -> Response:
            return PlainTextResponse("The web app is not built: run `make web`.", 503)

        routes.append(Route("/{path:path}", not_built))
    return Starlette(routes=routes)


class TokenRequest(BaseModel):
    """``POST /auth/token``: whom to sign in as."""

    model_config = ConfigDict(extra="forbid", strict=True)

    customer_id: CustomerId


def sign_in_app(settings: Settings, verifier: TokenVerifier) -> Starlette:
    """``/auth``: sample customers and a signed token for one of them (local profile only)."""
    signer = verifier if settings.auth.local_sign_in else None

    def refused() -> Response:
        return JSONResponse(
            {"error": "local sign-in is off here: tokens come from the identity provider"}, 404
        )

    async def customers(_: Request) -> Response:
        if signer is None:
            return refused()
        return JSONResponse(
            {"customers": sample_customers(settings.raw_dir / "customers")},
            headers={"Cache-Control": PRIVATE},
        )

    async def token(request: Request) -> Response:
        if signer is None:
            return refused()
        try:
            asked = TokenRequest.model_validate_json(await request.body())
        except ValidationError as error:
            return JSONResponse({"error": describe(error)}, 400)
        issued = signer.issue(asked.customer_id)
        return JSONResponse(
            {
                "token": issued.token,
                "customer_id": issued.customer_id,
                "expires_at": issued.expires_at.isoformat(),
            },
            headers={"Cache-Control": PRIVATE},
        )

    return Starlette(
        routes=[Route("/customers", customers), Route("/token", token, methods=["POST"])]
    )


def sample_customers(customers_table: Path, n: int = SAMPLE_CUSTOMERS) -> list[dict[str, str]]:
    """The first ``n`` customers of the raw customers table, as the sign-in page lists them
    (no direct identifiers: those live in ``customer_pii`` only)."""
    if not customers_table.exists():
        return []
    columns = ["customer_id", "card_product", "tenure_months", "region"]
    rows = ds.dataset(customers_table).head(n, columns=columns).to_pylist()
    return [
        {
            "customer_id": row["customer_id"],
            "card_product": row["card_product"] or "",
            "description": ", ".join(
                part
                for part in (
                    f"{row['card_product']} card" if row["card_product"] else None,
                    f"{row['tenure_months']} months" if row["tenure_months"] is not None else None,
                    row["region"],
                )
                if part
            ),
        }
        for row in rows
    ]


def published_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    """The web app's JSON endpoints as the service's OpenAPI document lists them, and the
    schemas they refer to (``serving.contract``'s ``Error`` for their errors)."""
    schemas: dict[str, Any] = {}

    def body(model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}

    def error(description: str) -> dict[str, Any]:
        schema = {"$ref": "#/components/schemas/Error"}
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    off = error("Local sign-in is off here: tokens come from the identity provider.")
    paths = {
        f"{APP_PATH}/config.json": {
            "get": {
                "tags": ["Web app"],
                "description": AppConfig.__doc__,
                "responses": {"200": {"description": "OK", "content": body(AppConfig)}},
            }
        },
        f"{AUTH_PATH}/customers": {
            "get": {
                "tags": ["Web app"],
                "description": SampleCustomers.__doc__,
                "responses": {
                    "200": {"description": "OK", "content": body(SampleCustomers)},
                    "404": off,
                },
            }
        },
        f"{AUTH_PATH}/token": {
            "post": {
                "tags": ["Web app"],
                "description": IssuedTokenOut.__doc__,
                "requestBody": {"required": True, "content": body(TokenRequest)},
                "responses": {
                    "200": {"description": "OK", "content": body(IssuedTokenOut)},
                    "400": error("The body is malformed JSON or names no valid customer id."),
                    "404": off,
                    "413": error("The body is larger than the service accepts."),
                    "415": error("The body is not application/json."),
                },
            }
        },
    }
    return paths, schemas
