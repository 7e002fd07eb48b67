"""``POST /admin/reload``: make the ranking service load its state from the registries now.

The service follows the ``champion`` alias and the catalogue's materializations by polling
every ``model_poll_seconds``; the pipeline's last task calls this endpoint instead of waiting
for the next poll, so the model it just promoted and the catalogue it just loaded serve the
next request. Only local callers may use it, or callers presenting the
admin token (the ``serving.admin_token`` setting, ``SMARTSTACK_SERVING_ADMIN_TOKEN``) when one is
configured: it is an operator's switch, not part of the public API.
"""

from __future__ import annotations

import hmac
import ipaddress
from datetime import datetime
from http import HTTPStatus

from bentoml.exceptions import BentoMLException
from pydantic import BaseModel, Field, SecretStr

from smartstack.serving.client import RELOAD_ROUTE
from smartstack.serving.state import Refreshed

__all__ = ["RELOAD_ROUTE", "ReloadResponse", "authorize", "reload_response"]


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


def authorize(
    client_host: str | None, authorization: str | None, admin_token: SecretStr | None
) -> None:
    """Raise :class:`Forbidden` unless the caller is on this machine or has the admin token."""
    token = admin_token.get_secret_value() if admin_token else None
    if token and authorization and hmac.compare_digest(authorization, f"Bearer {token}"):
        return
    if client_host is not None and _is_loopback(client_host):
        return
    raise Forbidden(
        "admin endpoints accept local callers, or remote ones with the admin token "
        "(Authorization: Bearer …)"
    )


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
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
