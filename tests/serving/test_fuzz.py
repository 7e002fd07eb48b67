"""The ranking service fuzzed over its own OpenAPI document (``GET /docs.json``) with
schemathesis: every operation in it, schema-valid and schema-invalid requests, on a real
``bentoml serve``. No request may get a server error, and every answer (error bodies included)
must have a status, a content type and a body the document publishes. Then the requests a
fuzzer does not think of: a body that is not JSON, malformed JSON, a body over
``serving.max_body_bytes``.

Reproducible: a fixed seed and a bounded number of examples per operation (CI runs exactly
these requests). The server is this module's own (erasures and feedback change its stores).
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import BuiltHome, project_environment
from tests.messaging.openai_server import OpenAICompatibleServer
from tests.serving.conftest import (
    LLM_MODEL,
    TEST_SERVING,
    Server,
    configured,
    service_authorization,
)

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
SEED = 20_261_204
# Test cases per operation and phase: the fuzzing takes well under a minute here.
MAX_EXAMPLES = 40
ADMIN_TOKEN = "fuzz-admin-token"
MAX_BODY_BYTES = 16_384
# Every request answered without a server error, with a status, content type, headers and body
# the document publishes; schema-invalid requests refused (4xx); the methods an endpoint does
# not take answered 405. (Not positive_data_acceptance: a schema-valid request may still name
# an unknown customer or offer, 404 or 400 by design.)
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
)


@pytest.fixture(scope="module")
def fuzzed_server(
    built: BuiltHome, llm: OpenAICompatibleServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server of its own (the fuzzer erases customers and records events), with an admin
    token (so ``/admin/erase`` checks it) and a smaller body limit than the default."""
    root = tmp_path_factory.mktemp("serving-fuzz")
    settings = configured(
        built.copy(root / "home"),
        serving={
            **TEST_SERVING,
            "model_poll_seconds": 3600,
            "explain_deadline_s": 1,
            "admin_token": SecretStr(ADMIN_TOKEN),
            "max_body_bytes": MAX_BODY_BYTES,
        },
        llm={"base_url": llm.base_url, "model": LLM_MODEL, "api_key": SecretStr("sk-test")},
    )
    server = Server(settings, root / "server.log")
    yield server
    server.stop()


def authorization(server: Server, path: str) -> dict[str, str]:
    """The admin token for the operator's endpoints, the service token for the others (so
    requests reach the endpoints' code, not only the token check)."""
    if path.startswith("/admin/"):
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return service_authorization(server.settings)


def _config(server: Server) -> str:
    """schemathesis.toml: the tokens (generated ones would only ever get 401) and the checks."""
    service = service_authorization(server.settings)["Authorization"]
    checks = "\n".join(f"{check}.enabled = true" for check in CHECKS)
    return f"""
headers = {{ Authorization = {json.dumps(service)} }}

[generation]
with-security-parameters = false

[checks]
enabled = false
{checks}

[[operations]]
include-path-regex = "^/admin/"
headers = {{ Authorization = "Bearer {ADMIN_TOKEN}" }}
"""


def test_every_operation_answers_as_published(fuzzed_server: Server, tmp_path: Path):
    """schemathesis run over the whole document (a new endpoint is fuzzed without a change
    here), with a fixed seed and a bounded number of examples."""
    (tmp_path / "schemathesis.toml").write_text(_config(fuzzed_server))
    junit = tmp_path / "junit.xml"
    done = subprocess.run(
        [
            SCHEMATHESIS,
            "--config-file",
            str(tmp_path / "schemathesis.toml"),
            "run",
            f"{fuzzed_server.url}/docs.json",
            "--url",
            fuzzed_server.url,
            "--mode",
            "all",
            "--seed",
            str(SEED),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--generation-database",
            "none",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--report",
            "junit",
            "--report-junit-path",
            str(junit),
            "--no-color",
        ],
        cwd=tmp_path,
        env=project_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-20_000:] + done.stderr[-3000:]
    document = fuzzed_server.http.get("/docs.json").json()
    published = {
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    }
    fuzzed = {case.get("name") for case in ElementTree.parse(junit).iter("testcase")}
    assert fuzzed == published, done.stdout[-5000:]


def test_the_document_lists_every_endpoint(fuzzed_server: Server):
    document = fuzzed_server.http.get("/docs.json").json()
    assert document["openapi"].startswith("3.1")
    listed = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    for route in ("/rank", "/explain", "/feedback", "/quiz", "/consent", "/engagement"):
        assert ("POST", route) in listed
        assert "401" in document["paths"][route]["post"]["responses"]
    assert {("POST", "/admin/reload"), ("POST", "/admin/erase")} <= listed
    assert {
        ("GET", "/app/config.json"),
        ("GET", "/auth/customers"),
        ("POST", "/auth/token"),
    } <= listed
    assert {("GET", "/livez"), ("GET", "/readyz"), ("GET", "/metrics")} <= listed


RANK = {"customer_id": "CUST-0000001", "context": {"channel": "app"}}


def _assert_plain_error(response: httpx.Response) -> str:
    """An error body as published: ``{"error": …}``, no trace or path of the server's."""
    body = response.json()
    assert isinstance(body, dict) and isinstance(body["error"], str), body
    for leak in ("Traceback", "/site-packages/", '.py"', "/work/", 'File "'):
        assert leak not in response.text
    return body["error"]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/xml",
    ],
)
@pytest.mark.parametrize(
    "route", ["/rank", "/engagement", "/feedback", "/admin/reload", "/auth/token"]
)
def test_a_body_that_is_not_json_gets_415(fuzzed_server: Server, route: str, content_type: str):
    response = httpx.post(
        fuzzed_server.url + route,
        content=b'{"customer_id": "CUST-0000001"}',
        headers={**authorization(fuzzed_server, route), "Content-Type": content_type},
    )
    assert response.status_code == 415, response.text
    message = _assert_plain_error(response)
    assert "application/json" in message and content_type.split(";")[0] in message


@pytest.mark.parametrize("route", ["/rank", "/explain", "/quiz", "/consent", "/admin/erase"])
@pytest.mark.parametrize("body", [b'{"customer_id": "CUST-0000001",', b"{'a': 1}", b"\xff\xfe"])
def test_malformed_json_gets_400_that_says_so(fuzzed_server: Server, route: str, body: bytes):
    response = httpx.post(
        fuzzed_server.url + route,
        content=body,
        headers={**authorization(fuzzed_server, route), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    _assert_plain_error(response)
    problems = response.json()["detail"]
    assert [p["type"] for p in problems] == ["json_invalid"]
    assert "JSON" in problems[0]["msg"]


def test_malformed_json_to_the_sign_in_gets_400(fuzzed_server: Server):
    response = httpx.post(
        fuzzed_server.url + "/auth/token",
        content=b'{"customer_id": ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert "JSON" in _assert_plain_error(response)


@pytest.mark.parametrize("route", ["/rank", "/feedback", "/admin/reload", "/auth/token"])
def test_a_body_over_the_limit_gets_413(fuzzed_server: Server, route: str):
    padding = "x" * MAX_BODY_BYTES
    body = {**RANK, "candidate_offer_ids": [padding]}
    response = httpx.post(
        fuzzed_server.url + route, json=body, headers=authorization(fuzzed_server, route)
    )
    assert response.status_code == 413, response.text
    assert str(MAX_BODY_BYTES) in _assert_plain_error(response)


def test_a_streamed_body_over_the_limit_gets_413(fuzzed_server: Server):
    """No Content-Length (chunked): refused once the bytes read pass the limit."""

    def chunks() -> Iterator[bytes]:
        yield b'{"customer_id": "CUST-0000001", "context": {"channel": "app"}, "pad": "'
        for _ in range(8):
            yield b"x" * (MAX_BODY_BYTES // 4)
        yield b'"}'

    response = httpx.post(
        fuzzed_server.url + "/rank",
        content=chunks(),
        headers={**authorization(fuzzed_server, "/rank"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    _assert_plain_error(response)


def test_a_body_just_under_the_limit_is_read(fuzzed_server: Server):
    """The limit is on bytes, not on what they say: a body within it reaches validation."""
    body = b'{"customer_id": "CUST-0000001", "context": {"channel": "app"}, "pad": "'
    body += b"x" * (MAX_BODY_BYTES - len(body) - 2) + b'"}'
    assert len(body) == MAX_BODY_BYTES
    response = httpx.post(
        fuzzed_server.url + "/rank",
        content=body,
        headers={**authorization(fuzzed_server, "/rank"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert [p["loc"] for p in response.json()["detail"]] == [["pad"]]


def test_a_request_without_content_type_is_taken_as_json(fuzzed_server: Server):
    response = httpx.post(
        fuzzed_server.url + "/rank",
        content=b'{"customer_id": "CUST-0000001", "context": {"channel": "app"}}',
        headers=authorization(fuzzed_server, "/rank"),
    )
    assert response.status_code == 200, response.text
