"""docker-compose.yaml, checked without a Docker engine: valid against the Compose
Specification's JSON schema (the copy check-jsonschema ships, pinned in the lock), and
consistent with the settings the containers read: every address the project's settings resolve
to is a service of the file, listening on that port."""

from __future__ import annotations

import json
import os
import re
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

from smartstack.paths import PROJECT_ROOT
from smartstack.settings import Settings

COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
INTERPOLATION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(:?-[^}]*)?\}")


def interpolate(text: str) -> str:
    """What `docker compose` does with no .env: every variable takes its default."""
    return INTERPOLATION.sub(
        lambda m: (m.group(2) or "")[2 if (m.group(2) or "").startswith(":") else 1 :], text
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(interpolate(COMPOSE.read_text()))


def test_the_file_follows_the_compose_specification() -> None:
    schema = json.loads(
        files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    )
    document = yaml.safe_load(COMPOSE.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(document)]  # fmt: skip
    assert errors == []


def test_every_variable_has_a_default_so_the_file_works_without_an_env_file() -> None:
    used = INTERPOLATION.findall(COMPOSE.read_text())
    assert used, "the file should take its secrets from the environment"
    assert [name for name, default in used if not default] == []


def test_references_between_services_resolve(compose: dict) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (PROJECT_ROOT / source).exists(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], (name, secret)
        if "build" in service:
            assert (PROJECT_ROOT / service["build"]["dockerfile"]).is_file()


def _listens(service: dict, port: int) -> bool:
    """The service publishes ``port``, or its command or listeners name it."""
    published = {int(str(p).rsplit(":", 1)[-1]) for p in service.get("ports", [])}
    text = json.dumps([service.get("command"), service.get("environment")])
    return port in published or f":{port}" in text or f"={port}" in text


def _address(url: str, default_port: int) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"tcp://{url}")
    return parsed.hostname or "", parsed.port or default_port


def test_the_project_settings_in_every_container_point_at_services_of_the_file(
    compose: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    with_project_code = ["airflow-scheduler", "airflow-dag-processor", "airflow-apiserver",
                         "offer-ranker"]  # fmt: skip
    for name in with_project_code:
        # The settings the container's own environment gives, read as the code reads them.
        with monkeypatch.context() as patch:
            for variable in [v for v in os.environ if v.startswith(("SMARTSTACK_", "OPENAI_"))]:
                patch.delenv(variable)
            for variable, value in services[name]["environment"].items():
                patch.setenv(variable, str(value))
            settings = Settings(_env_file=None)
        assert settings.profile.value == "prod"
        for url, default in [
            (settings.redis_url, 6379),
            (settings.postgres_url, 5432),
            (settings.mlflow_tracking_uri, 5000),
            (settings.kafka_bootstrap_servers, 9092),
            (settings.serving.url, 3000),
            (settings.spark_master, 7077),
        ]:
            host, port = _address(url, default)
            assert host in services, (name, url)
            target = services[host]
            assert _listens(target, port) or host in ("redis", "postgres"), (name, url)


def test_the_databases_the_urls_name_are_created(compose: dict) -> None:
    created = set(
        re.findall(
            r"CREATE DATABASE (\w+);", (PROJECT_ROOT / "docker/postgres-init.sql").read_text()
        )
    )
    text = json.dumps(compose)
    named = set(re.findall(r"postgres(?:ql)?(?:\+\w+)?://[^@]+@postgres:5432/(\w+)", text))
    assert named and named <= created | {
        compose["services"]["postgres"]["environment"]["POSTGRES_DB"]
    }


def test_airflow_runs_one_configuration_with_the_project_environment(compose: dict) -> None:
    services = compose["services"]
    airflow = [s for n, s in services.items() if n.startswith("airflow-")]
    envs = [s["environment"] for s in airflow]
    assert all(env == envs[0] for env in envs)
    env = envs[0]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
        "http://airflow-apiserver:8080/"
    )
    assert _listens(services["airflow-apiserver"], 8080)
    assert env["SMARTSTACK_DBT_TARGET"] == "bigquery"  # the prod profile's warehouse
    dockerfile = (PROJECT_ROOT / airflow[0]["build"]["dockerfile"]).read_text()
    assert "SMARTSTACK_VENV=/opt/smartstack/.venv" in dockerfile
    assert "requirements/project.lock" in dockerfile and "requirements/airflow.lock" in dockerfile
    assert Path(env["SMARTSTACK_HOME"]).is_absolute()
