"""Who is asking: the bearer token of the endpoints the customer's web app calls.

A customer's browser presents a JWT whose ``sub`` (``auth.customer_claim``) is their customer
id, and may ask only about that customer: a token for A asking about B is refused (403), a
request without a token too (401). Tokens are verified with PyJWT: HS256 with the platform's own
key (the local sign-in page signs them), RS256 with the keys a bank's identity provider
publishes as a JWKS (``auth.jwks_url``): PyJWT's client keeps the key set for 5 minutes and
fetches it again after that, or (at most every 30 s) for a key id it does not hold, so a key
the provider withdraws stops verifying within minutes. Server-to-server callers (the pipeline,
load tests, a bank's back end) present the service token instead and may ask about any customer.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import jwt

from smartstack.settings import AuthSettings

# Longest wait for the identity provider's key set; a slower provider fails the request (401)
# rather than the whole worker.
_JWKS_TIMEOUT_S = 5


def same_secret(given: str, expected: str) -> bool:
    """Whether ``given`` is the secret ``expected``, in a time that tells nothing of where they
    differ (:func:`hmac.compare_digest` on their bytes: any characters, a header's Latin-1 ones
    or an environment's escaped bytes, never an error)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case), else
    None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class Refused(Exception):
    """The caller may not have the answer; ``status`` is the HTTP status that says why."""

    status = HTTPStatus.UNAUTHORIZED


class Unauthorized(Refused):
    """No token, or one that does not verify (HTTP 401)."""


class Forbidden(Refused):
    """A valid caller asking for what it may not have (HTTP 403)."""

    status = HTTPStatus.FORBIDDEN


class AuthNotConfigured(ValueError):
    """Neither a signing key nor an identity provider: no token could ever verify."""


@dataclass(frozen=True)
class Caller:
    """A verified caller: a customer, or a service (``customer_id`` None) acting for any."""

    customer_id: str | None

    @property
    def is_service(self) -> bool:
        return self.customer_id is None


@dataclass(frozen=True)
class IssuedToken:
    """A token the platform signed, and what the app needs to know of it."""

    token: str
    customer_id: str
    expires_at: datetime


class TokenVerifier:
    """Verifies bearer tokens, and signs the local profile's own."""

    def __init__(self, config: AuthSettings) -> None:
        if config.signing_key is None and config.jwks_url is None:
            raise AuthNotConfigured(
                "no way to verify tokens: set SMARTSTACK_AUTH_JWKS_URL (the identity provider's "
                "keys) or SMARTSTACK_AUTH_SIGNING_KEY (HS256)"
            )
        self._config = config
        self._key = config.signing_key.get_secret_value() if config.signing_key else None
        self._service = config.service_token.get_secret_value() if config.service_token else None
        self._jwks = (
            jwt.PyJWKClient(config.jwks_url, cache_keys=False, timeout=_JWKS_TIMEOUT_S)
            if config.jwks_url
            else None
        )

    @property
    def may_fetch_keys(self) -> bool:
        """Whether verifying may wait on the identity provider (a JWKS fetch)."""
        return self._jwks is not None

    def caller(self, authorization: str | None) -> Caller:
        """Who the ``Authorization`` header says is asking, verified."""
        if not authorization:
            raise Unauthorized("sign in first: send Authorization: Bearer <token>")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Authorization must be 'Bearer <token>'")
        if self._service is not None and same_secret(token, self._service):
            return Caller(customer_id=None)
        customer = self._claims(token).get(self._config.customer_claim)
        if not isinstance(customer, str) or not customer:
            claim = self._config.customer_claim
            raise Unauthorized(f"the token names no customer (claim {claim!r})")
        return Caller(customer_id=customer)

    def issue(self, customer_id: str, now: datetime | None = None) -> IssuedToken:
        """A token for ``customer_id`` signed with the platform's own key (local sign-in)."""
        if self._key is None:
            raise AuthNotConfigured("tokens are signed by the identity provider here, not by us")
        issued = now or datetime.now(UTC)
        expires = issued + timedelta(minutes=self._config.token_minutes)
        claims: dict[str, object] = {
            self._config.customer_claim: customer_id,
            "aud": self._config.audience,
            "iat": issued,
            "exp": expires,
        }
        if self._config.issuer:
            claims["iss"] = self._config.issuer
        token = jwt.encode(claims, self._key, algorithm="HS256")
        return IssuedToken(token=token, customer_id=customer_id, expires_at=expires)

    def _claims(self, token: str) -> dict[str, object]:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise Unauthorized("the bearer token is not a JWT") from None
        key = self._key_for(token, algorithm)
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[str(algorithm)],
                audience=self._config.audience,
                issuer=self._config.issuer,
                options={"require": ["exp", self._config.customer_claim]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired: sign in again") from None
        except jwt.PyJWTError as error:
            raise Unauthorized(f"the token does not verify: {error}") from None

    def _key_for(self, token: str, algorithm: object) -> object:
        if algorithm == "HS256" and self._key is not None:
            return self._key
        if algorithm == "RS256" and self._jwks is not None:
            try:
                return self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as error:
                raise Unauthorized(f"no identity-provider key verifies it: {error}") from None
        accepted = ("HS256",) * (self._key is not None) + ("RS256",) * (self._jwks is not None)
        raise Unauthorized(
            f"tokens signed with {algorithm} are not accepted here (only {', '.join(accepted)})"
        )
