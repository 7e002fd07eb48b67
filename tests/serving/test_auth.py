"""Bearer tokens of the customer-facing endpoints: the platform's own HS256 tokens, RS256 tokens
from an identity provider's JWKS served over real HTTP, and the service token."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import SecretStr

from smartstack.serving.auth import AuthNotConfigured, TokenVerifier, Unauthorized
from smartstack.settings import AuthSettings, Settings

KEY = "a-test-signing-key-of-at-least-thirty-two-bytes"
SERVICE = "a-service-token"


def verifier(**changes: object) -> TokenVerifier:
    values: dict[str, object] = {"signing_key": SecretStr(KEY), "service_token": SecretStr(SERVICE)}
    return TokenVerifier(AuthSettings(**(values | changes)))


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_customer_token_names_its_customer_and_the_service_token_none() -> None:
    auth = verifier()
    caller = auth.caller(bearer(auth.issue("CUST-1").token))
    assert caller.customer_id == "CUST-1" and not caller.is_service
    assert auth.caller(bearer(SERVICE)).is_service


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "sign in first"),
        ("", "sign in first"),
        ("Basic abc", "must be 'Bearer <token>'"),
        ("Bearer", "must be 'Bearer <token>'"),
        ("Bearer not-a-jwt", "not a JWT"),
        ("Bearer " + SERVICE + "x", "not a JWT"),
    ],
)
def test_missing_or_malformed_headers_are_unauthorized(header: str | None, message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        verifier().caller(header)


def test_expired_foreign_and_wrongly_addressed_tokens_are_unauthorized() -> None:
    auth = verifier()
    old = auth.issue("CUST-1", now=datetime.now(UTC) - timedelta(days=1)).token
    with pytest.raises(Unauthorized, match="expired"):
        auth.caller(bearer(old))
    claims = {"sub": "CUST-1", "aud": "smartstack", "exp": datetime.now(UTC) + timedelta(hours=1)}
    forged = jwt.encode(claims, "another-key-of-at-least-thirty-two-bytes!", algorithm="HS256")
    with pytest.raises(Unauthorized, match="Signature verification failed"):
        auth.caller(bearer(forged))
    elsewhere = jwt.encode({**claims, "aud": "another-app"}, KEY, algorithm="HS256")
    with pytest.raises(Unauthorized, match="Audience"):
        auth.caller(bearer(elsewhere))
    no_expiry = jwt.encode({"sub": "CUST-1", "aud": "smartstack"}, KEY, algorithm="HS256")
    with pytest.raises(Unauthorized, match="exp"):
        auth.caller(bearer(no_expiry))
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(Unauthorized, match="none are not accepted"):
        auth.caller(bearer(unsigned))


def test_an_issuer_when_configured_must_match() -> None:
    ours = verifier(issuer="https://bank.example")
    token = ours.issue("CUST-1").token
    assert ours.caller(bearer(token)).customer_id == "CUST-1"
    with pytest.raises(Unauthorized, match="Invalid issuer"):
        verifier(issuer="https://other.example").caller(bearer(token))


class JwksServer:
    """An identity provider's key set over HTTP, as a bank's would publish it."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        body = json.dumps({"keys": [jwk | {"kid": "bank-1", "use": "sig", "alg": "RS256"}]})
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, customer: str, kid: str = "bank-1") -> str:
        claims = {
            "sub": customer,
            "aud": "smartstack",
            "iss": "https://bank.example",
            "exp": datetime.now(UTC) + timedelta(minutes=5),
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def bank() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.server.shutdown()


def test_rs256_tokens_verify_against_the_identity_providers_jwks(bank: JwksServer) -> None:
    auth = TokenVerifier(AuthSettings(jwks_url=bank.url, issuer="https://bank.example"))
    for _ in range(3):
        assert auth.caller(bearer(bank.token("CUST-7"))).customer_id == "CUST-7"
    assert bank.fetches == 1  # the key set is cached
    assert auth.caller(bearer(bank.token("CUST-8"))).customer_id == "CUST-8"
    with pytest.raises(Unauthorized, match="no identity-provider key"):
        auth.caller(bearer(bank.token("CUST-7", kid="rotated-away")))
    # Without a signing key of its own, the platform accepts no HS256 token at all.
    hs = jwt.encode(
        {"sub": "CUST-7", "aud": "smartstack", "exp": datetime.now(UTC) + timedelta(hours=1)},
        KEY,
        algorithm="HS256",
    )
    with pytest.raises(Unauthorized, match="HS256 are not accepted here \\(only RS256\\)"):
        auth.caller(bearer(hs))
    with pytest.raises(AuthNotConfigured):
        auth.issue("CUST-7")


def test_the_prod_profile_starts_with_no_key_and_no_local_sign_in() -> None:
    prod = Settings(_env_file=None, profile="prod")
    assert prod.auth.signing_key is None and not prod.auth.local_sign_in
    with pytest.raises(AuthNotConfigured, match="SMARTSTACK_AUTH_JWKS_URL"):
        TokenVerifier(prod.auth)
    local = Settings(_env_file=None, profile="local")
    assert local.auth.local_sign_in and local.auth.service_token is not None
    configured = Settings(
        _env_file=None, profile="prod", auth={"jwks_url": "https://bank.example/jwks"}
    )
    assert configured.auth.jwks_url and not configured.auth.local_sign_in
