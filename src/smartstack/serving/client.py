"""HTTP calls to a running ranking service, for the pipeline and the run command.

``reload`` asks the service to pick up a newly promoted champion now (``POST /admin/reload``);
``rank`` asks for one customer's offers, as a server-to-server caller (the service token). A
service that is not listening raises :class:`ServingUnreachable`, which callers treat as "nothing
to tell", not as a failure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

RELOAD_ROUTE = "/admin/reload"


class ServingUnreachable(Exception):
    """Nothing answers at the service's address."""


class ServingError(Exception):
    """The service answered with an error; the message carries its status and body."""


def reload(url: str, token: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """``POST /admin/reload``: the service checks the registry now; returns what it serves."""
    return _post(url, RELOAD_ROUTE, {}, _bearer(token), timeout)


def rank(
    url: str,
    customer_id: str,
    at: datetime,
    k: int = 3,
    channel: str = "app",
    timeout: float = 30.0,
    token: str | None = None,
) -> dict[str, Any]:
    """``POST /rank`` for one customer as of ``at``, with the service token if given."""
    body = {
        "customer_id": customer_id,
        "context": {"channel": channel, "timestamp": at.isoformat()},
        "k": k,
    }
    return _post(url, "/rank", body, _bearer(token), timeout)


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _post(
    url: str, route: str, body: dict[str, Any], headers: dict[str, str], timeout: float
) -> dict[str, Any]:
    try:
        response = httpx.post(url.rstrip("/") + route, json=body, headers=headers, timeout=timeout)
    except (httpx.ConnectError, httpx.ConnectTimeout) as error:
        raise ServingUnreachable(f"the ranking service is not running at {url}") from error
    if response.status_code >= 400:
        raise ServingError(f"{route} answered {response.status_code}: {response.text[:500]}")
    return response.json()
