"""``POST /admin/reload``: make the ranking service check the registry now.

The service follows the ``champion`` alias by polling every ``model_poll_seconds``; the
pipeline's last task calls this endpoint instead of waiting for the next poll, so the model it
just promoted serves the next request. Only local callers may use it, or callers presenting the
admin token (``SMARTSTACK_SERVING_ADMIN_TOKEN``) when one is configured: it is an operator's
switch, not part of the public API.
"""

from __future__ import annotations

import hmac
import ipaddress
from http import HTTPStatus

from bentoml.exceptions import BentoMLException
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartstack.serving.client import RELOAD_ROUTE
from smartstack.serving.model import ModelHolder

__all__ = ["RELOAD_ROUTE", "AdminConfig", "ReloadResponse", "authorize", "reload_champion"]


class Forbidden(BentoMLException):
    error_code = HTTPStatus.FORBIDDEN


class AdminConfig(BaseSettings):
    """Who may call the admin endpoints besides local callers."""

    model_config = SettingsConfigDict(env_prefix="SMARTSTACK_SERVING_", extra="ignore")

    admin_token: SecretStr | None = Field(
        None, description="Bearer token that remote callers of /admin/* must present."
    )


class ReloadResponse(BaseModel):
    model: str = Field(description="The registered model whose champion the service follows.")
    version: str | None = Field(description="The version serving now; null: no model (fallback).")
    changed: bool = Field(description="Whether this call swapped in another version.")


def authorize(client_host: str | None, authorization: str | None, config: AdminConfig) -> None:
    """Raise :class:`Forbidden` unless the caller is on this machine or has the admin token."""
    token = config.admin_token.get_secret_value() if config.admin_token else None
    if token and authorization and hmac.compare_digest(authorization, f"Bearer {token}"):
        return
    if client_host is not None and _is_loopback(client_host):
        return
    raise Forbidden(
        "admin endpoints accept local callers, or remote ones with the admin token "
        "(Authorization: Bearer …)"
    )


def reload_champion(models: ModelHolder) -> ReloadResponse:
    """Check the alias now and swap in the version it points at."""
    before = models.current.version if models.current else None
    models.refresh()
    after = models.current.version if models.current else None
    return ReloadResponse(model=models.name, version=after, changed=after != before)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
